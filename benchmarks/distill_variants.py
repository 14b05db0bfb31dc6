"""Short runs of `tokwork distill` variants on SmolLM2 -> GPT-2's vocabulary, scored at equal steps.

A quick look before a long benchmarks/distill.py run: one variant per call (its loss parts, ALM's chunks
and difference, the hidden-state layers, the learning rate, the batch size, the balance of the parts), trained from the zero-shot hybrid student of
benchmarks/distill.py on the en-docs training split with 2 threads, and scored on the same held-out
English (pooled bits per byte) after each of `--steps`. Each row is appended to
results/distill_variants.jsonl and printed.

    .venv/bin/python benchmarks/distill_variants.py alm-space --loss alm --chunks space --steps 20 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import distill as bench
import torch

from tokwork.cache import cache_root

RESULTS = Path(__file__).parent / "results" / "distill_variants.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the row's name (and its folder under build/bench/distill-variants)")
    parser.add_argument("--loss", default="alm")
    parser.add_argument("--chunks", default="token", help="--alm-chunks")
    parser.add_argument("--layers", default="last", help="--latent-layers")
    parser.add_argument("--lw", type=float, default=1.0, help="--latent-weight")
    parser.add_argument("--sw", type=float, default=1.0, help="--side-weight")
    parser.add_argument("--side-outcomes", default="shared", help="--side-outcomes")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--temp", type=float, default=100.0)
    parser.add_argument("--balance", default="fixed", help="--balance")
    parser.add_argument("--diff", default="binary-kl", help="--alm-diff")
    parser.add_argument("--schedule", default="constant", help="--schedule (linear: decays to 0 at the one step count --steps gives)")
    parser.add_argument("--new-rows-rate", type=float, default=1.0,
                        help="the learning rate of the rows the transplant made up, as a multiple of the rest's")
    parser.add_argument("--batch-size", type=int, default=8, help="texts a step (--batch-size)")
    parser.add_argument("--float32", action="store_true",
                        help="no bfloat16 autocast (which tokwork uses where the CPU has bfloat16 units)")
    parser.add_argument("--rescore", action="store_true",
                        help="train nothing: score the row's folder as it stands on every held-out text of "
                             "benchmarks/distill.py (the English ones and the two other UDHR languages)")
    parser.add_argument("--resume", action="store_true", help="go on from the row's folder (resumption is exact)")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--target", default="gpt2", choices=["gpt2", "bpe32k-en", "self"],
                        help="the student's vocabulary; self: the teacher itself is trained (with --loss lm, "
                             "how much of the next-token loss's gain is the training domain, not the transfer)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    if args.schedule == "linear" and len(args.steps) > 1:
        parser.error("--schedule linear is planned over one run: give one step count")
    torch.set_num_threads(2)
    from transformers.utils import logging as transformers_logging

    from tokwork.transplant.devices import uses_bfloat16
    from tokwork.transplant.distill.config import DistillConfig
    from tokwork.transplant.distill.training import distill

    transformers_logging.disable_progress_bar()
    teacher = cache_root() / "models" / "smollm2-135m-instruct"
    student = teacher if args.target == "self" else bench.zero_shot_student(teacher, args.target)
    corpus = cache_root() / "corpora" / "en-docs" / "train.txt"
    texts = {k: v for k, v in bench.heldout_texts().items() if k in bench.ENGLISH}
    out = bench.REPO / "build" / "bench" / "distill-variants" / args.name
    if args.rescore:
        from tokwork.transplant.distill.state import read_distill_card

        card = read_distill_card(out)
        _write({"name": args.name, "step": card.step, "batch_size": card.training["batch_size"],
                "rescored": True, **bench.score(out, bench.heldout_texts())})
        return
    fresh = not args.resume
    for steps in args.steps:
        config = DistillConfig(loss=args.loss, train="all", steps=steps, save_every=10_000, learning_rate=args.lr,
                               latent_layers=args.layers, latent_weight=args.lw, side_weight=args.sw, temperature=args.temp,
                               side_outcomes=args.side_outcomes,
                               alm_chunks=args.chunks, balance=args.balance,
                               alm_diff=args.diff, schedule=args.schedule, batch_size=args.batch_size,
                               new_rows_rate=args.new_rows_rate, bf16=not args.float32)
        card = distill(teacher, student, [corpus], out, config=config, fresh=fresh, progress=False)
        fresh = False
        row = {"name": args.name, "step": card.step, "batch_size": args.batch_size,
               **({"new_rows_rate": args.new_rows_rate} if args.new_rows_rate != 1.0 else {}), "cpu_min": round(card.cpu_seconds / 120, 2),
               "wall_min": round(card.seconds / 60, 2),
               "bfloat16": uses_bfloat16(config.bf16, "cpu"), **bench.score(out, texts), "loss": card.history[-1]}
        _write(row)


def _write(row: dict) -> None:
    print(json.dumps(row), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
