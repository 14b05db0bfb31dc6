"""`tokwork transplant SOURCE TARGET -o OUT --method NAME`: put a new vocabulary onto a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tokwork.cli.console import err, out
from tokwork.cli.options import REFERENCE_NAMES, SEED_LIMIT, CheckpointActivationsOpt, QuietOpt


def list_methods_callback(value: bool) -> None:
    """Print the registered methods (name, donor, summary) and stop."""
    if not value:
        return
    from tokwork.transplant.registry import load_methods

    table = Table("method", "donor", "options", "what")
    for info in load_methods().values():
        options = ", ".join(f"{n}={v}" for n, v in info.options.items())
        table.add_row(info.name, "yes" if info.needs_donor else "", options, info.summary)
    out.print(table)
    raise typer.Exit(0)


def transplant_command(
    source: Path = typer.Argument(..., help="Source model: an HF folder (config.json + safetensors + tokenizer), "
                                  "or 'smollm2'.", show_default=False),
    target: Path = typer.Argument(..., help=f"Target tokenizer: tokenizer.json or a folder with one, "
                                  f"{REFERENCE_NAMES}.",
                                  show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (written atomically).",
                                show_default=False),
    method: str = typer.Option("omp", "--method", "-m",
                               help="How new rows are made; `tokwork transplant --list-methods` lists them."),
    donor: str = typer.Option("minilm", "--donor",
                              help="Donor space for omp/hybrid: minilm, source, or a model folder with the "
                                   "target's vocabulary."),
    k: int | None = typer.Option(None, "--k", "-k", help="omp: atoms per token (64); hybrid: neighbours (3)."),
    mix: float | None = typer.Option(None, "--mix", help="hybrid: weight λ of the global part (0.3)."),
    temperature: float | None = typer.Option(None, "--temperature", help="hybrid: softmax temperature (0.3)."),
    calibrate: float | None = typer.Option(None, "--calibrate",
                                           help="omp/hybrid (0.5), subword-mean (0): how far to move new tokens' "
                                                "logit level to the source model's (0 off, 1 all the way)."),
    seed: int | None = typer.Option(None, "--seed", min=0, max=SEED_LIMIT, help="random: seed of the draw (0)."),
    hypernet: str | None = typer.Option(None, "--hypernet", help="hypernet: the folder `tokwork hypernet train` "
                                        "wrote."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle",
                                      help="Load pickle weights (pytorch_model.bin); they can run code."),
    distill_steps: int | None = typer.Option(None, "--distill-steps", help="Then heal the result: distill it from "
                                             "SOURCE for this many steps on --corpus (as `tokwork distill` with "
                                             "its defaults); OUT is the distilled model."),
    corpus: list[str] | None = typer.Option(None, "--corpus", "-c", help="With --distill-steps: training text "
                                            "(files, folders, .jsonl or .gz; repeat for several).",
                                            show_default=False),
    heldout: list[str] | None = typer.Option(None, "--heldout", help="With --distill-steps: text never trained "
                                             "on, scored in bits per byte during the distillation (see `tokwork "
                                             "distill --help`).", show_default=False),
    checkpoint_activations: bool = CheckpointActivationsOpt,
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    quiet: bool = QuietOpt,
    list_methods: bool = typer.Option(False, "--list-methods", help="List the methods and exit.",
                                      callback=list_methods_callback, is_eager=True),
    text_field: str = typer.Option("text", "--text-field", help="With --distill-steps: the field holding the "
                                   "text in .jsonl records of --corpus."),
) -> None:
    """Transplant the TARGET tokenizer onto the SOURCE checkpoint; matched rows are copied exactly."""
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.pipeline import transplant_vocabulary

    transformers_logging.disable_progress_bar()
    given = {"k": k, "mix": mix, "temperature": temperature, "calibrate": calibrate, "seed": seed,
             "hypernet": hypernet}
    options = {name: value for name, value in given.items() if value is not None}
    if distill_steps is not None or corpus or heldout or checkpoint_activations:
        _transplant_and_distill(source, target, output, method=method, options=options, donor=donor,
                                steps=distill_steps, corpus=corpus, heldout=heldout, allow_pickle=allow_pickle,
                                force=force, quiet=quiet, checkpoint_activations=checkpoint_activations,
                                text_field=text_field)
        return
    result = transplant_vocabulary(source, target, output, method=method, options=options, donor=donor,
                                   allow_pickle=allow_pickle, force=force, progress=not quiet)
    report = result.report
    table = Table(show_header=False, box=None)
    table.add_row("method", method + (f" ({', '.join(f'{n}={v}' for n, v in options.items())})" if options else ""))
    table.add_row("target vocab", f"{report.target_vocab:,}")
    table.add_row("matched", f"{report.exact:,} exact, {report.bytes:,} by bytes, {report.special:,} special")
    table.add_row("new", f"{report.new:,}" + (f"  e.g. {' '.join(report.new_examples[:5])}" if report.new else ""))
    if report.padding_rows:
        table.add_row("padding rows", f"{report.padding_rows:,} kept")
    card = result.card
    moved = {t: s for t, s in card.specials.items() if s and s != t}
    if moved:
        table.add_row("specials", ", ".join(f"{t} has the row of {s}" for t, s in moved.items()))
    if card.chat_template:
        table.add_row("chat template", card.chat_template)
    if card.dtype != "float32":
        table.add_row("weights", f"{card.dtype}, as the source stores them")
    table.add_row("time", f"{result.method_seconds:.1f} s method, {result.seconds:.1f} s in all")
    table.add_row("written to", str(result.output))
    out.print(table)


def _transplant_and_distill(source: Path, target: Path, output: Path, *, method: str, options: dict, donor: str,
                            steps: int | None, corpus: list[str] | None, heldout: list[str] | None,
                            allow_pickle: bool, force: bool, quiet: bool, checkpoint_activations: bool,
                            text_field: str) -> None:
    from tokwork.cli.distill import heldout_row
    from tokwork.errors import ParameterError
    from tokwork.transplant.distill.chain import transplant_and_distill
    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.heldout import read_heldout

    if steps is None or not corpus:
        raise ParameterError("--distill-steps and --corpus go together: give both to distill after the "
                             "transplant, or neither" + (" (--heldout is scored during that distillation)"
                                                         if heldout else "")
                             + (" (--checkpoint-activations is for that distillation)"
                                if checkpoint_activations else ""))
    texts = read_heldout(heldout, corpus) if heldout else None
    config = DistillConfig(steps=steps, checkpoint_activations=checkpoint_activations, text_field=text_field)
    card = transplant_and_distill(source, target, output, corpus=corpus, config=config,
                                  method=method, options=options, donor=donor, allow_pickle=allow_pickle,
                                  force=force, progress=not quiet, heldout=texts)
    made = card.transplant or {}
    if made and (made.get("method"), made.get("target")) != (method, str(target)):
        err.print(f"note: {output} holds a distillation of the transplant onto {made.get('target')} by "
                  f"{made.get('method')}, which this run resumed; to transplant anew, give another output "
                  "folder or delete this one", soft_wrap=True, markup=False)
    last = card.history[-1] if card.history else {}
    table = Table(show_header=False, box=None)
    table.add_row("method", made.get("method", method))
    table.add_row("new rows", f"{card.new_rows:,}")
    table.add_row("distilled", f"{card.step:,} steps ({card.training['loss']}, trains {card.training['train']}); "
                  f"last loss " + (", ".join(f"{k} {last[k]:.4f}" for k in ("alm", "lm") if k in last) or "-"))
    heldout_row(table, card)
    table.add_row("time", f"{card.seconds:.1f} s distilling on {card.device}")
    table.add_row("written to", str(output))
    out.print(table)
