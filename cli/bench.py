"""`tokwork bench`: every metric for every tokenizer x language of a parallel corpus, and one report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.cli.options import AddressOpt, ForceOpt, QuietOpt


def bench_command(
    tokenizer: list[str] = typer.Option(..., "--tokenizer", "-t", show_default=False,
                                        help="NAME=PATH of a tokenizer (repeatable): tokenizer.json, a folder "
                                             "with one, a .model or a .tiktoken file, or a reference name (gpt2, "
                                             "cl100k, o200k, llama3, gemma3, qwen3); a bare PATH or name is "
                                             "named after itself."),
    output: Path = typer.Option(..., "--output", "-o", show_default=False,
                                help="Output directory for results.json/csv, report.html and plots."),
    languages: str | None = typer.Option(None, "--languages", "-l",
                                         help="Comma-separated language codes, or 'all' (default: a fixed list "
                                              "of 56 for the shipped UDHR, every file for another corpus); the "
                                              "--pivot language is measured too, as premiums need it."),
    corpus: str = typer.Option("udhr", help="'udhr' (shipped) or a folder of parallel <code>.txt files: the same "
                               "blocks (articles, paragraphs) in every language, separated by one blank line, "
                               "with an optional languages.tsv (columns code, name, script: an ISO 15924 code)."),
    pivot: str = typer.Option("eng", help="Language the premiums are relative to."),
    reference: str | None = typer.Option(None, help="Tokenizer name for the normalized sequence length "
                                                     "(default: the first one)."),
    alpha: float = typer.Option(2.5, help="Order of the Rényi entropy (above 0, below 100; 2.5 is Zouhar "
                                "et al.'s)."),
    full_vocab: bool = typer.Option(False, "--full-vocab", help="Efficiencies over log2 of the full vocabulary "
                                                                 "instead of the distinct tokens observed."),
    lexicon: list[str] = typer.Option([], "--lexicon", help="CODE=FILE: a word list for one language "
                                                             "(repeatable); overrides wordfreq."),
    wordfreq_list: str = typer.Option("small", help="wordfreq list for lexicons: small, large or best."),
    no_wordfreq: bool = typer.Option(False, "--no-wordfreq", help="Use only --lexicon files."),
    plots: bool = typer.Option(False, "--plots", help="Also draw the figures (PNG files, embedded in "
                                                      "report.html); matplotlib adds a few seconds."),
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
    engine: str = typer.Option("local", "--engine", help="Where the tokenizer x language jobs run: 'local' (processes "
                                                       "of this machine) or 'ray' (Ray workers); the results are "
                                                       "the same."),
    address: str | None = AddressOpt,
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="local engine: worker processes, each loading its own tokenizers "
                                            "(default: one per CPU, at most one per tokenizer; 1: this process)."),
) -> None:
    """Compression, entropy, premiums and integrity of tokenizers across languages; writes report.html."""
    from tokwork.errors import ParameterError
    from tokwork.metrics.bench import BenchConfig, parse_lexicon_entries, parse_tokenizer_entries, run_bench
    from tokwork.metrics.report import write_report

    if workers is not None and engine == "ray":
        raise ParameterError("--workers sets this machine's processes (--engine local); Ray places its own tasks")
    codes = None
    if languages is not None:
        codes = [c.strip() for c in languages.split(",")]
        if not all(codes):
            raise ParameterError(f"--languages '{languages}' has an empty code; give codes separated by commas, "
                                 "or 'all'")
    config = BenchConfig(tokenizers=parse_tokenizer_entries(tokenizer), corpus=corpus, languages=codes,
                         pivot=pivot, reference=reference, alpha=alpha, full_vocab=full_vocab,
                         lexicons=parse_lexicon_entries(lexicon), wordfreq_list=wordfreq_list,
                         wordfreq=not no_wordfreq)
    results = run_bench(config, engine=engine, workers=workers, address=address, progress=not quiet,
                        output=output, force=force)
    report = write_report(results, output, force=force, plots=plots)
    count = len(results.corpus["languages"])
    table = Table(title=f"{count} language{'s' if count != 1 else ''}, premiums against {config.pivot}")
    for column in ("tokenizer", "vocab", "bytes/token", "mean premium", "non-Latin premium", "Rényi eff. (pooled)"):
        table.add_column(column, justify="left" if column == "tokenizer" else "right")
    unknown = results.summary["notes"].get("tokens_without_bytes", {})
    for t in results.summary["tokenizers"]:
        name = t["tokenizer"] + (" *" if t["tokenizer"] in unknown else "")
        table.add_row(name, f"{t['vocab_size']:,}", f"{t['bytes_per_token']:.2f}",
                      _number(t["premium_mean"]), _number(t["premium_non_latin_mean"]),
                      _number(t["pooled_renyi_efficiency"], "{:.3f}"))
    out.print(table)
    if unknown:
        out.print("* gives tokens that stand for no text (unknown tokens) in "
                  + "; ".join(f"{name}: {', '.join(codes)}" for name, codes in unknown.items())
                  + ": its compression and premiums there are not comparable (see the report)")
    out.print(f"report: {report}")


def _number(value: float | None, style: str = "{:.2f}") -> str:
    return "–" if value is None else style.format(value)
