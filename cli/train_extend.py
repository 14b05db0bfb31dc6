"""`tokwork train extend`: add N tokens learned on new text to an existing tokenizer, old ids unchanged."""

from __future__ import annotations

from pathlib import Path

import typer

from tokwork.cli.console import err, out
from tokwork.cli.options import REFERENCE_NAMES, CorpusArg, ForceOpt, OutputOpt, QuietOpt, TextFieldOpt
from tokwork.cli.train import report


def train_extend_command(
    corpus: list[str] = CorpusArg,
    base: str = typer.Option(..., "--base", "-b", show_default=False,
                             help="The tokenizer to extend: a BPE tokenizer.json (or a folder with one), a "
                                  f"SentencePiece .model or a .tiktoken file, {REFERENCE_NAMES}."),
    add: int = typer.Option(..., "--add", "-n", show_default=False, help="Number of new tokens."),
    output: Path = OutputOpt,
    min_frequency: int = typer.Option(2, help="Least count of a pair to be merged."),
    text_field: str = TextFieldOpt,
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Extend a tokenizer with N merges learned on a corpus; every old token, id and merge is kept."""
    from tokwork.trainers.extend import ExtendConfig
    from tokwork.trainers.training import train_tokenizer

    config = ExtendConfig(base=base, add=add, min_frequency=min_frequency)
    trained, written = train_tokenizer(corpus, config, output, force=force, text_field=text_field,
                                       progress=not quiet)
    report(trained, written)
    notes = trained.card.notes
    start, stop = notes["new_ids"]["start"], notes["new_ids"]["stop"]
    line = f"new ids {start:,}..{stop - 1:,}: {notes['added']:,} tokens"
    if notes["new_characters"]:
        line += f", {notes['new_characters']:,} of them characters the base spelled in bytes"
    if notes["fewer_than_asked"]:
        line += f"; fewer than {add:,}: no other pair occurs at least {min_frequency} times"
    out.print(line)
    if (Path(base) / "stochastic.json").is_file():  # load_tokenizer reads such a folder's deterministic base
        err.print(f"note: '{base}' is a stochastic tokenizer; its deterministic base was extended, and the "
                  "extension does not sample (make a stochastic one of it with 'tokwork train stochastic')",
                  soft_wrap=True, markup=False)
