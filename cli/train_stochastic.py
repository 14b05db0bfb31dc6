"""`tokwork train stochastic`: make a stochastic tokenizer (StochasTok, BPE-dropout, unigram sampling) over
an existing tokenizer; writes the base files unchanged plus stochastic.json and the card."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.cli.options import REFERENCE_NAMES, SEED_LIMIT, ForceOpt, OutputOpt, QuietOpt
from tokwork.sampling import METHODS

_METHOD_HELP = "; ".join(f"{name} ({text})" for name, text in METHODS.items())


def train_stochastic_command(
    base: str = typer.Option(..., "--base", "-b", show_default=False,
                             help="The base tokenizer: tokenizer.json, a folder with one, a .model or a .tiktoken "
                             f"file, {REFERENCE_NAMES}."),
    output: Path = OutputOpt,
    method: str = typer.Option("stochastok", "--method", "-m", help=_METHOD_HELP),
    p: float = typer.Option(0.1, "--p", "-p", help="StochasTok expansion rate, or BPE-dropout probability, in [0, 1]."),
    alpha: float = typer.Option(0.1, "--alpha", help="Unigram sampling: inverse temperature of the segmentations."),
    nbest_size: int = typer.Option(-1, "--nbest-size", help="Unigram sampling: sample from the n best (-1: all)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_LIMIT,
                             help="Default seed saved with the tokenizer (encode --seed overrides)."),
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,  # nothing here draws a bar; taken as every train command takes it
) -> None:
    """Stochastic segmentations over any base tokenizer, exact and seeded; plain HF still reads a tokenizer.json
    or .model base (tiktoken reads a .tiktoken one)."""
    from tokwork.sampling import StochasticConfig
    from tokwork.trainers.training import make_stochastic_tokenizer

    config = StochasticConfig(method=method, p=p, alpha=alpha, nbest_size=nbest_size, seed=seed)
    made, written = make_stochastic_tokenizer(base, config, output, force=force)
    table = Table(show_header=False, box=None)
    table.add_row("method", config.method)
    table.add_row("parameters", ", ".join(f"{k}={v}" for k, v in config.parameters.items() if k != "method"))
    table.add_row("base", f"{base} ({made.tokenizer.base.format}, {made.tokenizer.vocab_size:,} tokens)")
    notes = made.card.notes
    if "splittable_tokens" in notes:
        table.add_row("expansion table", f"{notes['splittable_tokens']:,} splittable tokens, "
                                         f"{notes['expansion_pairs']:,} splits")
    table.add_row("time", f"{made.card.seconds:.1f} s")
    table.add_row("files", ", ".join(made.card.files))
    table.add_row("written to", str(written))
    out.print(table)
