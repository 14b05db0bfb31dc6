"""Throughput of each stochastic encoder as a ratio to deterministic encoding, same base, same run; and
token-count inflation at several p.

The text is the first few MB of the English corpus, cut into its paragraphs (the units `tokwork encode
--out` encodes) and fed in batches of about 1 MiB, as the corpus-to-ids path does. For each base, the
deterministic encoder (the base's own `encode_batch`: Rust or C++, on every core) and the stochastic ones
run interleaved, in a rotating order, several times; a ratio is the median deterministic time over the
median stochastic time, so 0.8 means 80% of the deterministic throughput. Bases: GPT-2 and Llama 3
(`tokenizer.json` BPE; Llama 3 looks whole words up first) and a SentencePiece unigram model trained here
on the shipped English sample. Inflation is tokens sampled / tokens deterministic on the first MB.

    .venv/bin/python benchmarks/stochastic.py            # needs `make corpora` first
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
STOCHASTOK_P = 0.1
DROPOUT_P = 0.1
UNIGRAM_ALPHA = 0.1
INFLATION_P = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
INFLATION_ALPHA = (1.0, 0.5, 0.2, 0.1, 0.0)
BATCH_BYTES = 1 << 20


def corpus_texts(path: Path, megabytes: float) -> list[str]:
    """Paragraphs from the start of the corpus, about `megabytes` of UTF-8 in all."""
    from tokwork.corpus import iter_documents

    texts, size = [], 0
    for document in iter_documents([path]):
        texts.append(document.text)
        size += document.nbytes
        if size >= megabytes * 1e6:
            break
    return texts


def batches(texts: list[str]) -> list[list[str]]:
    out, current, size = [], [], 0
    for text in texts:
        current.append(text)
        size += len(text)
        if size >= BATCH_BYTES:
            out.append(current)
            current, size = [], 0
    return [*out, current] if current else out


def encoders(base, kind: str) -> dict:
    from tokwork.sampling import StochasticTokenizer

    found = {"deterministic": base, f"stochastok p={STOCHASTOK_P}": StochasticTokenizer(base, p=STOCHASTOK_P)}
    if kind == "unigram":
        found[f"unigram-sampling alpha={UNIGRAM_ALPHA}"] = StochasticTokenizer(
            base, method="unigram-sampling", alpha=UNIGRAM_ALPHA)
    else:
        found[f"bpe-dropout p={DROPOUT_P}"] = StochasticTokenizer(base, method="bpe-dropout", p=DROPOUT_P)
    return found


def throughput(named: dict, parts: list[list[str]], repeats: int) -> dict[str, list[float]]:
    """Seconds per pass over `parts` for every encoder, interleaved, the order rotating each repeat."""
    names = list(named)
    for name in names:  # warm-up: numba compiles, caches fill
        named[name].encode_batch(parts[0][:50])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            start = time.perf_counter()
            for part in parts:
                named[name].encode_batch(part)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def inflation(base, kind: str, texts: list[str]) -> dict[str, dict[str, float]]:
    from tokwork.sampling import StochasticTokenizer

    deterministic = sum(map(len, base.encode_batch(texts)))
    table: dict[str, dict[str, float]] = {"stochastok": {}}
    for p in INFLATION_P:
        table["stochastok"][str(p)] = sum(map(len, StochasticTokenizer(base, p=p).encode_batch(texts))) / deterministic
    if kind == "unigram":
        table["unigram-sampling (alpha)"] = {
            str(a): sum(map(len, StochasticTokenizer(base, method="unigram-sampling", alpha=a).encode_batch(texts)))
            / deterministic for a in INFLATION_ALPHA}
    else:
        table["bpe-dropout"] = {
            str(p): sum(map(len, StochasticTokenizer(base, method="bpe-dropout", p=p).encode_batch(texts)))
            / deterministic for p in INFLATION_P}
    return table


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--megabytes", type=float, default=4.0, help="Text timed per pass.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "stochastic.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; run `make corpora` first")

    from tokwork import load_tokenizer
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    texts = corpus_texts(args.corpus, args.megabytes)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    parts = batches(texts)
    first_mb = corpus_texts(args.corpus, 1.0)
    with tempfile.TemporaryDirectory() as scratch:
        unigram = Path(scratch) / "unigram"
        train_unigram([REPO / "corpora" / "en" / "sample.txt"], UnigramConfig(vocab_size=8000), progress=False).save(unigram)
        bases = {"gpt2": ("bpe", load_tokenizer(cache / "tokenizers" / "gpt2")),
                 "llama3": ("bpe", load_tokenizer(cache / "tokenizers" / "llama3")),
                 "unigram-8k (trained on corpora/en/sample.txt)": ("unigram", load_tokenizer(unigram))}
        results = {}
        for label, (kind, base) in bases.items():
            named = encoders(base, kind)
            seconds = throughput(named, parts, args.repeats)
            reference = statistics.median(seconds["deterministic"])
            rows = {}
            print(f"\n{label}: {nbytes / 1e6:.1f} MB, {len(texts):,} paragraphs, {args.repeats} interleaved runs")
            print(f"  {'encoder':32} {'median s':>9} {'MB/s':>7} {'vs deterministic':>17}")
            for name, runs in seconds.items():
                median = statistics.median(runs)
                rows[name] = {"seconds": runs, "median_seconds": median, "mb_per_s": nbytes / 1e6 / median,
                              "throughput_ratio": reference / median}
                print(f"  {name:32} {median:9.2f} {nbytes / 1e6 / median:7.2f} {reference / median:16.2f}x")
            table = inflation(base, kind, first_mb)
            for method, values in table.items():
                print(f"  inflation, {method}: " + ", ".join(f"{k}: {v:.3f}" for k, v in values.items()))
            results[label] = {"throughput": rows, "inflation": table}
    record = {
        "benchmark": "stochastic encoders vs deterministic encoding of the same base",
        "corpus": str(args.corpus), "bytes": nbytes, "paragraphs": len(texts), "repeats": args.repeats,
        "batch_bytes": BATCH_BYTES, "inflation_bytes": sum(len(t.encode("utf-8")) for t in first_mb),
        "parameters": {"stochastok_p": STOCHASTOK_P, "dropout_p": DROPOUT_P, "unigram_alpha": UNIGRAM_ALPHA,
                       "nbest_size": -1},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
