"""Wall time of `tokwork bench` against the plain libraries on the same texts, with as many processes.

Each configuration (N tokenizers x M UDHR languages) times fresh processes, one of each side per round, in
rotating order, over several rounds, after one untimed warm-up round (it fills the page cache and tokwork's
caches: byte views, converted tiktoken files, lexicon answers, which any second run finds). tokwork's
modules are compiled to bytecode first, as an installed package has them. Figures are medians:

- `tokwork bench`: loads, byte views, every metric, results.json/csv and report.html (no `--plots`),
  with its default of one worker process per CPU, at most one per tokenizer (W);
- plain libraries, W processes (its peer): `tokenizers.Tokenizer.from_file` + `encode_batch` for
  tokenizer.json files, `tiktoken` + `encode_ordinary_batch` for .tiktoken files, nothing else, one task
  per tokenizer on a pool of W forked processes, the largest file first (`tokwork bench` also hands out one
  tokenizer per task, slowest to load first: for it a .tiktoken file loads as a converted tokenizer.json);
- `tokwork bench --workers 1` (everything in one process) against the plain libraries serially;
- tokwork's loader serially (`tokwork.load_tokenizer` + `encode_batch`), for orientation: loading and
  encoding through tokwork with no metric.

Every side prints its token total per tokenizer and the script checks they agree, so all encode the same
texts the same way. Ratios are of the medians; the JSON also holds every run's time and CPU time (its
processes' user + system), the ratios within each round, and the load average (1 minute) before each run,
since other work on a shared machine slows the Python-heavy side more than the Rust encoders: take figures
from a quiet machine.

    .venv/bin/python benchmarks/bench_overhead.py                 # needs `make tokenizers`
    .venv/bin/python benchmarks/bench_overhead.py --repeats 2 --configs 2x10 --json /tmp/overhead.json
    .venv/bin/python benchmarks/bench_overhead.py --pool benchmarks/results/bench_overhead*.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_results

REPO = Path(__file__).resolve().parent.parent

# argv: {name: path} as JSON, language codes as JSON, the UDHR folder, worker processes (1: this process).
PLAIN_LIBRARIES = r"""
import json, sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
import tiktoken
from tokenizers import Tokenizer

def file_of(path):
    path = Path(path)
    return path if path.suffix == ".tiktoken" else path / "tokenizer.json"

def total(path, texts):
    file = file_of(path)
    if file.suffix == ".tiktoken":
        from tiktoken.load import load_tiktoken_bpe
        params = json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
        enc = tiktoken.Encoding(file.stem, pat_str=params["pattern"], mergeable_ranks=load_tiktoken_bpe(str(file)),
                                special_tokens=params["special_tokens"])
        return sum(len(ids) for blocks in texts for ids in enc.encode_ordinary_batch(blocks))
    tok = Tokenizer.from_file(str(file))
    tok.encode_special_tokens = True
    return sum(len(e.ids) for blocks in texts for e in tok.encode_batch(blocks, add_special_tokens=False))

if __name__ == "__main__":
    tokenizers, languages = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    udhr, workers = Path(sys.argv[3]), int(sys.argv[4])
    texts = [(udhr / f"{code}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n") for code in languages]
    if workers == 1:
        totals = {name: total(path, texts) for name, path in tokenizers.items()}
    else:
        order = sorted(tokenizers, key=lambda name: file_of(tokenizers[name]).stat().st_size, reverse=True)
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            futures = {name: pool.submit(total, tokenizers[name], texts) for name in order}
            totals = {name: futures[name].result() for name in tokenizers}
    print(json.dumps(totals))
"""

TOKWORK_LOADER = r"""
import json, sys
from pathlib import Path
from tokwork import load_tokenizer
tokenizers, languages, udhr = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
texts = [(udhr / f"{code}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n") for code in languages]
totals = {}
for name, path in tokenizers.items():
    tok = load_tokenizer(path)
    totals[name] = sum(len(ids) for blocks in texts for ids in tok.encode_batch(blocks))
