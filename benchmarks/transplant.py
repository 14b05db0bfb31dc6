"""Vocabulary transplant on SmolLM2-135M: bits per byte of every method, and OMP side by side with mergekit.

Targets: GPT-2's tokenizer (shipped reference) and a 32k English byte-level BPE that tokwork trains on the
en-docs training split. For each, the new rows are made by random, mean, subword-mean, hybrid and OMP
(MiniLM donor, the default), and the model is scored on held-out English: the English UDHR and the
opening of corpora/en/heldout.txt (held-out documents; nothing here was tuned on either). The floor is
the original model with its own tokenizer.

mergekit-tokensurgeon (installed only in its own venv, MERGEKIT_VENV, default /work/team/venvs/mergekit)
runs as a subprocess on the same source, target and donor embeddings: the MiniLM vectors of the GPT-2
tokens are wrapped as a donor checkpoint (a one-layer Llama whose tied embedding matrix is those vectors,
with the GPT-2 tokenizer). Every method of it that the issue names (`mean`, `subword`,
`common_interpolation`, `landmark_pca`, `omp`, all with k = 64) runs in the same run as tokwork's
`tokwork transplant --method omp --donor DONOR_CHECKPOINT`, each as a fresh process with one thread, and
their outputs are scored like ours; a method that fails is recorded with its error, not left out.
Scoring uses the threads torch picks (2 here).

Each row keeps bits per byte on each text as well as pooled: the texts differ (a legal declaration, a
software manual), and some gaps between methods change sign from one to the other, so `per_text_gaps` lists,
for every pair of rows on each target, the difference on each text and whether its sign flips.

    .venv/bin/python benchmarks/transplant.py     # needs make model, make corpora and the mergekit venv

The mergekit venv, kept apart so that mergekit never becomes a dependency of tokwork:

    python3 -m venv /work/team/venvs/mergekit
    /work/team/venvs/mergekit/bin/pip install torch==2.13.0 mergekit==0.1.5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from machine import machine_info
from results_file import write_results

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
MERGEKIT_METHODS = ("mean", "subword", "common_interpolation", "landmark_pca", "omp")
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
    if not corpus.is_file():
        raise SystemExit(f"corpus '{corpus}' is missing; build it with `make corpora`")
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


def timed(command: list[str], *, cwd: Path = REPO) -> tuple[float, str | None]:
    """Wall time of a command run as a fresh process with one thread, and its error (None if it worked)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return seconds, f"exit {done.returncode}: {lines[-1] if lines else 'no message'}"
    return seconds, None


def mergekit_command(venv: Path, source: Path, donor: Path, out: Path, method: str) -> list[str]:
    return [str(venv / "bin" / "mergekit-tokensurgeon"), str(source), str(donor), str(out), "-a", method, "-k", "64",
            "--quiet", "--no-write-model-card"]


def tokwork_command(source: Path, target: Path, donor: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tokwork.cli", "transplant", str(source), str(target), "-o", str(out), "--method",
            "omp", "--donor", str(donor), "--force", "-q"]


def side_by_side(source: Path, target: Path, texts, *, venv: Path, repeats: int) -> dict:
    """tokwork's OMP against every mergekit method named in MERGEKIT_METHODS: times (alternating) and BPB."""
    from tokwork import load_tokenizer
    from tokwork.transplant.checkpoint import load_checkpoint

    donor = donor_checkpoint(target, WORK / "donor-minilm-gpt2")
    outs = {name: WORK / f"sbs-{name}" for name in ("tokwork-omp", *(f"mergekit-{m}" for m in MERGEKIT_METHODS))}
    times: dict[str, list[float]] = {name: [] for name in outs}
    errors: dict[str, str] = {}
    for _ in range(repeats):
        for name, out in outs.items():
            if name in errors:
                continue
            if out.exists():
                shutil.rmtree(out)
            if name == "tokwork-omp":
                command = tokwork_command(source, target, donor, out)
            else:
                command = mergekit_command(venv, source, donor, out, name.removeprefix("mergekit-"))
            seconds, error = timed(command)
            if error:
                errors[name] = error
                print(f"  {name}: failed after {seconds:.1f} s ({error})", flush=True)
            else:
                times[name].append(seconds)
                print(f"  {name}: {seconds:.1f} s", flush=True)
    rows = {}
    gpt2 = load_tokenizer(target)
    for name, out in outs.items():
        if name in errors:
            rows[name] = {"failed": errors[name]}
            continue
        model = load_checkpoint(out, tokenizer=target).model
        rows[name] = {"seconds": [round(t, 2) for t in times[name]],
                      "median_seconds": round(statistics.median(times[name]), 2), **score(model, gpt2, texts)}
        print(f"  {name}: {rows[name]['median_seconds']} s, {rows[name]['bits_per_byte']} bits/byte", flush=True)
    if "bits_per_byte" in rows.get("mergekit-omp", {}):
        rows["omp_time_ratio"] = round(rows["tokwork-omp"]["median_seconds"] / rows["mergekit-omp"]["median_seconds"],
                                       3)
    return rows


