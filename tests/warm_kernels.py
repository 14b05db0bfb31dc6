"""Compile tokwork's numba kernels into numba's cache, for `make test` on a fresh checkout.

Numba compiles a kernel the first time it runs and keeps the machine code in its cache; on a fresh
checkout the suite would compile them inside the tests (about a minute of CPU on a slow 2-core machine).
`make test` runs this script beside the SmolLM2 conversion and the tokenizer fetch, in two parts
(`supertoken`: the two supertoken trainers, about 60% of the compile time; `others`: BPE's learner and the
stochastic samplers), so that the tests find the kernels compiled. Neither imports torch, which the
conversion imports (a first import in a fresh .venv compiles its modules; three processes doing so at
once did it three times); segment_sum's small kernel, behind torch, is left to the tests. It trains and samples
tiny real tokenizers on the shipped English sample; what it leaves uncompiled the tests compile as
before, so nothing depends on it. Without an argument it runs both parts.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tokwork.sampling import StochasticTokenizer
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.supertoken import SupertokenConfig, train_supertoken

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "en" / "sample.txt"


def _sample(folder: str) -> tuple[str, Path]:
    text = SAMPLE.read_text(encoding="utf-8")[:20_000]
    corpus = Path(folder) / "sample.txt"
    corpus.write_text(text, encoding="utf-8")
    return text, corpus


def warm_supertoken() -> None:
    """The supertoken trainers' kernels: the two-stage (superword) and the random-chunk method."""
    with tempfile.TemporaryDirectory() as folder:
        _, corpus = _sample(folder)
        train_supertoken([corpus], SupertokenConfig(vocab_size=500, transition=400), progress=False)
        train_supertoken([corpus], SupertokenConfig(vocab_size=500, method="random-chunk", chunk_lengths="3-9"),
                         progress=False)


def warm_others() -> None:
    """BPE's local learner, and StochasTok and BPE-dropout sampling."""
    with tempfile.TemporaryDirectory() as folder:
        text, corpus = _sample(folder)
        bpe = train_bpe([corpus], BPEConfig(vocab_size=400), progress=False, engine="local").tokenizer
    lines = text.splitlines()[:20]
    for method in ("stochastok", "bpe-dropout"):
        StochasticTokenizer(bpe, method=method, p=0.1, seed=0).encode_batch(lines)


PARTS = {"supertoken": warm_supertoken, "others": warm_others}


def main(argv: list[str]) -> None:
    unknown = [name for name in argv if name not in PARTS]
    if unknown:
        sys.exit(f"warm_kernels: unknown part {unknown[0]!r} (parts: {', '.join(PARTS)})")
    for name in argv or list(PARTS):
        PARTS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
