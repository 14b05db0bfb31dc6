"""BPE training end to end, pre-token counting and encoding on the `tokenizers` trainer, the local path and
Ray with 1 and 2 workers, interleaved in one run; and the numbers behind the README's scaling model.

    .venv/bin/python benchmarks/distributed.py          # needs `make corpora`

Every repeat (--repeats, default 3) visits every configuration once, the order rotating by one place per
repeat, so that a change in the machine's load falls on all of them alike. Every run's seconds are kept
(`seconds`, in run order) and rows give their median.

- `train`: `tokwork.trainers.bpe.train_bpe` at --vocab-size on the whole corpus, with engine hf on all
  threads (the `tokenizers` trainer as `tokwork train bpe` runs it on one machine: the first row), hf on
  one thread, local, and Ray with 1 and 2 workers. Each run is a fresh Python process started through
  `child_usage`, so that its peak memory is its own. `seconds` is the `train_bpe` call, end to end as a user
  pays it (for local and Ray: reading and counting on the library's default 4 MiB shards, importing and
  loading the numba learner, starting Ray's worker processes, learning the merges). Left out are the
  interpreter, the imports before the call and `ray.init` (timed apart, `ray_startup_seconds`);
  `process_seconds` is the whole process as the launcher saw it. local and Ray must learn the same merges
  (checked); whether hf learns them too is recorded (`merges_equal_to_local`). Peak memory
  (`peak_rss_mib`) and CPU time are the training process's for hf and local. For Ray the launcher sees one
  process at a time (the driver, and only those of Ray's processes that were reaped), not the sum over the
  driver, Ray's own processes, the workers and the shared-memory object store, so no Ray memory or CPU
  figure is given; `launcher_saw` keeps what the launcher reported.
- `count` (pre-token counting, `tokwork.pretoken_counts.count_pretokens`) and `encode` (GPT-2 ids,
  `tokwork.token_ids.encode_corpus`), in this process on shards of --shard-mib: local, and Ray with 1 and 2
  workers. Ray gets one session per (repeat, worker count): `ray.init` is timed apart, then counting and
  encoding run once untimed on the corpus's first four shards (so that the worker processes exist and
  have imported tokwork), then once timed on the whole corpus; the local path gets the same warm-up once,
  before the first repeat. Every run must give the same counts and ids (checked). These rows are
  steady-state throughput; the `train` rows include the start-up costs. A configuration's count and
  encode runs come before its train run in its turn; numba's disk cache is filled before any timing.

One thread per process (`TOKENIZERS_PARALLELISM=false`, `RAYON_NUM_THREADS=1`, also in Ray's workers)
everywhere but the hf all-threads row, so that workers, not library threads, are what scale.

Scaling model (`benchmarks/scaling_model.py`): distinct pre-tokens and the merge step's time (`learn_bpe`
from the counts, one process) for leading parts of the corpus, 1/8 .. all of it, then, with extra corpora
(--extra-corpus; by default every `~/.cache/tokwork/corpora/*/train.txt` but en-docs, i.e. the
multilingual ones), of the corpus followed by them (2x, 4x, ... the corpus while under 0.8 of the whole,
and all of it), so that the fit covers a corpus several times the main one. Past the main corpus the growth adds other text (other languages), which
`growth_corpus` records; the Heaps' law exponent is given over all points and over the main corpus alone.
With no extra corpus the fit covers the main corpus only, and the JSON says so. `--model-only` recomputes
the model from an existing JSON.
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
from dataclasses import dataclass
from pathlib import Path

from child_usage import launcher_floor_mib, measure
from results_file import write_results
from scaling_model import heaps_exponent, merge_step_growth, print_model, scaling_model
from tokenizers import pre_tokenizers

from tokwork.cache import cache_root
from tokwork.pretoken_counts import count_pretokens
from tokwork.shards import SHARD_BYTES, plan_shards
from tokwork.trainers.bpe_learner import learn_bpe
from tokwork.trainers.bpe_model import TRAINING_BLOCK_CHARS, BPEConfig, empty_byte_level_bpe

SINGLE_THREAD = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
RAY_MEMORY_NOTE = ("memory and CPU not measured: the launcher sees one process at a time (the driver and those "
                   "of Ray's processes that were reaped), not the sum over driver, Ray's processes, workers and "
                   "object store; launcher_saw is what it reported")

# argv: corpus, engine, workers, vocab size, Ray workers' environment (JSON). Prints one JSON line.
TRAIN_CHILD = r"""
import json, sys, time
corpus, engine, workers, vocab_size, worker_env = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
from tokwork.trainers.bpe import BPEConfig, train_bpe
startup = None
if engine == "ray":
    import ray
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": json.loads(worker_env)})
    startup = time.perf_counter() - start
