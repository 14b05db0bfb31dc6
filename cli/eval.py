"""`tokwork eval MODEL TEXT...`: bits per byte (and per-token perplexity) of a model on texts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.cli.options import QuietOpt, ThreadsOpt


def eval_command(
    model: Path = typer.Argument(..., help="An HF model folder (config.json + safetensors + tokenizer), or "
                                 "'smollm2'.", show_default=False),
    texts: list[Path] = typer.Argument(..., help="Text files or folders (one score per file: per language "
                                                 "for corpora/udhr).", show_default=False),
    tokenizer: Path | None = typer.Option(None, "--tokenizer", help="Use this tokenizer instead of the model's."),
    window: int = typer.Option(1024, "--window", help="Tokens per scored window (at most the model's context)."),
    threads: int | None = ThreadsOpt,
    allow_pickle: bool = typer.Option(False, "--allow-pickle",
                                      help="Load pickle weights (pytorch_model.bin); they can run code."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    quiet: bool = QuietOpt,
) -> None:
    """Score texts with MODEL: bits per byte, comparable across tokenizers, per file and in total."""
    import torch
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.evaluate import bits_per_byte, read_texts

    transformers_logging.disable_progress_bar()
    named = read_texts(texts)
    if threads:
        torch.set_num_threads(threads)
    checkpoint = load_checkpoint(model, tokenizer=tokenizer, allow_pickle=allow_pickle)
    evaluation = bits_per_byte(checkpoint.model, checkpoint.tokenizer, named, window=window, progress=not quiet)
    if as_json:
        print(json.dumps(evaluation.as_json(), indent=2))
        return
    table = Table("text", "bytes", "tokens", "bits/byte", "token ppl")
    rows = evaluation.texts + ([evaluation.total] if len(evaluation.texts) > 1 else [])
    for score in rows:
        table.add_row(score.name, f"{score.bytes:,}", f"{score.tokens:,}", f"{score.bits_per_byte:.4f}",
                      f"{score.token_perplexity:.2f}")
    out.print(table)
