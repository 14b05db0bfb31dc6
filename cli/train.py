"""`tokwork train {bpe,unigram,char}`: train a tokenizer on a corpus and write it with its card."""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.outputs import check_output_directory
from tokwork.trainers.card import TrainedTokenizer

train_app = typer.Typer(
    help="Train a tokenizer on files, folders, .gz or .jsonl corpora; writes tokenizer files + tokwork.json.",
    no_args_is_help=True,
)

CorpusArg = typer.Argument(..., help="Corpus files, folders (searched for .txt/.jsonl/.gz) or globs.",
                           show_default=False)
VocabOpt = typer.Option(..., "--vocab-size", "-v", help="Number of tokens in the vocabulary.", show_default=False)
OutputOpt = typer.Option(..., "--output", "-o", help="Output directory (written atomically).", show_default=False)
TextFieldOpt = typer.Option("text", "--text-field", help="Field holding the text in .jsonl records.")
ForceOpt = typer.Option(False, "--force", help="Replace an existing output directory that tokwork did not make.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def run_training(train, corpus: list[str], config, *, output: Path, text_field: str, force: bool,
                 quiet: bool) -> None:
    """Check the config and the output path before the long work, train, write atomically, report.

    `train` is a trainer entry point `train(corpus, config, *, text_field, progress) -> TrainedTokenizer`.
    """
    config.validate()
    check_output_directory(output, force=force)
    trained = train(corpus, config, text_field=text_field, progress=not quiet)
    report(trained, trained.save(output, force=force))


def report(trained: TrainedTokenizer, output: Path) -> None:
    """Print what was trained and where it went."""
    card = trained.card
    table = Table(show_header=False, box=None)
    table.add_row("kind", card.kind)
    table.add_row("vocab size", f"{trained.tokenizer.vocab_size:,}")
    table.add_row("corpus", f"{len(card.corpus)} file(s), {card.corpus_bytes:,} bytes")
    table.add_row("time", f"{card.seconds:.1f} s")
    table.add_row("files", ", ".join(card.files))
    table.add_row("written to", str(output))
    out.print(table)


@train_app.command("bpe")
def train_bpe_command(
    corpus: list[str] = CorpusArg,
    vocab_size: int = VocabOpt,
    output: Path = OutputOpt,
    min_frequency: int = typer.Option(2, help="Least count of a pair to be merged."),
    split: str = typer.Option("gpt2", help="Pre-tokenization pattern: gpt2, cl100k or o200k."),
    max_token_length: int | None = typer.Option(None, help="Longest token in bytes (no limit by default)."),
    nfkc: bool = typer.Option(False, "--nfkc", help="Apply NFKC normalisation (then only NFKC text round-trips)."),
    special: list[str] = typer.Option([], "--special", help="Extra special token (repeatable)."),
    eos_token: str = typer.Option("<|endoftext|>", help="End-of-text token (also used as bos)."),
    engine: str = typer.Option("hf", help="hf: the tokenizers trainer in this process; local / ray: count "
                                          "pre-tokens per shard (here / on Ray workers), then learn the "
                                          "same merges from the counts."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
    text_field: str = TextFieldOpt,
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Byte-level BPE (GPT-2 style) with the HF `tokenizers` trainer; exact on any text."""
    from tokwork.distributed import check_engine
    from tokwork.trainers.bpe import BPEConfig, train_bpe

    config = BPEConfig(vocab_size=vocab_size, min_frequency=min_frequency, split=split,
                       max_token_length=max_token_length, nfkc=nfkc, eos_token=eos_token,
                       special_tokens=list(special))
    check_engine(engine, choices=("hf", "local", "ray"))
    train = functools.partial(train_bpe, engine=engine, address=address)
    run_training(train, corpus, config, output=output, text_field=text_field, force=force, quiet=quiet)


@train_app.command("unigram")
def train_unigram_command(
    corpus: list[str] = CorpusArg,
    vocab_size: int = VocabOpt,
    output: Path = OutputOpt,
    model_type: str = typer.Option("unigram", help="SentencePiece model: unigram or bpe."),
    character_coverage: float = typer.Option(0.9995, help="Share of characters kept as pieces; rest are bytes."),
    split_digits: bool = typer.Option(False, "--split-digits", help="One piece per digit."),
    text_field: str = TextFieldOpt,
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Unigram LM (SentencePiece, byte fallback on); writes tokenizer.model."""
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    config = UnigramConfig(vocab_size=vocab_size, model_type=model_type, character_coverage=character_coverage,
                           split_digits=split_digits)
    run_training(train_unigram, corpus, config, output=output, text_field=text_field, force=force, quiet=quiet)


@train_app.command("char")
def train_char_command(
    corpus: list[str] = CorpusArg,
    vocab_size: int = VocabOpt,
    output: Path = OutputOpt,
    mode: str = typer.Option("bpe", help="bpe: KL3M-style byte-level BPE with short tokens; char: one token per character."),
    max_token_length: int = typer.Option(3, help="Longest token in bytes (bpe mode)."),
    nfkc: bool = typer.Option(False, "--nfkc", help="Apply NFKC normalisation."),
    text_field: str = TextFieldOpt,
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Character-level tokenizer after KL3M; the vocab size is rounded up to a power of two."""
    from tokwork.trainers.char import CharConfig, train_char

    config = CharConfig(vocab_size=vocab_size, mode=mode, max_token_length=max_token_length, nfkc=nfkc)
    run_training(train_char, corpus, config, output=output, text_field=text_field, force=force, quiet=quiet)