start = time.perf_counter()
trained = train_bpe([corpus], BPEConfig(vocab_size=vocab_size), engine=engine, progress=False)
seconds = time.perf_counter() - start
if engine == "ray":
    ray.shutdown()
merges = json.loads(trained.tokenizer.backend.to_str())["model"]["merges"]
print(json.dumps({"seconds": seconds, "ray_startup_seconds": startup, "notes": trained.card.notes, "merges": merges}))
"""


@dataclass(frozen=True)
class Configuration:
    """Where a run happens; hf runs only the `train` task."""

    engine: str
    workers: int = 1
    all_threads: bool = False

    @property
    def label(self) -> str:
        if self.engine == "hf":
            return f"hf, {'all threads' if self.all_threads else '1 thread'}"
        return f"{self.engine} x{self.workers}"


CONFIGURATIONS = (Configuration("hf", all_threads=True), Configuration("hf"), Configuration("local"),
                  Configuration("ray", 1), Configuration("ray", 2))


def count_once(corpus: Path, engine: str, tokenizer_json: str, shard_bytes: int) -> tuple[float, dict]:
    start = time.perf_counter()
    table, _ = count_pretokens([corpus], tokenizer_json=tokenizer_json, engine=engine,
                               block_chars=TRAINING_BLOCK_CHARS, shard_bytes=shard_bytes)
    seconds = time.perf_counter() - start
    counts = table.to_dict()
    table.close()
    return seconds, counts


def encode_once(corpus: Path, engine: str, tokenizer: Path, output: Path, shard_bytes: int) -> tuple[float, list]:
    import numpy as np

    from tokwork.token_ids import encode_corpus

    start = time.perf_counter()
    report = encode_corpus(tokenizer, [corpus], output, engine=engine, force=True, shard_bytes=shard_bytes,
                           progress=False)
    seconds = time.perf_counter() - start
    return seconds, [np.load(path) for path in report.files]


def with_ray(workers: int):
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": SINGLE_THREAD})
    return ray, time.perf_counter() - start


def train_once(corpus: Path, configuration: Configuration, vocab_size: int) -> tuple[dict, list]:
    """One end-to-end training in a fresh process: its timings and peak memory, and the merges learned."""
    env = {key: value for key, value in os.environ.items() if key not in SINGLE_THREAD}
    env.setdefault("RAY_AUTH_MODE", "disabled")
    if not configuration.all_threads:
        env.update(SINGLE_THREAD)
    usage = measure([sys.executable, "-c", TRAIN_CHILD, str(corpus), configuration.engine,
                     str(configuration.workers), str(vocab_size), json.dumps(SINGLE_THREAD)], env=env)
    result = json.loads(usage.stdout.strip().splitlines()[-1])
    run = {"seconds": result["seconds"], "process_seconds": usage.wall_seconds, "cpu_seconds": usage.cpu_seconds,
           "peak_rss_mib": usage.peak_rss_mib, "load_before": usage.load_before, "notes": result["notes"]}
    if result["ray_startup_seconds"] is not None:
        run["ray_startup_seconds"] = result["ray_startup_seconds"]
    return run, result["merges"]


def leading_part(corpus: Path, megabytes: float, output: Path) -> Path:
    """The corpus's first paragraphs, about `megabytes` in all, written to `output`."""
    data = corpus.read_bytes()
    cut = data.find(b"\n\n", int(megabytes * 1e6))
    output.write_bytes(data if cut < 0 else data[:cut + 2])
    return output


