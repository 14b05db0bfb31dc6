"""Cost of one training step on a CPU, `tokwork distill` and the hypernetwork's: tokwork's setup against
the plain one.

The plain setup is what a user's own PyTorch loop gets by default and what tokwork ran before: the model's
default attention (torch's fused scaled-dot-product kernel) and, for distillation, `torch.optim.Adam`
updating one tensor at a time. tokwork trains with eager attention on a CPU and, for distillation, Adam's
fused update (`tokwork.transplant.devices`). Distillation: SmolLM2-135M-Instruct into its zero-shot hybrid
transplant onto GPT-2's vocabulary (the student of benchmarks/distill.py), `lm` and `alm+lm`. Hypernetwork:
its training step on SmolLM2 (`benchmarks/hypernet.py`'s shape, language-modelling steps). Batches of the
en-docs training split, 2 torch threads; the two setups run in turns, each from freshly loaded weights, one
warm-up step then `--steps` timed steps, `--rounds` times. Figures: median CPU seconds a step (process
time over the 2 threads, as benchmarks/distill.py counts minutes) and the ratio tokwork / plain.
Results: results/training_step.json.

    .venv/bin/python benchmarks/training_step.py [--steps 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import distill as bench
import torch

from tokwork.cache import cache_root

RESULTS = Path(__file__).parent / "results" / "training_step.json"
CORPUS = cache_root() / "corpora" / "en-docs" / "train.txt"
THREADS = 2


def timed_steps(loss: str, setup: str, steps: int) -> float:
    """CPU seconds per distillation step (over THREADS threads) of `steps` steps after one warm-up step."""
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.training import Distiller, new_row_ids

    teacher = load_checkpoint(cache_root() / "models" / "smollm2-135m-instruct")
    student = load_checkpoint(bench.zero_shot_student(teacher.path, "gpt2"))
    config = DistillConfig(loss=loss, train="all", steps=steps + 1)
    distiller = Distiller(teacher, student, config, torch.device("cpu"), new_row_ids(teacher, student), [CORPUS])
    if setup == "plain":
        for model in (distiller.teacher, distiller.student):
            model.set_attn_implementation("sdpa")
        distiller.optimizer = torch.optim.Adam(distiller.parameters, lr=config.peak_learning_rate)
    distiller.step(0)
    started = time.process_time()
    for step in range(1, steps + 1):
        distiller.step(step)
    return (time.process_time() - started) / THREADS / steps


def timed_hypernet_steps(setup: str, steps: int) -> float:
    """CPU seconds per hypernetwork step (language-modelling steps, no warm-up ones)."""
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
    config = TrainingConfig(steps=steps + 1, warmup_steps=0)
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

    train_step(trainer, optimizer, 0)
    started = time.process_time()
    for index in range(1, steps + 1):
        train_step(trainer, optimizer, index)
    return (time.process_time() - started) / THREADS / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for loss in ("lm", "alm+lm", "hypernet"):
            for setup in ("plain", "tokwork"):
                seconds = (timed_hypernet_steps(setup, args.steps) if loss == "hypernet"
                           else timed_steps(loss, setup, args.steps))
                runs.setdefault(loss, {}).setdefault(setup, []).append(seconds)
                print(f"{loss:7} {setup:8} {seconds:.2f} CPU s a step", flush=True)
    report = {"benchmark": "training_step", "threads": THREADS, "steps": args.steps, "rounds": args.rounds,
              "torch": torch.__version__, "runs": runs, "median_seconds": {}, "ratio_tokwork_to_plain": {}}
    for loss, setups in runs.items():
        median = {setup: statistics.median(values) for setup, values in setups.items()}
        report["median_seconds"][loss] = median
        report["ratio_tokwork_to_plain"][loss] = median["tokwork"] / median["plain"]
        print(f"{loss}: plain {median['plain']:.2f} s, tokwork {median['tokwork']:.2f} s a step "
              f"({median['tokwork'] / median['plain']:.2f}x)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