def target_rows(report: dict, target: str) -> dict[str, dict]:
    """Every scored row on one target (tokwork's methods; for GPT-2 also mergekit's), by display name."""
    rows = {f"tokwork {label}": row for label, row in report["targets"].get(target, {}).items()}
    if target == "gpt2":
        for name, row in report.get("side_by_side_gpt2", {}).items():
            if name.startswith("mergekit-") and "per_text" in row:
                rows[f"mergekit {name.removeprefix('mergekit-')}"] = row
    return rows


def per_text_gaps(report: dict, target: str) -> list[dict]:
    """For every pair of rows on a target: the BPB difference on each text and pooled, and whether the sign
    of the difference flips between texts (then "which is better" depends on the text)."""
    rows = target_rows(report, target)
    names = list(rows)
    gaps = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            by_text = {text: round(rows[first]["per_text"][text] - rows[second]["per_text"][text], 4)
                       for text in rows[first]["per_text"]}
            signs = {(value > 0) - (value < 0) for value in by_text.values()}
            gaps.append({"first": first, "second": second, "per_text": by_text,
                         "pooled": round(rows[first]["bits_per_byte"] - rows[second]["bits_per_byte"], 4),
                         "sign_flips": {-1, 1} <= signs})
    return gaps


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
    write_results(RESULTS, report, indent=2)


def figure(bits: float, digits: int = 3, *, sign: bool = False) -> str:
    """A bits-per-byte figure for a table; a diverged one (mergekit's omp on MiniLM vectors) in powers of ten."""
    if abs(bits) > 100:
        return f"diverged ({bits:.1e})"
    return f"{bits:+.{digits}f}" if sign else f"{bits:.{digits}f}"


def markdown_table(report: dict) -> str:
    """The README tables: bits per byte per method and target with the floor and mergekit's rows; then, on
    each target, every row per text, with its gap to the floor on each text and the spread between them."""
    names = list(report["targets"])
    lines = ["| init of the new rows | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| none: SmolLM2 with its own tokenizer (floor) | "
             + " | ".join(f"{report['floor']['bits_per_byte']:.3f}" for _ in names) + " |"]
    for label, _, _ in METHODS:
        cells = [f"{report['targets'][n][label]['bits_per_byte']:.3f}" if label in report["targets"][n] else "—"
                 for n in names]
        lines.append(f"| tokwork `{label}` | " + " | ".join(cells) + " |")
    side = report.get("side_by_side_gpt2", {})
    for name, row in side.items():
        if not isinstance(row, dict):
            continue
        cells = [(figure(row["bits_per_byte"]) if "bits_per_byte" in row else "failed") if n == "gpt2" else "—"
                 for n in names]
        when = f", {row['median_seconds']:.0f} s" if "median_seconds" in row else ""
        lines.append(f"| {name} (written checkpoint{when}) | " + " | ".join(cells) + " |")
    texts = list(report["floor"]["per_text"])
    floor = report["floor"]["per_text"]
    for target in names:
        lines += ["", f"| {target} target | " + " | ".join(texts) + " | pooled | "
                  + " | ".join(f"gap to floor, {t}" for t in texts) + " | spread of the gaps |",
                  "|---" * (2 * len(texts) + 3) + "|"]
        for name, row in target_rows(report, target).items():
            gaps = [row["per_text"][t] - floor[t] for t in texts]
            lines.append(f"| {name} | " + " | ".join(figure(row["per_text"][t], 4) for t in texts)
                         + f" | {figure(row['bits_per_byte'], 4)} | "
                         + " | ".join(figure(g, 4, sign=True) for g in gaps) + f" | {figure(max(gaps) - min(gaps), 4)} |")
        flips = [g for g in per_text_gaps(report, target) if g["sign_flips"]]
        if flips:
            lines += ["", f"Pairs on the {target} target whose order changes between the texts (first minus second):"]
            lines += [f"- {g['first']} vs {g['second']}: "
                      + ", ".join(f"{t} {v:+.4f}" for t, v in g["per_text"].items()) + f" (pooled {g['pooled']:+.4f})"
                      for g in flips]
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
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
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
    report["per_text_gaps"] = {name: per_text_gaps(report, name) for name in targets}
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"] = machine_info(versions=versions(args.mergekit_venv))
    save(report)
    print(markdown_table(report))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
