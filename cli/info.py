"""`tokwork info`: what a tokenizer is: format, size, special tokens by role, byte coverage, its card."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.cli.options import REFERENCE_NAMES


def info_command(
    tokenizer: str = typer.Argument(..., help="tokenizer.json, a folder with one, a .model or a .tiktoken file, "
                                    f"{REFERENCE_NAMES}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show format, vocabulary size, specials by role and how many single bytes have a token."""
    from tokwork.card import read_card
    from tokwork.loader import load_tokenizer

    tok = load_tokenizer(tokenizer)
    summary = tok.describe()
    folder = _card_folder(Path(tokenizer))
    if folder is not None:
        card = read_card(folder)
        summary["trained"] = {k: card.get(k) for k in ("kind", "parameters", "corpus_bytes", "seconds", "created",
                                                        "notes")}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    table = Table(show_header=False, box=None)
    table.add_row("format", summary["format"])
    table.add_row("vocab size", f"{summary['vocab_size']:,}")
    for role, token_id in summary["specials"].items():
        if token_id is not None:
            table.add_row(role, f"{summary['special_names'][role]!r} (id {token_id})")
    table.add_row("tokens without bytes", str(summary["no_byte_tokens"]))
    table.add_row("single-byte tokens", f"{summary['single_byte_tokens']}/256")
    table.add_row("dummy prefix", "yes" if summary["dummy_prefix"] else "no")
    if "trained" in summary:
        table.add_row(*_made(summary["trained"]))
        for row in _what_it_did(summary["trained"]):
            table.add_row(*row)
    out.print(table)


def _card_folder(path: Path) -> Path | None:
    """The folder whose card describes the tokenizer: the folder given, or the one holding the file given."""
    from tokwork.card import has_card

    if has_card(path):
        return path
    if path.is_file() and has_card(path.parent):
        return path.parent
    return None


def _what_it_did(card: dict) -> list[tuple[str, str]]:
    """Rows for what a parity-aware, extension or supertoken run did, read off its card."""
    parameters, notes = card.get("parameters") or {}, card.get("notes") or {}
    rows = []
    parity = notes.get("parity")
    if isinstance(parity, dict):
        chosen = ", ".join(f"{code} {count:,}" for code, count in (parity.get("steps_chosen_by") or {}).items())
        rows.append(("parity", f"pivot {parity.get('pivot')}; merges chosen by {chosen or 'none'}"
                               f" ({parity.get('global_steps', 0):,} global)"))
        if parity.get("stopped"):
            rows.append(("stopped", ", ".join(sorted(parity["stopped"]))))
    new_ids = notes.get("new_ids")
    if card.get("kind") == "extend" and isinstance(new_ids, dict):
        rows.append(("extends", f"{parameters.get('base')}; new ids {new_ids.get('start'):,}..{new_ids.get('stop', 1) - 1:,}"))
    if card.get("kind") == "supertoken":
        stages = (f"; stage 1 {notes['stage1_vocab_size']:,} tokens, stage 2 {notes['stage2_merges']:,} merges"
                  if "stage1_vocab_size" in notes and "stage2_merges" in notes else "")
        rows.append(("supertoken", f"{parameters.get('method')}{stages}"))
    return rows


def _made(card: dict) -> tuple[str, str]:
    """The row of how the card says the tokenizer was made: trained on so many bytes, or a stochastic
    tokenizer's method and base."""
    kind, parameters = card.get("kind") or "by tokwork", card.get("parameters") or {}
    if isinstance(card.get("corpus_bytes"), int) and card["corpus_bytes"] > 0:
        return "trained", f"{kind} on {card['corpus_bytes']:,} bytes in {card.get('seconds') or 0:.1f} s"
    if kind == "stochastic" and parameters.get("base"):
        return "made", f"stochastic ({parameters.get('method', 'sampling')}) over {parameters['base']}"
    return "made", kind
