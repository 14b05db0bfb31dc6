"""The note a command that resumes a run gives when options on its command line differ from the run's own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import typer

from tokwork.card import recorded_path
from tokwork.cli.console import err


def note_settings_kept(ctx: typer.Context, saved: dict, output: Path, names: Iterable[str], *,
                       parsed: dict | None = None) -> None:
    """Say which of the options `names` given on this command line a resumed run does not take: it keeps
    `saved` (its card's settings, by the same names; `float32` is compared with the card's `bf16`).
    `parsed` gives an option's value as the card holds it where the command line spells it otherwise."""
    given = {name: (parsed or {}).get(name, value) for name, value in ctx.params.items()
             if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"}  # typer's click or click
    names = set(names)
    kept = [(name, value, saved.get(name)) for name, value in given.items()
            if name in names and value != saved.get(name)]
    if "float32" in given and given["float32"] == bool(saved.get("bf16", True)):
        kept.append(("float32", given["float32"], not saved.get("bf16", True)))
    if kept:
        flag = {param.name: param.opts[0] for param in ctx.command.params}
        shown = ", ".join(f"{flag[name]} {_shown(value)} (the run's: {_shown(own)})" for name, value, own in kept)
        err.print(f"note: resuming the run in {output} with its own settings, not these: {shown}; pass --fresh to "
                  "start over with them", soft_wrap=True, markup=False)


def note_inputs_kept(output: Path, saved: dict[str, str | list[str]], given: dict[str, str | list[str]]) -> None:
    """Say which inputs (teacher, student, corpus: by name, as given and as the run's card holds them) a
    resumed run does not take from this command line: it goes on with its own."""
    def same(one, other) -> bool:
        ones, others = ([one] if isinstance(one, str) else list(one)), ([other] if isinstance(other, str) else list(other))
        return [recorded_path(x) for x in ones] == [recorded_path(x) for x in others]

    differ = [(name, value, saved.get(name)) for name, value in given.items() if not same(value, saved.get(name) or [])]
    if differ:
        shown = ", ".join(f"{name} {_shown(value)} (the run's: {_shown(own)})" for name, value, own in differ)
        err.print(f"note: resuming the run in {output} with its own inputs, not these: {shown}; pass --fresh to "
                  "start over with them", soft_wrap=True, markup=False)


def _shown(value) -> str:
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value) if all(isinstance(v, int | float) for v in value) else " ".join(
            str(v) for v in value)
    return str(value)
