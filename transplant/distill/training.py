"""Distilling a transplanted model from its original: the training loop, resumable exactly.

Each step (`distiller.py`) takes `batch_size` texts from the seeded stream (`texts`), scores them with the
teacher (no gradients) and the student, and lowers the chosen loss: ALM on aligned chunks, the student's
plain next-token loss (the baseline), the teacher's hidden states at chunk ends, or a sum of these. What is
trained is the student's new embedding rows (the rows no teacher token had), all its embedding rows, or the
whole network. This module runs the steps: it resumes, checkpoints, keeps to a time budget and scores
held-out text on the way. The stream, the optimizer's moments and the step count are all a resumed run needs
to take the steps an uninterrupted run would have taken, so resuming gives the same weights bit for bit
(same device and thread count).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokwork.allocator import reuse_freed_memory
from tokwork.card import CardError, read_card, recorded_path
from tokwork.corpus import corpus_list, expand_corpus_paths
from tokwork.errors import ParameterError
from tokwork.outputs import check_output_directory, output_lock
from tokwork.progress import loss_progress
from tokwork.stop_request import stop_after_checkpoint, stop_between_steps
from tokwork.transplant.activation_checkpoints import evaluating
from tokwork.transplant.checkpoint import BEST_KINDS, DISTILL_KINDS, load_checkpoint
from tokwork.transplant.devices import joined_precision, pick_device, precision_of
from tokwork.transplant.distill.config import REPLAN_EVERY, UNPLANNED_STEPS, DistillConfig
from tokwork.transplant.distill.distiller import Distiller, check_rows, new_row_ids
from tokwork.transplant.distill.heldout import (
    HeldoutTrack,
    pooled_bits_per_byte,
    short_note,
    start_track,
    texts_digest,
)
from tokwork.transplant.distill.state import (
    BEST_KIND,
    DistillCard,
    DistillError,
    is_distill_folder,
    load_optimizer_state,
    read_distill_card,
    save_distilled,
)


def _run_input(recorded: str, role: str, output: Path) -> str:
    """An input a resumed run's card names, which must still be there (a model name such as smollm2 is
    resolved where it is loaded)."""
    if Path(recorded).exists() or (role == "teacher" and not Path(recorded).is_absolute() and "/" not in recorded):
        return recorded
    raise DistillError(f"the run in '{output}' was made with the {role} '{recorded}', which is not there any more; "
                       "put it back to resume the run, or pass --fresh to start over with the inputs given")


def _how_transplanted(student: Path) -> dict[str, Any] | None:
    """What a student made by `tokwork transplant` records of how it was made (its card), for the run's card;
    None for a student with no such card."""
    try:
        made = read_card(student)
    except (CardError, OSError):
        return None
    if made.get("kind", "transplant") != "transplant" or "method" not in made:
        return None
    return {"source": str(made.get("source")), "target": str(made.get("target")), "method": made["method"],
            "options": {k: str(v) for k, v in (made.get("options") or {}).items()},
            "new_rows": (made.get("alignment") or {}).get("new")}


def _new_card(teacher: Path, student: Path, corpus: list[Path], config: DistillConfig, new_rows: int,
              trained: int, device: torch.device) -> DistillCard:
    return DistillCard(teacher=recorded_path(teacher), student=recorded_path(student),
                       corpus=[recorded_path(p) for p in corpus],
                       training=config.as_card(), new_rows=new_rows, trained_parameters=trained,
                       device=device.type, threads=torch.get_num_threads())


def distill(teacher: str | Path, student: str | Path, corpus: Sequence[str | Path], output: str | Path, *,
            config: DistillConfig | None = None, max_seconds: float | None = None,
            stop_after: int | None = None, fresh: bool = False, force: bool = False,
            device: str | None = "auto", progress: bool = True,
            on_checkpoint: Callable[[int, Path], None] | None = None,
            transplant: dict[str, Any] | None = None, heldout: dict[str, str] | None = None,
            eval_every: int | None = None, best_output: str | Path | None = None) -> DistillCard:
    """Distill the transplanted `student` from the original `teacher` on `corpus`; write it to `output`.

    The result is a plain HF folder. An `output` that already holds a distillation run is resumed up to
    `config.steps` with its saved settings (only the step count is taken from `config`; for a run whose
    steps its time budget planned, and a `config` with a budget, the planned count), unless `fresh`.
    With `max_seconds`, training stops (with a checkpoint) after the step that uses up that much time; with
    `stop_after`, after that step, still on the schedule planned over `config.steps` (to look at a linear
    schedule's run part way; the same call with a later `stop_after` goes on exactly). A new run whose config
    has `budget_minutes` fixes its `steps` after the warm-up from the steps' pace (`DistillConfig.plan_steps`).
    `on_checkpoint(step, output)` is called after each checkpoint is written. `transplant` (how the student
    was made, when it is an intermediate) goes into a new run's card. With `heldout` (name -> text, never
    trained on) the teacher is scored once and the student at the start and every `eval_every` steps (by
    default at each checkpoint) and after the last, in bits per byte, into the card (`heldout.py`); that
    scoring is not counted in the run's time nor in `max_seconds`. With `best_output` as well, the student
    of the lowest score so far is also written there (a plain HF folder whose card says which step it is),
    while `output` stays the last step, from which a run resumes. Returns the final card.
    """
    config = copy.deepcopy(config) if config is not None else DistillConfig()  # plans change it: not the caller's
    config.validate()
    if eval_every is not None and eval_every <= 0:
        raise ParameterError(f"steps between held-out scores must be positive, not {eval_every}")
    if heldout is not None and not heldout:
        raise ParameterError("no held-out text given to score")
    if best_output is not None:
        if not heldout:
            raise ParameterError("keeping the best student needs held-out text to score it on")
        best, last = Path(best_output).resolve(), Path(output).resolve()
        if best == last or last in best.parents or best in last.parents:
            raise ParameterError(f"the best student's folder '{best_output}' must lie apart from the output "
                                 f"folder '{output}' (not the same, not one inside the other): that holds the last "
                                 "step to resume from")
        check_output_directory(best_output, force=force, kinds=BEST_KINDS,
                               inputs=[teacher, student, *corpus_list(corpus)])
    if max_seconds is not None and max_seconds <= 0:
        raise ParameterError(f"the time budget must be positive, not {max_seconds} seconds")
    if stop_after is not None and stop_after <= 0:
        raise ParameterError(f"the step to stop after must be positive, not {stop_after}")
    chosen = pick_device(device)  # before any model is loaded
    output = Path(output)
    resume = not fresh and is_distill_folder(output)
    card = read_distill_card(output) if resume else None
    if card is not None:  # a run goes on with its own teacher and text, whatever this call names
        teacher, corpus = _run_input(card.teacher, "teacher", output), [
            _run_input(path, "corpus file", output) for path in card.corpus]
    # a resumed run writes its folder anew too: the same checks (its student is that folder, no input)
    check_output_directory(output, force=force, kinds=DISTILL_KINDS,
                           inputs=[teacher, *corpus_list(corpus), *([] if resume else [student])])
    corpus_paths = expand_corpus_paths(corpus)
    teacher_checkpoint = load_checkpoint(teacher, role="teacher", why="; distillation needs two causal LMs")
    check_rows(teacher_checkpoint, "teacher")
    student_checkpoint = load_checkpoint(output if resume else student, role="student",
                                         why="; distillation needs two causal LMs")
    check_rows(student_checkpoint, "student")
    if card is not None:
        steps = config.steps
        if config.budget_minutes is not None and card.training.get("planned_at") is not None:
            steps = min(steps, card.training["steps"])  # planned by its budget: on to the planned end
        # recomputing activations changes no number, so a resumed run takes it from the caller
        config = DistillConfig.from_json({**card.training, "steps": steps,
                                          "checkpoint_activations": config.checkpoint_activations})
    new_ids = new_row_ids(teacher_checkpoint, student_checkpoint)
    if config.train == "new-rows" and not len(new_ids):
        raise DistillError(f"the student '{student}' has no new rows (every token is one of the teacher's); "
                           "use --train embeddings or --train all")
    torch.manual_seed(config.seed)
    distiller = Distiller(teacher_checkpoint, student_checkpoint, config, chosen, new_ids, corpus_paths)
    if card is None:
        trained = sum(p.numel() for p in distiller.parameters)
        if config.train == "new-rows":  # the other rows' gradients are held at 0: they do not change
            trained = sum(len(new_ids) * p.shape[1] for p in distiller.parameters)
        card = _new_card(Path(teacher), Path(student), corpus_paths, config, len(new_ids), trained, chosen)
        if transplant is not None:  # the student is the chain's intermediate, removed after the run
            card.transplant = transplant
            card.student = f"{transplant['source']} transplanted onto {transplant['target']} ({transplant['method']})"
        else:  # a student that `tokwork transplant` wrote says how it was made
            card.transplant = _how_transplanted(Path(student))
    else:
        load_optimizer_state(output, distiller.optimizer)
        distiller.skip(card.step)
    card.training = config.as_card()
    card.precision = joined_precision(card.precision, precision_of(config.bf16, chosen))
    tokenizer_folder = output if resume else Path(student)
    scorer = None
    if heldout:
        best = (Path(best_output), tokenizer_folder) if best_output is not None else None
        scorer = _HeldoutScorer(distiller, card, heldout, eval_every or config.save_every, best)
    with output_lock(output):  # a second run into the same folder is refused, not raced
        return _train(distiller, card, output, tokenizer_folder, max_seconds, stop_after, progress, on_checkpoint,
                      scorer)


class _HeldoutScorer:
    """Scores the student on held-out text for `_train`, keeping the time it takes out of the run's."""

    def __init__(self, distiller: Distiller, card: DistillCard, texts: dict[str, str], every: int,
                 best: tuple[Path, Path] | None = None):
        self.distiller, self.card, self.texts, self.every = distiller, card, texts, every
        self.best = best  # (folder for the best student, folder its tokenizer files come from), or None
        self.wall = self.cpu = 0.0
        self.track = HeldoutTrack.from_json(card.heldout)
        if self.track is None or self.track.digest != texts_digest(texts):  # new, or other texts than before
            with self._timed():
                self.track = start_track(distiller.teacher, distiller.teacher_tokenizer, texts)
            self.score(card.step)

    @contextmanager
    def _timed(self):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def due(self, step: int, last: bool) -> bool:
        return last or step % self.every == 0

    def score(self, step: int) -> str:
        """Score the student after `step` steps, record it in the card and return it as a short note."""
        with self._timed(), evaluating(self.distiller.student):
            bits = pooled_bits_per_byte(self.distiller.student, self.distiller.student_tokenizer, self.texts)
        score = self.track.add(step, bits)
        self.card.heldout = self.track.as_json()
        if self.best is not None and self.track.best is score:
            folder, tokenizer_folder = self.best
            with self._timed():
                save_distilled(folder, self.distiller.student, tokenizer_folder,
                               replace(self.card, step=step, history=list(self.card.history), kind=BEST_KIND), None)
        return short_note(score)


