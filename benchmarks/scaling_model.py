"""The scaling model of distributed BPE training (`benchmarks/distributed.py` measures its inputs): counting
parallelises over shards, the merge step does not, so at some corpus sizes the merge step is the bottleneck.

The model: counting takes S / (W c) for a corpus of S MB on W workers of c MB/s each; distinct pre-tokens
grow as D(S) = D0 (S / S0)^beta (Heaps' law, fitted on leading parts of a corpus); the merge step takes
a + b D (fitted on the same parts). `merge_step_growth` measures D and the merge step's time on those parts.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tokenizers import pre_tokenizers

from tokwork.pretoken_counts import count_pretokens
from tokwork.trainers.bpe_learner import learn_bpe
from tokwork.trainers.bpe_model import TRAINING_BLOCK_CHARS


def merge_step_growth(corpus: Path, extra: list[Path], tokenizer_json: str, shard_bytes: int, vocab_size: int,
                      work: Path) -> tuple[list[dict], dict]:
    """Distinct pre-tokens and merge-step time for growing leading parts of the corpus (1/8 .. all) and then
    of the corpus followed by `extra` (2x, 4x, ... the corpus, and all); and what that text was.

    The concatenation is written to a temporary file; each part between two cuts (at paragraph ends) is
    counted once and the counts accumulate, so the whole text is counted once."""
    joined = work / "growth.txt"
    with joined.open("wb") as out:
        out.write(corpus.read_bytes().rstrip(b"\n") + b"\n\n")
        main = out.tell()
        for path in extra:
            out.write(path.read_bytes().rstrip(b"\n") + b"\n\n")
    data = joined.read_bytes()
    sizes = [main // 8, main // 4, main // 2]
    doubled = 2 * main
    while doubled < 0.8 * len(data):  # a point close to the whole adds little
        sizes.append(doubled)
        doubled *= 2

    def paragraph_end(size: int) -> int:
        end = data.find(b"\n\n", size)
        return len(data) if end < 0 else end + 2

    cuts = sorted({paragraph_end(size) for size in sizes} | {main, len(data)})
    points, counts, previous = [], Counter(), 0
    for cut in cuts:
        part = work / "growth-part.txt"
        part.write_bytes(data[previous:cut])
        table, _ = count_pretokens([part], tokenizer_json=tokenizer_json, block_chars=TRAINING_BLOCK_CHARS,
                                   shard_bytes=shard_bytes)
        counts.update(table.to_dict())
        table.close()
        previous = cut
        table_now = dict(counts)
        start = time.perf_counter()
        learn_bpe(table_now, vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        points.append({"megabytes": round(cut / 1e6, 3), "extra_megabytes": round(max(0, cut - main) / 1e6, 3),
                       "distinct_pretokens": len(counts), "learn_seconds": round(time.perf_counter() - start, 3)})
    joined.unlink()
    note = (f"points past {main / 1e6:.2f} MB add the extra corpora in the order listed" if extra else
            "no extra corpus: the fit covers the main corpus only (1/8 .. all of it)")
    described = {"main": str(corpus), "extra": [{"path": str(p), "megabytes": round(p.stat().st_size / 1e6, 3)}
                                                for p in extra],
                 "total_megabytes": round(len(data) / 1e6, 3), "times_main_corpus": round(len(data) / main, 2),
                 "note": note}
    return points, described


def heaps_exponent(points: list[dict]) -> float:
    """The slope of log(distinct pre-tokens) against log(corpus size): D grows as size**beta."""
    import numpy as np

    x = np.log([p["megabytes"] for p in points])
    y = np.log([p["distinct_pretokens"] for p in points])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


SIZES_MEGABYTES = (100, 1_000, 10_000, 100_000, 1_000_000)
WORKERS = (2, 16, 128)


def fitted_model(points: list[dict], per_worker: float) -> dict:
    """One fit of the model on `points`: merge step a + b D (least squares), D(S) = D0 (S / S0)^beta through
    the last point; the counting and merge-step seconds it predicts at SIZES_MEGABYTES, and for each worker
    count the ranges of corpus sizes (on a log grid, 1 MB .. 10^9 MB) where the merge step takes longer than
    the counting. With beta < 1 that is one range from 1 MB up; with beta >= 1 the merge step grows at
    least as fast as the corpus and, past some size, is the longer one for good."""
    import numpy as np

    b, a = np.polyfit([p["distinct_pretokens"] for p in points], [p["learn_seconds"] for p in points], 1)
    beta = heaps_exponent(points)
    d0, s0 = points[-1]["distinct_pretokens"], points[-1]["megabytes"]

    def distinct(megabytes: float) -> float:
        return d0 * (megabytes / s0) ** beta

    def merge_seconds(megabytes: float) -> float:
        return max(0.0, float(a + b * distinct(megabytes)))

    grid = np.logspace(0, 9, 901)
    longer = {}
    for workers in WORKERS:
        ranges, begin = [], None
        for size in grid:
            merge_longer = merge_seconds(size) > size / (workers * per_worker)
            if merge_longer and begin is None:
                begin = size
            if not merge_longer and begin is not None:
                ranges.append([round(float(begin), 1), round(float(size), 1)])
                begin = None
        if begin is not None:
            ranges.append([round(float(begin), 1), None])
        longer[str(workers)] = ranges
    return {"points_megabytes": [points[0]["megabytes"], points[-1]["megabytes"]], "heaps_exponent": beta,
            "merge_fixed_seconds": round(float(a), 3), "merge_seconds_per_distinct_pretoken": float(f"{b:.3g}"),
            "at_sizes": [{"megabytes": size, "distinct_pretokens": round(distinct(size)),
                          "merge_seconds": round(merge_seconds(size), 1),
                          "count_seconds": {str(w): round(size / (w * per_worker), 1) for w in WORKERS}}
                         for size in SIZES_MEGABYTES],
            "merge_step_longer_than_counting_megabytes": longer}


def scaling_model(report: dict) -> dict:
    """Counting time S / (W c) with c from the 2-worker Ray run; the merge step's growth fitted twice: on
    leading parts of the main corpus only, and on all points (the main corpus followed by the extra ones)."""
    inputs = report["scaling_model_inputs"]
    growth = inputs["growth"]
    two = next(r for r in report["rows"] if r["task"] == "count" and r["engine"] == "ray" and r["workers"] == 2)
    per_worker = two["megabytes_per_second"] / 2
    main = [p for p in growth if p["extra_megabytes"] == 0]
    fits = {"main corpus": fitted_model(main, per_worker)}
    if len(main) < len(growth):
        fits["main corpus and the extra corpora"] = fitted_model(growth, per_worker)
    return {"count_megabytes_per_second_per_worker": round(per_worker, 3), "fits": fits}


def print_model(model: dict) -> None:
    print(f"scaling model: counting {model['count_megabytes_per_second_per_worker']:.2f} MB/s per worker")
    for name, fit in model["fits"].items():
        print(f"  fit on the {name} ({fit['points_megabytes'][0]:.1f}-{fit['points_megabytes'][1]:.1f} MB): D ~ "
              f"S^{fit['heaps_exponent']:.2f}; merge step {fit['merge_fixed_seconds']:.2f} s + "
              f"{fit['merge_seconds_per_distinct_pretoken'] * 1e6:.1f} us per distinct pre-token")
        for point in fit["at_sizes"]:
            counts = ", ".join(f"{w} workers {t:,.1f} s" for w, t in point["count_seconds"].items())
            print(f"    {point['megabytes']:>9,} MB: D {point['distinct_pretokens']:,}, merge step "
                  f"{point['merge_seconds']:,.1f} s; counting: {counts}")
        for workers, ranges in fit["merge_step_longer_than_counting_megabytes"].items():
            spans = "; ".join(f"{lo:,.0f} MB to {'beyond 10^9 MB' if hi is None else f'{hi:,.0f} MB'}"
                              for lo, hi in ranges) or "nowhere in 1 MB .. 10^9 MB"
            print(f"    {workers:>4} workers: merge step longer than counting from {spans}")
