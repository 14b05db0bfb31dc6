"""Cost of one training step on a CPU, `tokwork distill` and the hypernetwork's: tokwork's setup against
the plain one.

The plain setup is what a user's own PyTorch loop gets by default and what tokwork ran before: the model's
default attention (torch's fused scaled-dot-product kernel), each text in its own row padded to the
longest and, for distillation, `torch.optim.Adam` updating one tensor at a time. tokwork trains with eager
attention on a CPU, packs a batch's texts into rows (`tokwork.transplant.distill.packing`) and, for
distillation, uses Adam's fused update (`tokwork.transplant.devices`); its packed batch is one row whose
texts are attended one at a time (`tokwork.transplant.segment_attention`); its distillation loop keeps
the memory a step frees in the process for the next step (`tokwork.allocator`). Three more setups show
what each part is worth: `unpacked`, tokwork's without the packing, `rows`, packed into rows of a length chosen
by the packing's cost model under a block-diagonal mask (tokwork's packing before segment attention), and
`default-malloc`, tokwork's with glibc's default allocation (each step faults its large buffers in anew);
for the hypernetwork, whose loop keeps glibc's default, `kept-memory` is its setup with the memory kept;
`float32` is tokwork's setup with bfloat16 autocast off (both loops ask for it, and get it where the CPU has
bfloat16 units: `tokwork.transplant.devices`; elsewhere the two setups are the same). Distillation: SmolLM2-135M-Instruct into its zero-shot hybrid
transplant onto GPT-2's vocabulary (the student of benchmarks/distill.py), `lm` and `alm+lm`. Hypernetwork:
its training step on SmolLM2 (`benchmarks/hypernet.py`'s shape, language-modelling steps). Batches of the
en-docs training split, 2 torch threads; the setups run in turns, each from freshly loaded weights, one
warm-up step then `--steps` timed steps, `--rounds` times. Figures: median CPU seconds a step (process
time over the 2 threads, as benchmarks/distill.py counts minutes), the ratios tokwork / plain, tokwork /
unpacked, tokwork / rows, tokwork / default-malloc (and / kept-memory) of the medians, and each round's own ratios (a round runs the setups one right
after the other, so its ratio is less moved by the machine's drift between rounds). Results: results/training_step.json (`--losses` to time fewer kinds of step;
their figures are merged into the file's). The machine's CPU is recorded: these seconds depend on it.

    .venv/bin/python benchmarks/training_step.py [--steps 6] [--rounds 2] [--losses lm alm+lm alm hypernet]
                                                 [--setups plain unpacked rows default-malloc tokwork]
    .venv/bin/python benchmarks/training_step.py --check-packing 30   # padding, packed positions, agreement
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import distill as bench
import torch
from machine import cpu_model
from results_file import write_results

from tokwork.cache import cache_root
from tokwork.transplant.devices import cpu_has_bfloat16_units

RESULTS = Path(__file__).parent / "results" / "training_step.json"
CORPUS = cache_root() / "corpora" / "en-docs" / "train.txt"
THREADS = 2


def _memory_of(setup: str):
    """tokwork's distillation keeps freed memory in the process (`tokwork.allocator`); the plain setup and
    `default-malloc` (tokwork's setup with glibc's default allocation) do not."""
    from tokwork.allocator import reuse_freed_memory

    return nullcontext() if setup in ("plain", "default-malloc") else reuse_freed_memory()


def timed_steps(loss: str, setup: str, steps: int) -> float:
    """CPU seconds per distillation step (over THREADS threads) of `steps` steps after one warm-up step."""
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.distiller import Distiller, new_row_ids

    teacher = load_checkpoint(cache_root() / "models" / "smollm2-135m-instruct")
    student = load_checkpoint(bench.zero_shot_student(teacher.path, "gpt2"))
    config = DistillConfig(loss=loss, train="all", steps=steps + 1,
                           pack=setup in ("tokwork", "rows", "default-malloc", "float32"),
                           segment_attention=setup in ("tokwork", "default-malloc", "float32"),
                           bf16=setup != "float32")
    distiller = Distiller(teacher, student, config, torch.device("cpu"), new_row_ids(teacher, student), [CORPUS])
    if setup == "plain":
        for model in (distiller.teacher, distiller.student):
            model.set_attn_implementation("sdpa")
        distiller.optimizer = torch.optim.Adam(distiller.parameters, lr=config.peak_learning_rate)
    with _memory_of(setup):
        distiller.step(0)
        started = time.process_time()
        for step in range(1, steps + 1):
            distiller.step(step)
        return (time.process_time() - started) / THREADS / steps


def packing_check(batches: int, compared: int) -> dict:
    """Over the first `batches` batches of the stream (the batches of a `batches`-step run): the share of a
    padded batch's positions that are padding, and packed positions and estimated cost (`packing.row_cost`)
    against padded ones, per model; over the first `compared` of them, the largest difference (nats)
    between a chunk's log-likelihood scored packed and padded (no training)."""
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.distiller import scored_chunks
    from tokwork.transplant.distill.packing import row_cost
    from tokwork.transplant.distill.texts import make_batch, training_texts

    teacher = load_checkpoint(cache_root() / "models" / "smollm2-135m-instruct")
    student = load_checkpoint(bench.zero_shot_student(teacher.path, "gpt2"))
    config = DistillConfig()
    texts = training_texts([CORPUS], text_chars=config.text_chars, seed=config.seed)
    sums = {name: {"real": 0, "padded": 0, "packed": 0, "padded_cost": 0.0, "packed_cost": 0.0}
            for name in ("teacher", "student")}
    largest = {"teacher": 0.0, "student": 0.0}
    for index in range(batches):
        chunk = [next(texts) for _ in range(config.batch_size)]
        padded, packed = (make_batch(chunk, teacher.tokenizer, student.tokenizer, pack=pack) for pack in (False, True))
        for name, checkpoint in (("teacher", teacher), ("student", student)):
            one, many = getattr(padded, name), getattr(packed, name)
            sums[name]["real"] += int(one.mask.sum()) + one.ids.shape[0]  # targets + each text's first token
            sums[name]["padded"] += one.ids.numel()
            sums[name]["packed"] += many.ids.numel()
            sums[name]["padded_cost"] += row_cost(*one.ids.shape)
            sums[name]["packed_cost"] += row_cost(*many.ids.shape)
            if index < compared:
                checkpoint.model.set_attn_implementation("eager")
                with torch.inference_mode():
                    _, a, _, _ = scored_chunks(checkpoint.model, one, padded, bf16=False)
                    _, b, _, _ = scored_chunks(checkpoint.model, many, packed, bf16=False)
                largest[name] = max(largest[name], float((a - b).abs().max()))
    return {"batches": batches, "compared_batches": compared, "largest_difference_nats": largest,
            **{name: {"padding_share": round(1 - v["real"] / v["padded"], 4),
                      "packed_to_padded_positions": round(v["packed"] / v["padded"], 4),
                      "packed_to_padded_estimated_cost": round(v["packed_cost"] / v["padded_cost"], 4)}
               for name, v in sums.items()}}


