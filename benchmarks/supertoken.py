"""Supertoken tokenizers against plain byte-level BPE on the large English corpus, all in one run.

Training: `tokwork train bpe` (plain), `tokwork train supertoken` (two-stage, t = 0.8 V) and
`tokwork train supertoken --method random-chunk`, same corpus and vocab size, as fresh processes, alternating,
several times; wall time and peak RSS are medians and maxima, reported as ratios to plain BPE. Then, with the
saved files: held-out tokens per byte, whether the two-stage file encodes every held-out paragraph exactly like
its two stages run apart, and encode throughput in plain `tokenizers` (each file in turn, several times).
A sweep of the transition point gives tokens per byte for other t. Last, the stage-2 learner choice: the numba
learner and the `tokenizers` BpeTrainer (each stage-1 id spelled as one character, every chunk fed as often as
it occurs) learn the same number of merges from the same chunks, each in a fresh process.

    .venv/bin/python benchmarks/supertoken.py            # needs `make corpora` first
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from child_usage import launcher_floor_mib, measure
from results_file import write_results
from train_bpe import held_out_tokens, timed

from tokwork.cache import cache_root

PREPARE = r"""
import sys, numpy as np
from tokwork.corpus import CorpusReader
from tokwork.trainers.bpe_model import TRAINING_BLOCK_CHARS, bpe_trainer, empty_byte_level_bpe
from tokwork.trainers.supertoken import SupertokenConfig
from tokwork.trainers.supertoken.chunks import count_chunks
from tokwork.trainers.supertoken.memory import TextBuffer
from tokwork.trainers.supertoken.units import stage1_ids
corpus, vocab_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = SupertokenConfig(vocab_size=vocab_size)
stage1_config = config.bpe_config(config.transition_point)
stage1 = empty_byte_level_bpe(stage1_config)
texts = TextBuffer(CorpusReader([corpus], block_chars=TRAINING_BLOCK_CHARS))
stage1.train_from_iterator(texts, trainer=bpe_trainer(stage1_config, show_progress=False))
chunks = count_chunks(*texts.read())
tokens, starts, lengths = stage1_ids(stage1, chunks)
stage1.save(out + ".stage1.json")
np.savez(out, tokens=tokens, starts=starts, lengths=lengths, counts=chunks.counts)
"""

NUMBA_LEARNER = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
from tokenizers import Tokenizer
import tokwork.trainers.supertoken
prepared, merges = sys.argv[1], int(sys.argv[2])
data = np.load(prepared + ".npz")
stage1 = Tokenizer.from_file(prepared + ".stage1.json")
began = time.perf_counter()
from tokwork.trainers.supertoken.merges import learn_merges  # numba loads in the timed part, as it always has
learned, refused = learn_merges(stage1, data["tokens"], data["starts"], data["lengths"], data["counts"],
                                num_merges=merges, min_frequency=2)
print(json.dumps({"learn_seconds": time.perf_counter() - began, "seconds": time.perf_counter() - start,
                  "merges": learned.tolist(), "refused": refused}))
"""

RUST_LEARNER = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
prepared, merges = sys.argv[1], int(sys.argv[2])
data = np.load(prepared + ".npz")
first_id = Tokenizer.from_file(prepared + ".stage1.json").get_vocab_size()
symbol = lambda i: chr(0x4E00 + i + (0x800 if 0x4E00 + i >= 0xD800 else 0))  # never whitespace
table = np.array([ord(symbol(i)) for i in range(first_id)], dtype=np.uint32)
tokens, starts, lengths, counts = data["tokens"], data["starts"], data["lengths"], data["counts"]
spelled = table[tokens].tobytes().decode("utf-32-le")
words = [spelled[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist())]
batches = [" ".join(" ".join([w] * c) for w, c in zip(words[k:k + 4096], counts[k:k + 4096].tolist()))
           for k in range(0, len(words), 4096)]
began = time.perf_counter()
learner = Tokenizer(models.BPE())
learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
trainer = trainers.BpeTrainer(vocab_size=first_id + merges, min_frequency=2, show_progress=False,
                              initial_alphabet=[symbol(i) for i in range(first_id)])
learner.train_from_iterator(batches, trainer=trainer)
spec = json.loads(learner.to_str())["model"]
print(json.dumps({"learn_seconds": time.perf_counter() - began, "seconds": time.perf_counter() - start,
                  "merges_spelled": spec["merges"]}))
