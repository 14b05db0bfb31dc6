"""`tokwork train {bpe,unigram,char,supertoken}`: train a tokenizer on a corpus and write it with its card.

Every kind takes the corpus and the --vocab-size, --output, --text-field, --force and --quiet options;
`training_command` adds them around a function of the kind's own options that builds the kind's config,
so each command states only what is its own. Training and the checks before it are `train_tokenizer`'s.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tokwork.cli.console import err, out
from tokwork.cli.options import AddressOpt, CorpusArg, ForceOpt, OutputOpt, QuietOpt, TextFieldOpt, VocabOpt


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def training_command(make_arguments: Callable[..., dict[str, Any]]) -> Callable[..., None]:
    """The `tokwork train KIND` command for `make_arguments(vocab_size, **own_options)`, which returns the
    kind's arguments of `train_tokenizer` (its `config`; for BPE also `engine` and `address`).

    The command's options are the shared ones around the kind's own (the parameters of `make_arguments`
    after `vocab_size`, typer options as usual); its help is the docstring of `make_arguments`.
    """
    hints = typing.get_type_hints(make_arguments)
    own = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[name])
           for name, parameter in inspect.signature(make_arguments).parameters.items() if name != "vocab_size"]
    parameters = [_option("corpus", list[str], CorpusArg), _option("vocab_size", int, VocabOpt),
                  _option("output", Path, OutputOpt), *own, _option("text_field", str, TextFieldOpt),
                  _option("force", bool, ForceOpt), _option("quiet", bool, QuietOpt)]

    def command(*, corpus: list[str], vocab_size: int, output: Path, text_field: str, force: bool, quiet: bool,
                **options: Any) -> None:
        from tokwork.trainers.training import train_tokenizer

        trained, written = train_tokenizer(corpus, output=output, text_field=text_field, force=force,
                                           progress=not quiet, **make_arguments(vocab_size, **options))
        report(trained, written)

    command.__signature__ = inspect.Signature(parameters, return_annotation=None)
    command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    command.__name__ = command.__qualname__ = make_arguments.__name__
    command.__doc__ = make_arguments.__doc__
    return command


def report(trained, output: Path) -> None:
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
    shortfall = vocab_shortfall_note(card, trained.tokenizer.vocab_size)
    if shortfall:
        err.print(shortfall, soft_wrap=True, markup=False)
    warning = stopped_languages_warning(card)
    if warning:
        err.print(warning, soft_wrap=True, markup=False)


def vocab_shortfall_note(card, size: int) -> str | None:
    """One line when the corpus gave fewer tokens than were asked for (None otherwise): a small corpus runs
    out of pairs to merge (pieces, characters) long before a large vocabulary is full."""
    asked = card.parameters.get("vocab_size")
    target = card.parameters.get("vocab_size_rounded", asked)  # a char tokenizer's power of two
    if not isinstance(target, int) or size >= target:
        return None
    parameters = card.parameters
    wanted = f"{asked:,} asked" if target == asked else f"{target:,} that the {asked:,} asked rounds up to"
    frequency, longest = parameters.get("min_frequency"), parameters.get("max_token_length")
    if parameters.get("mode") == "char":
        why = "the corpus has no other character"
    elif isinstance(frequency, int):
        within = f" into a token of at most {longest} bytes" if isinstance(longest, int) else ""
        why = f"no other pair merges{within} and occurs at least {frequency} times"
    else:
        why = "the corpus holds no more"
    return f"note: {size:,} tokens, fewer than the {wanted}: {why}; a larger corpus gives more"


def stopped_languages_warning(card) -> str | None:
    """One line naming the languages that ran out of pairs in parity-aware training (None if none did):
    after that, others choose every merge and their dev ratios rise."""
    parity = card.notes.get("parity", {})
    stopped = parity.get("stopped")
    if not stopped:
        return None
    at_least = max(1, card.parameters["min_frequency"])
    listed = ", ".join(f"{code} after {stop['after_merges']:,} merges (dev ratio {stop['dev_token_ratio']:.2f} "
                       f"then, {parity['dev_token_ratios'][code]:.2f} at the end)" for code, stop in stopped.items())
    return (f"tokwork: warning: {len(stopped)} of {len(parity['dev_tokens'])} languages ran out of pairs seen at "
            f"least {at_least} times and stopped choosing merges: {listed}; see notes.parity.stopped in the card")


def bpe_arguments(
    vocab_size: int,
    min_frequency: int = typer.Option(2, help="Least count of a pair to be merged."),
    split: str = typer.Option("gpt2", help="Pre-tokenization pattern: gpt2, cl100k or o200k."),
    max_token_length: int | None = typer.Option(None, help="Longest token in bytes (no limit by default)."),
    nfkc: bool = typer.Option(False, "--nfkc", help="Apply NFKC normalisation (then only NFKC text round-trips)."),
    special: list[str] = typer.Option([], "--special", help="Extra special token (repeatable)."),
    eos_token: str = typer.Option("<|endoftext|>", help="End-of-text token (also used as bos)."),
    pad_token: str | None = typer.Option(None, "--pad-token", help="Padding token that transformers pads batches "
                                         "with (a special token; added if not among --special)."),
    engine: str = typer.Option("hf", help="hf: the tokenizers trainer in this process; local / ray: count "
                                          "pre-tokens per shard (here / on Ray workers), then learn the "
                                          "same merges from the counts."),
    address: str | None = AddressOpt,
    parity: str | None = typer.Option(
        None, metavar="PARALLEL_DEV",
        help="Parity-aware BPE (Foroutan et al. 2025): a folder of parallel dev files <code>.txt, the same "
             "text in each language paragraph for paragraph (or line for line). Each merge is the most frequent "
             "pair of the language whose dev text now takes the most tokens. A training file's language is its "
             "name (eng.txt, eng.jsonl), else its nearest folder named by a code (eng/); every training file "
             "needs a dev language and every dev language training text. Counts are taken as with --engine "
             "local (or ray)."),
    parity_mix: float = typer.Option(
        0.0, help="With --parity: the share of merges, taken first, that are the global most frequent pair "
                  "(the paper's hybrid), 0 to 1."),
    parity_pivot: str | None = typer.Option(
        None, metavar="CODE", help="With --parity: the language the dev token ratios are relative to "
                                   "(default: eng if in the dev set, else the first)."),
    parity_window: int = typer.Option(
        0, metavar="MERGES", help="With --parity: the paper's moving-window variant; a language that chose more "
                                  "than 2/L of the last MERGES parity merges (L languages) is passed over for "
                                  "the next worst (0: off; the paper's code uses 100)."),
) -> dict[str, Any]:
    """Byte-level BPE (GPT-2 style) with the HF `tokenizers` trainer; exact on any text. With --parity,
    parity-aware BPE for multilingual corpora."""
    from tokwork.errors import ParameterError
    from tokwork.trainers.bpe_model import BPEConfig

    config = BPEConfig(vocab_size=vocab_size, min_frequency=min_frequency, split=split,
                       max_token_length=max_token_length, nfkc=nfkc, eos_token=eos_token,
                       special_tokens=list(special), pad_token=pad_token)
    if parity is None and (parity_mix != 0.0 or parity_pivot is not None or parity_window != 0):
        raise ParameterError("--parity-mix, --parity-pivot and --parity-window need --parity PARALLEL_DEV")
    if parity is not None:
        from tokwork.trainers.parity_bpe import ParityConfig

        parity = ParityConfig(dev=parity, mix=parity_mix, pivot=parity_pivot, window=parity_window)
    return {"config": config, "engine": engine, "address": address, "parity": parity}


def unigram_arguments(
    vocab_size: int,
    model_type: str = typer.Option("unigram", help="SentencePiece model: unigram or bpe."),
    character_coverage: float = typer.Option(0.9995, help="Share of characters kept as pieces; rest are bytes."),
    split_digits: bool = typer.Option(False, "--split-digits", help="One piece per digit."),
    max_lines: int = typer.Option(2_000_000, "--max-lines", min=0, help="Train on at most this many lines "
                                  "(0: all), drawn by --seed from a larger corpus (SentencePiece holds them "
                                  "in memory)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the draw of lines from a corpus above --max-lines."),
) -> dict[str, Any]:
    """Unigram LM (SentencePiece, byte fallback on); writes tokenizer.model."""
    from tokwork.trainers.unigram import UnigramConfig

    return {"config": UnigramConfig(vocab_size=vocab_size, model_type=model_type,
                                    character_coverage=character_coverage, split_digits=split_digits,
                                    input_sentence_size=max_lines, seed=seed)}


def char_arguments(
    vocab_size: int,
    mode: str = typer.Option("bpe", help="bpe: KL3M-style byte-level BPE with short tokens; char: one token per character."),
    max_token_length: int = typer.Option(3, help="Longest token in bytes (bpe mode)."),
    nfkc: bool = typer.Option(False, "--nfkc", help="Apply NFKC normalisation."),
) -> dict[str, Any]:
    """Character-level tokenizer after KL3M; the vocab size is rounded up to a power of two."""
    from tokwork.trainers.char import CharConfig

    return {"config": CharConfig(vocab_size=vocab_size, mode=mode, max_token_length=max_token_length, nfkc=nfkc)}


train_bpe_command = training_command(bpe_arguments)
train_unigram_command = training_command(unigram_arguments)
train_char_command = training_command(char_arguments)
