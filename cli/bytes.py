"""`tokwork bytes`: a tokenized LM as an exact byte-level model: next characters, scores, generation, ensembles."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import err, out, titled_table
from tokwork.cli.options import SEED_LIMIT, QuietOpt
from tokwork.errors import TokworkError
from tokwork.progress import byte_progress

bytes_app = typer.Typer(help="Exact next-byte probabilities from any tokenized LM (Phan et al. 2024).",
                        no_args_is_help=True)

MODEL_HELP = "HF causal-LM folder (with its tokenizer), or 'smollm2'."
TOKENIZER_HELP = "Tokenizer to use instead of the one in the model folder."
TOLERANCE_HELP = ("Certified bound asked for: cover states that cannot move a probability (or a scored "
                  "log-probability) by more than this are not evaluated; 0 evaluates them all. "
                  "Default: ByteLM's, 1e-6.")


START_HELP = ("The token a text starts after, e.g. '<|im_start|>' (default: what the tokenizer puts in front of "
              "a text, else <|endoftext|>, else bos, else eos; tokwork eval starts after bos, else eos).")


def _load(model: str, tokenizer: str | None, tolerance: float | None = None, start: str | None = None):

    from tokwork.bytelevel import ByteLM
    from tokwork.bytelevel.certified import check_tolerance
    from tokwork.loader import load_tokenizer
    from tokwork.smollm2 import resolve_model_path

    options = {} if tolerance is None else {"tolerance": check_tolerance(tolerance)}  # fails before loading
    path = resolve_model_path(model)
    if start is not None:
        opened = load_tokenizer(tokenizer if tokenizer is not None else path)
        start_id = opened.token_to_id(start)
        if start_id is None:
            raise TokworkError(f"--start '{start}' is not a token of the tokenizer; give one of its special "
                               f"tokens, such as {', '.join(repr(n) for n in _special_names(opened)) or 'its bos'}")
        options.update(tokenizer=opened, start_ids=[start_id])
    else:
        options["tokenizer"] = tokenizer
    return ByteLM.from_pretrained(path, **options)


def _special_names(tokenizer) -> list[str]:
    names = tokenizer.describe().get("special_names", {})
    return list(dict.fromkeys(name for name in names.values() if name))


def _prompt(prompt: str, hex_prompt: bool) -> bytes:
    if not hex_prompt:
        return prompt.encode("utf-8")
    try:
        return bytes.fromhex(prompt)
    except ValueError:
        raise TokworkError(f"--hex prompt '{prompt}' is not hexadecimal bytes (e.g. 54686520e697)") from None


def _names_a_file(text: str) -> bool:
    """Whether `text` is the path of an existing file (a long text or one no path can be is not)."""
    try:
        return "\n" not in text and Path(text).is_file()
    except (OSError, ValueError):
        return False


def _text_input(text: str | None, file: Path | None, *, text_given_as: str = "a TEXT argument") -> bytes:
    """The bytes to score, never empty: the file's with --file, else the text's UTF-8 (with a note when the
    text names a file, which a user most likely meant to score)."""
    if (text is None) == (file is None):
        raise TokworkError(f"give either {text_given_as} or --file, not both or neither")
    if file is not None:
        if not file.is_file():
            raise TokworkError(f"file '{file}' does not exist")
        data = file.read_bytes()
    else:
        if _names_a_file(text):
            err.print(f"note: scoring the text '{text}' itself; to score that file's bytes, pass --file {text}",
                      soft_wrap=True, markup=False)
        data = text.encode("utf-8")
    if not data:
        raise TokworkError("the text is empty; there is nothing to score")
    return data


@bytes_app.command("next")
def next_command(
    model: str = typer.Argument(..., help=MODEL_HELP),
    prompt: str = typer.Argument(..., help="Text whose next characters to show; it may end mid-word (\"\": how "
                                 "texts begin)."),
    tokenizer: str | None = typer.Option(None, help=TOKENIZER_HELP),
    top: int = typer.Option(10, help="How many to show."),
    show_bytes: bool = typer.Option(False, "--bytes", help="Show next bytes instead of characters."),
    hex_prompt: bool = typer.Option(False, "--hex", help="The prompt is hex bytes (may end mid-character)."),
    tolerance: float | None = typer.Option(None, help=TOLERANCE_HELP, show_default=False),
    start: str | None = typer.Option(None, "--start", help=START_HELP, show_default=False),
) -> None:
    """The next-character (or next-byte) distribution after a prompt, exact up to a certified bound."""
    data = _prompt(prompt, hex_prompt)
    if top < 1:
        raise TokworkError(f"--top {top} must be at least 1")
    lm = _load(model, tokenizer, tolerance, start)
    table = titled_table(f"after {data[-60:]!r}" if data else "at the start of a text")
    table.add_column("next")
    table.add_column("probability", justify="right")
    if show_bytes:
        probs, bound = lm.next_byte_probs(data, return_bound=True)
        for index in probs.argsort()[::-1][:top]:
            table.add_row("<end>" if index == 256 else f"0x{index:02x} {bytes([index])!r}", f"{probs[index]:.4f}")
    else:
        chars, bound = lm.next_characters(data, top=top, return_bound=True)
        for char, prob in chars:
            table.add_row(repr(char) if char else "<end>", f"{prob:.4f}")
    out.print(table)
    out.print(f"[dim]certified bound: every probability within {bound:.1e} of the exact one[/dim]", soft_wrap=True)


@bytes_app.command("score")
def score_command(
    model: str = typer.Argument(..., help=MODEL_HELP),
    text: str | None = typer.Argument(None, help="Text to score (or use --file)."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Score the bytes of this file."),
    prompt: str = typer.Option("", help="Condition on this prompt (not scored)."),
    per_byte: bool = typer.Option(
        False, "--per-byte",
        help="Also the normalised next-byte probability of every byte (their bits per byte): a cover state "
             "at nearly every byte, about four times the model work of the text's probability alone."),
    tokenizer: str | None = typer.Option(None, help=TOKENIZER_HELP),
    tolerance: float | None = typer.Option(None, help=TOLERANCE_HELP, show_default=False),
    start: str | None = typer.Option(None, "--start", help=START_HELP, show_default=False),
    quiet: bool = QuietOpt,
) -> None:
    """Byte-level log-probability and bits per byte of a text, exact up to a certified bound.

    The text's probability is the chance that the model's bytes start with it (the cover sum).

    It sums the tokenizer's encodings of the text's prefixes, each followed by any token that finishes the text.

    It costs about one forward over the text's tokens.

    A text longer than the model's context is scored in windows of whole tokens, each conditioned on the token before it, as tokwork eval does.
    """
    data = _text_input(text, file)
    from tokwork.bytelevel import TextScore

    lm = _load(model, tokenizer, tolerance, start)
    with byte_progress("scoring", len(data), enabled=not quiet) as advance:  # window by window, for a text longer than the context
        scores = lm.score(data, prompt=prompt.encode("utf-8"), progress=advance) if per_byte else None
        whole = lm.score_text(data, prompt=prompt.encode("utf-8"), progress=advance) if scores is None else TextScore(
            scores.logprob, scores.logprob_bound, len(data), scores.stats)  # score holds the text's probability too
    table = Table(show_header=False)
    table.add_row("bytes", f"{len(data):,}")
    table.add_row("bits per byte", f"{whole.bits_per_byte:.4f} ± {whole.bits_per_byte_bound:.1e} "
                  "(the text's probability)")
    table.add_row("log P (cover sum)", f"{whole.logprob:.3f} ± {whole.bound:.1e} nats")
    stats, bound = whole.stats, whole.bound
    if scores is not None:
        table.add_row("bits per byte, per byte", f"{scores.bits_per_byte:.4f} ± {scores.bits_per_byte_bound:.1e} "
                      "(normalised next-byte probabilities)")
        bound = max(bound, scores.bound)
    table.add_row("certified bound", f"{bound:.1e} nats (tolerance {lm.tolerance:g})")
    table.add_row("model forwards", f"{stats['forward_calls']} ({stats['positions_run']:,} positions)")
    if stats.get("windows", 1) > 1:
        table.add_row("windows", f"{stats['windows']} (the text is longer than the model's {lm.context_length:,} "
                      "positions: each window after the first is conditioned on the token before it only)")
    table.add_row("cover states", f"{stats['states_evaluated']:,} of {stats['states']:,} evaluated")
    table.add_row("time", f"{stats['seconds']:.1f} s")
    out.print(table)


@bytes_app.command("generate")
def generate_command(
    model: str = typer.Argument(..., help=MODEL_HELP),
    prompt: str = typer.Argument(..., help="Prompt to continue (may end mid-word)."),
    max_bytes: int = typer.Option(200, "--max-bytes", "-n", help="Most bytes to generate."),
    greedy: bool = typer.Option(False, help="Take the most probable byte each time (exact: the byte full "
                                "evaluation would pick; the tolerance does not apply)."),
    temperature: float = typer.Option(1.0, help="Reshape the exact distribution (1 = exact, lazy sampling)."),
    top_k: int = typer.Option(0, "--top-k", min=0, help="Sample among the k most probable bytes (0 = all)."),
    seed: int = typer.Option(0, min=0, max=SEED_LIMIT, help="Random seed."),
    output_format: str = typer.Option("text", "--format", help="text (must be UTF-8) or hex."),
    hex_prompt: bool = typer.Option(False, "--hex", help="The prompt is hex bytes."),
    tokenizer: str | None = typer.Option(None, help=TOKENIZER_HELP),
    tolerance: float | None = typer.Option(None, help=TOLERANCE_HELP + " Plain sampling stays exact.",
                                           show_default=False),
    start: str | None = typer.Option(None, "--start", help=START_HELP, show_default=False),
    lookahead: int = typer.Option(3, min=0, help="Most predicted tokens whose cover states each forward also runs, "
                                  "so that the text finds them run (0 = none; more trades positions, cheap on "
                                  "a GPU, for fewer forwards). Never changes the distribution."),
    quiet: bool = QuietOpt,
) -> None:
    """Generate bytes after a prompt at the byte level: exact sampling, exact greedy decoding, or sampling
    reshaped by temperature / top-k up to a certified bound."""
    if output_format not in ("text", "hex"):
        raise TokworkError(f"unknown --format '{output_format}'; choose text or hex")
    if max_bytes < 1:
        raise TokworkError(f"--max-bytes {max_bytes} must be at least 1")
    if temperature <= 0:
        raise TokworkError(f"--temperature {temperature} must be positive (--greedy takes the most probable byte)")
    if greedy and (temperature != 1.0 or top_k):
        raise TokworkError("--greedy takes the most probable byte; --temperature and --top-k reshape sampling, "
                           "so give one or the other")
    lm = _load(model, tokenizer, tolerance, start)
    with byte_progress("generating", max_bytes, enabled=not quiet) as advance:
        result = lm.generate(_prompt(prompt, hex_prompt), max_bytes, greedy=greedy, temperature=temperature,
                             top_k=top_k, seed=seed, lookahead=lookahead, progress=advance)
    if output_format == "hex":
        print(result.data.hex())
    else:
        try:
            print(result.data.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise TokworkError(f"the generated bytes are not UTF-8 text (byte {error.start} of {len(result.data)} "
                               "ends inside a character); pass --format hex or change --max-bytes") from None
    err.print(f"[dim]{len(result.data)} bytes, {result.forward_calls} model forwards "
              f"({result.forwards_per_byte:.2f} per byte), {result.seconds:.1f} s, certified bound "
              f"{result.bound:.1e} on each next-byte probability[/dim]", soft_wrap=True)
    if result.context_full:
        err.print(f"[yellow]stopped after {len(result.data):,} bytes: the model's context is full "
                  f"({lm.context_length:,} positions)[/yellow]", soft_wrap=True)


@bytes_app.command("ensemble")
def ensemble_command(
    models: list[str] = typer.Argument(..., help="Two or more model folders (any tokenizers), or 'smollm2'."),
    text: str | None = typer.Option(None, "--text", help="Text to score."),
    file: Path | None = typer.Option(None, "--file", "-f", help="File to score."),
    next_prompt: str | None = typer.Option(None, "--next", help="Show the ensemble's next bytes after this prompt "
                                           "instead (\"\": how texts begin)."),
    quiet: bool = QuietOpt,
) -> None:
    """Mean of the members' next-byte distributions: bits per byte of each member and of the ensemble."""
    from tokwork.bytelevel.ensemble import ByteEnsemble

    if next_prompt is not None and (text is not None or file is not None):
        raise TokworkError("--next shows the next bytes after a prompt; give it without --text or --file")
    data = None if next_prompt is not None else _text_input(text, file, text_given_as="--text")
    ensemble = ByteEnsemble([_load(m, None) for m in models])
    if next_prompt is not None:  # "" gives how texts begin
        probs = ensemble.next_byte_probs(next_prompt.encode("utf-8"))
        table = titled_table("ensemble next bytes")
        table.add_column("next")
        table.add_column("probability", justify="right")
        for index in probs.argsort()[::-1][:10]:
            table.add_row("<end>" if index == 256 else f"0x{index:02x} {bytes([index])!r}", f"{probs[index]:.4f}")
        out.print(table)
        return
    with byte_progress("scoring", len(data) * len(models), enabled=not quiet) as advance:  # member after member
        scores = ensemble.score(data, progress=advance)
    table = titled_table(f"bits per byte on {len(data):,} bytes")
    table.add_column("model", overflow="fold")  # a model's path in full, wrapped, never cut short
    table.add_column("bits per byte", justify="right")
    for name, bpb in zip(models, scores.member_bits_per_byte, strict=True):
        table.add_row(name, f"{bpb:.4f}")
    table.add_row("ensemble (mean)", f"{scores.bits_per_byte:.4f}")
    out.print(table)