"""


def tokwork_cli() -> str:
    return str(Path(sys.executable).with_name("tokwork"))


def train_commands(corpus: Path, vocab_size: int, work: Path) -> dict[str, list[str]]:
    base = [tokwork_cli(), "train"]
    tail = ["--vocab-size", str(vocab_size), "--quiet", "--force"]
    return {
        "plain": [*base, "bpe", str(corpus), *tail, "-o", str(work / "plain")],
        "two-stage": [*base, "supertoken", str(corpus), *tail, "-o", str(work / "two-stage")],
        "random-chunk": [*base, "supertoken", str(corpus), *tail, "--method", "random-chunk",
                         "-o", str(work / "random-chunk")],
    }


def staged_mismatches(folder: Path, paragraphs: list[str]) -> int:
    """How many held-out paragraphs the saved two-stage file encodes differently from its two stages."""
    from tokenizers import Tokenizer

    from tokwork.trainers.supertoken import SuperwordStages

    backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
    first_id = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))["notes"]["stage1_vocab_size"]
    stages = SuperwordStages.from_tokenizer(backend, first_id)
    saved = [e.ids for e in backend.encode_batch(paragraphs, add_special_tokens=False)]
    return sum(a != stages.encode(text) for a, text in zip(saved, paragraphs, strict=True))


def encode_throughput(folders: dict[str, Path], paragraphs: list[str], repeats: int) -> dict[str, float]:
    """Median MB/s of `encode_batch` over the held-out paragraphs, each saved file in turn."""
    from tokenizers import Tokenizer

    tokenizers = {name: Tokenizer.from_file(str(folder / "tokenizer.json")) for name, folder in folders.items()}
    size = sum(len(p.encode("utf-8")) for p in paragraphs)
    seconds: dict[str, list[float]] = {name: [] for name in tokenizers}
    for _ in range(repeats):
        for name, tok in tokenizers.items():
            start = time.perf_counter()
            tok.encode_batch(paragraphs, add_special_tokens=False)
            seconds[name].append(time.perf_counter() - start)
    return {name: size / statistics.median(values) / 1e6 for name, values in seconds.items()}


def learner_comparison(corpus: Path, vocab_size: int, work: Path) -> dict:
    """Stage 2 learned from the same chunks by the numba learner and by the `tokenizers` BpeTrainer."""
    prepared = str(work / "stage2-input")
    subprocess.run([sys.executable, "-c", PREPARE, str(corpus), str(vocab_size), prepared], check=True)
    merges = vocab_size - int(0.8 * vocab_size)
    row = {"merges": merges}
    for name, script in (("numba", NUMBA_LEARNER), ("tokenizers", RUST_LEARNER)):
        usage = measure([sys.executable, "-c", script, prepared, str(merges)])
        result = json.loads(usage.stdout)
        row[name] = {"process_seconds": usage.wall_seconds, "learn_seconds": result["learn_seconds"],
                     "peak_rss_mib": round(usage.peak_rss_mib, 1)}
        row[name + "_merges"] = result.get("merges") or result.get("merges_spelled")
        if name == "numba":
            row["numba"]["refused"] = result["refused"]
    ours, theirs = row.pop("numba_merges"), row.pop("tokenizers_merges")
    # the Rust merges are spelled in symbols; compare in the same spelling
    symbols = {}

    def spell(i: int) -> str:  # as RUST_LEARNER spells ids
        return symbols.get(i) or chr(0x4E00 + i + (0x800 if 0x4E00 + i >= 0xD800 else 0))

    first_id = vocab_size - merges
    for k, (a, b) in enumerate(ours):
        symbols[first_id + k] = spell(a) + spell(b)
    spelled = [[spell(a), spell(b)] for a, b in ours]
    same = next((k for k, (x, y) in enumerate(zip(spelled, theirs, strict=False)) if x != y), min(len(ours), len(theirs)))
    row["same_first_merges"] = same
    row["shared_merges"] = len({tuple(m) for m in spelled} & {tuple(m) for m in theirs})
    return row


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--heldout", type=Path, default=cache / "corpora" / "en-docs" / "heldout.txt")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.9],
                        help="transition points as shares of the vocab size (0.8 is the main run)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "supertoken.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    from tokwork.corpus import iter_texts

    paragraphs = list(iter_texts([args.heldout]))
    heldout_bytes = args.heldout.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="tokwork-bench-"))
    report: dict = {"benchmark": "supertoken", "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "corpus_bytes": args.corpus.stat().st_size, "heldout_bytes": heldout_bytes,
                    "vocab_size": args.vocab_size, "repeats": args.repeats,
                    "memory": "peak RSS of each command, read by a bare launcher process (benchmarks/child_usage.py)",
                    "launcher_floor_mib": round(launcher_floor_mib(), 1)}
    try:
        # numba compiles the stage-2 kernels once per install; this run fills that cache, untimed
        subprocess.run([tokwork_cli(), "train", "supertoken", str(args.heldout), "-v", "2000", "-q", "--force",
                        "-o", str(work / "warm-up")], check=True, stdout=subprocess.DEVNULL)
        commands = train_commands(args.corpus, args.vocab_size, work)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                runs[name].append(timed(command))
        folders = {name: work / name for name in commands}
        plain_seconds = statistics.median(s for s, _ in runs["plain"])
        plain_rss = max(m for _, m in runs["plain"])
        methods = {}
        for name, samples in runs.items():
            tokens = held_out_tokens(folders[name] / "tokenizer.json", args.heldout)
            card = json.loads((folders[name] / "tokwork.json").read_text(encoding="utf-8"))
            methods[name] = {
                "seconds_median": statistics.median(s for s, _ in samples),
                "seconds_all": [round(s, 3) for s, _ in samples],
                "peak_rss_mib": max(m for _, m in samples),
                "heldout_tokens": tokens,
                "tokens_per_byte": tokens / heldout_bytes,
                "phase_seconds": card["notes"].get("seconds"),
            }
        for row in methods.values():
            row["time_ratio"] = row["seconds_median"] / plain_seconds
            row["rss_ratio"] = row["peak_rss_mib"] / plain_rss
            row["fewer_tokens_than_plain"] = 1 - row["heldout_tokens"] / methods["plain"]["heldout_tokens"]
        report["methods"] = methods
        report["two_stage_mismatching_paragraphs"] = staged_mismatches(folders["two-stage"], paragraphs)
        report["heldout_paragraphs"] = len(paragraphs)
        throughput = encode_throughput(folders, paragraphs, repeats=5)
        report["encode_mb_per_s"] = throughput
        report["encode_ratio_to_plain"] = {k: v / throughput["plain"] for k, v in throughput.items()}

        sweep = [{"transition": int(0.8 * args.vocab_size), "share": 0.8,
                  "tokens_per_byte": methods["two-stage"]["tokens_per_byte"],
                  "seconds": methods["two-stage"]["seconds_median"]}]
        for share in args.sweep:
            transition = int(share * args.vocab_size)
            out = work / f"sweep-{transition}"
            command = [tokwork_cli(), "train", "supertoken", str(args.corpus), "-v", str(args.vocab_size),
                       "-t", str(transition), "-q", "--force", "-o", str(out)]
            seconds, _ = timed(command)
            tokens = held_out_tokens(out / "tokenizer.json", args.heldout)
            sweep.append({"transition": transition, "share": share, "tokens_per_byte": tokens / heldout_bytes,
                          "seconds": seconds})
        report["transition_sweep"] = sorted(sweep, key=lambda row: row["transition"])
        report["stage2_learners"] = learner_comparison(args.corpus, args.vocab_size, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.json, report, indent=2)
    print(f"wrote {args.json}")


def print_report(report: dict) -> None:
    methods = report["methods"]
    print(f"V={report['vocab_size']:,}, corpus {report['corpus_bytes']:,} bytes, held-out {report['heldout_bytes']:,} "
          f"bytes, {report['repeats']} runs each, {report['cpus']} CPUs")
    print(f"{'method':<13}{'tokens/byte':>12}{'fewer tokens':>14}{'train s':>9}{'time ×':>8}{'RSS MiB':>9}"
          f"{'RSS ×':>7}{'encode MB/s':>13}")
    for name, row in methods.items():
        print(f"{name:<13}{row['tokens_per_byte']:>12.4f}{row['fewer_tokens_than_plain']:>13.1%}"
              f"{row['seconds_median']:>9.2f}{row['time_ratio']:>8.2f}{row['peak_rss_mib']:>9.0f}"
              f"{row['rss_ratio']:>7.2f}{report['encode_mb_per_s'][name]:>13.2f}")
    print(f"two-stage file vs its two stages run apart: {report['two_stage_mismatching_paragraphs']} of "
          f"{report['heldout_paragraphs']} held-out paragraphs differ")
    print("transition sweep: " + ", ".join(f"t={row['transition']:,} ({row['share']:.0%}): "
                                           f"{row['tokens_per_byte']:.4f} tokens/byte" for row in report["transition_sweep"]))
    learners = report["stage2_learners"]
    for name in ("numba", "tokenizers"):
        row = learners[name]
        print(f"stage-2 learner {name:<10}: learn {row['learn_seconds']:.2f} s, process {row['process_seconds']:.2f} s, "
              f"peak RSS {row['peak_rss_mib']} MiB")
    print(f"same first merges: {learners['same_first_merges']} of {learners['merges']}; "
          f"shared merges: {learners['shared_merges']}")


if __name__ == "__main__":
    main()
