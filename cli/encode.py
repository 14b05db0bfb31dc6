"""`tokwork encode`: show how a tokenizer splits a text: ids, stored pieces and the bytes of each token."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.errors import TokworkError


def encode_command(
    tokenizer: str = typer.Argument(..., help="tokenizer.json, a folder with one, a .model or a .tiktoken file."),
    text: str | None = typer.Argument(None, help="Text to encode (or use --file)."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Encode the text of this UTF-8 file."),
    output_format: str = typer.Option("table", "--format", help="table, ids or json."),
    limit: int = typer.Option(60, help="Rows shown in the table (0 for all)."),
) -> None:
    """Encode a text and show ids, pieces and byte view; checks that decoding gives the text back."""
    from tokwork.corpus import iter_texts
    from tokwork.tokenizer import load_tokenizer

    if (text is None) == (file is None):
        raise TokworkError("give either a TEXT argument or --file, not both or neither")
    if output_format not in ("table", "ids", "json"):
        raise TokworkError(f"unknown --format '{output_format}'; choose table, ids or json")
    source = text if text is not None else "".join(iter_texts([file]))
    tok = load_tokenizer(tokenizer)
    ids = tok.encode(source)
    view = tok.byte_view
    exact = tok.decode(ids) == tok.normalize(source)
    nbytes = len(source.encode("utf-8"))
    if output_format == "ids":
        out.print(" ".join(map(str, ids)), soft_wrap=True)
        return
    if output_format == "json":
        rows = [{"id": i, "piece": tok.id_to_token(i), "bytes": _show(view[i])} for i in ids]
        print(json.dumps({"tokens": rows, "count": len(ids), "bytes": nbytes, "round_trip": exact},
                         ensure_ascii=False))
        return
    table = Table(title=f"{len(ids)} tokens for {nbytes} bytes ({nbytes / max(len(ids), 1):.2f} bytes/token)")
    for column in ("#", "id", "piece", "bytes"):
        table.add_column(column, justify="right" if column in ("#", "id") else "left")
    shown = ids if limit <= 0 else ids[:limit]
    for position, token_id in enumerate(shown):
        table.add_row(str(position), str(token_id), repr(tok.id_to_token(token_id)), _show(view[token_id]))
    out.print(table)
    if len(shown) < len(ids):
        out.print(f"... {len(ids) - len(shown)} more (use --limit 0)")
    out.print(f"round trip: {'exact' if exact else 'NOT exact (the tokenizer normalises or loses this text)'}")


def _show(piece: bytes | None) -> str:
    """Token bytes for people: the text when they are whole UTF-8 characters, else the escaped bytes."""
    if piece is None:
        return "<special>"
    try:
        return repr(piece.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(piece)
