"""The scaling model of distributed BPE training (`benchmarks/distributed.py` measures its inputs): counting
parallelises over shards, the merge step does not, so below some corpus size the merge step is the bottleneck.

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


def scaling_model(report: dict) -> dict:
    """Counting time S / (W c), distinct pre-tokens D(S) = D0 (S / S0)^beta, merge step a + b D; and, for
    several worker counts W, the corpus size below which the merge step takes longer than the counting."""
    import numpy as np

    inputs = report["scaling_model_inputs"]
    growth = inputs["growth"]
    b, a = np.polyfit([p["distinct_pretokens"] for p in growth], [p["learn_seconds"] for p in growth], 1)
    two = next(r for r in report["rows"] if r["task"] == "count" and r["engine"] == "ray" and r["workers"] == 2)
    per_worker = two["megabytes_per_second"] / 2
    d0, s0, beta = inputs["distinct_pretokens"], inputs["corpus_megabytes"], inputs["heaps_exponent"]

    def merge_seconds(megabytes: float) -> float:
        return a + b * d0 * (megabytes / s0) ** beta

    crossovers = []
    for workers in (2, 16, 128):
        low, high = 1e-3, 1e12  # megabytes; counting minus merging changes sign once in between (beta < 1)
        for _ in range(200):
            middle = (low * high) ** 0.5
            if middle / (workers * per_worker) < merge_seconds(middle):
                low = middle
            else:
                high = middle
        crossovers.append({"workers": workers, "corpus_megabytes": round(low, 1),
                           "distinct_pretokens": round(d0 * (low / s0) ** beta),
                           "merge_step_seconds": round(merge_seconds(low), 1)})
    return {"count_megabytes_per_second_per_worker": round(per_worker, 3), "merge_fixed_seconds": round(float(a), 3),
            "merge_seconds_per_distinct_pretoken": float(f"{b:.3g}"), "heaps_exponent": beta,
            "fit_megabytes": [growth[0]["megabytes"], growth[-1]["megabytes"]],
            "merge_step_is_bottleneck_below": crossovers}


def print_model(model: dict) -> None:
    print(f"scaling model: counting {model['count_megabytes_per_second_per_worker']:.2f} MB/s per worker; merge step "
          f"{model['merge_fixed_seconds']:.2f} s + {model['merge_seconds_per_distinct_pretoken'] * 1e6:.1f} us per "
          f"distinct pre-token; D ~ S^{model['heaps_exponent']:.2f}")
    for point in model["merge_step_is_bottleneck_below"]:
        print(f"  {point['workers']:>4} workers: merge step is the bottleneck below {point['corpus_megabytes']:,.0f} MB "
              f"({point['distinct_pretokens']:,} distinct pre-tokens, merge step {point['merge_step_seconds']:.1f} s)")
