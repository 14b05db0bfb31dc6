"""Hypernetwork transplant on SmolLM2-135M: trained on the CPU within a budget, then scored next to the others.

Trains a hypernetwork (`tokwork.transplant.hypernet`, after Minixhofer et al. 2024, "Zero-Shot Tokenizer
Transfer") for SmolLM2-135M-Instruct on the en-docs training split, with 2 torch threads, for `--steps`
steps or `--minutes` of training time, whichever ends first (the steps done are recorded), keeping
snapshots at a few step counts. Then, for the target tokenizers of `benchmarks/transplant.py` (GPT-2's,
and the 32k English BPE tokwork trains), it scores on the same held-out English text, in this run: the
floor (SmolLM2 with its own tokenizer), random, subword-mean, hybrid and OMP (tokwork's defaults, MiniLM
donor), and the hypernetwork at each snapshot (the first one is the warm-up alone, before any
language-modelling step; the untrained network is subword-mean exactly). Scoring and the methods are
those of `benchmarks/transplant.py`, imported from it.

    .venv/bin/python benchmarks/hypernet.py --steps 860 --minutes 28     # needs make model, make corpora
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import torch
from machine import machine_info

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench" / "hypernet"
RESULTS = REPO / "benchmarks" / "results" / "hypernet.json"
PEERS = (("random", "random", {}), ("subword-mean", "subword-mean", {}), ("hybrid", "hybrid", {}),
         ("omp", "omp", {}))


def transplant_benchmark():
    """benchmarks/transplant.py as a module: its texts, targets, scoring and method runs are reused."""
    spec = importlib.util.spec_from_file_location("transplant_benchmark", Path(__file__).parent / "transplant.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot_steps(warmup: int, steps: int, save_every: int) -> list[int]:
    """Warm-up only, then about 1/8, 1/4, 1/2 and all of the language-modelling steps (checkpoint steps)."""
    lm = steps - warmup
    chosen = {warmup, steps}
    for fraction in (8, 4, 2):
        chosen.add(warmup + max(save_every, round(lm / fraction / save_every) * save_every))
    return sorted(s for s in chosen if warmup <= s <= steps and (s % save_every == 0 or s == steps))


def train(source: Path, corpus: Path, args) -> tuple[dict, dict[int, Path]]:
    """Train with snapshots; returns the training record and {step: snapshot folder}."""
    from tokwork.transplant.hypernet.training import TrainingConfig, train_hypernet

    config = TrainingConfig(steps=args.steps, warmup_steps=args.warmup_steps, batch_size=args.batch_size,
                            sequence_length=args.sequence_length, lm_learning_rate=args.lm_lr,
                            steps_per_tokenizer=args.steps_per_tokenizer, save_every=args.save_every,
                            log_every=args.save_every, seed=args.seed)
    output = WORK / "hypernet"
    snapshots: dict[int, Path] = {}
    wanted = set(snapshot_steps(config.warmup_steps, config.steps, config.save_every))

    def keep(step: int, folder: Path) -> None:
        if step in wanted:
            snapshots[step] = WORK / "snapshots" / f"step-{step}"
            shutil.rmtree(snapshots[step], ignore_errors=True)
            shutil.copytree(folder, snapshots[step])
        print(f"  checkpoint at step {step}", flush=True)

    shutil.rmtree(WORK / "snapshots", ignore_errors=True)
    started = time.perf_counter()
    card = train_hypernet(source, [corpus], output, config=config, fresh=True, force=True, device="cpu",
                          progress=False, max_seconds=args.minutes * 60, on_checkpoint=keep)
    wall = time.perf_counter() - started
    if card.step not in snapshots:
        snapshots[card.step] = output
    record = {"steps_planned": config.steps, "steps_done": card.step, "warmup_steps": config.warmup_steps,
              "training_seconds": card.seconds, "wall_seconds_with_loading": round(wall, 1),
              "budget_minutes": args.minutes, "torch_threads": torch.get_num_threads(),
              "config": card.training, "shape": card.model, "history": card.history}
    record["seconds_per_lm_step"] = round(seconds_per_lm_step(record), 2)
    print(f"trained {card.step} of {config.steps} steps in {card.seconds:.0f} s "
          f"({wall:.0f} s with loading)", flush=True)
    return record, dict(sorted(snapshots.items()))


def trend(curve: list[dict], goals: dict[str, float], seconds_per_step: float) -> dict | None:
    """A rough estimate of what more training would give: BPB fitted as a + b·log(language-modelling steps)
    over the snapshots after warm-up, and the steps (and hours at this speed) at which the fit reaches each
    goal. None when fewer than two snapshots or when the curve does not fall."""
    import numpy as np

    points = [(p["lm_steps"], p["bits_per_byte"]) for p in curve if p["lm_steps"] > 0]
    if len(points) < 2:
        return None
    slope, intercept = np.polyfit(np.log([s for s, _ in points]), [b for _, b in points], 1)
    if slope >= 0:
        return None
    reach = {}
    for name, goal in goals.items():
        steps = float(np.exp((goal - intercept) / slope))
        reach[name] = {"bits_per_byte": round(goal, 4), "lm_steps": round(steps),
                       "hours_at_this_speed": round(steps * seconds_per_step / 3600, 1)}
    return {"intercept": round(float(intercept), 4), "per_doubling": round(float(slope * np.log(2)), 4),
            "reach": reach}


def add_trends(report: dict) -> None:
    """For each target: the fitted curve, the steps to reach OMP (where the hypernetwork is above it) and
    to halve the hypernetwork's remaining distance to the floor."""
    seconds = seconds_per_lm_step(report["training"])
    floor = report["floor"]["bits_per_byte"]
    for name, rows in report["targets"].items():
        curve = report.get("curve_" + name)
        if not curve:
            continue
        final = curve[-1]["bits_per_byte"]
        goals = {"half the distance to the floor": floor + (final - floor) / 2}
        if "omp" in rows and final > rows["omp"]["bits_per_byte"]:
            goals["omp"] = rows["omp"]["bits_per_byte"]
        report["trend_" + name] = trend(curve, goals, seconds)


