"""Cross-lingual token premiums on the UDHR: the reference tokenizers, and a vocabulary-size sweep.

1. Every shipped reference tokenizer (GPT-2, cl100k, o200k, Llama 3, Gemma 3, Qwen 3) on all 76 UDHR
   languages: premium(L) = tokens(L) / tokens(English) over the 31 aligned blocks (Petrov et al. 2023),
   with the per-block spread; the README excerpt is printed from these figures.
2. Vocabulary-size sweeps (after Arnett et al. 2025): byte-level BPE trained by tokwork on a multilingual
   mix at several sizes, premiums measured on held-out UDHR articles 21-30, to show how each language's
   premium moves as the vocabulary grows. Two mixes: `balanced`, the preamble and articles 1-20 of all 76
   languages (0.8 MB, the same content in each; too small for more than ~27k tokens, so 2k ... 24k), and
   `english-heavy`, the same plus the 28 MB English documentation corpus (`make corpora`), 4k ... 64k.

    .venv/bin/python benchmarks/premiums.py [--report build/premiums-sweep]    # needs `make tokenizers`
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from results_file import write_results

EXCERPT = ["deu_1996", "tur", "vie", "rus", "ell_monotonic", "arb", "heb", "hin", "ben", "tam", "kat", "hye",
           "tha", "mya", "bod", "tir", "jpn", "kor", "cmn_hans"]
SWEEP_SIZES = [4000, 8000, 16000, 32000, 64000]
# The balanced mix (0.8 MB) runs out of pairs seen twice near 27k tokens, so its sweep stops at 24k.
BALANCED_SIZES = [2000, 4000, 8000, 16000, 24000]
TRAIN_BLOCKS = 21  # preamble + articles 1-20; articles 21-30 are held out


def split_udhr(work: Path) -> tuple[Path, Path]:
    """Write the training mix (blocks 0-20 of every language) and the held-out parallel corpus."""
    from tokwork.metrics.parallel import SHIPPED_UDHR, available_languages, split_blocks

    train, heldout = work / "train", work / "heldout"
    train.mkdir()
    heldout.mkdir()
    for code in available_languages("udhr"):
        blocks = split_blocks((SHIPPED_UDHR / f"{code}.txt").read_text(encoding="utf-8"))
        (train / f"{code}.txt").write_text("\n\n".join(blocks[:TRAIN_BLOCKS]) + "\n", encoding="utf-8")
        (heldout / f"{code}.txt").write_text("\n\n".join(blocks[TRAIN_BLOCKS:]) + "\n", encoding="utf-8")
    shutil.copy(SHIPPED_UDHR / "languages.tsv", heldout / "languages.tsv")
    return train, heldout


def premium_table(rows: list[dict], names: list[str], codes: list[str]) -> list[str]:
    """Markdown lines: one row per language, one premium column per tokenizer."""
    value = {(r["tokenizer"], r["language"]): r for r in rows}
    lines = ["| language | script | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for code in codes:
        first = value[(names[0], code)]
        cells = " | ".join(f"{value[(n, code)]['premium']:.2f}" for n in names)
        lines.append(f"| {first['name']} (`{code}`) | {first['script']} | {cells} |")
    return lines


def summarize_premiums(rows: list[dict], tokenizers: list[dict]) -> dict[str, dict]:
    """Per tokenizer: mean premium over all non-pivot languages, over Latin and other scripts, the largest."""
    from tokwork.metrics.scripts import is_non_latin

    summary = {}
    for t in tokenizers:
        mine = [r for r in rows if r["tokenizer"] == t["tokenizer"] and r["language"] != "eng"]
        worst = max(mine, key=lambda r: r["premium"])
        summary[t["tokenizer"]] = {
            "vocab_size": t["vocab_size"], "bytes_per_token": t["bytes_per_token"], "mean": t["premium_mean"],
            "latin_mean": statistics.mean(r["premium"] for r in mine if r["script"] == "Latn"),
            "other_mean": statistics.mean(r["premium"] for r in mine if is_non_latin(r["script"])),
            "max": worst["premium"], "max_language": worst["language"]}
    return summary


def summary_table(summary: dict[str, dict]) -> list[str]:
    """Markdown lines of `summarize_premiums`."""
    lines = ["| tokenizer | vocab | bytes/token | mean premium | Latin script | other scripts | largest |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['vocab_size']:,} | {s['bytes_per_token']:.2f} | {s['mean']:.2f} | "
                     f"{s['latin_mean']:.2f} | {s['other_mean']:.2f} | {s['max']:.2f} (`{s['max_language']}`) |")
    return lines


def main() -> None:
    from tokwork.cache import cache_dir
    from tokwork.metrics.bench import BenchConfig, run_bench
    from tokwork.reference_tokenizers import reference_tokenizers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SWEEP_SIZES)
    parser.add_argument("--balanced-sizes", type=int, nargs="+", default=BALANCED_SIZES)
    parser.add_argument("--report", type=Path, help="also write the bench report of the sweep here")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "premiums.json")
    args = parser.parse_args()
    references = reference_tokenizers()
    if len(references) < 6:
        raise SystemExit("the reference tokenizers are missing; run `make tokenizers` first")

    started = time.perf_counter()
    shipped = run_bench(BenchConfig(tokenizers=references, languages=["all"]), progress=False)
    rows = shipped.summary["rows"]
    names = list(references)
    print(f"Premiums on the UDHR ({len(shipped.corpus['languages'])} languages x {len(names)} tokenizers, "
          f"{time.perf_counter() - started:.1f} s); excerpt:\n")
    print("\n".join(premium_table(rows, names, EXCERPT)))
    summaries = summarize_premiums(rows, shipped.summary["tokenizers"])
    print("\n" + "\n".join(summary_table(summaries)))

    sweeps = {}
    with tempfile.TemporaryDirectory(prefix="tokwork-premium-sweep-") as tmp:
        work = Path(tmp)
        train, heldout = split_udhr(work)
        mixes = {"balanced": ([train], args.balanced_sizes)}
        english = cache_dir("corpora", "en-docs") / "train.txt"
        if english.is_file():
            mixes["english-heavy"] = ([train, english], args.sizes)
        else:
            print(f"\n(no English-heavy sweep: {english} is missing; build it with `make corpora`)")
        for mix, (paths, sizes) in mixes.items():
            sweeps[mix] = run_sweep(mix, paths, sizes, heldout, work, report=args.report)

    keep = ("tokenizer", "language", "name", "script", "tokens", "premium", "premium_median", "premium_p10",
            "premium_p90", "bytes_per_token")
    result = {
        "reference": {"tokenizers": references, "summary": summaries,
                      "rows": [{k: r[k] for k in keep} for r in rows]},
        "sweeps": {mix: {**sweep, "rows": [{k: r[k] for k in keep} for r in sweep["rows"]]}
                   for mix, sweep in sweeps.items()},
        "excerpt_languages": EXCERPT,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.json, result, indent=1)
    print(f"\nwrote {args.json}")


def run_sweep(mix: str, paths: list[Path], sizes: list[int], heldout: Path, work: Path, *,
              report: Path | None) -> dict:
    """Train BPE on `paths` at each size, measure premiums on the held-out articles, print the tables."""
    from tokwork.metrics.bench import BenchConfig, run_bench
    from tokwork.metrics.report import write_report
    from tokwork.trainers.bpe import BPEConfig, train_bpe

    train_bytes = sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.glob("*.txt")))
    tokenizers, reached, seconds = {}, {}, {}
    for size in sizes:
        began = time.perf_counter()
        trained = train_bpe(paths, BPEConfig(vocab_size=size), progress=False)
        seconds[size] = time.perf_counter() - began
        trained.save(work / f"{mix}-{size}")
        tokenizers[f"{mix}-{size // 1000}k"] = str(work / f"{mix}-{size}")
        reached[size] = trained.tokenizer.vocab_size
    sweep = run_bench(BenchConfig(tokenizers=tokenizers, corpus=str(heldout), languages=["all"]), progress=False)
    if report:
        print(f"\nsweep report: {write_report(sweep, report / mix, force=True, plots=True)}")
    rows = sweep.summary["rows"]
    print(f"\nVocabulary-size sweep, {mix} mix ({train_bytes:,} bytes of training text), premiums on held-out "
          "UDHR articles 21-30; vocab sizes reached: " + ", ".join(f"{reached[s]:,}" for s in sizes) + "\n")
    print("\n".join(premium_table(rows, list(tokenizers), EXCERPT)))
    summary = summarize_premiums(rows, sweep.summary["tokenizers"])
    print("\n" + "\n".join(summary_table(summary)))
    return {"train_bytes": train_bytes, "sizes": sizes, "vocab_sizes_reached": reached, "train_seconds": seconds,
            "summary": summary, "rows": rows}


if __name__ == "__main__":
    main()
