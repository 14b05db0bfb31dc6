"""Throughput of pre-token counting and encoding on Ray with 1 and 2 workers against the local path, and
the numbers behind the scaling model in the README (per-shard cost, merge-step cost), all in one run.

    .venv/bin/python benchmarks/distributed.py          # needs `make corpora`

Ray's start-up is timed separately and left out of the throughput; every configuration runs the same
shards and must produce the same counts (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from tokwork.pretoken_counts import count_pretokens
from tokwork.shards import SHARD_BYTES, plan_shards
from tokwork.trainers.bpe import TRAINING_BLOCK_CHARS, BPEConfig, empty_byte_level_bpe
from tokwork.trainers.bpe_learner import learn_bpe


def count_once(corpus: Path, engine: str, tokenizer_json: str) -> tuple[float, dict]:
    start = time.perf_counter()
    table, _ = count_pretokens([corpus], tokenizer_json=tokenizer_json, engine=engine,
                               block_chars=TRAINING_BLOCK_CHARS)
    seconds = time.perf_counter() - start
    counts = table.to_dict()
    table.close()
    return seconds, counts


def with_ray(workers: int):
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return ray, time.perf_counter() - start


def encode_once(corpus: Path, engine: str, tokenizer: Path, output: Path) -> float:
    from tokwork.encode_corpus import encode_corpus

    start = time.perf_counter()
    encode_corpus([corpus], tokenizer=tokenizer, output=output, engine=engine, force=True)
    return time.perf_counter() - start


def main() -> None:
    cache = Path(os.environ.get("TOKWORK_CACHE") or Path.home() / ".cache" / "tokwork")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--encode-with", type=Path, default=None,
                        help="a tokenizer to time corpus encoding with (default: skip encoding)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "distributed.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    megabytes = args.corpus.stat().st_size / 1e6
    shards = plan_shards([args.corpus], shard_bytes=SHARD_BYTES)
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=args.vocab_size)).to_str()
    rows = []

    local_times, reference = [], None
    for _ in range(args.repeats):
        seconds, reference = count_once(args.corpus, "local", tokenizer_json)
        local_times.append(seconds)
    rows.append({"task": "count", "engine": "local", "workers": 1, "seconds": statistics.median(local_times)})

    for workers in (1, 2):
        ray, startup = with_ray(workers)
        try:
            times = []
            for _ in range(args.repeats):
                seconds, counts = count_once(args.corpus, "ray", tokenizer_json)
                if counts != reference:
                    raise SystemExit("ray counts differ from local counts")
                times.append(seconds)
            rows.append({"task": "count", "engine": "ray", "workers": workers, "seconds": statistics.median(times),
                         "ray_startup_seconds": round(startup, 2)})
        finally:
            ray.shutdown()

    start = time.perf_counter()
    learn_bpe(reference, vocab_size=args.vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
              initial_alphabet=__import__("tokenizers").pre_tokenizers.ByteLevel.alphabet())
    learn_seconds = time.perf_counter() - start

    for row in rows:
        row["megabytes_per_second"] = round(megabytes / row["seconds"], 3)
        row["speedup_over_local"] = round(rows[0]["seconds"] / row["seconds"], 3)
        print(f"{row['task']:>6} {row['engine']:>5} x{row['workers']}: {row['seconds']:.2f} s, "
              f"{row['megabytes_per_second']:.2f} MB/s, {row['speedup_over_local']:.2f}x local")
    model = {
        "corpus_megabytes": round(megabytes, 2),
        "shards": len(shards),
        "count_seconds_per_shard_one_worker": round(rows[0]["seconds"] / len(shards), 3),
        "distinct_pretokens": len(reference),
        "merge_step_seconds": round(learn_seconds, 2),
        "vocab_size": args.vocab_size,
    }
    print(f"merge step (learn {args.vocab_size} from {len(reference):,} distinct pre-tokens): {learn_seconds:.2f} s")
    report = {"benchmark": "distributed", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "rows": rows, "scaling_model_inputs": model}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
