"""Throughput of pre-token counting and encoding on Ray with 1 and 2 workers against the local path, and
the numbers behind the scaling model in the README (per-shard cost, merge-step cost), all in one run.

    .venv/bin/python benchmarks/distributed.py          # needs `make corpora`

Ray's start-up is timed separately and left out of the throughput, and every Ray configuration runs
once untimed first, so that its worker processes exist and have imported tokwork; every configuration
runs the same shards and must give the same counts and ids (checked). Encoding uses one thread per
process everywhere (`TOKENIZERS_PARALLELISM=false`), so that workers, not library threads, are what scale.
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

from tokwork.cache import cache_root
from tokwork.pretoken_counts import count_pretokens
from tokwork.shards import plan_shards
from tokwork.trainers.bpe_learner import learn_bpe
from tokwork.trainers.bpe_model import TRAINING_BLOCK_CHARS, BPEConfig, empty_byte_level_bpe

SINGLE_THREAD = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}


def count_once(corpus: Path, engine: str, tokenizer_json: str, shard_bytes: int) -> tuple[float, dict]:
    start = time.perf_counter()
    table, _ = count_pretokens([corpus], tokenizer_json=tokenizer_json, engine=engine,
                               block_chars=TRAINING_BLOCK_CHARS, shard_bytes=shard_bytes)
    seconds = time.perf_counter() - start
    counts = table.to_dict()
    table.close()
    return seconds, counts


def with_ray(workers: int):
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": SINGLE_THREAD})
    return ray, time.perf_counter() - start


def encode_once(corpus: Path, engine: str, tokenizer: Path, output: Path, shard_bytes: int) -> tuple[float, list]:
    import numpy as np

    from tokwork.token_ids import encode_corpus

    start = time.perf_counter()
    report = encode_corpus(tokenizer, [corpus], output, engine=engine, force=True, shard_bytes=shard_bytes,
                           progress=False)
    seconds = time.perf_counter() - start
    return seconds, [np.load(path) for path in report.files]


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache / "corpora" / "en-docs" / "train.txt")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--tokenizer", type=Path, default=cache / "tokenizers" / "gpt2",
                        help="the tokenizer that encodes the corpus")
    parser.add_argument("--shard-mib", type=float, default=1.0, help="shard size (smaller: better balance)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "distributed.json")
    parser.add_argument("--model-only", action="store_true",
                        help="recompute the scaling model from the measurements already in --json")
    args = parser.parse_args()
    if args.model_only:
        report = json.loads(args.json.read_text(encoding="utf-8"))
        report["scaling_model"] = scaling_model(report)
        print_model(report["scaling_model"])
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return
    os.environ.update(SINGLE_THREAD)
    shard_bytes = int(args.shard_mib * (1 << 20))
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    megabytes = args.corpus.stat().st_size / 1e6
    shards = plan_shards([args.corpus], shard_bytes=shard_bytes)
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=args.vocab_size)).to_str()
    work = Path(tempfile.mkdtemp(prefix="tokwork-distributed-"))
    tasks = {
        "count": lambda engine: count_once(args.corpus, engine, tokenizer_json, shard_bytes),
        "encode": lambda engine: encode_once(args.corpus, engine, args.tokenizer, work / f"ids-{engine}",
                                             shard_bytes),
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
                for run in tasks.values():
                    run("ray")  # untimed: start the workers and let them import tokwork
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

    growth = merge_step_growth(args.corpus, tokenizer_json, shard_bytes, args.vocab_size)
    learn_seconds = growth[-1]["learn_seconds"]

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
        "growth": growth,
        "heaps_exponent": heaps_exponent(growth),
    }
    for point in growth:
        print(f"  {point['megabytes']:6.2f} MB: {point['distinct_pretokens']:,} distinct pre-tokens, "
              f"merge step {point['learn_seconds']:.2f} s")
    print(f"distinct pre-tokens grow as corpus^{model['heaps_exponent']:.2f} (Heaps' law fit)")
    print(f"merge step (learn {args.vocab_size} from {len(reference['count']):,} distinct pre-tokens): "
          f"{learn_seconds:.2f} s")
    report = {"benchmark": "distributed", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "rows": rows, "scaling_model_inputs": model}
    report["scaling_model"] = scaling_model(report)
    print_model(report["scaling_model"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


def merge_step_growth(corpus: Path, tokenizer_json: str, shard_bytes: int, vocab_size: int) -> list[dict]:
    """Distinct pre-tokens and merge-step time for growing leading parts of the corpus (1/8 .. all)."""
    points = []
    data = corpus.read_bytes()
    with tempfile.TemporaryDirectory(prefix="tokwork-growth-") as folder:
        for fraction in (8, 4, 2, 1):
            cut = data.find(b"\n\n", len(data) // fraction) + 2 if fraction > 1 else len(data)
            part = Path(folder) / f"part-{fraction}.txt"
            part.write_bytes(data[:cut])
            table, _ = count_pretokens([part], tokenizer_json=tokenizer_json, block_chars=TRAINING_BLOCK_CHARS,
                                       shard_bytes=shard_bytes)
            counts = table.to_dict()
            start = time.perf_counter()
            learn_bpe(counts, vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
            points.append({"megabytes": round(cut / 1e6, 3), "distinct_pretokens": len(counts),
                           "learn_seconds": round(time.perf_counter() - start, 3)})
    return points


def heaps_exponent(points: list[dict]) -> float:
    """The slope of log(distinct pre-tokens) against log(corpus size): D grows as size**beta."""
    import numpy as np

    x = np.log([p["megabytes"] for p in points])
    y = np.log([p["distinct_pretokens"] for p in points])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def scaling_model(report: dict) -> dict:
    """Counting time S / (W c), distinct pre-tokens D(S) = D0 (S / S0)^beta, merge step a + b D; and, for
    several worker counts W, the corpus size below which the merge step takes longer than the counting."""
    import numpy as np

    inputs = report["scaling_model_inputs"]
    growth = inputs["growth"]
    b, a = np.polyfit([p["distinct_pretokens"] for p in growth], [p["learn_seconds"] for p in growth], 1)
    two = next(r for r in report["rows"] if r["task"] == "count" and r["engine"] == "ray" and r["workers"] == 2)
    per_worker = two["megabytes_per_second"] / 2
    d0, s0, beta = inputs["distinct_pretokens"], inputs["corpus_megabytes"], inputs["heaps_exponent"]

    def merge_seconds(megabytes: float) -> float:
        return a + b * d0 * (megabytes / s0) ** beta

    crossovers = []
    for workers in (2, 16, 128):
        low, high = 1e-3, 1e12  # megabytes; counting minus merging changes sign once in between (beta < 1)
        for _ in range(200):
            middle = (low * high) ** 0.5
            if middle / (workers * per_worker) < merge_seconds(middle):
                low = middle
            else:
                high = middle
        crossovers.append({"workers": workers, "corpus_megabytes": round(low, 1),
                           "distinct_pretokens": round(d0 * (low / s0) ** beta),
                           "merge_step_seconds": round(merge_seconds(low), 1)})
    return {"count_megabytes_per_second_per_worker": round(per_worker, 3), "merge_fixed_seconds": round(float(a), 3),
            "merge_seconds_per_distinct_pretoken": float(f"{b:.3g}"), "heaps_exponent": beta,
            "merge_step_is_bottleneck_below": crossovers}


def print_model(model: dict) -> None:
    print(f"scaling model: counting {model['count_megabytes_per_second_per_worker']:.2f} MB/s per worker; merge step "
          f"{model['merge_fixed_seconds']:.2f} s + {model['merge_seconds_per_distinct_pretoken'] * 1e6:.1f} us per "
          f"distinct pre-token; D ~ S^{model['heaps_exponent']:.2f}")
    for point in model["merge_step_is_bottleneck_below"]:
        print(f"  {point['workers']:>4} workers: merge step is the bottleneck below {point['corpus_megabytes']:,.0f} MB "
              f"({point['distinct_pretokens']:,} distinct pre-tokens, merge step {point['merge_step_seconds']:.1f} s)")


def _same(result, reference) -> bool:
    if isinstance(result, dict):
        return result == reference
    import numpy as np

    return len(result) == len(reference) and all(np.array_equal(a, b) for a, b in zip(result, reference, strict=True))


if __name__ == "__main__":
    main()
