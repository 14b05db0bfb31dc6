"""Tables a sampler derives from its base tokenizer, built once per tokenizer object.

A sampler's tables (StochasTok's expansion table, BPE-dropout's merge table) depend only on the base
tokenizer's vocabulary, which a loaded tokenizer never changes (its byte view is cached on it the same
way); building them takes seconds for a 128k vocabulary, and several samplers over one base (a sweep of
`p`, the two methods side by side) would otherwise build them again each time.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TypeVar

from tokwork.tokenizer import Tokenizer

T = TypeVar("T")


def once_per_tokenizer(build: Callable[[Tokenizer], T]) -> Callable[[Tokenizer], T]:
    """`build(tokenizer)`, remembered for as long as that tokenizer object lives."""
    results: weakref.WeakKeyDictionary[Tokenizer, T] = weakref.WeakKeyDictionary()

    @functools.wraps(build)
    def cached(tokenizer: Tokenizer) -> T:
        if tokenizer not in results:
            results[tokenizer] = build(tokenizer)
        return results[tokenizer]

    return cached
