"""Vocabulary transplant on SmolLM2-135M: bits per byte of every method, and OMP side by side with mergekit.

Targets: GPT-2's tokenizer (shipped reference) and a 32k English byte-level BPE that tokwork trains on the
en-docs training split. For each, the new rows are made by random, mean, subword-mean, hybrid and OMP
(MiniLM donor, the default), and the model is scored on held-out English: the English UDHR and the
opening of corpora/en/heldout.txt (held-out documents; nothing here was tuned on either). The floor is
the original model with its own tokenizer.

mergekit-tokensurgeon (installed only in its own venv, MERGEKIT_VENV, default /work/team/venvs/mergekit)
runs as a subprocess on the same source, target and donor embeddings: the MiniLM vectors of the GPT-2
tokens are wrapped as a donor checkpoint (a one-layer Llama whose tied embedding matrix is those vectors,
with the GPT-2 tokenizer). Its `omp` (same k) and `common_interpolation` are timed against tokwork's
`tokwork transplant --method omp --donor DONOR_CHECKPOINT`, both as fresh processes with one thread,
alternating, and their outputs are scored like ours. Scoring uses the threads torch picks (2 here).

    .venv/bin/python benchmarks/transplant.py     # needs make model, make corpora and the mergekit venv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from tokwork.cache import cache_root

REPO = Path(__file__).resolve().parent.parent
CACHE = cache_root()
WORK = REPO / "build" / "bench" / "transplant"
RESULTS = REPO / "benchmarks" / "results" / "transplant.json"
# (label, method, options): the methods with their defaults, and subword-mean with the logit calibration
# that omp uses, to show how much of the gain is calibration and how much the method.
METHODS = (("random", "random", {}), ("mean", "mean", {}), ("subword-mean", "subword-mean", {}),
           ("subword-mean+calibration", "subword-mean", {"calibrate": 0.5}), ("hybrid", "hybrid", {}),
           ("omp", "omp", {}))
MERGEKIT_METHODS = ("omp", "common_interpolation")
HELDOUT_CHARS = 24_000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def evaluation_texts() -> dict[str, str]:
    """The English UDHR and the opening of the held-out English sample, cut at a paragraph end."""
    heldout = (REPO / "corpora" / "en" / "heldout.txt").read_text(encoding="utf-8")
    cut = heldout.rfind("\n\n", 0, HELDOUT_CHARS)
    return {"udhr-eng": (REPO / "corpora" / "udhr" / "eng.txt").read_text(encoding="utf-8"),
            "en-heldout": heldout[:cut]}


def train_target(folder: Path) -> Path:
    """The 32k English byte-level BPE, trained with the tokwork CLI on the en-docs training split."""
    corpus = CACHE / "corpora" / "en-docs" / "train.txt"
    subprocess.run([sys.executable, "-m", "tokwork.cli", "train", "bpe", str(corpus), "-v", "32000", "-o",
                    str(folder), "--force", "-q"], check=True, stdout=subprocess.DEVNULL)
    return folder


def score(model, tokenizer, texts) -> dict:
    from tokwork.transplant.evaluate import bits_per_byte

    evaluation = bits_per_byte(model, tokenizer, texts)
    return {"bits_per_byte": round(evaluation.total.bits_per_byte, 4),
            "per_text": {t.name: round(t.bits_per_byte, 4) for t in evaluation.texts},
            "tokens": evaluation.total.tokens, "bytes": evaluation.total.bytes}


def score_method(source: Path, target: Path, method: str, options: dict, texts) -> dict:
    """Make the rows in memory with tokwork, put them into a fresh copy of the model, score it."""
    from tokwork.transplant.checkpoint import apply_embeddings, load_checkpoint
    from tokwork.transplant.pipeline import transplant_vocabulary

    result = transplant_vocabulary(source, target, None, method=method, options=options)
    model = apply_embeddings(load_checkpoint(source).model, result.alignment, result.embeddings)
    row = score(model, result.alignment.target, texts)
    row["method_seconds"] = round(result.method_seconds, 2)
    row["alignment"] = result.report.as_json()
    return row


def donor_checkpoint(target: Path, folder: Path) -> Path:
    """The MiniLM vectors of every target token as a donor model mergekit (and tokwork) can read."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokwork import load_tokenizer
    from tokwork.transplant.align import align_vocabularies
    from tokwork.transplant.donors import TextEncoder
    from tokwork.transplant.registry import TransplantContext

    tokenizer = load_tokenizer(target)
    context = TransplantContext(alignment=align_vocabularies(tokenizer, tokenizer),
                                input_embeddings=torch.zeros(0))
    vectors = TextEncoder().vectors(context, list(range(tokenizer.vocab_size)))
    specials = tokenizer.specials
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=vectors.shape[1], intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=6, num_key_value_heads=6,
                         tie_word_embeddings=True, bos_token_id=specials.bos, eos_token_id=specials.eos)
    model = LlamaForCausalLM(config)
    model.get_input_embeddings().weight.data = vectors.contiguous()
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(target / name, folder / name)
    return folder


