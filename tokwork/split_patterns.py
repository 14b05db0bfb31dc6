"""Named pre-tokenization (split) patterns of the well-known byte-level BPE families.

tiktoken-style patterns are written for Rust or JavaScript regex engines, where `$` is the end of the text;
`tokenizers` runs them with Oniguruma, where `$` is the end of a line, so `onig_pattern` rewrites it.
"""

from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

_CONTRACTION = r"""'(?i:[sdmt]|ll|ve|re)"""
R50K = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$|\s+(?!\S)|\s"""
CL100K = (
    _CONTRACTION
    + r"""|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:""" + _CONTRACTION + ")?",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:""" + _CONTRACTION + ")?",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
# "gpt2" is the pattern built into the ByteLevel pre-tokenizer of `tokenizers`.
SPLIT_PATTERNS = {"gpt2": None, "cl100k": CL100K, "o200k": O200K}
# Stage 2 of superword BPE (SuperBPE, Liu et al. 2025): whitespace no longer separates words. A chunk ends
# before a digit group (1-3 digits), before each run of punctuation and after each run of line breaks; it may
# start with a punctuation run, so ", and the" can become one token but "end." cannot.
SUPERWORD = "|".join([
    r"""'(?:[sdmt]|ll|ve|re)""",
    r"""[^\S\r\n]*(?:[^\s\p{L}\p{M}\p{N}]+[^\S\r\n]*)?[\p{L}\p{M}]+(?:[^\S\r\n]+[\p{L}\p{M}]+)*[\r\n]*""",
    r""" ?\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])


def onig_pattern(pattern: str) -> str:
    """Rewrite a tiktoken split pattern for Oniguruma: an unescaped `$` outside a class becomes `\\z`."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            out.append("\\z")
            continue
        out.append(ch)
    return "".join(out)


def byte_level_pretokenizer(pattern: str | None):
    """A `tokenizers` pre-tokenizer: split with `pattern` (GPT-2's when None), then map bytes to GPT-2's
    alphabet. No prefix space is added, so encoding keeps the text byte for byte.
    """
    if pattern is None:
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(onig_pattern(pattern)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
