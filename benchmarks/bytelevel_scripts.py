"""What exact byte-level scoring costs beyond the model in other scripts than Latin (`tokwork.bytelevel`).

Every byte inside a multi-byte character is a prefix whose canonical encodings are those the tokenizer makes
for every character that begins with those bytes (`canonical.py`): 64 completions after the first byte of a
two-byte character or the second of a three-byte one, 4,096 after the first byte of a three-byte character
(Han, Kana, Devanagari...), 196,608 after the first byte of a four-byte one (emoji). Each is encoded, so
text in those scripts pays for tokenizer work the model time does not show. This scores the first ~600 bytes
of the UDHR in a few scripts, and a line with emoji, with SmolLM2-135M-Instruct on one CPU thread (torch,
tokenizers and numba, as `benchmarks/bytelevel.py`), and prints and writes model and non-model seconds.

It also measures, in a child process started from a small launcher (`child_usage.py`), the peak memory
of working out the canonical states of every byte of the emoji line with SmolLM2's tokenizer alone (no
model): what the completions of four-byte characters cost in memory.

Run: .venv/bin/python benchmarks/bytelevel_scripts.py [--label NAME] [--bytes 600]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from machine import machine_info  # noqa: E402

from tokwork.bytelevel import ByteLM  # noqa: E402
from tokwork.smollm2 import smollm2_folder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "bytelevel_scripts.json"
LANGUAGES = ("eng", "rus", "hin", "cmn_hans", "jpn")
EMOJI_LINE = "Lunch was great 🍕 and so was the walk 🌳 after it 😀, see you soon 👋."


def utf8_cut(data: bytes, length: int) -> bytes:
    """The first `length` bytes, shortened to end at a character boundary."""
    data = data[:length]
    while data:
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            data = data[:-1]
    return data


def texts(size: int) -> dict[str, bytes]:
    found = {code: utf8_cut((REPO / "corpora" / "udhr" / f"{code}.txt").read_bytes(), size) for code in LANGUAGES}
    found["emoji line"] = EMOJI_LINE.encode()
    return found


def states_child() -> None:
    """In a child process: the canonical states at every byte of the emoji line, tokenizer only."""
    from tokwork import load_tokenizer
    from tokwork.bytelevel.canonical import CanonicalEncoder, CanonicalText

    encoder = CanonicalEncoder(load_tokenizer(smollm2_folder()))
    data = EMOJI_LINE.encode()
    text = CanonicalText(encoder, data)
    started = time.perf_counter()
    states = sum(len(text.states(end)) for end in range(len(data) + 1))
    print(json.dumps({"states": states, "seconds": time.perf_counter() - started}))


def states_memory() -> dict:
    """Peak memory and time of `states_child`, as its launcher saw them."""
    import sys

    from child_usage import launcher_floor_mib, measure

    usage = measure([sys.executable, str(Path(__file__)), "--states-child"], cwd=REPO)
    found = json.loads(usage.stdout.strip().splitlines()[-1])
    return {**found, "peak_rss_mib": usage.peak_rss_mib, "launcher_floor_mib": launcher_floor_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current", help="name of this run in the JSON (e.g. the commit)")
    parser.add_argument("--bytes", type=int, default=600, help="bytes of each UDHR text")
    parser.add_argument("--states-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-only", action="store_true", help="only the emoji line's states in a child")
    args = parser.parse_args()
    if args.states_child:
        states_child()
        return
    if args.memory_only:
        memory = states_memory()
        print(f"emoji line, canonical states of every byte: {memory['seconds']:.1f} s, peak "
              f"{memory['peak_rss_mib']:.0f} MiB")
        save(args.label, {"emoji_states_memory": memory})
        return
    torch.set_num_threads(1)
    lm = ByteLM.from_pretrained(smollm2_folder(), tolerance=0.0)
    lm.score(b"A warm-up text, scored once.")
    rows = {}
    print(f"{'text':<12} {'bytes':>5} {'chars':>5} {'total s':>8} {'model s':>8} {'other s':>8} {'other/model':>11}")
    for name, data in texts(args.bytes).items():
        started = time.perf_counter()
        scores = lm.score(data)
        seconds = time.perf_counter() - started
        model = scores.stats["model_seconds"]
        rows[name] = {"bytes": len(data), "chars": len(data.decode()), "seconds": seconds, "model_seconds": model,
                      "other_seconds": seconds - model, "other_to_model": (seconds - model) / model,
                      "forward_calls": scores.stats["forward_calls"], "states": scores.stats["states"],
                      "bits_per_byte": scores.bits_per_byte}
        row = rows[name]
        print(f"{name:<12} {row['bytes']:>5} {row['chars']:>5} {seconds:>8.2f} {model:>8.2f} "
              f"{row['other_seconds']:>8.2f} {row['other_to_model']:>11.2f}", flush=True)
    memory = states_memory()
    print(f"emoji line, canonical states of every byte: {memory['seconds']:.1f} s, peak "
          f"{memory['peak_rss_mib']:.0f} MiB")
    save(args.label, {"rows": rows, "emoji_states_memory": memory})


def save(label: str, parts: dict) -> None:
    """Add `parts` to the run `label` in the results file (other runs are kept)."""
    found = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    found[label] = {**found.get(label, {}), "machine": machine_info(threads=1), **parts}
    RESULTS.write_text(json.dumps(found, indent=1) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)} under '{label}'")


if __name__ == "__main__":
    main()
