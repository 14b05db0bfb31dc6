"""`adapt_model`: run the steps of an adaptation in order, skipping finished ones, and write the output."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tokwork.card import MODEL_LIBRARIES, CardError, created_now, library_versions, read_card, write_card
from tokwork.corpus import expand_corpus_paths
from tokwork.errors import ParameterError
from tokwork.outputs import check_output_directory, output_directory, output_file, output_lock
from tokwork.transplant.adapt.config import AdaptConfig, read_heldout
from tokwork.transplant.adapt.resume import RECORD, STEPS, WorkArea, distill_goes_on, plan_inputs
from tokwork.transplant.adapt.scores import STAGES, comparison_rows, score_stages
from tokwork.transplant.checkpoint import ADAPT_KINDS

KIND = "adapt"
EVALUATION = "adapt.json"
LEFT_OUT = ("distill-optimizer.safetensors", "tokwork.json", RECORD)  # not part of the plain HF output


@dataclass
class AdaptResult:
    """What a call did: the output (None when stopped early), its card, the steps run and skipped."""

    output: Path | None
    card: dict
    ran: list[str]
    skipped: list[str]

    @property
    def rows(self) -> list[dict]:
        return self.card.get("evaluation", [])


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the files of a finished step never change in place: sharing them is safe
    except OSError:
        shutil.copy2(source, target)


def adapt_model(config: AdaptConfig, output: str | Path, *, force: bool = False, keep_work: bool = True,
                stop_after: str | None = None, device: str | None = "auto", progress: bool = True,
                on_step: Callable[[str, str], None] | None = None) -> AdaptResult:
    """Extend, transplant, distill and evaluate (see the module's docstring); write the adapted model to
    `output` and return what was done.

    Everything a user can get wrong (settings, model, corpus, held-out texts, an output or work area that
    an adaptation did not write, without `force`) is refused before anything is written; a tokenizer
    that cannot be extended is refused by the first step, before it writes. Finished steps whose inputs
    are unchanged are skipped; `stop_after` ends the call after that step (the output is not written).
    The work area stays unless `keep_work` is false (then asking for more distillation starts it over).
    `on_step(step, state)` hears "done" or "skipped" after each step (nothing before one: the first
    step's refusals must be the only thing a user sees).
    """
    from tokwork.transplant.devices import pick_device

    if stop_after is not None and stop_after not in STEPS:
        raise ParameterError(f"unknown step '{stop_after}'; choose one of {', '.join(STEPS)}")
    config.validate()
    pick_device(device)  # a device that cannot run is refused before the steps before distillation run
    output = Path(output)
    check_output_directory(output, force=force, kinds=ADAPT_KINDS, inputs=[config.model, *config.corpus])
    with output_lock(output):  # the work area and the output are this run's alone until it ends
        return _adapt(config, output, force=force, keep_work=keep_work, stop_after=stop_after, device=device,
                      progress=progress, on_step=on_step)


def _adapt(config: AdaptConfig, output: Path, *, force: bool, keep_work: bool, stop_after: str | None,
           device: str | None, progress: bool, on_step: Callable[[str, str], None] | None) -> AdaptResult:
    from tokwork.trainers.extend import ExtendConfig, extend_tokenizer
    from tokwork.transplant.checkpoint import check_checkpoint_folder, check_model_fits_tokenizer
    from tokwork.transplant.distill.state import is_distill_folder, read_distill_card
    from tokwork.transplant.distill.training import distill
    from tokwork.transplant.donors import resolve_donor
    from tokwork.transplant.pipeline import transplant_vocabulary
    from tokwork.transplant.registry import get_method

    work = WorkArea(output)
    work.check(force=force)
    model = check_checkpoint_folder(config.model)
    check_model_fits_tokenizer(model)  # before the first step writes its work area
    extend_config = ExtendConfig(base=str(model), add=config.add, min_frequency=config.min_frequency)
    extend_config.validate()
    corpus = expand_corpus_paths(config.corpus)
    texts = read_heldout(config, corpus)
    donor = resolve_donor(config.donor) if get_method(config.method).needs_donor else None
    inputs = plan_inputs(config, model, corpus, texts, donor.name if donor else None)
    notify = on_step or (lambda step, state: None)
    final = inputs[STEPS[-1]]["digest"]
    try:
        card = read_card(output) if stop_after is None else {}
    except CardError:
        card = {}
    if card.get("kind") == KIND and card.get("digest") == final:
        for step in STEPS:
            notify(step, "skipped")
        return AdaptResult(output, card, [], list(STEPS))

    ran, skipped, records = [], [], {}
    folders = {step: work.root / step for step in STEPS}

    def extend_step() -> dict:
        since = time.perf_counter(), time.process_time()
        trained = extend_tokenizer([str(p) for p in corpus], extend_config, progress=progress,
                                   text_field=config.distill.text_field)  # before any write
        work.open(output)
        return work.commit("extend", inputs["extend"], lambda folder: trained.save(folder, force=True), since=since)

    def transplant_step() -> dict:
        return work.commit("transplant", inputs["transplant"], lambda folder: transplant_vocabulary(
            model, folders["extend"], folder, method=config.method, options=config.options, donor=donor,
            force=True, progress=progress))

    def distill_step() -> dict:
        partial, marker = work.root / "distill.partial", work.root / "distill.partial.json"
        resume = (is_distill_folder(partial) and marker.is_file()
                  and marker.read_text(encoding="utf-8") == inputs["distill"]["digest"])
        if not resume:
            earlier = work.record("distill")
            # more steps or minutes than a finished run: its folder is the checkpoint to go on from
            goes_on = earlier is not None and distill_goes_on(earlier["inputs"], inputs["distill"])
            if goes_on:
                shutil.rmtree(partial, ignore_errors=True)
            with output_file(marker) as staging:  # before the folder moves, so a kill in between is safe
                staging.write_text(inputs["distill"]["digest"], encoding="utf-8")
            if goes_on:
                os.replace(work.root / "distill", partial)
                (partial / RECORD).unlink(missing_ok=True)
                resume = True
        budget = None if config.distill_minutes is None else config.distill_minutes * 60
        distilled = read_distill_card(partial) if resume else None
        spent = distilled.seconds if distilled else 0.0
        if budget is None or spent < budget:
            distilled = distill(model, folders["transplant"], corpus, partial, config=config.distill,
                                max_seconds=None if budget is None else budget - spent, fresh=not resume,
                                device=device, progress=progress)

        def move(folder: Path) -> None:
            for path in partial.iterdir():
                os.replace(path, folder / path.name)

        record = work.commit("distill", inputs["distill"], move, times=(distilled.seconds, distilled.cpu_seconds))
        shutil.rmtree(partial, ignore_errors=True)
        marker.unlink(missing_ok=True)
        return record

    def evaluate_step() -> dict:
        def evaluate(folder: Path) -> None:
            models = dict(zip(STAGES, (model, folders["transplant"], folders["distill"]), strict=True))
            scores = score_stages(models, texts, window=config.window, progress=progress)
            (folder / EVALUATION).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")

        return work.commit("evaluate", inputs["evaluate"], evaluate)

    runners = {"extend": extend_step, "transplant": transplant_step, "distill": distill_step,
               "evaluate": evaluate_step}
    for step in STEPS:
        records[step] = work.finished(step, inputs[step]["digest"])
        if records[step] is None:
            records[step] = runners[step]()
            ran.append(step)
            notify(step, "done")
        else:
            skipped.append(step)
            notify(step, "skipped")
        if step == stop_after:
            return AdaptResult(None, {}, ran, skipped)

    card = _assemble(config, output, folders, records, final, force=force)
    if not keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    return AdaptResult(output, card, ran, skipped)


def _assemble(config: AdaptConfig, output: Path, folders: dict[str, Path], records: dict[str, dict], digest: str,
              *, force: bool) -> dict:
    """Write the distilled model, the evaluation and a card of every step into `output`, atomically."""
    evaluation = json.loads((folders["evaluate"] / EVALUATION).read_text(encoding="utf-8"))
    cards = {step: read_card(folders[step]) for step in ("extend", "transplant", "distill")}
    steps = {step: {"seconds": records[step]["seconds"], "cpu_seconds": records[step]["cpu_seconds"],
                    "digest": records[step]["digest"], **({"card": cards[step]} if step in cards else {})}
             for step in STEPS}
    from tokwork.transplant.registry import get_method

    settings = config.as_json()
    if not get_method(config.method).needs_donor:  # a donor the method never asked for is not part of the run
        settings["donor"] = None
    card = {"kind": KIND, "model": config.model, "language": config.language, "config": settings,
            "new_ids": cards["extend"]["notes"]["new_ids"], "steps": steps,
            "evaluation": comparison_rows(evaluation), "digest": digest,
            "versions": library_versions(MODEL_LIBRARIES), "created": created_now()}
    with output_directory(output, force=force, kinds=ADAPT_KINDS) as staging:
        for path in folders["distill"].iterdir():
            if path.is_file() and path.name not in LEFT_OUT:
                _link_or_copy(path, staging / path.name)
        (staging / EVALUATION).write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
        write_card(staging, card)
    return read_card(output)  # as written: with the list of its files
