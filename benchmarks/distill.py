"""Distillation after a transplant on SmolLM2-135M: bits per byte against training time, ALM vs LM.

The teacher is SmolLM2-135M with its own tokenizer; the students are it transplanted (the best
zero-shot method of benchmarks/transplant.py, hybrid) onto GPT-2's vocabulary and onto the 32k English
BPE of that benchmark; with `--hypernet DIR`, the student is the transplant by a hypernetwork trained
with `tokwork hypernet train` (once per teacher, for any target). Each student is distilled on the en-docs
training split with one loss (alm, lm, alm+lm; LOSS:space for `--alm-chunks space`) and one choice of
what learns (new-rows, embeddings, all), and scored at several points on the held-out English of
benchmarks/transplant.py (English UDHR + the opening of corpora/en/heldout.txt; never trained on),
pooled and per text, and on two non-English UDHR texts (what the model knows outside the training
text). Points are reached by resuming the same run (`tokwork distill` resumes exactly), so
a row at 8 minutes is the row at 4 minutes trained 4 minutes more; each stage trains in a child process.

Time is the training's process CPU time divided by its threads (what a quiet 2-core machine takes in
wall time); wall seconds are recorded too. The floor is the teacher itself. On a shared machine torch's
waiting threads inflate CPU time, so long runs are reached by step count at a per-step cost measured on a
quiet stretch (`--quiet-step-cost`); the rows then carry `quiet_minutes` and `step_cost`.

    .venv/bin/python benchmarks/distill.py --target gpt2 --losses alm lm --minutes 2 4 8 15
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch
from machine import machine_info
from results_file import write_results

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench" / "distill"
RESULTS = REPO / "benchmarks" / "results" / "distill.json"
HELDOUT_CHARS = 24_000
ENGLISH = ("udhr-eng", "en-heldout")
OTHER_LANGUAGES = ("fra", "deu_1996")


def heldout_texts() -> dict[str, str]:
    """The held-out English of benchmarks/transplant.py, and two other UDHR languages."""
    heldout = (REPO / "corpora" / "en" / "heldout.txt").read_text(encoding="utf-8")
    cut = heldout.rfind("\n\n", 0, HELDOUT_CHARS)
    texts = {"udhr-eng": (REPO / "corpora" / "udhr" / "eng.txt").read_text(encoding="utf-8"),
             "en-heldout": heldout[:cut]}
    for code in OTHER_LANGUAGES:
        texts[f"udhr-{code}"] = (REPO / "corpora" / "udhr" / f"{code}.txt").read_text(encoding="utf-8")
    return texts


def score(folder: Path, texts: dict[str, str]) -> dict:
    """Bits per byte of the model in `folder`: pooled over the two English texts, and per text."""
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.evaluate import bits_per_byte

    checkpoint = load_checkpoint(folder)
    model = checkpoint.model.to("cuda") if torch.cuda.is_available() else checkpoint.model
    evaluation = bits_per_byte(model, checkpoint.tokenizer, texts)
    english = [t for t in evaluation.texts if t.name in ENGLISH]
    return {"bits_per_byte": round(sum(t.bits for t in english) / sum(t.bytes for t in english), 4),
            "per_text": {t.name: round(t.bits_per_byte, 4) for t in evaluation.texts}}


def target_tokenizer(name: str) -> Path:
    if name == "gpt2":
        return cache_root() / "tokenizers" / "gpt2"
    folder = WORK / "bpe32k-en"
    if not (folder / "tokenizer.json").is_file():
        from tokwork.trainers.bpe import BPEConfig, train_bpe

        train_bpe([cache_root() / "corpora" / "en-docs" / "train.txt"], BPEConfig(vocab_size=32000),
                  progress=False).save(folder, force=True)
    return folder


def run_folder(target: str, name: str) -> Path:
    """Where the run `name` (LOSS/TRAIN, maybe with :space, @RATE and a machine label) keeps its model."""
    return WORK / f"{target}-{name.replace('/', '-').replace(':', '-').replace(' ', '-')}"


def zero_shot_student(teacher: Path, target: str, hypernet: Path | None = None) -> Path:
    """The teacher transplanted onto the target with hybrid (the best zero-shot row of the methods that need
    no training), or with the trained hypernetwork in `hypernet`; built once."""
    from tokwork.transplant.pipeline import transplant_vocabulary

    if hypernet is None:
        folder = WORK / f"{target}-hybrid"
    else:  # named by the hypernetwork's steps too: a network trained further makes a new student
        from tokwork.transplant.hypernet.checkpoint import read_hypernet_card

        folder = WORK / f"{target}-hypernet-{hypernet.name}-{read_hypernet_card(hypernet).step}"
    if not (folder / "model.safetensors").is_file():
        method, options = ("hybrid", {}) if hypernet is None else ("hypernet", {"hypernet": str(hypernet)})
        transplant_vocabulary(teacher, target_tokenizer(target), folder, method=method, options=options, force=True)
    return folder


def run(teacher: Path, student: Path, corpus: Path, *, loss: str, train: str, minutes: list[float],
        texts: dict[str, str], out: Path, threads: int, resume: bool = False,
        step_minutes: float | None = None, at_steps: list[int] | None = None,
        learning_rate: float | None = None, max_seconds: float | None = None,
        plan_steps: int | None = None, in_process: bool = False, pack: bool = True,
        budget_minutes: float | None = None, bf16: bool = True) -> list[dict]:
    """Distill in stages up to each point of `minutes` (CPU time / threads) and score at each; the other
    languages only at the last point (they are the check that nothing collapsed).

    With `step_minutes` (the minutes a step took when the machine was quiet), each point is reached at
    the step count those minutes buy, and the row records those quiet minutes beside the measured ones:
    on a busy machine torch's threads spin while they wait and inflate CPU time, so a CPU-time budget
    would buy a busy run fewer steps than a quiet one. With `at_steps`, the points are those step counts
    (a comparison at equal steps, whatever the machine's load). On a GPU the minutes are wall minutes of
    training; `max_seconds` stops a stage early (a guard for a leased machine's deadline). With `plan_steps`
    the learning rate falls linearly to 0 at that step (`--schedule linear`), and each point is the same
    run stopped part way. With `budget_minutes`, one stage of that many wall minutes whose linear schedule is
    planned to end with them (`tokwork distill --schedule linear --max-minutes M`: the step count is fixed
    after the warm-up from its pace), scored once at its end. Each stage trains in a child process
    (`train_stage`), or, with `in_process`, in this one (how the rows before 2026-12-05 were trained; for the
    comparison of step costs). With `bf16=False` the stages train in float32 where bfloat16 autocast would be
    used (`--float32`)."""
    from tokwork.transplant.distill.config import UNPLANNED_STEPS, DistillConfig
    from tokwork.transplant.distill.state import is_distill_folder, read_distill_card

    english = {name: text for name, text in texts.items() if name in ENGLISH}
    points: list[dict] = []
    card = read_distill_card(out) if resume and is_distill_folder(out) else None

    def train_to(steps: int, guard: float | None = None):  # a resumed run keeps its own settings; only the step count is new
        # alm:space -> --loss alm --alm-chunks space; alm:token:shortfall -> ... --alm-diff shortfall
        parts, chunks, diff = (loss.split(":") + ["", ""])[:3]
        config = DistillConfig(loss=parts, train=train, steps=plan_steps or steps, save_every=10_000,
                               learning_rate=learning_rate, alm_chunks=chunks or "token", alm_diff=diff or "binary-kl",
                               schedule="linear" if plan_steps or budget_minutes else "constant", pack=pack,
                               budget_minutes=budget_minutes, bf16=bf16)
        stage = {"teacher": str(teacher), "student": str(student), "corpus": str(corpus), "out": str(out),
                 "config": config.as_json(), "fresh": card is None,
                 "max_seconds": budget_minutes * 60 if budget_minutes else min(
                     (s for s in (max_seconds, guard) if s is not None), default=None),
                 "stop_after": steps if plan_steps else None, "threads": threads}
        if in_process:
            train_stage(stage)
        else:
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stage", json.dumps(stage)], check=True)
        return read_distill_card(out)

    def spent_seconds(card) -> float:
        """Seconds of training as the points count them: CPU time / threads, wall time on a GPU (where the
        CPU runs at about one thread)."""
        return card.seconds if card.device == "cuda" else card.cpu_seconds / threads

    for index, point in enumerate([budget_minutes] if budget_minutes else at_steps or minutes):
        budget = point * 60
        if budget_minutes:
            card = train_to(UNPLANNED_STEPS)
        elif at_steps or step_minutes is not None:
            steps = point if at_steps else math.ceil(point / step_minutes - 1e-9)
            if card is None or card.step < steps:
                card = train_to(steps)
        by_cpu_time = not budget_minutes and not at_steps and step_minutes is None
        while by_cpu_time and (card is None or spent_seconds(card) < 0.98 * budget):
            if card is None:
                steps = 3  # a first stage to learn what a step costs
            else:
                per_step = spent_seconds(card) / card.step
                steps = card.step + max(1, math.ceil((budget - spent_seconds(card)) / per_step))
            # the steps are planned at the pace so far; a stage whose steps turn out dearer stops once its
            # wall time could hold the time left (on a CPU, CPU time is at most threads x wall), not past the
            # point
            left = budget - (spent_seconds(card) if card else 0.0)
            card = train_to(steps, guard=max(1.0, left))
        last = budget_minutes or index == len(at_steps or minutes) - 1
        spent = spent_seconds(card) / 60
        row = {"minutes": round(spent, 2), "wall_minutes": round(card.seconds / 60, 2),
               "step": card.step, **({"quiet_minutes": round(card.step * step_minutes, 2)} if step_minutes else {}),
               **({"planned_steps": card.training["steps"], "planned_at": card.training["planned_at"],
                   "replanned_at": card.training.get("replanned_at")} if budget_minutes else {}),
               **score(out, texts if last else english),
               "loss": {k: v for k, v in card.history[-1].items() if k in ("alm", "latents", "lm")}}
        points.append(row)
        print(f"  {loss:7s} {train:10s} {row['minutes']:6.2f} min  step {row['step']:5d}  "
              f"BPB {row['bits_per_byte']:.4f}  {row['per_text']}", flush=True)
    return points


def train_stage(stage: dict) -> None:
    """One training stage of `run`, in a process of its own by default, as a user's `tokwork distill` runs:
    nothing the benchmark's own process holds (its scorings' models, earlier stages' heap) is in the
    stage's memory or its CPU time."""
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.training import distill

    torch.set_num_threads(stage["threads"])
    transformers_logging.disable_progress_bar()
    distill(stage["teacher"], stage["student"], [stage["corpus"]], stage["out"],
            config=DistillConfig.from_json(stage["config"]), fresh=stage["fresh"], progress=False,
            max_seconds=stage["max_seconds"], stop_after=stage["stop_after"])


def interleaved(teacher: Path, student: Path, corpus: Path, *, runs: list[str], at_steps: list[int],
                texts: dict[str, str], folder_of, deadline: float, threads: int, on_round=None,
                resume: bool = False) -> dict[str, list[dict]]:
    """Every run trained to each step count in turn (round robin) and scored there, so that a lease that
    ends early still leaves every run at the same steps; a round that would end after `deadline`
    (time.monotonic) at the pace of the round before is not started. `on_round(points)` after each round;
    with `resume` the first round goes on from each run's folder."""
    points: dict[str, list[dict]] = {name: [] for name in runs}
    pace: dict[str, float] = {}  # seconds per step (training and scoring) of each run's last round
    done = 0
    for steps in at_steps:
        needed = sum(pace.get(name, 0.0) * (steps - done) for name in runs)
        if time.monotonic() + needed > deadline:
            print(f"  stopping before step {steps}: the round would end past the deadline", flush=True)
            break
        for name in runs:
            loss, train = name.split("/")
            started = time.monotonic()
            rows = run(teacher, student, corpus, loss=loss, train=train, minutes=[], texts=texts,
                       out=folder_of(name), threads=threads, resume=resume or done > 0, at_steps=[steps],
                       max_seconds=max(1.0, deadline - time.monotonic()))
            points[name] += rows
            pace[name] = (time.monotonic() - started) / max(1, steps - done)
        done = steps
        if on_round is not None:
            on_round(points)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=["gpt2"], choices=["gpt2", "bpe32k-en"])
    parser.add_argument("--losses", nargs="+", default=["alm", "lm", "alm+lm"],
                        help="losses as --loss takes them; LOSS:CHUNKS[:DIFF] also sets --alm-chunks and --alm-diff "
                             "(alm:space, alm:token:shortfall)")
    parser.add_argument("--trains", nargs="+", default=["all", "new-rows"])
    parser.add_argument("--minutes", nargs="+", type=float, default=[2, 4, 7, 10])
    parser.add_argument("--at-steps", nargs="+", type=int, default=None, metavar="STEPS",
                        help="score at these step counts instead of at --minutes (equal steps for every run)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate instead of the --train choice's default (the row is named LOSS/TRAIN@RATE)")
    parser.add_argument("--linear-to", type=int, default=None, metavar="STEPS",
                        help="--schedule linear planned over STEPS (with --at-steps, the last at most STEPS); the row "
                             "is named LOSS/TRAIN linear-STEPS")
    parser.add_argument("--linear-minutes", type=float, default=None, metavar="MINUTES",
                        help="one stage of MINUTES (wall) whose --schedule linear is planned to end with them, as "
                             "`tokwork distill --schedule linear --max-minutes MINUTES` plans it; the row is named "
                             "LOSS/TRAIN linear-MINUTESmin")
    parser.add_argument("--runs", nargs="+", default=None, metavar="LOSS/TRAIN",
                        help="exact runs (e.g. alm/all lm/new-rows) instead of every loss x train")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="results file (with --merge, also the one added to)")
    parser.add_argument("--label", default=None,
                        help="suffix of the row names (e.g. gpu), so that rows from another machine sit beside the CPU rows")
    parser.add_argument("--interleave", action="store_true",
                        help="with --at-steps: train the runs round robin to each step count (equal steps if cut short)")
    parser.add_argument("--deadline-minutes", type=float, default=None,
                        help="with --interleave: start no round that would end later than this (a leased machine)")
    parser.add_argument("--merge", action="store_true", help="add to the existing results instead of replacing")
    parser.add_argument("--resume", action="store_true",
                        help="go on from each run's folder (later --minutes points) and add to its points")
    parser.add_argument("--quiet-step-cost", action="store_true",
                        help="with --resume: reach each point at the step count it buys at the minutes per step "
                             "of the run's last recorded point (measured on a quiet machine; a cost recorded by an "
                             "earlier resume is kept), not by CPU time")
    parser.add_argument("--in-process", action="store_true",
                        help="train every stage in this process, between its scorings, instead of each in a child "
                             "process (how earlier rows were trained: to compare what a step costs either way)")
    parser.add_argument("--no-pack", action="store_true",
                        help="train with each text in its own padded row, as rows before packing were (the row name "
                             "gets ' padded')")
    parser.add_argument("--float32", action="store_true",
                        help="train in float32 on a device where tokwork would use bfloat16 autocast (`tokwork "
                             "distill --float32`); the row name gets ' float32'")
    parser.add_argument("--hypernet", type=Path, default=None, metavar="DIR",
                        help="start from the transplant by the hypernetwork trained in DIR (`tokwork hypernet train`) "
                             "instead of hybrid; the rows get ' from-hypernet' and the zero-shot row is "
                             "'zero-shot hypernet'")
    parser.add_argument("--zero-shot-only", action="store_true",
                        help="score the floor and each target's zero-shot start (with --label, on this machine) "
                             "and train nothing")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # a child process: one training stage (JSON)
    args = parser.parse_args()
    if args.stage:
        train_stage(json.loads(args.stage))
        return
    hypernet_row = None  # the hypernetwork and what it cost, beside the start it gives every target
    if args.hypernet:
        from tokwork.transplant.hypernet.checkpoint import is_hypernet_folder, read_hypernet_card

        if not is_hypernet_folder(args.hypernet):
            parser.error(f"--hypernet: '{args.hypernet}' is not a folder `tokwork hypernet train` wrote")
        card = read_hypernet_card(args.hypernet)
        hypernet_row = {"folder": str(args.hypernet), "steps": card.step, "training_seconds": round(card.seconds, 1)}
    if args.linear_minutes and (args.linear_to or args.at_steps or args.resume or args.interleave):
        parser.error("--linear-minutes plans its own steps in one stage; leave out --linear-to, --at-steps, "
                     "--resume and --interleave")
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    teacher = cache_root() / "models" / "smollm2-135m-instruct"
    corpus = cache_root() / "corpora" / "en-docs" / "train.txt"
    texts = heldout_texts()
    output = args.output

    def save() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_results(output, report, indent=2)

    report = json.loads(output.read_text()) if args.merge and output.exists() else {"targets": {}}
    report["texts"] = {name: len(text.encode("utf-8")) for name, text in texts.items()}
    report["floor"] = report.get("floor") if args.merge and report.get("floor") else score(teacher, texts)
    print(f"floor (teacher, own tokenizer): {report['floor']}", flush=True)
    label = f" {args.label}" if args.label else ""
    suffix = (" from-hypernet" if args.hypernet else "") + label
    if args.label and not (args.merge and f"floor{label}" in report):  # the floor on this machine too
        report[f"floor{label}"] = score(teacher, texts)
        print(f"floor on this machine: {report[f'floor{label}']}", flush=True)
    deadline = time.monotonic() + 60 * (args.deadline_minutes or 1e9)
    for target in args.targets:
        student = zero_shot_student(teacher, target, args.hypernet)
        rows = report["targets"].setdefault(target, {})
        start = f"zero-shot hypernet{label}" if args.hypernet else "zero-shot"
        rows[start] = rows.get(start) if args.merge and start in rows else score(student, texts)
        if hypernet_row:  # labelled as the rows that start there
            rows[start]["hypernet"] = hypernet_row
        elif args.label and not (args.merge and f"zero-shot{suffix}" in rows):  # scored on this machine too
            rows[f"zero-shot{suffix}"] = score(student, texts)  # (rounding differs between devices)
        print(f"{target}: {start} {rows[start]}", flush=True)
        if args.zero_shot_only:
            continue
        runs = args.runs or [f"{loss}/{train}" for train in args.trains for loss in args.losses]
        if args.interleave:
            if args.linear_to:
                parser.error("--linear-to runs one run at a time; leave out --interleave")
            if not args.at_steps:
                parser.error("--interleave needs --at-steps")
            if args.no_pack:
                parser.error("--no-pack runs one run at a time; leave out --interleave")
            if args.float32:
                parser.error("--float32 runs one run at a time; leave out --interleave")
            started = time.perf_counter()
            earlier = {name: rows.get(name + suffix, {}) if args.resume else {} for name in runs}

            def keep(found: dict[str, list[dict]], rows=rows, started=started, earlier=earlier) -> None:
                for name, points in found.items():
                    before = earlier[name]
                    rows[name + suffix] = {**before, "points": before.get("points", []) + points, "interleaved": True,
                                           "bench_seconds": before.get("bench_seconds", 0)
                                           + round(time.perf_counter() - started)}
                save()

            def folder_of(name: str, target=target) -> Path:
                return run_folder(target, name + suffix)

            interleaved(teacher, student, corpus, runs=runs, at_steps=args.at_steps, texts=texts,
                        folder_of=folder_of, deadline=deadline, threads=args.threads, on_round=keep,
                        resume=args.resume)
            continue
        for loss, train in (run_name.split("/") for run_name in runs):
            started = time.perf_counter()
            name = (f"{loss}/{train}" + (f"@{args.learning_rate:g}" if args.learning_rate is not None else "")
                    + (f" linear-{args.linear_to}" if args.linear_to else "")
                    + (f" linear-{args.linear_minutes:g}min" if args.linear_minutes else "")
                    + (" padded" if args.no_pack else "")
                    + (" float32" if args.float32 else "")
                    + suffix)
            earlier = rows.get(name, {}) if args.resume else {}
            step_minutes = None
            if args.quiet_step_cost and "step_cost" in earlier:  # calibrated on an earlier resume: keep it
                step_minutes = earlier["step_cost"]["minutes_per_step"]
            elif args.quiet_step_cost:
                calibration = earlier["points"][-1]
                step_minutes = calibration["minutes"] / calibration["step"]
                earlier["step_cost"] = {"minutes_per_step": round(step_minutes, 4),
                                        "from_point": calibration["minutes"]}
            points = run(teacher, student, corpus, loss=loss, train=train, minutes=args.minutes, texts=texts,
                         out=run_folder(target, name), threads=args.threads, resume=args.resume,
                         step_minutes=step_minutes, at_steps=args.at_steps, learning_rate=args.learning_rate,
                         plan_steps=args.linear_to, in_process=args.in_process, pack=not args.no_pack,
                         budget_minutes=args.linear_minutes, bf16=not args.float32)
            rows[name] = {**earlier, "points": earlier.get("points", []) + points,
                          "bench_seconds": earlier.get("bench_seconds", 0) + round(time.perf_counter() - started)}
            save()
    report["machine" + (f"-{args.label}" if args.label else "")] = machine_info(threads=args.threads)
    save()
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