def replan_due(config: DistillConfig, done: int, timed: int, max_seconds: float | None) -> bool:
    """Whether a time-planned run looks at its pace again after `done` steps, `timed` of them in this
    process (the first of which paid one-time costs). Only a process that runs under the budget
    (`max_seconds`) re-plans: one resumed without it finishes the steps planned before."""
    return (max_seconds is not None and config.budget_minutes is not None and config.planned_at is not None
            and done > config.planned_at and done % REPLAN_EVERY == 0 and timed > REPLAN_EVERY)


def _train(distiller: Distiller, card: DistillCard, output: Path, tokenizer_folder: Path,
           max_seconds: float | None, stop_after: int | None, progress: bool, on_checkpoint,
           scorer: _HeldoutScorer | None = None) -> DistillCard:
    config = distiller.config
    end = min(config.steps, stop_after or config.steps)
    started, cpu_started = time.perf_counter(), time.process_time()
    seconds_before, cpu_before = card.seconds, card.cpu_seconds
    recent: list[dict[str, float]] = []
    durations: list[float] = []  # wall seconds of this process's steps, for a time-budgeted plan
    scored = [scorer.wall, scorer.cpu] if scorer is not None else [0.0, 0.0]  # taken before `started`
    # every step allocates and frees the same buffers: keep them in the process (`tokwork.allocator`)
    stopped = None  # the signal that asked to stop after a step, once it has
    with reuse_freed_memory(), stop_between_steps() as stop_requested, loss_progress(
            f"distill ({config.loss})", _shown_total(config), card.step, enabled=progress) as update:
        step = card.step
        while step < end:
            before = time.perf_counter()
            parts = distiller.step(step)
            durations.append(time.perf_counter() - before)
            recent.append(parts)
            step = done = step + 1
            stopped = stop_requested()
            elapsed = time.perf_counter() - started - (scorer.wall - scored[0] if scorer else 0.0)
            out_of_time = max_seconds is not None and elapsed >= max_seconds
            planned = config.awaits_plan and (done >= config.plan_step or out_of_time)
            if planned:
                if done >= config.plan_step:
                    # the median step after the process's first (which pays one-time costs) sets the pace
                    end = min(config.plan_steps(done, float(np.median(durations[1:] or durations)),
                                                seconds_before + elapsed), stop_after or config.steps)
                else:  # the budget ran out within the warm-up: the run ends here
                    config.end_plan(done)
                card.training = config.as_card()
            elif replan_due(config, done, len(durations), max_seconds) and config.replan(
                    done, float(np.median(durations[-REPLAN_EVERY:])), seconds_before + elapsed):
                end = min(config.steps, stop_after or config.steps)
                card.training = config.as_card()
                planned = True  # the progress bar's total moves with it
            last = done == end or out_of_time
            note = scorer.score(done) if scorer is not None and scorer.due(done, last) else None
            last = last or stopped is not None  # Ctrl-C or SIGTERM: a checkpoint of this step, then stop
            update(done, sum(parts.values()), note, total=_shown_total(config) if planned else None)
            if done % config.log_every == 0 or last:
                means = {k: round(float(np.mean([r[k] for r in recent])), 5) for k in recent[0]}
                card.history.append({"step": done, **means, "seconds": round(seconds_before + elapsed, 1)})
                recent = []
            if done % config.save_every == 0 or last:
                card.step = done
                card.seconds = round(seconds_before + elapsed, 3)
                card.cpu_seconds = round(cpu_before + time.process_time() - cpu_started
                                         - (scorer.cpu - scored[1] if scorer else 0.0), 3)
                save_distilled(output, distiller.student, tokenizer_folder, card, distiller.optimizer)
                tokenizer_folder = output
                if on_checkpoint is not None:
                    on_checkpoint(done, output)
            if last:
                break
    if stopped is not None and step < end:
        stop_after_checkpoint(stopped, step, output)
    return card


def _shown_total(config: DistillConfig) -> int | None:
    """The step count a progress bar shows: none for a run that goes on until its time is spent."""
    return None if config.steps == UNPLANNED_STEPS or config.awaits_plan else config.steps
