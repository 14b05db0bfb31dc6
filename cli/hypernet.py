"""`tokwork hypernet train SOURCE --corpus ... -o DIR`: train a ZeTT hypernetwork for a source model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import err, out
from tokwork.cli.options import SEED_LIMIT, Float32Opt, TextFieldOpt, TrainingCorpusOpt
from tokwork.cli.resumed import note_settings_kept
from tokwork.errors import ParameterError

hypernet_app = typer.Typer(help="Zero-shot tokenizer-transfer hypernetworks (ZeTT) for `transplant --method "
                                "hypernet`.", no_args_is_help=True)


def parse_range(text: str, *, name: str) -> tuple[int, int]:
    """`MIN-MAX` (or one number) as a pair of integers; `ParameterError` for anything else."""
    low, _, high = text.partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        raise ParameterError(f"{name} '{text}' is not a range MIN-MAX of whole numbers") from None
    return pair


# options a resumed run takes from its card instead, named as the card's fields (width, layers: its shape)
RESUMED_SETTINGS = ("warmup_steps", "batch_size", "sequence_length", "new_tokens", "vocab_sizes", "learning_rate",
                    "lm_learning_rate", "seed", "save_every", "width", "layers")


@hypernet_app.command("train")
def train_command(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="Source model: an HF folder (config.json + safetensors + tokenizer).",
                                  show_default=False),
    corpus: list[str] = TrainingCorpusOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Hypernetwork folder; an existing one for this "
                                "source is resumed.", show_default=False),
    steps: int = typer.Option(1000, "--steps", help="Training steps in all (warm-up included); sets the "
                              "learning-rate schedule."),
    warmup_steps: int = typer.Option(100, "--warmup-steps", help="Identity/MIMICK warm-up steps first."),
    batch_size: int = typer.Option(4, "--batch-size", help="Text windows per step."),
    sequence_length: int = typer.Option(128, "--sequence-length", help="Tokens per window."),
    new_tokens: int = typer.Option(2048, "--new-tokens", help="New tokens in each step's vocabulary."),
    vocab_sizes: str = typer.Option("8000-48000", "--vocab-sizes", help="Vocabulary sizes of the sampled "
                                    "tokenizers, MIN-MAX."),
    learning_rate: float = typer.Option(1e-3, "--lr", help="Peak learning rate of the warm-up (AdamW)."),
    lm_learning_rate: float = typer.Option(3e-4, "--lm-lr", help="Peak learning rate of the language-modelling "
                                           "steps."),
    width: int = typer.Option(256, "--width", help="Width of the hypernetwork's transformer."),
    layers: int = typer.Option(2, "--layers", help="Transformer layers of the hypernetwork."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_LIMIT,
                             help="Seed of initialisation and every draw."),
    save_every: int = typer.Option(100, "--save-every", help="Steps between checkpoints."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop (with a checkpoint) after this "
                                             "much training time; run again to go on.", show_default=False),
    device: str = typer.Option("auto", "--device", help="auto (GPU when present), cpu or cuda."),
    float32: bool = Float32Opt,
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming an existing folder."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder that tokwork did not make."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    text_field: str = TextFieldOpt,
) -> None:
    """Train a hypernetwork that predicts the embeddings of new tokens for SOURCE (ZeTT, Minixhofer et al. 2024).

    It reads the rows of the pieces the SOURCE tokenizer cuts a new token into: warm-up on the source vocabulary, then the frozen model's loss on text cut by tokenizers sampled from the corpus.

    A checkpoint is written every --save-every steps; the same command again resumes from the last one.

    Then: tokwork transplant SOURCE TOKENIZER -o OUT --method hypernet --hypernet DIR
    """
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.hypernet.checkpoint import is_hypernet_folder, read_hypernet_card
    from tokwork.transplant.hypernet.training import TrainingConfig, train_hypernet

    transformers_logging.disable_progress_bar()
    if max_minutes is not None and not max_minutes > 0:
        raise ParameterError(f"--max-minutes must be positive, not {max_minutes}")
    if not fresh and is_hypernet_folder(output):
        card = read_hypernet_card(output)
        saved = {**card.training, **card.model, "vocab_sizes": list(card.training.get("vocab_sizes", ()))}
        note_settings_kept(ctx, saved, output, RESUMED_SETTINGS,
                           parsed={"vocab_sizes": list(parse_range(vocab_sizes, name="--vocab-sizes"))})
    config = TrainingConfig(steps=steps, warmup_steps=warmup_steps, batch_size=batch_size,
                            sequence_length=sequence_length, new_tokens=new_tokens, learning_rate=learning_rate,
                            lm_learning_rate=lm_learning_rate, seed=seed, save_every=save_every,
                            vocab_sizes=parse_range(vocab_sizes, name="--vocab-sizes"), bf16=not float32,
                            text_field=text_field)
    config.validate()
    resuming = not fresh and is_hypernet_folder(output)
    warmup_steps = card.training.get("warmup_steps", warmup_steps) if resuming else warmup_steps  # the run's own
    if warmup_steps >= steps:
        err.print(f"note: --warmup-steps {warmup_steps} covers all {steps} steps (they include the warm-up): "
                  "no language-modelling step will run", soft_wrap=True)
    card = train_hypernet(source, corpus, output, config=config, shape={"width": width, "layers": layers},
                          fresh=fresh, force=force, device=device, progress=not quiet,
                          max_seconds=None if max_minutes is None else max_minutes * 60)
    last = card.history[-1] if card.history else {}
    table = Table(show_header=False, box=None)
    table.add_row("steps", f"{card.step:,} of {card.training['steps']:,} ({card.training['warmup_steps']:,} "
                  "warm-up)")
    table.add_row("last loss", ", ".join(f"{k} {last[k]:.3f}" for k in ("lm", "aux") if k in last) or "-")
    table.add_row("time", f"{card.seconds:.1f} s ({card.precision})")
    table.add_row("written to", str(output))
    out.print(table)
