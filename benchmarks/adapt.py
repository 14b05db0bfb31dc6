"""`tokwork adapt` on SmolLM2-135M: does adapting a model to a language pay, per language?

For each language (one per script by default: Cyrillic, Greek, Latin), SmolLM2-135M-Instruct is adapted
with `tokwork.transplant.adapt.pipeline.adapt_model`, the call behind `tokwork adapt`: its tokenizer is extended with
--add tokens learned on the language's train split of the multilingual corpora (corpora/build_multilingual.py),
the model is transplanted onto it (--method, hybrid by default), distilled against the original on the same
text for --distill-minutes of wall time, and scored on the language's held-out split (never trained on) and
on the English held-out docs (corpora/build_english.py): tokens per byte, and bits per byte of the original
model, of the zero-shot transplant and of the distilled model, with the CPU minutes of each step (process
CPU time, from the output's card).

Targets per language (issue 18): at least 30% fewer tokens per byte on the language; bits per byte after
distillation within 2% of the original model's on it (or better); English bits per byte within 1% (or
better). The table says hit or miss for each.

Every language's run lives in build/bench/adapt/<code> (the adapted model; its work area beside it while
it runs). With --resume, a run goes on from its last finished step and a finished one is read back; without
it, each language starts over.

    .venv/bin/python benchmarks/adapt.py            # ~30 min per language on 2 CPUs (15 distilling; a guess)
    .venv/bin/python benchmarks/adapt.py --languages rus --add 200 --distill-minutes 0.5 --heldout-chars 3000 \\
        --method subword-mean --json /tmp/adapt-smoke.json                 # smoke run, a few minutes
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch
from machine import machine_info
from results_file import write_results

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench" / "adapt"
RESULTS = REPO / "benchmarks" / "results" / "adapt.json"
LANGUAGES = {"rus": "Cyrillic", "ell_monotonic": "Greek", "jpn": "Japanese (Han + kana)", "deu_1996": "Latin",
             "khm": "Khmer", "hin": "Devanagari", "arb": "Arabic", "tur": "Latin"}
DEFAULT_LANGUAGES = ("rus", "ell_monotonic", "deu_1996")
ENGLISH = "eng"
TARGET_FEWER_PERCENT = 30.0
TARGET_LANGUAGE_BPB_PERCENT = 2.0
TARGET_ENGLISH_BPB_PERCENT = 1.0


def adapt_language(code: str, args: argparse.Namespace, corpora: Path) -> dict:
    """Adapt SmolLM2 to one language (resuming with --resume) and return its row of the table."""
    from tokwork.transplant.adapt.config import AdaptConfig
    from tokwork.transplant.adapt.pipeline import adapt_model
    from tokwork.transplant.distill.config import UNPLANNED_STEPS, DistillConfig, planned_minutes

    out = WORK / (f"{code}-{args.label}" if args.label else code)
    if not args.resume:
        for path in (out, out.parent / f".{out.name}.adapt-work"):
            shutil.rmtree(path, ignore_errors=True)
    config = AdaptConfig(
        model=str(cache_root() / "models" / "smollm2-135m-instruct"), language=code,
        corpus=[str(corpora / code / "train.txt")],
        heldout={code: str(corpora / code / "heldout.txt"), ENGLISH: str(corpora / "en-docs" / "heldout.txt")},
        add=args.add, method=args.method, donor=args.donor,
        distill=DistillConfig(steps=args.distill_steps or UNPLANNED_STEPS, schedule=args.distill_schedule, learning_rate=args.distill_lr,
                              budget_minutes=planned_minutes(args.distill_schedule, None, args.distill_minutes)),
        distill_minutes=args.distill_minutes,
        heldout_chars=args.heldout_chars)
    started = time.perf_counter()
    result = adapt_model(config, out, progress=sys.stderr.isatty(),
                         on_step=lambda step, state: print(f"  {code} {step}: {state}", flush=True))
    card = result.card
    distilled = card["steps"]["distill"]["card"]
    rows = {row["text"]: row for row in card["evaluation"]}
    own, english = rows[code], rows[ENGLISH]
    extend_notes = card["steps"]["extend"]["card"]["notes"]
    return {
        "language": code, "script": LANGUAGES.get(code, "?"), "asked": args.add, "added": extend_notes["added"],
        "new_ids": card["new_ids"], "distill_steps": distilled["step"],
        "distill_planned_steps": distilled["training"]["steps"] if distilled["training"].get("planned_at") else None,
        "heldout_bytes": own["bytes"], "english_bytes": english["bytes"],
        "tokens_per_byte": {"original": own["tokens_per_byte_before"], "adapted": own["tokens_per_byte_after"]},
        "fewer_tokens_percent": own["fewer_tokens_percent"],
        "bits_per_byte": {"original": own["bits_per_byte_original"], "zero_shot": own["bits_per_byte_zero_shot"],
                          "distilled": own["bits_per_byte_distilled"]},
        "bits_per_byte_change_percent": own["bits_per_byte_change_percent"],
        "english_tokens_per_byte": {"original": english["tokens_per_byte_before"],
                                    "adapted": english["tokens_per_byte_after"]},
        "english_bits_per_byte": {"original": english["bits_per_byte_original"],
                                  "zero_shot": english["bits_per_byte_zero_shot"],
                                  "distilled": english["bits_per_byte_distilled"]},
        "english_bits_per_byte_change_percent": english["bits_per_byte_change_percent"],
        "cpu_minutes": {step: round(done["cpu_seconds"] / 60, 2) for step, done in card["steps"].items()},
        "wall_minutes": {step: round(done["seconds"] / 60, 2) for step, done in card["steps"].items()},
        "steps_skipped_this_run": result.skipped,
        "bench_seconds": round(time.perf_counter() - started, 1),
        "targets": {
            "fewer_tokens": own["fewer_tokens_percent"] >= TARGET_FEWER_PERCENT,
            "language_bits_per_byte": own["bits_per_byte_change_percent"] <= TARGET_LANGUAGE_BPB_PERCENT,
            "english_bits_per_byte": english["bits_per_byte_change_percent"] <= TARGET_ENGLISH_BPB_PERCENT,
        },
    }


def print_table(rows: list[dict]) -> None:
    header = (f"{'lang':<14}{'tok/B':>7}{'after':>7}{'fewer':>8}{'BPB':>8}{'0-shot':>8}{'distil':>8}{'chg':>8}"
              f"{'EN BPB':>8}{'EN dist':>8}{'EN chg':>8}{'steps':>6}   CPU min ext/tra/dis/eval   targets")
    print(header)
    print("-" * len(header))
    for r in rows:
        cpu = "/".join(f"{r['cpu_minutes'][s]:.1f}" for s in ("extend", "transplant", "distill", "evaluate"))
        hits = " ".join(f"{name.split('_')[0]}:{'hit' if ok else 'MISS'}" for name, ok in r["targets"].items())
        bpb, en = r["bits_per_byte"], r["english_bits_per_byte"]
        print(f"{r['language']:<14}{r['tokens_per_byte']['original']:>7.3f}{r['tokens_per_byte']['adapted']:>7.3f}"
              f"{r['fewer_tokens_percent']:>7.1f}%{bpb['original']:>8.4f}{bpb['zero_shot']:>8.4f}"
              f"{bpb['distilled']:>8.4f}{r['bits_per_byte_change_percent']:>+7.2f}%{en['original']:>8.4f}"
              f"{en['distilled']:>8.4f}{r['english_bits_per_byte_change_percent']:>+7.2f}%{r['distill_steps']:>6}"
              f"   {cpu:<26}{hits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", nargs="+", default=list(DEFAULT_LANGUAGES),
                        help=f"codes of corpora/<code> in the tokwork cache (default: {' '.join(DEFAULT_LANGUAGES)})")
    parser.add_argument("--add", type=int, default=8000, help="new tokens per language")
    parser.add_argument("--method", default="hybrid", help="transplant method for the new rows")
    parser.add_argument("--donor", default="minilm", help="donor space of omp/hybrid")
    parser.add_argument("--distill-minutes", type=float, default=15.0, help="wall minutes of distillation")
    parser.add_argument("--distill-steps", type=int, default=None,
                        help="at most this many distillation steps (default: no cap; the minutes end the run)")
    parser.add_argument("--distill-schedule", choices=["constant", "linear"], default="constant",
                        help="linear: the rate falls to 0 when --distill-minutes are spent (the step count planned "
                             "after the warm-up, as `tokwork adapt --distill-schedule linear` plans it)")
    parser.add_argument("--distill-lr", type=float, default=None, help="peak learning rate (default: DistillConfig's)")
    parser.add_argument("--label", default=None,
                        help="a variant's name: its work folders are build/bench/adapt/<code>-LABEL (write it to its "
                             "own --json)")
    parser.add_argument("--heldout-chars", type=int, default=24_000,
                        help="characters of each held-out text scored (cut at a paragraph end)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="go on from each language's last finished step")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    corpora = cache_root() / "corpora"
    teacher = cache_root() / "models" / "smollm2-135m-instruct"
    if not (teacher / "model.safetensors").is_file():
        raise SystemExit(f"model '{teacher}' is missing; make model converts it")
    for path in [corpora / "en-docs" / "heldout.txt", *(corpora / code / split for code in args.languages
                                                       for split in ("train.txt", "heldout.txt"))]:
        if not path.is_file():
            raise SystemExit(f"corpus '{path}' is missing; build it with make corpora / make corpora-multilingual")
    started = time.perf_counter()
    rows = []
    report = {"benchmark": "adapt", "model": "SmolLM2-135M-Instruct", "settings": {
        "add": args.add, "method": args.method, "donor": args.donor, "distill_minutes": args.distill_minutes,
        "distill_steps_cap": args.distill_steps, "heldout_chars": args.heldout_chars, "threads": args.threads,
        "distill": "DistillConfig defaults (alm+lm, trains all, batch 8 x 512 chars)",
        "distill_schedule": args.distill_schedule, "distill_lr": args.distill_lr, "label": args.label},
        "targets": {"fewer_tokens_percent_at_least": TARGET_FEWER_PERCENT,
                    "language_bits_per_byte_change_percent_at_most": TARGET_LANGUAGE_BPB_PERCENT,
                    "english_bits_per_byte_change_percent_at_most": TARGET_ENGLISH_BPB_PERCENT},
        "machine": machine_info(),
        "results": rows}
    for code in args.languages:
        print(f"{code}: adapting", flush=True)
        rows.append(adapt_language(code, args, corpora))
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_results(args.json, report, indent=2)
    print()
    print_table(rows)
    missed = {r["language"]: [name for name, ok in r["targets"].items() if not ok] for r in rows}
    print("targets: " + "; ".join(f"{code} {'all hit' if not names else 'missed ' + ', '.join(names)}"
                                  for code, names in missed.items()))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