def seconds_per_lm_step(training: dict) -> float:
    """Mean seconds of a language-modelling step, from the training history (warm-up steps left out)."""
    history = [entry for entry in training["history"] if entry["step"] > training["warmup_steps"]]
    if len(history) < 2:
        return float("nan")
    return (history[-1]["seconds"] - history[0]["seconds"]) / (history[-1]["step"] - history[0]["step"])


def save(report: dict) -> None:
    """Write what is measured so far, atomically (a long run that dies keeps its finished parts)."""
    from tokwork.outputs import output_file

    with output_file(RESULTS) as staging:
        staging.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def markdown_table(report: dict) -> str:
    """The README table: bits per byte of the floor, the peers and the hypernetwork snapshots, per target."""
    names = list(report["targets"])
    labels = [label for label, _, _ in PEERS]
    labels += sorted({label for rows in report["targets"].values() for label in rows} - set(labels),
                     key=lambda label: int(label.split()[-1].rstrip(")")))
    rows = [("none: SmolLM2 with its own tokenizer (floor)", [report["floor"]] * len(names))]
    rows += [(f"`{label}`", [report["targets"][name].get(label) for name in names]) for label in labels]
    return "\n".join([f"| init of the new rows | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
                     + [f"| {label} | " + " | ".join(f"{cell['bits_per_byte']:.3f}" if cell else "—" for cell in cells)
                        + " |" for label, cells in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=860, help="training steps (sets the schedule)")
    parser.add_argument("--minutes", type=float, default=28.0, help="budget of training time (at most 30)")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--lm-lr", type=float, default=3e-4)
    parser.add_argument("--steps-per-tokenizer", type=int, default=4)
    parser.add_argument("--save-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training and scoring")
    parser.add_argument("--targets", default="gpt2,bpe32k-en", help="comma-separated: gpt2, bpe32k-en")
    parser.add_argument("--skip-peers", action="store_true", help="only the floor and the hypernetwork")
    parser.add_argument("--table", action="store_true", help="print the README table from the last results")
    parser.add_argument("--trends", action="store_true", help="only recompute the fitted curves of the last results")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    if args.table or args.trends:
        report = json.loads(RESULTS.read_text(encoding="utf-8"))
        if args.trends:
            add_trends(report)
            save(report)
            print(json.dumps({k: v for k, v in report.items() if k.startswith("trend_")}, indent=2))
        print(markdown_table(report))
        return
    if args.minutes > 30:
        raise SystemExit("the budget is at most 30 minutes of training")
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(args.threads)
    bench = transplant_benchmark()
    from tokwork import load_tokenizer
    from tokwork.smollm2 import smollm2_folder
    from tokwork.transplant.checkpoint import load_checkpoint

    WORK.mkdir(parents=True, exist_ok=True)
    source = smollm2_folder()
    corpus = bench.CACHE / "corpora" / "en-docs" / "train.txt"
    if not corpus.is_file():
        raise SystemExit(f"corpus '{corpus}' is missing; build it with `make corpora`")
    texts = bench.evaluation_texts()
    started = time.perf_counter()
    report = {"source": "SmolLM2-135M-Instruct", "texts": {n: len(t.encode()) for n, t in texts.items()},
              "machine": machine_info(threads=args.threads), "targets": {}}
    report["training"], snapshots = train(source, corpus, args)
    save(report)
    report["floor"] = bench.score(load_checkpoint(source).model, load_tokenizer(source), texts)
    print(f"floor: {report['floor']['bits_per_byte']} bits/byte", flush=True)
    save(report)
    targets = {"gpt2": bench.CACHE / "tokenizers" / "gpt2"}
    if "bpe32k-en" in args.targets.split(","):
        targets["bpe32k-en"] = bench.train_target(WORK / "bpe32k-en")
    targets = {name: path for name, path in targets.items() if name in args.targets.split(",")}
    final = max(snapshots)
    for name, target in targets.items():
        runs = [(f"hypernet (step {final})", "hypernet", {"hypernet": str(snapshots[final])})]
        runs += [] if args.skip_peers else list(PEERS)
        runs += [(f"hypernet (step {step})", "hypernet", {"hypernet": str(folder)})
                 for step, folder in snapshots.items() if step != final]
        rows = report["targets"].setdefault(name, {})
        for label, method, options in runs:
            rows[label] = bench.score_method(source, target, method, options, texts)
            print(f"{name} {label}: {rows[label]['bits_per_byte']} bits/byte "
                  f"({rows[label]['method_seconds']} s)", flush=True)
            save(report)
        curve = [{"step": step, "lm_steps": step - args.warmup_steps,
                  "bits_per_byte": rows[f"hypernet (step {step})"]["bits_per_byte"]} for step in snapshots]
        report["curve_" + name] = curve
        save(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    add_trends(report)
    save(report)
    print(markdown_table(report))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
