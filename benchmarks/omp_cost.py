"""What `tokwork transplant --method omp` costs: seconds (wall and CPU) and peak memory, SmolLM2 → GPT-2.

Each run is a fresh process started by a small launcher (plain Python, no torch), whose
getrusage(RUSAGE_CHILDREN) gives the run's CPU time (user + system) and peak resident memory and nothing
else's. Runs use one thread (OMP_NUM_THREADS=1), as the issue measured them, and write the checkpoint.
The peer, timed in the same rounds, is `--method subword-mean`: the same load, alignment and write with
no donor and no pursuit, so `omp - subword-mean` is what OMP itself costs. With `--against REV` the
`omp` of git revision REV (transplant/omp.py as committed there) runs in the same rounds too, and the
written checkpoints are compared row by row. Each written model is scored (`tokwork eval`, bits per
byte on corpora/udhr/eng.txt) so that a speed-up that changed the rows shows.

Wall time depends on what else the machine runs: the JSON keeps the load average (1 minute) before and
after each run next to the CPU time, which depends on it much less.

    .venv/bin/python benchmarks/omp_cost.py                    # needs `make model` and `make tokenizers`
    .venv/bin/python benchmarks/omp_cost.py --against HEAD --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

from results_file import write_results

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "omp_cost.json"
WORK = REPO / "build" / "bench" / "omp_cost"

# argv: the command to run. Prints one JSON line: exit status, wall and CPU seconds, peak RSS, output tails.
LAUNCHER = r"""
import json, os, resource, subprocess, sys, time
before = os.getloadavg()[0]
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": done.returncode, "wall_seconds": wall, "user_seconds": usage.ru_utime,
                  "system_seconds": usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                  "load_before": before, "load_after": os.getloadavg()[0],
                  "stdout": done.stdout[-4000:], "stderr": done.stderr[-4000:]}))
"""

# argv: a file holding another revision's transplant/omp.py, then `tokwork` CLI arguments. Its `omp`
# replaces the current one in the method registry before the CLI runs.
OTHER_REVISION = r"""
import importlib.util, sys
import tokwork.transplant.registry as registry
registry.load_methods()
spec = importlib.util.spec_from_file_location("tokwork.transplant.omp_other", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
sys.argv = ["tokwork", *sys.argv[2:]]
from tokwork.cli.main import run
run()
"""


def launch(command: list[str], *, threads: int) -> dict:
    """Run `command` under the launcher with `threads` threads; its measurements, or exit on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)
    run = json.loads(done.stdout)
    if run["returncode"] != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{run['stderr']}")
    found = re.search(r"([\d.]+) s method", run["stdout"])
    run["method_seconds"] = float(found.group(1)) if found else None
    run["cpu_seconds"] = run["user_seconds"] + run["system_seconds"]
    del run["stdout"], run["stderr"], run["returncode"]
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in run.items()}


def transplant_command(source: Path, target: Path, out: Path, method: str, other: Path | None) -> list[str]:
    arguments = ["transplant", str(source), str(target), "-o", str(out), "--method", method, "--force",
                 "--quiet"]
    if other is None:
        return [sys.executable, "-m", "tokwork.cli", *arguments]
    return [sys.executable, "-c", OTHER_REVISION, str(other), *arguments]


