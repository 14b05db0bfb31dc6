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
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import pre_tokenizers

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


def encode_once(corpus: Path, engine: str, tokenizer: Path, output: Path) -> tuple[float, list]:
    import numpy as np

    from tokwork.encode_shards import encode_corpus_shards

    start = time.perf_counter()
    manifest = encode_corpus_shards([corpus], tokenizer=tokenizer, output=output, engine=engine, force=True)
    seconds = time.perf_counter() - start
    return seconds, [np.load(output / entry["file"]) for entry in manifest["shards"]]


def main() -> None:
    cache = Path(os.environ.get("TOKWORK_CACHE") or Path.home() / ".cache" / "tokwork")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--tokenizer", type=Path, default=cache / "tokenizers" / "gpt2",
                        help="the tokenizer that encodes the corpus")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "distributed.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    megabytes = args.corpus.stat().st_size / 1e6
    shards = plan_shards([args.corpus], shard_bytes=SHARD_BYTES)
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=args.vocab_size)).to_str()
    work = Path(tempfile.mkdtemp(prefix="tokwork-distributed-"))
    tasks = {
        "count": lambda engine: count_once(args.corpus, engine, tokenizer_json),
        "encode": lambda engine: encode_once(args.corpus, engine, args.tokenizer, work / f"ids-{engine}"),
    }
    rows, reference = [], {}
    try:
        for task, run in tasks.items():
            times = []
            for _ in range(args.repeats):
                seconds, reference[task] = run("local")
                times.append(seconds)
            rows.append({"task": task, "engine": "local", "workers": 1, "seconds": statistics.median(times)})
        for workers in (1, 2):
            ray, startup = with_ray(workers)
            try:
                for task, run in tasks.items():
                    times = []
                    for _ in range(args.repeats):
                        seconds, result = run("ray")
                        if not _same(result, reference[task]):
                            raise SystemExit(f"{task} on Ray differs from the local result")
                        times.append(seconds)
                    rows.append({"task": task, "engine": "ray", "workers": workers,
                                 "seconds": statistics.median(times), "ray_startup_seconds": round(startup, 2)})
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    start = time.perf_counter()
    learn_bpe(reference["count"], vocab_size=args.vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    learn_seconds = time.perf_counter() - start

    local_seconds = {row["task"]: row["seconds"] for row in rows if row["engine"] == "local"}
    for row in rows:
        row["megabytes_per_second"] = round(megabytes / row["seconds"], 3)
        row["speedup_over_local"] = round(local_seconds[row["task"]] / row["seconds"], 3)
        print(f"{row['task']:>6} {row['engine']:>5} x{row['workers']}: {row['seconds']:6.2f} s, "
              f"{row['megabytes_per_second']:.2f} MB/s, {row['speedup_over_local']:.2f}x local")
    model = {
        "corpus_megabytes": round(megabytes, 2),
        "shards": len(shards),
        "count_seconds_per_shard_one_worker": round(local_seconds["count"] / len(shards), 3),
        "distinct_pretokens": len(reference["count"]),
        "merge_step_seconds": round(learn_seconds, 2),
        "vocab_size": args.vocab_size,
    }
    print(f"merge step (learn {args.vocab_size} from {len(reference['count']):,} distinct pre-tokens): "
          f"{learn_seconds:.2f} s")
    report = {"benchmark": "distributed", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "rows": rows, "scaling_model_inputs": model}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


def _same(result, reference) -> bool:
    if isinstance(result, dict):
        return result == reference
    import numpy as np

    return len(result) == len(reference) and all(np.array_equal(a, b) for a, b in zip(result, reference, strict=True))


if __name__ == "__main__":
    main()
