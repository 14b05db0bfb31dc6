"""The transplant pipeline: check the inputs, align the vocabularies, run a method, write the new checkpoint.

Everything that can be refused (a tokenizer without a byte view, a missing, corrupt or pickled
checkpoint, an unknown method or option, an output in the way: a file, or a folder tokwork did not write)
is refused before the long work starts, so a bad call costs a second and writes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokwork.loader import load_tokenizer
from tokwork.outputs import check_output_directory
from tokwork.transplant.align import Alignment, AlignmentReport, align_vocabularies
from tokwork.transplant.checkpoint import (
    TRANSPLANT_KINDS,
    TransplantCard,
    check_checkpoint_folder,
    check_target_tokenizer,
    load_checkpoint,
    write_checkpoint,
)
from tokwork.transplant.donors import DonorSpace, resolve_donor
from tokwork.transplant.registry import Embeddings, TransplantContext, check_options, get_method


@dataclass
class TransplantResult:
    """What a transplant made: where it went, the alignment counts, how long the method took."""

    output: Path | None
    report: AlignmentReport
    method_seconds: float
    seconds: float
    embeddings: Embeddings = field(repr=False)
    alignment: Alignment = field(repr=False)
    card: TransplantCard | None = field(default=None, repr=False)  # the card written with the output, None without one


def transplant_vocabulary(source: str | Path, target: str | Path, output: str | Path | None, *,
                          method: str = "omp", options: dict[str, Any] | None = None,
                          donor: str | DonorSpace | None = None, allow_pickle: bool = False,
                          force: bool = False, progress: bool = False) -> TransplantResult:
    """Put the tokenizer at `target` onto the checkpoint at `source` with `method`, write it to `output`.

    `options` are the method's keyword options (k, mix, ...); `donor` is a donor space or a name that
    `resolve_donor` understands (used only by methods that need one). With `output` None nothing is
    written (benchmarks evaluate the matrices in memory).
    """
    started = time.perf_counter()
    info = get_method(method)
    options = check_options(info, dict(options or {}))
    if output is not None:
        check_output_directory(output, force=force, kinds=TRANSPLANT_KINDS,
                               inputs=[source, target, *([donor] if isinstance(donor, str | Path) else []),
                                       *([options["hypernet"]] if options.get("hypernet") else [])])
    check_checkpoint_folder(source, allow_pickle=allow_pickle)
    target_tokenizer = load_tokenizer(target)
    target_tokenizer.byte_view  # noqa: B018  (raises now for a tokenizer without one)
    if output is not None:
        check_target_tokenizer(target_tokenizer)
    checkpoint = load_checkpoint(source, allow_pickle=allow_pickle)
    space = None
    if info.needs_donor:
        space = donor if isinstance(donor, DonorSpace) else resolve_donor(donor, allow_pickle=allow_pickle)
    alignment = align_vocabularies(checkpoint.tokenizer, target_tokenizer,
                                   source_rows=checkpoint.input_embeddings().shape[0])
    context = TransplantContext(alignment=alignment, input_embeddings=checkpoint.input_embeddings(),
                                output_embeddings=checkpoint.output_embeddings(), model=checkpoint.model,
                                donor=space, progress=progress)
    method_started = time.perf_counter()
    embeddings = info.function(context, **options)
    method_seconds = time.perf_counter() - method_started
    report = alignment.report()
    written = card = None
    if output is not None:
        card = TransplantCard(
            method=method, options=options, donor=space.name if space else None, source=str(source),
            target=str(target), alignment=report.as_json(), tied=checkpoint.tied,
            seconds=round(time.perf_counter() - started, 3),
        )
        written = write_checkpoint(checkpoint, alignment, embeddings, output, card=card, force=force)
    return TransplantResult(output=written, report=report, method_seconds=method_seconds,
                            seconds=time.perf_counter() - started, embeddings=embeddings, alignment=alignment,
                            card=card)