def bits_per_byte(model: Path, text: Path) -> float:
    command = [sys.executable, "-m", "tokwork.cli", "eval", str(model), str(text), "--json", "--quiet"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return round(json.loads(done.stdout)["total"]["bits_per_byte"], 5)


def row_differences(first: Path, second: Path) -> dict:
    """How far the embedding rows of two written checkpoints lie apart (max abs, rows that differ)."""
    from safetensors import safe_open

    report = {}
    with safe_open(first / "model.safetensors", "pt") as a, \
            safe_open(second / "model.safetensors", "pt") as b:
        names = [n for n in a.keys() if "embed_tokens" in n or "lm_head" in n]  # noqa: SIM118 (not iterable)
        for name in names:
            x, y = a.get_tensor(name).double(), b.get_tensor(name).double()
            relative = (x - y).norm(dim=1) / x.norm(dim=1).clamp_min(1e-12)
            report[name] = {"max_abs": float((x - y).abs().max()), "max_relative": float(relative.max()),
                            "rows_differing": int((relative > 0).sum()),
                            "rows_relative_over_1e-3": int((relative > 1e-3).sum())}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="rounds; each runs every side once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run (1: as the issue)")
    parser.add_argument("--against", metavar="REV", help="also run the omp of this git revision (e.g. HEAD)")
    parser.add_argument("--no-score", action="store_true", help="skip the bits-per-byte check")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    from tokwork.cache import cache_root
    from tokwork.smollm2 import smollm2_folder

    source, target = smollm2_folder(), cache_root() / "tokenizers" / "gpt2"
    text = REPO / "corpora" / "udhr" / "eng.txt"
    WORK.mkdir(parents=True, exist_ok=True)
    sides = {"omp": ("omp", None), "subword-mean": ("subword-mean", None)}
    revision = None
    if args.against:
        revision = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=REPO,
                                  capture_output=True, text=True, check=True).stdout.strip()
        other = WORK / f"omp-{revision}.py"
        other.write_text(subprocess.run(["git", "show", f"{revision}:transplant/omp.py"], cwd=REPO,
                                        capture_output=True, text=True, check=True).stdout, encoding="utf-8")
        sides[f"omp@{revision}"] = ("omp", other)
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for round_ in range(args.repeats):
        for name, (method, other) in sides.items():
            out = WORK / name.replace("@", "-")
            last = launch(transplant_command(source, target, out, method, other), threads=args.threads)
            runs[name].append(last)
            print(f"round {round_ + 1} {name}: {last['wall_seconds']:.1f} s wall "
                  f"({last['method_seconds']} s method), {last['cpu_seconds']:.1f} s CPU, "
                  f"{last['peak_rss_mb']:.0f} MB peak, load {last['load_before']:.1f}", flush=True)
    summary = {}
    for name in sides:
        folder = WORK / name.replace("@", "-")
        summary[name] = {key: round(statistics.median(run[key] for run in runs[name]), 2)
                         for key in ("wall_seconds", "method_seconds", "cpu_seconds", "peak_rss_mb")}
        if not args.no_score:
            summary[name]["bits_per_byte_udhr_eng"] = bits_per_byte(folder, text)
    omp, peer = summary["omp"], summary["subword-mean"]
    report = {
        "source": "SmolLM2-135M-Instruct", "target": "gpt2", "threads": args.threads, "repeats": args.repeats,
        "summary": summary, "runs": runs,
        "omp_over_subword_mean": {"cpu_seconds": round(omp["cpu_seconds"] - peer["cpu_seconds"], 2),
                                  "cpu_ratio": round(omp["cpu_seconds"] / peer["cpu_seconds"], 2),
                                  "wall_ratio": round(omp["wall_seconds"] / peer["wall_seconds"], 2)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    if revision:
        earlier = summary[f"omp@{revision}"]
        report["against"] = {"revision": revision,
                             "cpu_ratio": round(omp["cpu_seconds"] / earlier["cpu_seconds"], 3),
                             "wall_ratio": round(omp["wall_seconds"] / earlier["wall_seconds"], 3),
                             "peak_rss_ratio": round(omp["peak_rss_mb"] / earlier["peak_rss_mb"], 3),
                             "rows": row_differences(WORK / f"omp-{revision}", WORK / "omp")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(RESULTS, report, indent=2)
    print(f"\n{'side':<16}{'wall s':>9}{'method s':>10}{'CPU s':>8}{'peak MB':>9}{'bits/byte':>11}")
    for name, row in summary.items():
        print(f"{name:<16}{row['wall_seconds']:>9.1f}{row['method_seconds']:>10.1f}{row['cpu_seconds']:>8.1f}"
              f"{row['peak_rss_mb']:>9.0f}{row.get('bits_per_byte_udhr_eng', float('nan')):>11.4f}")
    print(f"omp over subword-mean: {report['omp_over_subword_mean']}")
    if revision:
        print(f"against {revision}: {report['against']}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
