"""Cost of each stochastic encoder: seconds per MB next to the ratio to deterministic encoding of the same
base, at 1 thread and at all threads; and token-count inflation at several p.

The text is the first few MB of the English corpus, cut into its paragraphs (the units `tokwork encode
--out` encodes) and fed in batches of about 1 MiB, as the corpus-to-ids path does. Bases: GPT-2 and Llama 3
(`tokenizer.json` BPE; Llama 3 looks whole words up first), and a SentencePiece unigram model and a
SentencePiece BPE model trained here on the shipped English sample. Beside tokwork's seeded samplers of the
SentencePiece models (over the whole lattice and over the 64 best segmentations; BPE-dropout) run the
peer a user would otherwise pick: sentencepiece's own sampling (`encode(..., enable_sampling=True)`, same
alpha and n-best), which draws from its own generator and does not repeat across processes; BPE-dropout over
GPT-2 and Llama 3 runs beside the `tokenizers` library's own dropout (its BPE model's `dropout`), which
cannot be seeded. For each base, the deterministic encoder (the base's own batch encoding)
and the stochastic ones each encode all the text once per repeat, in an order rotating by one place per
repeat, after an untimed warm-up (numba loads its kernels, caches fill).

Threads are fixed when a process starts (Rust's rayon pool), so each (repeat, thread setting) runs in a
fresh process of this script, the two settings alternating, and the parent merges what they write:
- 1 thread: `RAYON_NUM_THREADS=1`, `TOKENIZERS_PARALLELISM=false` (the `tokenizers` batch encoders),
  `NUMBA_NUM_THREADS=1`, `OMP_NUM_THREADS=1`, `MKL_NUM_THREADS=1`, and the SentencePiece model opened with
  `num_threads=1` (its batch encoder sizes its own pool from the hardware otherwise);
- all threads: none of these set, so `encode_batch` of `tokenizers` and SentencePiece use every core.
Where the time goes: the stochastic encoders call the base's batch encoder (parallel at all threads) and
then a numba kernel that runs on one thread (StochasTok's splits, BPE-dropout's re-merging); unigram
sampling samples each text's lattice in a numba kernel on one thread. So at all threads a
faster base shrinks the deterministic time and not the sampling part, and the ratio alone can hide the
cost; `seconds_per_mb` (median seconds over MB of UTF-8) and `added_seconds_per_mb` (over the
deterministic encoder's, same setting) give it absolutely. A ratio is the median deterministic time over
the median stochastic time in the same setting (0.8: 80% of the deterministic throughput).
`cpu_per_wall` is process CPU time over wall time, median over runs (about 1 at 1 thread shows that the
setting held). Inflation (tokens sampled / tokens deterministic on the first MB) does not depend on threads
and is measured once, in the parent.

    .venv/bin/python benchmarks/stochastic.py            # needs `make corpora` first
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from child_usage import measure
from results_file import write_results

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
STOCHASTOK_P = 0.1
DROPOUT_P = 0.1
UNIGRAM_ALPHA = 0.1
NBEST = 64
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


class SentencePieceOwnSampling:
    """The peer: sentencepiece's own sampling of a batch (its generator, not seeded per text)."""

    def __init__(self, base, *, alpha: float, nbest_size: int = -1):
        self.processor, self.alpha, self.nbest_size = base.processor, alpha, nbest_size

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode(texts, enable_sampling=True, alpha=self.alpha, nbest_size=self.nbest_size)


class TokenizersOwnDropout:
    """The peer for BPE-dropout over a `tokenizer.json`: the `tokenizers` library's own (its BPE model's
    `dropout`), which cannot be seeded, on a copy of the base's backend."""

    def __init__(self, base, *, p: float):
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_str(base.backend.to_str())
        self.backend.model.dropout = p

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch_fast(texts, add_special_tokens=False)]


def encoders(base, kind: str) -> dict:
    from tokwork.sampling import StochasticTokenizer

    found = {"deterministic": base, f"stochastok p={STOCHASTOK_P}": StochasticTokenizer(base, p=STOCHASTOK_P)}
    if kind == "unigram":
        found[f"unigram-sampling alpha={UNIGRAM_ALPHA}"] = StochasticTokenizer(
            base, method="unigram-sampling", alpha=UNIGRAM_ALPHA)
        found[f"peer: sentencepiece alpha={UNIGRAM_ALPHA}"] = SentencePieceOwnSampling(base, alpha=UNIGRAM_ALPHA)
        found[f"unigram-sampling alpha={UNIGRAM_ALPHA} nbest={NBEST}"] = StochasticTokenizer(
            base, method="unigram-sampling", alpha=UNIGRAM_ALPHA, nbest_size=NBEST)
        found[f"peer: sentencepiece alpha={UNIGRAM_ALPHA} nbest={NBEST}"] = SentencePieceOwnSampling(
            base, alpha=UNIGRAM_ALPHA, nbest_size=NBEST)
    else:
        found[f"bpe-dropout p={DROPOUT_P}"] = StochasticTokenizer(base, method="bpe-dropout", p=DROPOUT_P)
        if kind == "bpe":
            found[f"peer: tokenizers dropout {DROPOUT_P}"] = TokenizersOwnDropout(base, p=DROPOUT_P)
        if kind == "sentencepiece-bpe":
            found[f"peer: sentencepiece dropout {DROPOUT_P}"] = SentencePieceOwnSampling(base, alpha=DROPOUT_P)
    return found