print(json.dumps(totals))
"""

# tokwork's folders (pyproject.toml's package-dir).
PACKAGES = ("tokwork", "trainers", "metrics", "transplant", "cli")
# Side -> the side it is compared with.
PEERS = {"tokwork bench": "plain libraries, W processes",
         "tokwork bench --workers 1": "plain libraries, serial",
         "tokwork loader, serial": "plain libraries, serial"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float, str]:
    """Run a command; return its wall time, the CPU time of it and its processes, and its standard output."""
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command[:4])} ...\n{done.stderr}")
    return seconds, _children_cpu() - cpu, done.stdout


def sides(tokenizers: dict[str, str], languages: list[str], workers: int, work: Path) -> dict[str, list[str]]:
    """The command line of every side."""
    from tokwork.metrics.parallel import SHIPPED_UDHR

    cli = str(Path(sys.executable).with_name("tokwork"))
    bench = [cli, "bench", "--quiet", "--force", "--languages", ",".join(languages),
             *[arg for name, path in tokenizers.items() for arg in ("-t", f"{name}={path}")]]
    args = [json.dumps(tokenizers), json.dumps(languages), str(SHIPPED_UDHR)]
    return {
        "tokwork bench": [*bench, "-o", str(work / "bench")],
        "plain libraries, W processes": [sys.executable, "-c", PLAIN_LIBRARIES, *args, str(workers)],
        "tokwork bench --workers 1": [*bench, "-o", str(work / "bench-1"), "--workers", "1"],
        "plain libraries, serial": [sys.executable, "-c", PLAIN_LIBRARIES, *args, "1"],
        "tokwork loader, serial": [sys.executable, "-c", TOKWORK_LOADER, *args],
    }


def token_totals(name: str, stdout: str, work: Path) -> dict[str, int]:
    if not name.startswith("tokwork bench"):
        return json.loads(stdout)
    folder = work / ("bench-1" if name.endswith("--workers 1") else "bench")
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return {t["tokenizer"]: t["tokens"] for t in results["tokenizers"]}


def measure(tokenizers: dict[str, str], languages: list[str], repeats: int, work: Path) -> dict:
    """A warm-up round, then `repeats` rounds of every side in rotating order; medians and ratios."""
    from tokwork.distributed import default_workers

    workers = default_workers(len(tokenizers))
    commands = sides(tokenizers, languages, workers, work)
    names = list(commands)
    warmup = {name: timed(command)[0] for name, command in commands.items()}
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    loads: dict[str, list[float]] = {name: [] for name in names}
    totals: dict[str, dict] = {}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            loads[name].append(os.getloadavg()[0])
            seconds, cpu_seconds, stdout = timed(commands[name])
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            totals[name] = token_totals(name, stdout, work)
    if len({json.dumps(t, sort_keys=True) for t in totals.values()}) != 1:
        raise SystemExit(f"the sides did not encode the same tokens: {totals}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "tokenizers": list(tokenizers), "languages": len(languages), "workers": workers, "repeats": repeats,
        "tokens": totals["tokwork bench"], "warmup_seconds": warmup, "seconds": times,
        "cpu_seconds": cpu, "load_average_before": loads, "median_seconds": medians,
        "median_cpu_seconds": {name: statistics.median(values) for name, values in cpu.items()},
        "ratios": {f"{side} / {peer}": medians[side] / medians[peer] for side, peer in PEERS.items()},
        "median_ratio_within_rounds": {
            f"{side} / {peer}": statistics.median(a / b for a, b in zip(times[side], times[peer], strict=True))
            for side, peer in PEERS.items()},
    }


def pooled(paths: list[Path]) -> None:
    """Print, per configuration, the median and quartiles of the within-round ratios pooled over several
    runs' JSON files: each round pairs the sides closely in time, so the pooled rounds stand up to a
    machine whose speed drifts between runs better than one run's ratio of medians does."""
    runs = [json.loads(path.read_text(encoding="utf-8"))["runs"] for path in paths]
    for config in dict.fromkeys(run["config"] for file in runs for run in file):
        for side, peer in PEERS.items():
            ratios = [a / b for file in runs for run in file if run["config"] == config
                      for a, b in zip(run["seconds"][side], run["seconds"][peer], strict=True)]
            low, middle, high = statistics.quantiles(ratios, n=4)
            print(f"{config}: {side} / {peer}: median {middle:.3f} of {len(ratios)} rounds "
                  f"(quartiles {low:.3f}-{high:.3f})")


def main() -> None:
    from tokwork.metrics.parallel import DEFAULT_LANGUAGES, available_languages
    from tokwork.reference_tokenizers import reference_tokenizers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per configuration")
    parser.add_argument("--configs", nargs="+", default=["6x76", "6x56", "2x10"],
                        help="6x76: all languages; 6x56: the default ones; 2x10: gpt2 and llama3 on 10")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_overhead.json")
    parser.add_argument("--pool", type=Path, nargs="+", metavar="JSON",
                        help="only print the within-round ratios pooled over these runs' JSON files")
    args = parser.parse_args()
    if args.pool:
        pooled(args.pool)
        return
    references = reference_tokenizers()
    if len(references) < 6:
        raise SystemExit("the reference tokenizers are missing; run `make tokenizers` first")
    # Bytecode for tokwork's own modules, as an installed package has it (where PYTHONDONTWRITEBYTECODE is
    # set, an editable install would compile them again in every process; the libraries have theirs).
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    configs = {"6x76": ("6 tokenizers x all 76 languages", references, available_languages("udhr")),
               "6x56": ("6 tokenizers x the 56 default languages", references, list(DEFAULT_LANGUAGES)),
               "2x10": ("2 tokenizers x 10 languages", {k: references[k] for k in ("gpt2", "llama3")},
                        list(DEFAULT_LANGUAGES[:10]))}
    runs = []
    with tempfile.TemporaryDirectory(prefix="tokwork-bench-overhead-") as work:
        for key in args.configs:
            label, tokenizers, languages = configs[key]
            run = {"config": label, **measure(tokenizers, languages, args.repeats, Path(work))}
            runs.append(run)
            m, loads = run["median_seconds"], [x for values in run["load_average_before"].values() for x in values]
            print(f"{label} ({run['workers']} workers), medians of {args.repeats}; load average "
                  f"{min(loads):.1f}-{max(loads):.1f}", flush=True)
            for side, peer in PEERS.items():
                c = run["median_cpu_seconds"]
                print(f"  {side:26s} {m[side]:6.2f} s  vs {peer:28s} {m[peer]:6.2f} s: "
                      f"{run['ratios'][f'{side} / {peer}']:.2f}x (within rounds "
                      f"{run['median_ratio_within_rounds'][f'{side} / {peer}']:.2f}x; CPU time "
                      f"{c[side]:.2f} s vs {c[peer]:.2f} s)", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.json, {"runs": runs, "cpus": os.cpu_count()}, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
