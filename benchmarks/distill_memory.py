"""Peak memory and CPU time of `tokwork distill` steps on large batches: the output layer read a block of
positions at a time (the default past `head_logprobs.MAX_LOGITS` logits) against the whole logits, and
with `--checkpoint-activations` as well (the student's layers recompute their activations in the backward).

SmolLM2-135M teaching its hybrid transplant onto GPT-2's vocabulary (the student of benchmarks/distill.py,
built there), on the en-docs training split, 2 threads; each run is a fresh `tokwork distill ... --steps N`
started from a small launcher (`child_usage.py`), so its peak is its own. The whole logits are kept by
setting TOKWORK_MAX_LOGITS past any batch. Prints a table and writes JSON.

    .venv/bin/python benchmarks/distill_memory.py --batches 8x512 16x2048 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import child_usage
from machine import machine_info
from results_file import write_results

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
STUDENT = REPO / "build" / "bench" / "distill" / "gpt2-hybrid"
WHOLE = str(1 << 62)
SETUPS = {"whole": (True, False), "blocks": (False, False), "blocks+recompute": (False, True)}  # (whole, recompute)


def run(batch: int, chars: int, steps: int, whole: bool, work: Path, *, recompute: bool = False) -> dict:
    """One fresh distillation of `steps` steps; its wall and CPU seconds, peak memory and last losses."""
    setup = "whole" if whole else "blocks+recompute" if recompute else "blocks"
    out = work / f"run-{batch}x{chars}-{setup}"
    env = {**os.environ, "TOKWORK_MAX_LOGITS": WHOLE} if whole else {
        k: v for k, v in os.environ.items() if k != "TOKWORK_MAX_LOGITS"}
    command = [str(Path(sys.executable).parent / "tokwork"), "distill", "smollm2", str(STUDENT), "--corpus",
               str(cache_root() / "corpora" / "en-docs" / "train.txt"), "-o", str(out), "--steps", str(steps),
               "--batch-size", str(batch), "--text-chars", str(chars), "--save-every", str(steps), "--threads", "2",
               "--fresh", "-q", *(["--checkpoint-activations"] if recompute else [])]
    usage = child_usage.measure(command, env=env)
    card = json.loads((out / "tokwork.json").read_text())
    shutil.rmtree(out)
    return {"batch_size": batch, "text_chars": chars, "steps": steps, "setup": setup,
            "wall_seconds": round(usage.wall_seconds, 2), "cpu_seconds": round(usage.cpu_seconds, 2),
            "peak_rss_mib": round(usage.peak_rss_mib), "precision": card["precision"],
            "training_seconds": round(card["seconds"], 2), "last": card["history"][-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", default=["8x512", "16x2048"], help="TEXTSxCHARS per step")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS),
                        help="which of the three to run (a batch whose whole logits cannot fit: leave out 'whole')")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "distill_memory.json")
    args = parser.parse_args()
    if not (STUDENT / "config.json").is_file():
        raise SystemExit(f"{STUDENT} is missing: run benchmarks/distill.py once (it builds the zero-shot student)")
    rows = []
    with tempfile.TemporaryDirectory(dir=REPO / "build") as scratch:
        for spec in args.batches:
            batch, chars = (int(x) for x in spec.split("x"))
            for whole, recompute in (SETUPS[name] for name in args.setups):
                row = run(batch, chars, args.steps, whole, Path(scratch), recompute=recompute)
                rows.append(row)
                print(f"{batch:>3} x {chars:>5} chars  {row['setup']:<16}  peak {row['peak_rss_mib']:>7,} MiB  "
                      f"{row['cpu_seconds']:>7.1f} CPU s  ({row['precision']}; last losses {row['last']})", flush=True)
    floor = child_usage.launcher_floor_mib()
    result = {"machine": machine_info(threads=2), "launcher_floor_mib": round(floor, 1), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.json, result, indent=1)
    print(f"launcher floor {floor:.1f} MiB; written to {args.json}")


if __name__ == "__main__":
    main()