def throughput(named: dict, parts: list[list[str]], turn: int) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds of one pass over `parts` for every encoder, the order starting at `turn`."""
    names = list(named)
    for name in names:  # warm-up: numba loads its kernels, caches fill
        named[name].encode_batch(parts[0][:50])
    measured = {}
    for name in names[turn % len(names):] + names[:turn % len(names)]:
        start, cpu = time.perf_counter(), time.process_time()
        for part in parts:
            named[name].encode_batch(part)
        measured[name] = {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
    return {name: measured[name] for name in names}


def inflation(base, kind: str, texts: list[str]) -> dict[str, dict[str, float]]:
    from tokwork.sampling import StochasticTokenizer

    deterministic = sum(map(len, base.encode_batch(texts)))
    table: dict[str, dict[str, float]] = {"stochastok": {}}
    for p in INFLATION_P:
        table["stochastok"][str(p)] = sum(map(len, StochasticTokenizer(base, p=p).encode_batch(texts))) / deterministic
    if kind == "unigram":
        table[f"unigram-sampling, nbest {NBEST} (alpha)"] = {
            str(a): sum(map(len, StochasticTokenizer(base, method="unigram-sampling", alpha=a, nbest_size=NBEST)
                            .encode_batch(texts))) / deterministic for a in INFLATION_ALPHA}
        table["unigram-sampling (alpha)"] = {
            str(a): sum(map(len, StochasticTokenizer(base, method="unigram-sampling", alpha=a).encode_batch(texts)))
            / deterministic for a in INFLATION_ALPHA}
    else:
        table["bpe-dropout"] = {
            str(p): sum(map(len, StochasticTokenizer(base, method="bpe-dropout", p=p).encode_batch(texts)))
            / deterministic for p in INFLATION_P}
    return table


SINGLE_THREAD = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "NUMBA_NUM_THREADS": "1",
                 "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SETTINGS = ("1 thread", "all threads")


def sentencepiece_base(folder: Path, *, one_thread: bool):
    """The SentencePiece model of `folder`; at one thread its batch encoder runs on one."""
    import sentencepiece as spm

    from tokwork import load_tokenizer
    from tokwork.formats.sentencepiece_model import SentencePieceTokenizer

    model = load_tokenizer(folder)
    if one_thread:
        model = SentencePieceTokenizer(spm.SentencePieceProcessor(model_file=str(model.source), num_threads=1),
                                       source=model.source)
    return model


def bases(scratch: Path, *, one_thread: bool) -> dict:
    """The four bases by label, with their kind."""
    from tokwork import load_tokenizer

    cache = cache_root()
    return {"gpt2": ("bpe", load_tokenizer(cache / "tokenizers" / "gpt2")),
            "llama3": ("bpe", load_tokenizer(cache / "tokenizers" / "llama3")),
            "unigram-8k (trained on corpora/en/sample.txt)":
                ("unigram", sentencepiece_base(scratch / "unigram", one_thread=one_thread)),
            "sentencepiece-bpe-8k (trained on corpora/en/sample.txt)":
                ("sentencepiece-bpe", sentencepiece_base(scratch / "sp-bpe", one_thread=one_thread))}


def train_sentencepiece_bases(scratch: Path) -> None:
    """The two SentencePiece bases, trained on the shipped English sample into `scratch`."""
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    sample = [REPO / "corpora" / "en" / "sample.txt"]
    for folder, model_type in (("unigram", "unigram"), ("sp-bpe", "bpe")):
        train_unigram(sample, UnigramConfig(vocab_size=8000, model_type=model_type), progress=False).save(
            scratch / folder)


def timing_child(args: argparse.Namespace) -> None:
    """One repeat at one thread setting (this process's): every encoder of every base once; JSON to --output."""
    texts = corpus_texts(args.corpus, args.megabytes)
    parts = batches(texts)
    seconds = {label: throughput(encoders(base, kind), parts, args.turn)
               for label, (kind, base) in bases(args.scratch, one_thread=args.child == SETTINGS[0]).items()}
    record = {"bytes": sum(len(t.encode("utf-8")) for t in texts), "paragraphs": len(texts), "seconds": seconds}
    write_results(args.output, record, indent=None)


def setting_env(setting: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SINGLE_THREAD}
    return {**env, **SINGLE_THREAD} if setting == SETTINGS[0] else env


def summarise(runs: list[dict[str, float]], reference: list[dict[str, float]], nbytes: int) -> dict:
    """Every run, the medians, seconds per MB, and the ratio and added cost against `reference` (deterministic)."""
    median = statistics.median(run["seconds"] for run in runs)
    deterministic = statistics.median(run["seconds"] for run in reference)
    megabytes = nbytes / 1e6
    return {"seconds": [round(run["seconds"], 3) for run in runs],
            "cpu_seconds": [round(run["cpu_seconds"], 3) for run in runs],
            "median_seconds": round(median, 3), "seconds_per_mb": round(median / megabytes, 4),
            "mb_per_s": round(megabytes / median, 3), "throughput_ratio": round(deterministic / median, 3),
            "added_seconds_per_mb": round((median - deterministic) / megabytes, 4),
            "cpu_per_wall": round(statistics.median(run["cpu_seconds"] / run["seconds"] for run in runs), 2)}


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--megabytes", type=float, default=4.0, help="Text timed per pass.")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per thread setting.")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "stochastic.json")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)  # the timing child's setting
    parser.add_argument("--turn", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)  # where the parent trained its bases
    args = parser.parse_args()
    if args.child:
        timing_child(args)
        return
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; run `make corpora` first")

    runs: dict[str, list[dict]] = {setting: [] for setting in SETTINGS}
    loads: dict[str, list[list[float]]] = {setting: [] for setting in SETTINGS}
    with tempfile.TemporaryDirectory() as scratch:
        train_sentencepiece_bases(Path(scratch))
        for repeat in range(args.repeats):
            for setting in SETTINGS[repeat % 2:] + SETTINGS[:repeat % 2]:
                print(f"repeat {repeat + 1}/{args.repeats}, {setting}", flush=True)
                written = Path(scratch) / "child.json"
                usage = measure([sys.executable, str(Path(__file__).resolve()), "--child", setting,
                                 "--turn", str(repeat), "--scratch", scratch, "--corpus", str(args.corpus),
                                 "--megabytes", str(args.megabytes), "--output", str(written)],
                                env=setting_env(setting))
                runs[setting].append(json.loads(written.read_text(encoding="utf-8")))
                loads[setting].append([round(usage.load_before, 2), round(usage.load_after, 2)])
        found = bases(Path(scratch), one_thread=False)
        first_mb = corpus_texts(args.corpus, 1.0)
        inflation_tables = {label: inflation(base, kind, first_mb) for label, (kind, base) in found.items()}

    first = runs[SETTINGS[0]][0]
    nbytes, paragraphs = first["bytes"], first["paragraphs"]
    if any(run["bytes"] != nbytes for setting in SETTINGS for run in runs[setting]):
        raise SystemExit("the timing processes read different text; check that the corpus did not change")
    results = {}
    for label in first["seconds"]:
        rows = {}
        for setting in SETTINGS:
            measured = {name: [run["seconds"][label][name] for run in runs[setting]] for name in first["seconds"][label]}
            rows[setting] = {name: summarise(values, measured["deterministic"], nbytes)
                             for name, values in measured.items()}
        results[label] = {"throughput": rows, "inflation": inflation_tables[label]}
        print(f"\n{label}: {nbytes / 1e6:.1f} MB, {paragraphs:,} paragraphs, {args.repeats} interleaved runs "
              "per setting, medians")
        print(f"  {'':46} {'-- 1 thread --':^30} {'-- all threads --':^30}")
        print(f"  {'encoder':46}" + f" {'s/MB':>7} {'+s/MB':>7} {'ratio':>6} {'cpu/w':>6}" * 2)
        for name in first["seconds"][label]:
            cells = "".join(f" {row['seconds_per_mb']:7.3f} {row['added_seconds_per_mb']:+7.3f} "
                            f"{row['throughput_ratio']:5.2f}x {row['cpu_per_wall']:6.2f}"
                            for row in (rows[setting][name] for setting in SETTINGS))
            print(f"  {name:46}{cells}")
        for method, values in inflation_tables[label].items():
            print(f"  inflation, {method}: " + ", ".join(f"{k}: {v:.3f}" for k, v in values.items()))
    record = {
        "benchmark": "stochastic encoders vs deterministic encoding of the same base, at 1 thread and all threads",
        "corpus": str(args.corpus), "bytes": nbytes, "paragraphs": paragraphs, "repeats": args.repeats,
        "batch_bytes": BATCH_BYTES, "inflation_bytes": sum(len(t.encode("utf-8")) for t in first_mb),
        "parameters": {"stochastok_p": STOCHASTOK_P, "dropout_p": DROPOUT_P, "unigram_alpha": UNIGRAM_ALPHA,
                       "nbest_size": [-1, NBEST]},
        "threads": {SETTINGS[0]: {"env": SINGLE_THREAD, "sentencepiece_num_threads": 1},
                    SETTINGS[1]: {"env": "none of the 1-thread variables set", "cpus": os.cpu_count()}},
        "order": "each repeat runs one process per setting, the settings alternating which goes first; within "
                 "a process the encoders of a base run in an order rotating by one place per repeat",
        "load_before_after": loads,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.output, record, indent=2)
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
