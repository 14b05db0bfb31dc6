"""`tokwork cache`: what the cache holds, its size, and clearing parts of it."""

from __future__ import annotations

import typer
from rich.filesize import decimal

from tokwork.cli.console import out, titled_table


def cache_command(
    clear: list[str] = typer.Option([], "--clear", show_default=False,
                                    help="Remove this cache folder (repeatable; 'all' for every folder tokwork "
                                         "makes; other folders are left alone)."),
) -> None:
    """Show the tokwork cache ($TOKWORK_CACHE, else ~/.cache/tokwork): each folder, what it holds, its size
    and how it comes back once cleared.

    Derived entries keyed by the code that made them pile up as tokwork changes; --clear removes whole
    folders.
    """
    from tokwork.cache import cache_root
    from tokwork.cache_usage import cache_usage, clear_cache

    if clear:
        freed = clear_cache(clear)
        out.print(f"freed {decimal(freed)} in {cache_root()}", soft_wrap=True)
        return
    folders = cache_usage()
    table = titled_table(str(cache_root()))
    for column in ("folder", "holds", "size", "files", "comes back"):
        table.add_column(column, justify="right" if column in ("size", "files") else "left")
    for folder in folders:
        table.add_row(folder.name, folder.holds, decimal(folder.bytes), f"{folder.files:,}", folder.comes_back)
    table.add_row("all", "", decimal(sum(f.bytes for f in folders)), f"{sum(f.files for f in folders):,}", "")
    out.print(table)

