"""What a new process pays before a stochastic tokenizer encodes its first text: with its sampler tables
built from the base (an empty `sampler-tables/` cache) and read from the cache, beside the plain base.

Each run is one `tokwork encode FOLDER TEXT` in a fresh process started from a small launcher
(`child_usage.py`), wall and CPU seconds, medians of `--runs`; the three settings take turns. The folders
are `tokwork train stochastic` outputs over GPT-2 and Llama 3 (BPE-dropout and StochasTok), made here in
a temporary folder with a cache of their own (the byte views are built there by an untimed first run; only
the sampler tables are removed before each cold run). The peer is `tokwork encode BASE TEXT`, the
deterministic base, which builds no table. Results: results/sampler_startup.json.

    .venv/bin/python benchmarks/sampler_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from child_usage import measure
from machine import machine_info
from results_file import write_results

from tokwork.cache import cache_root

RESULTS = Path(__file__).parent / "results" / "sampler_startup.json"
TOKWORK = str(Path(sys.executable).parent / "tokwork")
TEXT = "Tokenizers split text. Токенизаторы делят текст."
BASES = ("gpt2", "llama3")
METHODS = ("bpe-dropout", "stochastok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    missing = [base for base in BASES if not (cache_root() / "tokenizers" / base).exists()]
    if missing:
        raise SystemExit(f"reference tokenizers {', '.join(missing)} are missing; fetch them with `make tokenizers`")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tokwork-startup-") as folder:
        env = {**os.environ, "TOKWORK_CACHE": str(Path(folder) / "cache")}
        for base in BASES:
            source = cache_root() / "tokenizers" / base
            for method in METHODS:
                out = Path(folder) / f"{base}-{method}"
                subprocess.run([TOKWORK, "train", "stochastic", "--base", str(source), "--method", method,
                                "-p", "0.1", "-o", str(out)], env=env, check=True, capture_output=True)
                commands = {"base alone": [TOKWORK, "encode", str(source), TEXT],
                            "tables built": [TOKWORK, "encode", str(out), TEXT],
                            "tables cached": [TOKWORK, "encode", str(out), TEXT]}
                measure(commands["tables built"], env=env)  # untimed: byte views and numba's kernels
                times: dict[str, list] = {name: [] for name in commands}
                for _ in range(args.runs):
                    for name, command in commands.items():
                        if name == "tables built":
                            shutil.rmtree(Path(folder) / "cache" / "sampler-tables", ignore_errors=True)
                        times[name].append(measure(command, env=env))
                row = {"base": base, "method": method}
                for name, runs in times.items():
                    row[name] = {"wall_seconds": round(statistics.median(r.wall_seconds for r in runs), 3),
                                 "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3)}
                row["cached_over_built"] = round(row["tables cached"]["wall_seconds"]
                                                 / row["tables built"]["wall_seconds"], 3)
                row["cached_over_base"] = round(row["tables cached"]["wall_seconds"]
                                                / row["base alone"]["wall_seconds"], 3)
                rows.append(row)
                print(f"{base:7} {method:12} base {row['base alone']['wall_seconds']:5.2f} s   tables built "
                      f"{row['tables built']['wall_seconds']:5.2f} s   cached {row['tables cached']['wall_seconds']:5.2f} s"
                      f"  ({row['cached_over_built']:.2f}x built, {row['cached_over_base']:.2f}x base)", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(RESULTS, {"machine": machine_info(), "runs": args.runs, "text": TEXT, "rows": rows})


if __name__ == "__main__":
    main()
