"""Wall time and peak memory of `tokwork train bpe` against the bare HF `tokenizers` trainer, same run.

Both sides run as fresh processes on the same corpus with the same settings (byte-level BPE, GPT-2 split,
all 256 bytes in the alphabet, `<|endoftext|>` special, min frequency 2), alternating, several times; the
figure is the ratio of median wall times. The peer is `Tokenizer.train(files)`, the library's own fastest
path (Rust reads the file). Both tokenizers then encode the held-out text, to show they are equally good.

    .venv/bin/python benchmarks/train_bpe.py            # needs `make corpora` first
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from child_usage import launcher_floor_mib, measure
from results_file import write_results

from tokwork.cache import cache_root

BARE_HF = r"""
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
corpus, vocab_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train([corpus], trainer)
tok.save(out)
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Run a command from a small launcher; return its wall time in seconds and its own peak resident
    memory in MiB (see `child_usage`: started from this process directly, it would report ours)."""
    usage = measure(command)
    return usage.wall_seconds, round(usage.peak_rss_mib, 1)


def held_out_tokens(tokenizer_json: Path, heldout: Path) -> int:
    from tokenizers import Tokenizer

    text = heldout.read_text(encoding="utf-8")
    return len(Tokenizer.from_file(str(tokenizer_json)).encode(text, add_special_tokens=False).ids)


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--heldout", type=Path, default=cache / "corpora" / "en-docs" / "heldout.txt")
    parser.add_argument("--vocab-size", type=int, nargs="+", default=[32000, 8000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "train_bpe.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    tokwork_cli = str(Path(sys.executable).with_name("tokwork"))
    work = Path(tempfile.mkdtemp(prefix="tokwork-bench-"))
    results = []
    try:
        for vocab_size in args.vocab_size:
            runs = {"hf": [], "tokwork": []}
            hf_out, tw_out = work / f"hf-{vocab_size}.json", work / f"tokwork-{vocab_size}"
            commands = {
                "hf": [sys.executable, "-c", BARE_HF, str(args.corpus), str(vocab_size), str(hf_out)],
                "tokwork": [tokwork_cli, "train", "bpe", str(args.corpus), "--vocab-size", str(vocab_size),
                            "-o", str(tw_out), "--quiet", "--force"],
            }
            for _ in range(args.repeats):
                for name, command in commands.items():
                    runs[name].append(timed(command))
            row = {"vocab_size": vocab_size, "corpus_bytes": args.corpus.stat().st_size, "repeats": args.repeats}
            for name, samples in runs.items():
                row[f"{name}_seconds_median"] = statistics.median(s for s, _ in samples)
                row[f"{name}_seconds_all"] = [round(s, 3) for s, _ in samples]
                row[f"{name}_peak_rss_mib"] = max(m for _, m in samples)
            row["ratio_tokwork_over_hf"] = row["tokwork_seconds_median"] / row["hf_seconds_median"]
            row["hf_heldout_tokens"] = held_out_tokens(hf_out, args.heldout)
            row["tokwork_heldout_tokens"] = held_out_tokens(tw_out / "tokenizer.json", args.heldout)
            results.append(row)
            print(f"V={vocab_size:>6}: tokwork {row['tokwork_seconds_median']:.2f} s, "
                  f"HF tokenizers {row['hf_seconds_median']:.2f} s, ratio {row['ratio_tokwork_over_hf']:.3f}; "
                  f"peak RSS {row['tokwork_peak_rss_mib']} / {row['hf_peak_rss_mib']} MiB; "
                  f"held-out tokens {row['tokwork_heldout_tokens']:,} / {row['hf_heldout_tokens']:,}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "train_bpe", "python": sys.version.split()[0], "cpus": os.cpu_count(),
              "memory": "peak RSS of each command, read by a bare launcher process (benchmarks/child_usage.py)",
              "launcher_floor_mib": round(launcher_floor_mib(), 1), "results": results}
    write_results(args.json, report, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