def timed(command: list[str], *, cwd: Path = REPO) -> float:
    """Wall time of a command run as a fresh process with one thread; fails loudly."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return seconds


def mergekit_command(venv: Path, source: Path, donor: Path, out: Path, method: str) -> list[str]:
    return [str(venv / "bin" / "mergekit-tokensurgeon"), str(source), str(donor), str(out), "-a", method, "-k", "64",
            "--quiet", "--no-write-model-card"]


def tokwork_command(source: Path, target: Path, donor: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tokwork.cli", "transplant", str(source), str(target), "-o", str(out), "--method",
            "omp", "--donor", str(donor), "--force", "-q"]


def side_by_side(source: Path, target: Path, texts, *, venv: Path, repeats: int) -> dict:
    """tokwork's OMP against mergekit's OMP and common_interpolation: times (alternating) and BPB."""
    from tokwork import load_tokenizer
    from tokwork.transplant.checkpoint import load_checkpoint

    donor = donor_checkpoint(target, WORK / "donor-minilm-gpt2")
    outs = {name: WORK / f"sbs-{name}" for name in ("tokwork-omp", *(f"mergekit-{m}" for m in MERGEKIT_METHODS))}
    times: dict[str, list[float]] = {name: [] for name in outs}
    for _ in range(repeats):
        for name, out in outs.items():
            if out.exists():
                shutil.rmtree(out)
            if name == "tokwork-omp":
                command = tokwork_command(source, target, donor, out)
            else:
                command = mergekit_command(venv, source, donor, out, name.removeprefix("mergekit-"))
            times[name].append(timed(command))
            print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    rows = {}
    gpt2 = load_tokenizer(target)
    for name, out in outs.items():
        model = load_checkpoint(out, tokenizer=target).model
        rows[name] = {"seconds": [round(t, 2) for t in times[name]],
                      "median_seconds": round(statistics.median(times[name]), 2), **score(model, gpt2, texts)}
        print(f"  {name}: {rows[name]['median_seconds']} s, {rows[name]['bits_per_byte']} bits/byte", flush=True)
    rows["omp_time_ratio"] = round(rows["tokwork-omp"]["median_seconds"] / rows["mergekit-omp"]["median_seconds"], 3)
    return rows


def donor_duplicates(source: Path, target: Path) -> dict:
    """How many shared tokens the MiniLM donor space tells apart (why a plain OMP diverges on it)."""
    from tokwork import load_tokenizer
    from tokwork.transplant.align import align_vocabularies
    from tokwork.transplant.donors import TextEncoder
    from tokwork.transplant.omp import merge_duplicates
    from tokwork.transplant.registry import TransplantContext

    alignment = align_vocabularies(load_tokenizer(source), load_tokenizer(target))
    context = TransplantContext(alignment=alignment, input_embeddings=torch.zeros(0))
    anchors = TextEncoder().vectors(context, alignment.anchor_target_ids)
    unique, _ = merge_duplicates(anchors.double())
    return {"shared_tokens": len(anchors), "distinct_minilm_vectors": len(unique)}


def versions(venv: Path) -> dict:
    from importlib.metadata import version

    found = {name: version(name) for name in ("torch", "transformers", "tokenizers")}
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "from importlib.metadata import version as v;"
                           "print(v('mergekit'), v('torch'))"], capture_output=True, text=True)
    found["mergekit (own venv), its torch"] = done.stdout.strip()
    return found


def save(report: dict) -> None:
    """Write what is measured so far (a long run that dies keeps its finished parts)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def markdown_table(report: dict) -> str:
    """The README table: bits per byte per method and target, the floor and mergekit's rows."""
    names = list(report["targets"])
    lines = ["| init of the new rows | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| none: SmolLM2 with its own tokenizer (floor) | "
             + " | ".join(f"{report['floor']['bits_per_byte']:.3f}" for _ in names) + " |"]
    for label, _, _ in METHODS:
        cells = [f"{report['targets'][n][label]['bits_per_byte']:.3f}" if label in report["targets"][n] else "—"
                 for n in names]
        lines.append(f"| tokwork `{label}` | " + " | ".join(cells) + " |")
    side = report.get("side_by_side_gpt2")
    if side:
        for name in ("tokwork-omp", "mergekit-omp", "mergekit-common_interpolation"):
            cells = [f"{side[name]['bits_per_byte']:.3f}" if n == "gpt2" else "—" for n in names]
            lines.append(f"| {name} (written checkpoint, {side[name]['median_seconds']:.0f} s) | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each side-by-side command")
    parser.add_argument("--mergekit-venv", type=Path,
                        default=Path(os.environ.get("MERGEKIT_VENV", "/work/team/venvs/mergekit")))
    parser.add_argument("--skip-mergekit", action="store_true", help="only tokwork's methods")
    parser.add_argument("--table", action="store_true", help="print the README table from the last results")
    parser.add_argument("--donor-stats", action="store_true",
                        help="only add the MiniLM duplicate counts to the last results")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(RESULTS.read_text(encoding="utf-8"))))
        return
    if args.donor_stats:
        from tokwork.smollm2 import smollm2_folder

        report = json.loads(RESULTS.read_text(encoding="utf-8"))
        report["minilm_duplicates_gpt2"] = donor_duplicates(smollm2_folder(), CACHE / "tokenizers" / "gpt2")
        save(report)
        print(report["minilm_duplicates_gpt2"])
        return
    os.environ["HF_HUB_OFFLINE"] = "1"
    from tokwork import load_tokenizer
    from tokwork.smollm2 import smollm2_folder
    from tokwork.transplant.checkpoint import load_checkpoint

    WORK.mkdir(parents=True, exist_ok=True)
    source = smollm2_folder()
    texts = evaluation_texts()
    targets = {"gpt2": CACHE / "tokenizers" / "gpt2", "bpe32k-en": train_target(WORK / "bpe32k-en")}
    started = time.perf_counter()
    report = {"source": "SmolLM2-135M-Instruct", "texts": {n: len(t.encode()) for n, t in texts.items()},
              "threads_scoring": torch.get_num_threads(), "targets": {},
              "minilm_duplicates_gpt2": donor_duplicates(source, targets["gpt2"])}
    if not args.skip_mergekit:  # timed first, while nothing else of this run holds memory
        report["side_by_side_gpt2"] = side_by_side(source, targets["gpt2"], texts, venv=args.mergekit_venv,
                                                   repeats=args.repeats)
        save(report)
    report["floor"] = score(load_checkpoint(source).model, load_tokenizer(source), texts)
    print(f"floor: {report['floor']['bits_per_byte']} bits/byte", flush=True)
    for name, target in targets.items():
        rows = {}
        for label, method, options in METHODS:
            rows[label] = score_method(source, target, method, options, texts)
            print(f"{name} {label}: {rows[label]['bits_per_byte']} bits/byte "
                  f"({rows[label]['method_seconds']} s)", flush=True)
        report["targets"][name] = rows
        save(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "versions": versions(args.mergekit_venv)}
    save(report)
    print(markdown_table(report))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
