"""`tokwork adapt MODEL --language CODE -o OUT`: extend, transplant, distill and evaluate, resumably.

The work is one library call (`tokwork.transplant.adapt.pipeline.adapt_model`); this module parses the options,
prints progress and the figures, and writes the report (report.html with one figure, in the style of
`tokwork bench`'s) beside the adapted model.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import err, out, titled_table
from tokwork.cli.options import (
    CheckpointActivationsOpt,
    DistillBatchOpt,
    DistillTextCharsOpt,
    QuietOpt,
    TextFieldOpt,
    ThreadsOpt,
)

STATE_WORDS = {"done": "done", "skipped": "already done with these inputs, skipped"}


def adapt_command(
    model: str = typer.Argument(..., help="The model to adapt: an HF folder (config.json, safetensors and a "
                                "BPE tokenizer.json), or 'smollm2'.", show_default=False),
    language: str = typer.Option(..., "--language", "-l", show_default=False,
                                 help="Code of the language (rus, deu_1996, ...): names its rows in the report. "
                                      "Without --corpus, its corpus in the tokwork cache (corpora/CODE, built by "
                                      "make corpora-multilingual) is used."),
    corpus: list[str] | None = typer.Option(None, "--corpus", "-c", show_default=False,
                                            help="Text of the language, to learn the new tokens on and to distill "
                                                 "on: files, folders, .jsonl or .gz (repeat for several). A folder "
                                                 "holding train.txt and heldout.txt trains on the first and scores "
                                                 "the second."),
    heldout: list[str] | None = typer.Option(None, "--heldout", show_default=False,
                                             help="Held-out text to score (never trained on): FILE for the "
                                                  "language's own, NAME=FILE for another, e.g. "
                                                  "eng=en/heldout.txt to see what English loses (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", show_default=False,
                                help="Output folder: the adapted model as a plain HF checkpoint, its card "
                                     "(tokwork.json, every step's card), adapt.json and report.html."),
    add: int = typer.Option(8000, "--add", "-n", help="New tokens to learn on the corpus."),
    method: str = typer.Option("hybrid", "--method", "-m",
                               help="How the new rows are made: hybrid, omp, hypernet, or any method "
                                    "`tokwork transplant --list-methods` lists. Old rows are copied exactly."),
    donor: str = typer.Option("minilm", "--donor", help="Donor space for omp/hybrid: minilm, source, or a "
                              "model folder with the extended vocabulary."),
    hypernet: str | None = typer.Option(None, "--hypernet", help="hypernet: the folder `tokwork hypernet train` "
                                        "wrote."),
    distill_steps: int | None = typer.Option(None, "--distill-steps", help="Distillation steps (default 200; with "
                                             "--distill-minutes, as many as the minutes allow)."),
    distill_minutes: float | None = typer.Option(None, "--distill-minutes", help="Stop distilling (with a "
                                                 "checkpoint) after this many minutes."),
    distill_schedule: str = typer.Option("constant", "--distill-schedule", help="Distillation's learning rate "
                                         "after the warm-up: constant, or linear (falls to 0 at --distill-steps, "
                                         "or, without them, when --distill-minutes are spent)."),
    distill_lr: float | None = typer.Option(None, "--distill-lr", help="Distillation's peak learning rate "
                                            "(default 3e-5)."),
    batch_size: int = DistillBatchOpt,
    text_chars: int = DistillTextCharsOpt,
    checkpoint_activations: bool = CheckpointActivationsOpt,
    heldout_chars: int | None = typer.Option(None, "--heldout-chars", help="Score at most this many characters "
                                             "of each held-out text (cut at a paragraph end); default all."),
    keep_work: bool = typer.Option(True, "--keep-work/--drop-work", help="Keep the work area (.OUT.adapt-work: "
                                   "each step's output) after the output is written, so that the same command "
                                   "with more --distill-steps goes on from the last step; --drop-work frees its "
                                   "disk (about two models and an optimizer state), and more steps then start "
                                   "over."),
    device: str = typer.Option("auto", "--device", help="Distillation device: auto (GPU when present), cpu or "
                               "cuda."),
    threads: int | None = ThreadsOpt,
    force: bool = typer.Option(False, "--force", help="Replace an output folder (or work area) that tokwork did "
                               "not make."),
    quiet: bool = QuietOpt,
    text_field: str = TextFieldOpt,
) -> None:
    """Adapt MODEL to a language: extend its tokenizer with --add tokens learned on the language's text,
    transplant the model onto it (old rows copied exactly, new rows by --method), distill it against the
    original model on the same text, and score tokens per byte and bits per byte on held-out text before
    and after.

    Each step's output is kept in a work area beside OUT (.OUT.adapt-work).

    The same command again skips unchanged finished steps: a run resumes after its last finished step.
    """
    import torch
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.adapt.config import AdaptConfig, language_texts
    from tokwork.transplant.adapt.pipeline import adapt_model
    from tokwork.transplant.distill.config import DistillConfig, run_length

    transformers_logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    from tokwork.outputs import check_output_directory

    # held-out files and the hypernetwork are inputs too, which the output may not take
    check_output_directory(output, force=True, inputs=[entry.split("=", 1)[-1] for entry in heldout or ()]
                           + ([hypernet] if hypernet else []))
    train, texts = language_texts(language, corpus or (), heldout or ())
    steps, budget = run_length(distill_steps, distill_schedule, distill_minutes)
    config = AdaptConfig(model=model, language=language, corpus=train, heldout=texts, add=add, method=method,
                         options={"hypernet": hypernet} if hypernet else {}, donor=donor,
                         distill=DistillConfig(steps=steps, batch_size=batch_size, text_chars=text_chars,
                                               schedule=distill_schedule, learning_rate=distill_lr,
                                               checkpoint_activations=checkpoint_activations,
                                               text_field=text_field,
                                               budget_minutes=budget),
                         distill_minutes=distill_minutes, heldout_chars=heldout_chars)
    result = adapt_model(config, output, force=force, keep_work=keep_work, device=device, progress=not quiet,
                         on_step=None if quiet else _print_step)
    from tokwork.metrics.adapt_report import write_report

    report = write_report(result.card, output, plot=True)
    out.print(_figures_table(result.card))
    out.print(_steps_table(result.card, result.skipped))
    out.print(f"new ids {result.card['new_ids']['start']:,}..{result.card['new_ids']['stop'] - 1:,}; "
              f"model written to {output}; report: {report}", soft_wrap=True)


def _print_step(step: str, state: str) -> None:
    err.print(f"{step}: {STATE_WORDS[state]}")


def _figures_table(card: dict) -> Table:
    table = titled_table(f"{card['language']}: {card['config']['add']:,} tokens added, {card['config']['method']}")
    for column in ("text", "tok/byte", "after", "fewer", "bits/byte", "0-shot", "distilled", "change"):
        table.add_column(column, justify="left" if column == "text" else "right", overflow="fold")
    for row in card["evaluation"]:
        table.add_row(row["text"], f"{row['tokens_per_byte_before']:.4f}", f"{row['tokens_per_byte_after']:.4f}",
                      f"{row['fewer_tokens_percent']:.1f}%", f"{row['bits_per_byte_original']:.4f}",
                      f"{row['bits_per_byte_zero_shot']:.4f}", f"{row['bits_per_byte_distilled']:.4f}",
                      f"{row['bits_per_byte_change_percent']:+.2f}%")
    return table


def _steps_table(card: dict, skipped: list[str]) -> Table:
    table = Table("step", "wall min", "CPU min", "this run", box=None)
    for step, done in card["steps"].items():
        table.add_row(step, f"{done['seconds'] / 60:.2f}", f"{done['cpu_seconds'] / 60:.2f}",
                      "skipped" if step in skipped else "ran")
    return table
