"""Resuming an adaptation: the work area beside the output, and each step's record of its inputs.

A step's inputs are its settings and fingerprints of the files it reads, chained to the step before by
its digest; equal inputs give equal outputs, so a step whose folder holds a record of the same inputs is
skipped. Each step's folder is written to a temporary sibling and renamed into place with its record.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokwork.card import CardError, created_now, read_card, write_card
from tokwork.corpus import file_sha256
from tokwork.errors import OutputError
from tokwork.loader import tokenizer_file
from tokwork.outputs import output_directory
from tokwork.transplant.adapt.config import AdaptConfig

STEPS = ("extend", "transplant", "distill", "evaluate")
WORK_KIND = "adapt-work"
RECORD = "adapt-step.json"
HASHED_BYTES = 64 << 20  # files up to this size are fingerprinted by content, larger ones (weights) by size+mtime


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(paths: Sequence[Path]) -> list[list]:
    """[path, size, sha256 of the content] per file; for a file over `HASHED_BYTES` (weights), its
    modification time instead of the hash: a copy then looks changed, which only costs a rerun."""
    prints = []
    for path in paths:
        stat = path.stat()
        if stat.st_size > HASHED_BYTES:
            prints.append([str(path), stat.st_size, f"mtime:{stat.st_mtime_ns}"])
            continue
        prints.append([str(path), stat.st_size, file_sha256(path)])
    return prints


def _numbers_of(training: dict) -> dict:
    """A distillation's settings less those that change no number it computes (recomputing activations), and
    the .jsonl text field where it is the default, so that a work area made before such a setting existed,
    or with activations recomputed otherwise, is still recognised."""
    return {key: value for key, value in training.items()
            if key != "checkpoint_activations" and (key, value) != ("text_field", "text")}


def plan_inputs(config: AdaptConfig, model: Path, corpus: Sequence[Path], texts: dict[str, str],
                donor: str | None) -> dict[str, dict]:
    """The inputs of each step, each chained to the one before by its digest (`after`); equal inputs give
    equal outputs, so a step whose recorded inputs are these need not run again."""
    weights = fingerprint(sorted(p for p in model.iterdir() if p.is_file() and not p.name.startswith(".")))
    text = fingerprint(corpus)
    steps = {
        "extend": {"tokenizer": fingerprint([tokenizer_file(model)]), "corpus": text, "add": config.add,
                   "min_frequency": config.min_frequency,
                   **({"text_field": config.distill.text_field} if config.distill.text_field != "text" else {})},
        "transplant": {"model": weights, "method": config.method,
                       "options": {k: str(v) for k, v in sorted(config.options.items())}, "donor": donor},
        "distill": {"model": weights, "corpus": text, "training": _numbers_of(config.distill.as_json()),
                    "minutes": config.distill_minutes},
        "evaluate": {"model": weights, "window": config.window,
                     "texts": {name: _sha256(t.encode("utf-8")) for name, t in texts.items()}},
    }
    after = ""
    for name in STEPS:
        steps[name] = {"step": name, **steps[name], "after": after}
        after = steps[name]["digest"] = _sha256(json.dumps(steps[name], sort_keys=True).encode())
    return steps


class WorkArea:
    """The hidden sibling of the output that holds each finished step's folder and its record."""

    def __init__(self, output: Path):
        self.root = output.parent / f".{output.name}.adapt-work"

    def _ours(self) -> bool:
        try:
            return read_card(self.root).get("kind") == WORK_KIND
        except CardError:
            return False

    def check(self, *, force: bool) -> None:
        """Refuse a folder in the work area's place that an adaptation did not make, unless `force`."""
        if self.root.exists() and not self._ours() and not force:
            raise OutputError(f"'{self.root}' exists and is not an adaptation's work area; pass --force to "
                              "replace it")

    def open(self, output: Path) -> None:
        """Create the work area (replacing a foreign folder, which `check` let through only with force)."""
        if self.root.exists() and not self._ours():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        write_card(self.root, {"kind": WORK_KIND, "output": str(output)})

    def record(self, step: str) -> dict | None:
        """The record in `step`'s folder, whatever inputs it was made from (None when there is none)."""
        try:
            return json.loads((self.root / step / RECORD).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def finished(self, step: str, digest: str) -> dict | None:
        """The record of `step` when its folder holds one for these inputs, else None."""
        record = self.record(step)
        return record if record is not None and record.get("digest") == digest else None

    def commit(self, step: str, inputs: dict, produce: Callable[[Path], Any], *,
               since: tuple[float, float] | None = None, times: tuple[float, float] | None = None) -> dict:
        """Run `produce(folder)` into a temporary folder, record the inputs and the wall and CPU seconds
        the step took (from now, from the clocks `since`, or `times` measured elsewhere) and rename the
        folder into the step's place."""
        started, cpu_started = since or (time.perf_counter(), time.process_time())
        with output_directory(self.root / step, force=True) as staging:
            produce(staging)
            seconds, cpu = times or (time.perf_counter() - started, time.process_time() - cpu_started)
            record = {"step": step, "digest": inputs["digest"], "inputs": inputs, "seconds": round(seconds, 3),
                      "cpu_seconds": round(cpu, 3), "finished": created_now()}
            (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return record


def distill_goes_on(before: dict, now: dict) -> bool:
    """Whether a finished distillation with inputs `before` can be continued to give the one with inputs
    `now`: everything equal except a step count and a time budget that are not smaller (None: no budget)."""
    def fixed(inputs: dict) -> dict:
        training = {k: v for k, v in inputs["training"].items() if k != "steps"}
        return {k: v for k, v in inputs.items() if k not in ("training", "minutes", "digest")} | {"training": training}

    if fixed(before) != fixed(now) or now["training"]["steps"] < before["training"]["steps"]:
        return False
    if now["minutes"] is None:
        return True
    return before["minutes"] is not None and now["minutes"] >= before["minutes"]
