"""`tokwork distill TEACHER STUDENT --corpus ... -o OUT`: heal a transplanted model by self-distillation."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import out
from tokwork.cli.options import (
    SEED_LIMIT,
    CheckpointActivationsOpt,
    DistillBatchOpt,
    DistillTextCharsOpt,
    Float32Opt,
    TextFieldOpt,
    ThreadsOpt,
    TrainingCorpusOpt,
)
from tokwork.cli.resumed import note_inputs_kept, note_settings_kept

# options a resumed run takes from its card instead, named as the card's fields (--float32: bf16 negated)
RESUMED_SETTINGS = ("loss", "train", "batch_size", "text_chars", "learning_rate", "temperature", "seed", "save_every",
                    "alm_chunks", "latent_layers", "latent_weight", "side_weight", "side_outcomes", "balance",
                    "alm_diff", "schedule", "new_rows_rate", "text_field")


def distill_command(
    ctx: typer.Context,
    teacher: str = typer.Argument(..., help="The original model: an HF folder (or smollm2).", show_default=False),
    student: str = typer.Argument(..., help="The transplanted model: an HF folder with the new tokenizer.",
                                  show_default=False),
    corpus: list[str] = TrainingCorpusOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (a plain HF checkpoint); an existing "
                                "distillation there is resumed.", show_default=False),
    steps: int | None = typer.Option(None, "--steps", help="Training steps in all; a resumed run goes on to this "
                                     "many. Default: 200, or as many as --max-minutes buy; "
                                     "a resumed run: its own.", show_default=False),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop (with a checkpoint) after this many "
                                             "minutes; run again to go on. Without --steps the run takes as many "
                                             "steps as the minutes buy; with --schedule linear the rate then falls "
                                             "to 0 when they are spent (the step count is fixed after the warm-up "
                                             "from its pace)."),
    loss: str = typer.Option("alm+lm", "--loss", help="alm (approximate likelihood matching on aligned chunks), "
                             "lm (plain next-token loss, the baseline), latents (the teacher's hidden states "
                             "at chunk ends), side (the teacher's next-token probabilities at chunk ends, over "
                             "the tokens both vocabularies share), or parts joined with + and summed: alm+lm, "
                             "alm+side, ..."),
    alm_chunks: str = typer.Option("token", "--alm-chunks", help="Where ALM's chunks end: token (every offset "
                                   "where both models end a token) or space (only such offsets a space "
                                   "follows, the space's probability included: the same event for both)."),
    latent_layers: str = typer.Option("last", "--latent-layers", help="Hidden states the latents part matches: "
                                      "last (the last layer's) or all (every layer's)."),
    latent_weight: float = typer.Option(1.0, "--latent-weight", help="Weight of the latents part beside others."),
    side_weight: float = typer.Option(1.0, "--side-weight", help="Weight of the side part beside others."),
    side_outcomes: str = typer.Option("shared", "--side-outcomes", help="What the side part compares: shared (the "
                                      "tokens both vocabularies spell and extend alike, the rest as one outcome) or "
                                      "first-pieces (every token, each teacher token counted on the student's first "
                                      "piece of it, so a short piece learns the mass of the longer tokens it begins)."),
    balance: str = typer.Option("fixed", "--balance", help="How the parts of a summed loss are weighed: fixed "
                                "(1, or --latent-weight, --side-weight) or gradient (each step, weights that give every part "
                                "the same gradient norm at the student's last hidden state)."),
    train: str = typer.Option("all", "--train", help="What learns: all (the whole model; the most BPB per "
                              "CPU-minute in benchmarks/distill.py), new-rows (only the rows the transplant "
                              "made) or embeddings (all embedding rows)."),
    batch_size: int = DistillBatchOpt,
    text_chars: int = DistillTextCharsOpt,
    learning_rate: float | None = typer.Option(None, "--lr", help="Adam's learning rate (default: 1e-3 for "
                                               "embedding rows, 3e-5 for the whole model)."),
    new_rows_rate: float = typer.Option(1.0, "--new-rows-rate", help="With --train all or embeddings: the "
                                        "learning rate of the rows the transplant made up, as a multiple of the "
                                        "rest's (10 with ALM onto GPT-2 was no better at 40 steps; see the README)."),
    schedule: str = typer.Option("constant", "--schedule", help="Learning rate after the warm-up: constant (a run "
                                 "cut short or resumed for more steps stays on one schedule) or linear (falls to "
                                 "0 at --steps, or when --max-minutes are spent, the usual fine-tuning decay; see "
                                 "the README for what it changed here)."),
    temperature: float = typer.Option(100.0, "--temperature", help="ALM's binarisation temperature (binary-kl)."),
    alm_diff: str = typer.Option("binary-kl", "--alm-diff", help="How ALM compares the two chunk log-likelihoods: "
                                 "binary-kl (the paper's binarised form: relative errors), shortfall (the same, "
                                 "only on chunks the student gives less likelihood than the teacher), hinge (the "
                                 "nats the student is below the teacher, 0 where it is not), squared or abs "
                                 "(absolute errors in nats, as bits per byte adds them)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_LIMIT, help="Seed of the text order."),
    save_every: int = typer.Option(50, "--save-every", help="Steps between checkpoints."),
    device: str = typer.Option("auto", "--device", help="auto (GPU when present), cpu or cuda."),
    float32: bool = Float32Opt,
    checkpoint_activations: bool = CheckpointActivationsOpt,
    threads: int | None = ThreadsOpt,
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming an existing folder."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder that tokwork did not make."),
    heldout: list[str] | None = typer.Option(None, "--heldout", help="Text never trained on (files or folders; "
                                             "repeat for several): the teacher is scored on it once, the student at "
                                             "the start, every --eval-every steps and at the end, in bits per byte, "
                                             "into the card and the progress bar. Keep it small (tens of KB): it is "
                                             "scored each time.", show_default=False),
    eval_every: int | None = typer.Option(None, "--eval-every", help="Steps between held-out scores (default: "
                                          "--save-every). Their time is not counted in the run's."),
    best_output: Path | None = typer.Option(None, "--best-output", help="Also keep the student of the best "
                                            "held-out score so far in this folder (a plain HF checkpoint; "
                                            "OUT stays the last step, which a run resumes from).",
                                            show_default=False),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    text_field: str = TextFieldOpt,
) -> None:
    """Distill STUDENT (a transplanted model) from TEACHER (the original) on text, so that it gives the same
    likelihoods to the same text although the two tokenize it differently (Minixhofer et al. 2025).

    The student is trained, the teacher only scores; the same command again resumes from the last checkpoint.

    Then: tokwork eval OUT TEXT...

    For a budget of a few minutes, --lr 1e-4 --schedule linear --max-minutes M went furthest in the README's runs; over 30 minutes the defaults (a constant 3e-5) were level with it.
    """
    import torch
    from transformers.utils import logging as transformers_logging

    from tokwork.errors import ParameterError
    from tokwork.outputs import check_output_directory
    from tokwork.transplant.distill.config import UNPLANNED_STEPS, DistillConfig, run_length
    from tokwork.transplant.distill.heldout import HeldoutTrack, read_heldout
    from tokwork.transplant.distill.state import is_distill_folder, read_distill_card
    from tokwork.transplant.distill.training import distill

    transformers_logging.disable_progress_bar()
    if max_minutes is not None and not max_minutes > 0:
        raise ParameterError(f"--max-minutes must be positive, not {max_minutes}")
    if eval_every is not None and not heldout:
        raise ParameterError("--eval-every needs --heldout: the text to score every that many steps")
    if best_output is not None and not heldout:
        raise ParameterError("--best-output needs --heldout: the text that decides which student is best")
    for folder in (output, best_output):  # held-out files are inputs too, which no output may take
        if folder is not None and heldout:
            check_output_directory(folder, force=True, inputs=heldout)
    texts = read_heldout(heldout, corpus) if heldout else None
    if threads:
        torch.set_num_threads(threads)
    budget = None
    resuming = not fresh and is_distill_folder(output)
    if resuming:
        from tokwork.corpus import expand_corpus_paths

        run = read_distill_card(output)
        note_settings_kept(ctx, run.training, output, RESUMED_SETTINGS)
        note_inputs_kept(output, {"teacher": run.teacher, "student": run.student, "corpus": run.corpus},
                         {"teacher": teacher, "student": student,
                          "corpus": [str(p) for p in expand_corpus_paths(corpus)]})
    if steps is None and resuming:
        saved = run.training  # the same command again goes on to the run's own end
        steps = saved.get("steps") if isinstance(saved, dict) else None
        if steps == UNPLANNED_STEPS and max_minutes is None:
            raise ParameterError(f"the run in '{output}' was limited by time alone (--max-minutes, no --steps); "
                                 "give --max-minutes or --steps to say how much further it goes")
    steps, budget = run_length(steps, schedule, max_minutes)
    config = DistillConfig(loss=loss, train=train, steps=steps, batch_size=batch_size,
                           text_chars=text_chars, learning_rate=learning_rate, temperature=temperature, seed=seed,
                           save_every=save_every, alm_chunks=alm_chunks, latent_layers=latent_layers,
                           latent_weight=latent_weight, side_weight=side_weight, side_outcomes=side_outcomes,
                           balance=balance, alm_diff=alm_diff, schedule=schedule, budget_minutes=budget,
                           new_rows_rate=new_rows_rate, bf16=not float32,
                           checkpoint_activations=checkpoint_activations, text_field=text_field)
    card = distill(teacher, student, corpus, output, config=config, fresh=fresh, force=force, device=device,
                   progress=not quiet, max_seconds=None if max_minutes is None else max_minutes * 60,
                   heldout=texts, eval_every=eval_every, best_output=best_output)
    last = card.history[-1] if card.history else {}
    table = Table(show_header=False, box=None)
    planned, replanned = card.training.get("planned_at"), card.training.get("replanned_at")
    moves = len(card.training.get("plans", [])) - 1  # the first entry is the plan itself
    of = "" if card.training["steps"] == UNPLANNED_STEPS else f" of {card.training['steps']:,}"  # until time ran out
    table.add_row("steps", f"{card.step:,}{of}" + (
        f" (the count {card.training['budget_minutes']:g} minutes buy, fixed at step {planned}"
        + (f", moved with the pace at step {replanned}" if replanned else "")
        + (f" ({moves} moves)" if moves > 1 else "")
        + ")" if planned else ""))
    table.add_row("trained", f"{card.training['train']} ({card.trained_parameters:,} parameters; "
                  f"{card.new_rows:,} new rows)")
    table.add_row("last loss", ", ".join(f"{k} {last[k]:.4f}" for k in ("alm", "latents", "side", "lm") if k in last) or "-")
    heldout_row(table, card)
    table.add_row("time", f"{card.seconds:.1f} s on {card.device} ({card.precision})")
    table.add_row("written to", str(output))
    if best_output is not None and card.heldout and card.heldout["scores"]:
        best = HeldoutTrack.from_json(card.heldout).best
        table.add_row("best", f"step {best['step']:,} ({best['bits_per_byte']:.4f} bits/byte) in {best_output}")
    out.print(table)


def heldout_row(table: Table, card) -> None:
    """The card's last held-out score, if the run has any, as a row of `table`."""
    from tokwork.transplant.distill.heldout import HeldoutTrack, describe

    track = HeldoutTrack.from_json(card.heldout)
    if track is not None and track.scores:
        table.add_row("held-out", describe(track, track.scores[-1]))

