"""Transplant, then heal: one call that puts a new vocabulary on a checkpoint and distills the result.

The transplanted model is only an intermediate: it is written to a hidden sibling of the output, used as
the student, and removed when the distillation is done (or fails). The output is the distilled model,
whose card records the transplant that made its student. Run again with the same output and more steps
and the distillation resumes; the transplant is not redone.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokwork.corpus import corpus_list, expand_corpus_paths
from tokwork.outputs import check_output_directory
from tokwork.transplant.checkpoint import DISTILL_KINDS
from tokwork.transplant.distill.config import DistillConfig
from tokwork.transplant.distill.state import DistillCard, is_distill_folder
from tokwork.transplant.distill.training import distill
from tokwork.transplant.pipeline import transplant_vocabulary


def transplant_and_distill(source: str | Path, target: str | Path, output: str | Path, *,
                           corpus: Sequence[str | Path], config: DistillConfig, method: str = "hybrid",
                           options: dict[str, Any] | None = None, donor: Any = None, allow_pickle: bool = False,
                           max_seconds: float | None = None, force: bool = False, device: str | None = "auto",
                           progress: bool = True, heldout: dict[str, str] | None = None) -> DistillCard:
    """Transplant the tokenizer at `target` onto `source` with `method`, then distill that student from
    `source` on `corpus` for `config.steps` steps into `output`; returns the distillation's card.

    Settings and corpus are checked before the transplant, so a mistake costs nothing. An `output` that
    already holds a distillation is resumed instead (the transplant is skipped). `heldout` texts are scored
    as `distill` scores them.
    """
    config.validate()
    expand_corpus_paths(corpus)  # raises for missing or empty corpora now, not after the transplant
    output = Path(output)
    student = output.parent / f".{output.name}.transplanted"
    if is_distill_folder(output):
        shutil.rmtree(student, ignore_errors=True)  # an intermediate a killed run left: its model is in the output
        return distill(source, output, corpus, output, config=config, max_seconds=max_seconds, device=device,
                       progress=progress, heldout=heldout)
    check_output_directory(output, force=force, kinds=DISTILL_KINDS, inputs=[source, target, *corpus_list(corpus)])
    shutil.rmtree(student, ignore_errors=True)
    try:
        result = transplant_vocabulary(source, target, student, method=method, options=options, donor=donor,
                                       allow_pickle=allow_pickle, force=True, progress=progress)
        made = {"source": str(source), "target": str(target), "method": method,
                "options": {k: str(v) for k, v in (options or {}).items()}, "new_rows": result.report.new}
        return distill(source, student, corpus, output, config=config, max_seconds=max_seconds, force=True,
                       device=device, progress=progress, transplant=made, heldout=heldout)
    finally:
        shutil.rmtree(student, ignore_errors=True)