def main() -> None:
    cache = cache_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    english_corpus = cache / "corpora" / "en-docs" / "train.txt"
    parser.add_argument("--corpus", type=Path, default=english_corpus)
    parser.add_argument("--extra-corpus", type=Path, nargs="*", default=None,
                        help="text appended to the corpus for the scaling fit (default: every corpora/*/train.txt "
                             "in the cache but en-docs, i.e. the multilingual ones; give the flag alone for none)")
    parser.add_argument("--repeats", type=int, default=3)
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
        write_results(args.json, report, indent=2)
        return
    os.environ.update(SINGLE_THREAD)
    shard_bytes = int(args.shard_mib * (1 << 20))
    if not args.corpus.is_file():
        raise SystemExit(f"corpus '{args.corpus}' is missing; build it with `make corpora`")
    extra = args.extra_corpus
    if extra is None:  # the multilingual corpora: every corpus in the cache but the English one and --corpus
        english = {english_corpus.resolve(), args.corpus.resolve()}
        extra = sorted(p for p in (cache / "corpora").glob("*/train.txt") if p.resolve() not in english)
    for path in extra:
        if not path.is_file():
            raise SystemExit(f"extra corpus '{path}' is missing; pass existing files to --extra-corpus")
    megabytes = args.corpus.stat().st_size / 1e6
    print(f"scaling fit beyond the corpus: {', '.join(map(str, extra)) or 'none (no extra corpus found)'}")
    shards = plan_shards([args.corpus], shard_bytes=shard_bytes)
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=args.vocab_size)).to_str()
    learn_bpe({"ab": 2, "abc": 2}, vocab_size=300, min_frequency=1, special_tokens=[],
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # numba's disk cache filled, untimed

    work = Path(tempfile.mkdtemp(prefix="tokwork-distributed-"))
    warmup = leading_part(args.corpus, 2 * 2 * shard_bytes / 1e6, work / "warmup.txt")  # 2 shards a worker

    def task_runs(engine: str, corpus: Path, name: str) -> dict:
        return {"count": lambda: count_once(corpus, engine, tokenizer_json, shard_bytes),
                "encode": lambda: encode_once(corpus, engine, args.tokenizer, work / f"ids-{name}", shard_bytes)}

    runs: dict[tuple[str, str], list[dict]] = {}
    reference: dict[str, object] = {}  # count, encode: the first result; merges: the first local/Ray merges
    merges: dict[str, list] = {}  # the first merges of each configuration
    try:
        for run in task_runs("local", warmup, "warmup").values():
            run()  # untimed: lazy imports and caches of the local path
        for repeat in range(args.repeats):
            turn = repeat % len(CONFIGURATIONS)
            for configuration in CONFIGURATIONS[turn:] + CONFIGURATIONS[:turn]:
                label = configuration.label
                print(f"repeat {repeat + 1}/{args.repeats}: {label}", flush=True)
                if configuration.engine != "hf":
                    startup, measured = session(configuration, task_runs(configuration.engine, args.corpus, label),
                                                task_runs(configuration.engine, warmup, "warmup"))
                    for task, (seconds, result) in measured.items():
                        if not _same(result, reference.setdefault(task, result)):
                            raise SystemExit(f"{task} on {label} differs from the first configuration's result")
                        timed = {"seconds": seconds}
                        if startup is not None:
                            timed["ray_startup_seconds"] = startup
                        runs.setdefault((task, label), []).append(timed)
                timed, learned = train_once(args.corpus, configuration, args.vocab_size)
                merges.setdefault(label, learned)
                if configuration.engine != "hf" and learned != reference.setdefault("merges", learned):
                    raise SystemExit(f"train on {label} learned other merges than the first local/Ray run")
                runs.setdefault(("train", label), []).append(timed)
        floor = launcher_floor_mib()
        growth, growth_corpus = merge_step_growth(args.corpus, extra, tokenizer_json, shard_bytes,
                                                  args.vocab_size, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = summarise(runs, megabytes, merges, reference["merges"])
    print(f"\n{megabytes:.2f} MB, {args.repeats} interleaved repeats, medians; train: each run its own process")
    print(f"{'task':>6}  {'configuration':16} {'median s':>9} {'MB/s':>7} {'vs local':>9} {'vs hf':>7} {'peak MiB':>9}")
    for row in rows:
        peak = f"{row['peak_rss_mib_median']:9.0f}" if row.get("peak_rss_mib_median") else f"{'-':>9}"
        versus_hf = f"{row['speedup_over_hf']:6.2f}x" if "speedup_over_hf" in row else f"{'':>7}"
        print(f"{row['task']:>6}  {row['configuration']:16} {row['median_seconds']:9.2f} "
              f"{row['megabytes_per_second']:7.2f} {row['speedup_over_local']:8.2f}x {versus_hf} {peak}")
    hf_equal = next(row["merges_equal_to_local"] for row in rows if row["configuration"] == "hf, all threads")
    print(f"train: local and Ray learned the same {len(reference['merges']):,} merges (checked); hf: "
          f"{'the same' if hf_equal else 'different'} (first differing merge: "
          f"{_first_difference(merges['hf, all threads'], reference['merges'])})")

    main_points = [p for p in growth if p["megabytes"] <= megabytes + 1e-3]
    model = {
        "corpus_megabytes": round(megabytes, 2),
        "shards": len(shards),
        "count_seconds_per_shard_one_worker": round(
            next(r["median_seconds"] for r in rows if r["task"] == "count" and r["engine"] == "local") / len(shards), 3),
        "distinct_pretokens": len(reference["count"]),
        "merge_step_seconds": main_points[-1]["learn_seconds"],
        "vocab_size": args.vocab_size,
        "growth": growth,
        "growth_corpus": growth_corpus,
        "heaps_exponent": heaps_exponent(growth),
        "heaps_exponent_main_corpus_only": heaps_exponent(main_points),
    }
    for point in growth:
        print(f"  {point['megabytes']:8.2f} MB ({point['extra_megabytes']:.2f} MB extra): "
              f"{point['distinct_pretokens']:,} distinct pre-tokens, merge step {point['learn_seconds']:.2f} s")
    print(f"growth corpus: {growth_corpus['times_main_corpus']:.2f}x the main corpus; {growth_corpus['note']}")
    print(f"distinct pre-tokens grow as corpus^{model['heaps_exponent']:.2f} over all points, "
          f"^{model['heaps_exponent_main_corpus_only']:.2f} over the main corpus (Heaps' law fit)")
    report = {"benchmark": "distributed", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "corpus": str(args.corpus), "repeats": args.repeats, "shard_bytes": shard_bytes,
              "train_shard_bytes": SHARD_BYTES, "launcher_floor_mib": round(floor, 1),
              "order": "each repeat visits every configuration once, rotating by one place per repeat: "
                       + ", ".join(c.label for c in CONFIGURATIONS),
              "ray_train_memory": RAY_MEMORY_NOTE, "rows": rows, "scaling_model_inputs": model}
    report["scaling_model"] = scaling_model(report)
    print_model(report["scaling_model"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.json, report, indent=2)
    print(f"wrote {args.json}")


def session(configuration: Configuration, timed: dict, warmup: dict) -> tuple[float | None, dict]:
    """Count and encode once each on `configuration`; a Ray one gets its own session, started (timed apart)
    and warmed up on the leading shards (untimed) first."""
    if configuration.engine == "local":
        return None, {task: run() for task, run in timed.items()}
    ray, startup = with_ray(configuration.workers)
    try:
        for run in warmup.values():
            run()
        return startup, {task: run() for task, run in timed.items()}
    finally:
        ray.shutdown()


def summarise(runs: dict[tuple[str, str], list[dict]], megabytes: float, merges: dict[str, list],
              local_merges: list) -> list[dict]:
    """One row per (task, configuration): every run, medians, throughput and ratios to local and hf."""
    median = {key: statistics.median(run["seconds"] for run in values) for key, values in runs.items()}
    rows = []
    for task in ("train", "count", "encode"):
        for configuration in CONFIGURATIONS:
            values = runs.get((task, configuration.label))
            if not values:
                continue
            seconds = median[(task, configuration.label)]
            row = {"task": task, "configuration": configuration.label, "engine": configuration.engine,
                   "workers": configuration.workers, "threads": "all" if configuration.all_threads else 1,
                   "seconds": [round(run["seconds"], 3) for run in values], "median_seconds": round(seconds, 3),
                   "megabytes_per_second": round(megabytes / seconds, 3),
                   "speedup_over_local": round(median[(task, "local x1")] / seconds, 3)}
            if task == "train":
                row["speedup_over_hf"] = round(median[(task, "hf, all threads")] / seconds, 3)
                row["process_seconds"] = [round(run["process_seconds"], 2) for run in values]
                row["load_before"] = [round(run["load_before"], 2) for run in values]
                row["notes"] = values[-1]["notes"]
                peaks = [round(run["peak_rss_mib"], 1) for run in values]
                cpu = [round(run["cpu_seconds"], 2) for run in values]
                if configuration.engine == "ray":
                    row["peak_rss_mib"] = row["cpu_seconds"] = None
                    row["peak_rss_note"] = RAY_MEMORY_NOTE
                    row["launcher_saw"] = {"largest_process_peak_rss_mib": peaks, "cpu_seconds": cpu}
                else:
                    row["peak_rss_mib"], row["peak_rss_mib_median"] = peaks, statistics.median(peaks)
                    row["cpu_seconds"] = cpu
                row["merges"] = len(merges[configuration.label])
                row["merges_equal_to_local"] = merges[configuration.label] == local_merges
                row["first_merge_differing_from_local"] = _first_difference(merges[configuration.label],
                                                                            local_merges)
            if "ray_startup_seconds" in values[0]:
                row["ray_startup_seconds"] = [round(run["ray_startup_seconds"], 2) for run in values]
            rows.append(row)
    return rows


def _same(result, reference) -> bool:
    if isinstance(result, dict):
        return result == reference
    import numpy as np

    return len(result) == len(reference) and all(np.array_equal(a, b) for a, b in zip(result, reference, strict=True))


def _first_difference(merges: list, reference: list) -> int | None:
    """The rank of the first merge that differs (None when the lists are equal)."""
    for rank, (mine, theirs) in enumerate(zip(merges, reference, strict=False)):
        if mine != theirs:
            return rank
    return None if len(merges) == len(reference) else min(len(merges), len(reference))


if __name__ == "__main__":
    main()