def timed_hypernet_steps(setup: str, steps: int) -> float:
    """CPU seconds per hypernetwork step (language-modelling steps, no warm-up ones)."""
    from tokwork.allocator import reuse_freed_memory
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.hypernet.model import HypernetConfig, Hypernetwork
    from tokwork.transplant.hypernet.training import (
        SourceInfo,
        Trainer,
        TrainingConfig,
        TrainingText,
        new_optimizer,
        train_step,
    )

    checkpoint = load_checkpoint(cache_root() / "models" / "smollm2-135m-instruct")
    config = TrainingConfig(steps=steps + 1, warmup_steps=0, bf16=setup != "float32")
    text = TrainingText.read([CORPUS], max_bytes=config.max_corpus_bytes)
    info = SourceInfo.of(checkpoint.tokenizer, checkpoint.input_embeddings(), checkpoint.output_embeddings())
    torch.manual_seed(config.seed)
    hypernet = Hypernetwork(HypernetConfig(hidden_size=info.hidden_size, tied=info.tied))
    hypernet.train()
    optimizer = new_optimizer(hypernet, config)
    trainer = Trainer(checkpoint, text, hypernet, config, torch.device("cpu"))
    hypernet.set_scales(trainer.matrices)
    if setup == "plain":
        trainer.model.set_attn_implementation("sdpa")

    # the hypernetwork's loop keeps glibc's default allocation; `kept-memory` shows what keeping it would do
    with reuse_freed_memory() if setup == "kept-memory" else nullcontext():
        train_step(trainer, optimizer, 0)
        started = time.process_time()
        for index in range(1, steps + 1):
            train_step(trainer, optimizer, index)
        return (time.process_time() - started) / THREADS / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--losses", nargs="+", default=["lm", "alm+lm", "hypernet"],
                        choices=["lm", "alm+lm", "alm", "hypernet"])
    parser.add_argument("--setups", nargs="+", default=["plain", "unpacked", "rows", "default-malloc", "tokwork"],
                        choices=["plain", "unpacked", "rows", "default-malloc", "kept-memory", "float32", "tokwork"],
                        help="the distillation setups to time (the hypernetwork's: plain, kept-memory and tokwork)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file to merge the figures into")
    parser.add_argument("--check-packing", type=int, metavar="BATCHES", default=0,
                        help="instead of timing: padding, packed positions and cost over this many batches, and "
                             "packed against padded chunk log-likelihoods over the first --compare-batches")
    parser.add_argument("--compare-batches", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if args.check_packing:
        check = packing_check(args.check_packing, min(args.compare_batches, args.check_packing))
        for name in ("teacher", "student"):
            print(f"{name}: padding {check[name]['padding_share']:.1%} of padded positions; packed/padded positions "
                  f"{check[name]['packed_to_padded_positions']:.3f}, estimated cost "
                  f"{check[name]['packed_to_padded_estimated_cost']:.3f}; largest log-likelihood difference over "
                  f"{check['compared_batches']} batches {check['largest_difference_nats'][name]:.2e} nats")
        report = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
        report.pop("packing_agreement", None)
        report["packing_check"] = check
        write_results(RESULTS, report, indent=2)
        return
    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for loss in args.losses:
            hypernet_setups = ("plain", "kept-memory", "float32", "tokwork")
            setups = [s for s in args.setups
                      if (s in hypernet_setups if loss == "hypernet" else s != "kept-memory")]
            for setup in setups:
                seconds = (timed_hypernet_steps(setup, args.steps) if loss == "hypernet"
                           else timed_steps(loss, setup, args.steps))
                runs.setdefault(loss, {}).setdefault(setup, []).append(seconds)
                print(f"{loss:7} {setup:8} {seconds:.2f} CPU s a step", flush=True)
    report = json.loads(args.output.read_text(encoding="utf-8")) if args.output.is_file() else {}
    report.update({"benchmark": "training_step", "threads": THREADS, "torch": torch.__version__})
    for key in ("runs", "settings", "median_seconds", "ratio_tokwork_to_plain", "ratio_tokwork_to_unpacked",
                "ratio_tokwork_to_rows", "ratio_tokwork_to_default-malloc", "ratio_tokwork_to_kept-memory",
                "ratio_tokwork_to_float32"):
        report.setdefault(key, {})
    for loss, setups in runs.items():
        median = {setup: statistics.median(values) for setup, values in setups.items()}
        report["runs"][loss] = setups
        report["settings"][loss] = {"steps": args.steps, "rounds": args.rounds, "cpu": cpu_model(),
                                    "bfloat16_units": cpu_has_bfloat16_units()}
        report["median_seconds"][loss] = median
        line = f"{loss}: " + ", ".join(f"{setup} {value:.2f} s" for setup, value in median.items()) + " a step"
        for peer in ("plain", "unpacked", "rows", "default-malloc", "kept-memory", "float32"):
            report[f"ratio_tokwork_to_{peer}"].pop(loss, None)  # no ratio left from an earlier run's setups
            report.setdefault(f"round_ratios_tokwork_to_{peer}", {}).pop(loss, None)
            if "tokwork" in median and peer in median:
                report[f"ratio_tokwork_to_{peer}"][loss] = median["tokwork"] / median[peer]
                # each round runs the setups one right after the other: its ratio cancels the machine's drift
                rounds = [a / b for a, b in zip(setups["tokwork"], setups[peer], strict=True)]
                report[f"round_ratios_tokwork_to_{peer}"][loss] = rounds
                line += (f"; tokwork / {peer} {median['tokwork'] / median[peer]:.2f}x "
                         f"(rounds: {', '.join(f'{r:.2f}' for r in rounds)})")
        print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.output, report, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
