"""`tokwork encode`: show how a tokenizer splits a text (ids, stored pieces, byte view), sample segmentations
of a stochastic tokenizer, or encode a whole corpus into token ids for training (`--out ids.npy`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out, titled_table
from tokwork.cli.options import REFERENCE_NAMES, SEED_LIMIT, AddressOpt, QuietOpt, TextFieldOpt
from tokwork.errors import ParameterError, TokworkError

MAX_SAMPLES = 1_000  # segmentations `--samples` shows; each is a full encoding kept for display


def encode_command(
    tokenizer: str = typer.Argument(..., help="tokenizer.json, a folder with one, a .model, a .tiktoken file, "
                                    f"{REFERENCE_NAMES}, "
                                    "or a stochastic tokenizer folder (tokwork train stochastic)."),
    text: str | None = typer.Argument(None, help="Text to encode (or use --file)."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Encode the text of this UTF-8 file, a "
                                     "leading byte order mark dropped as corpora drop it (with --out: a corpus "
                                     "of files, folders, .gz, .jsonl)."),
    output_format: str = typer.Option("table", "--format", help="table, ids or json."),
    limit: int = typer.Option(60, min=0, help="Rows shown in the table (0 for all)."),
    seed: int | None = typer.Option(None, "--seed", min=0, max=SEED_LIMIT,
                                    help="Seed of a stochastic tokenizer (default: the saved one)."),
    samples: int = typer.Option(1, "--samples", "-k", help="Show this many sampled segmentations (stochastic)."),
    out_path: Path | None = typer.Option(None, "--out", "-o", help="Write the corpus given by --file as token ids "
                                         "to this .npy file (or a folder of shards with --shard-tokens)."),
    shard_tokens: int | None = typer.Option(None, "--shard-tokens", help="With --out and --engine stream: a folder "
                                            "of shards of this many ids."),
    eos: bool = typer.Option(True, "--eos/--no-eos", help="With --out: end each document with end-of-text."),
    text_field: str = TextFieldOpt,
    force: bool = typer.Option(False, "--force", help="With --out: replace an existing .npy file (a lone .npy "
                               "carries no card, so one tokwork wrote needs it too) or a folder that tokwork did "
                               "not make."),
    quiet: bool = QuietOpt,
    engine: str = typer.Option("stream", "--engine", help="With --out: 'stream' (one pass in document order: "
                               "one .npy, or shards of --shard-tokens ids), or encode corpus shards on 'local' "
                               "(this process) or 'ray' workers into a folder, one .npy per corpus shard (Ray: pip install "
                               "'tokwork\\[ray]'; a local cluster of its own is started, a few seconds, unless "
                               "--address or RAY_ADDRESS names one, whose workers must see the same paths). "
                               "The output is written to a temporary folder and renamed into place."),
    address: str | None = AddressOpt,
) -> None:
    """Encode a text and show ids, pieces and byte view; checks that decoding gives the text back.

    A special token's string inside the text (such as <|endoftext|>) is encoded as ordinary text, never as
    the special id, as for training data; --out ends each document with the end-of-text id itself.
    """
    from tokwork.loader import open_tokenizer
    from tokwork.sampling import StochasticTokenizer

    if output_format not in ("table", "ids", "json"):
        raise TokworkError(f"unknown --format '{output_format}'; choose table, ids or json")
    if out_path is None:
        given = [name for name, used in (("--shard-tokens", shard_tokens is not None), ("--no-eos", not eos),
                                         ("--engine", engine != "stream"), ("--address", address is not None))
                 if used]
        if given:
            raise TokworkError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to writing ids "
                               "with --out")
    if out_path is not None:
        if output_format == "ids":
            raise TokworkError("--format ids prints a text's ids; --out writes them to a file (--format json "
                               "prints what was written as JSON)")
        if file is None or text is not None:
            raise TokworkError("--out encodes a corpus: give it with --file CORPUS and no TEXT argument")
        if samples != 1:
            raise ParameterError("--samples shows segmentations of a text; with --out, run once per seed instead")
        from tokwork.token_ids import encode_corpus

        report = encode_corpus(tokenizer, [file], out_path, engine=engine, address=address, seed=seed,
                               shard_tokens=shard_tokens, eos=eos, text_field=text_field, progress=not quiet,
                               force=force)
        _show_report(report, out_path, as_json=output_format == "json")
        return
    if (text is None) == (file is None):
        raise TokworkError("give either a TEXT argument or --file, not both or neither")
    if not 1 <= samples <= MAX_SAMPLES:
        raise ParameterError(f"--samples {samples} must lie in [1, {MAX_SAMPLES:,}] (segmentations to show)")
    if text is not None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # the shell passed bytes that are not UTF-8 (kept as surrogates)
            raise ParameterError(f"TEXT is not UTF-8 at character {err.start}; pass UTF-8 text, or use --file "
                                 "for a file") from None
    source = text if text is not None else _file_text(file, text_field)
    tok = open_tokenizer(tokenizer, seed=seed)
    if samples > 1 and not isinstance(tok, StochasticTokenizer):
        raise ParameterError(f"--samples needs a stochastic tokenizer, and '{tokenizer}' is deterministic; "
                             "make one with 'tokwork train stochastic'")
    segmentations = tok.encode_batch([source] * samples)
    if samples > 1:
        _show_samples(tok, source, segmentations, output_format=output_format, limit=limit)
    else:
        _show_one(tok, source, segmentations[0], output_format=output_format, limit=limit)


def _file_text(file: Path, text_field: str) -> str:
    """The text `--file` encodes: a text file as it is, a `.jsonl` file's records one per line (they are
    separate documents, which `--out` ends with end-of-text)."""
    from tokwork.corpus import expand_corpus_paths, is_jsonl, iter_texts

    return "".join("\n".join(iter_texts([path], text_field=text_field)) if is_jsonl(path)
                   else "".join(iter_texts([path])) for path in expand_corpus_paths([file]))


def _show_one(tok, source: str, ids: list[int], *, output_format: str, limit: int) -> None:
    """One segmentation: ids, or JSON, or a table of id, stored piece and bytes per token."""
    view = tok.byte_view
    trip = tok.round_trip(source, ids)
    nbytes = len(source.encode("utf-8"))
    if output_format == "ids":
        out.print(" ".join(map(str, ids)), soft_wrap=True)
        return
    if output_format == "json":
        rows = [{"id": i, "piece": tok.id_to_token(i), "bytes": None if view[i] is None else view[i].hex()}
                for i in ids]  # the token's bytes in hex (None for a special token), which any program reads
        print(json.dumps({"tokens": rows, "count": len(ids), "bytes": nbytes, "round_trip": trip == "exact",
                          "normalized": trip == "normalized"}, ensure_ascii=False))
        return
    table = titled_table(f"{len(ids)} tokens for {nbytes} bytes ({nbytes / max(len(ids), 1):.2f} bytes/token)")
    for column in ("#", "id", "piece", "bytes"):
        table.add_column(column, justify="right" if column in ("#", "id") else "left")
    shown = ids if limit <= 0 else ids[:limit]
    for position, token_id in enumerate(shown):
        table.add_row(str(position), str(token_id), repr(tok.id_to_token(token_id)), _show(view[token_id]))
    out.print(table)
    if len(shown) < len(ids):
        out.print(f"... {len(ids) - len(shown)} more (use --limit 0)")
    out.print(f"round trip: {ROUND_TRIPS[trip]}")


ROUND_TRIPS = {"exact": "exact",
               "normalized": "NOT exact: the tokenizer normalises this text, and decoding gives the normalised text",
               "lost": "NOT exact: the tokenizer loses this text"}


def _show_samples(tok, source: str, segmentations: list[list[int]], *, output_format: str, limit: int) -> None:
    """Several sampled segmentations of one text, one per line, pieces separated by '|'."""
    trips = [tok.round_trip(source, ids) for ids in segmentations]
    exact = [trip == "exact" for trip in trips]
    worst = "lost" if "lost" in trips else "normalized"
    nbytes = len(source.encode("utf-8"))
    if output_format == "ids":
        for ids in segmentations:
            out.print(" ".join(map(str, ids)), soft_wrap=True)
        return
    if output_format == "json":
        rows = [{"ids": ids, "count": len(ids), "round_trip": ok} for ids, ok in zip(segmentations, exact, strict=True)]
        print(json.dumps({"samples": rows, "bytes": nbytes, "seed": tok.seed, **tok.config.parameters}))
        return
    view = tok.byte_view
    table = titled_table(f"{len(segmentations)} samples of {nbytes} bytes ({tok.config.method}, seed {tok.seed})")
    for column, justify in (("#", "right"), ("tokens", "right"), ("segmentation", "left")):
        table.add_column(column, justify=justify)
    for number, ids in enumerate(segmentations):
        shown = ids if limit <= 0 else ids[:limit]
        pieces = "|".join(_show(view[i], quoted=False) for i in shown) + (" ..." if len(shown) < len(ids) else "")
        table.add_row(str(number), str(len(ids)), pieces)
    out.print(table)
    out.print(f"round trip: {'exact for every sample' if all(exact) else ROUND_TRIPS[worst]}")


def _show_report(report, output: Path, *, as_json: bool = False) -> None:
    """What a corpus encoding wrote: engine, sampling, documents, tokens, text, time, files and where."""
    if as_json:
        print(json.dumps({**dataclasses.asdict(report), "files": [str(p) for p in report.files],
                          "output": str(output)}, ensure_ascii=False))
        return
    table = Table(show_header=False, box=None)
    table.add_row("engine", report.engine)
    if report.stochastic:
        table.add_row("stochastic", ", ".join(f"{k}={v}" for k, v in report.stochastic.items()))
    table.add_row("documents", f"{report.documents:,}")
    table.add_row("tokens", f"{report.tokens:,} ({report.dtype})")
    table.add_row("text", f"{report.text_bytes:,} bytes ({report.text_bytes / max(report.tokens, 1):.2f} bytes/token)")
    table.add_row("time", f"{report.seconds:.1f} s")
    table.add_row("files", str(len(report.files)))
    table.add_row("written to", str(output))
    out.print(table)


def _show(piece: bytes | None, *, quoted: bool = True) -> str:
    """Token bytes for people: the text when they are whole UTF-8 characters, else the escaped bytes."""
    if piece is None:
        return "<special>"
    try:
        shown = repr(piece.decode("utf-8"))
    except UnicodeDecodeError:
        shown = repr(piece)
    return shown if quoted else shown[shown.index(shown[-1]) + 1:-1]  # without b'' or the quotes
