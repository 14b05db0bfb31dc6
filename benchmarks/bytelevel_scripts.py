"""What exact byte-level scoring costs beyond the model in other scripts than Latin (`tokwork.bytelevel`).

Every byte inside a multi-byte character is a prefix whose canonical encodings are those the tokenizer makes
for every character that begins with those bytes (`canonical.py`): 64 completions after the first byte of a
two-byte character or the second of a three-byte one, 4,096 after the first byte of a three-byte character
(Han, Kana, Devanagari...), 196,608 after the first byte of a four-byte one (emoji). Each is encoded, so
text in those scripts pays for tokenizer work the model time does not show. This scores the first ~600 bytes
of the UDHR in a few scripts, and a line with emoji, with SmolLM2-135M-Instruct on one CPU thread (torch,
tokenizers and numba, as `benchmarks/bytelevel.py`), and prints and writes model and non-model seconds.

Byte-level BPE tokenizers such as SmolLM2's get those states from their merges (`merge_cuts.py`); each
text is scored that way and, as the peer, by encoding every completion (`from_merges=False`), one after
the other in the same run, and the two must give the same bits per byte to the last digit.

It also measures, in a child process started from a small launcher (`child_usage.py`), the peak memory
of working out the canonical states of every byte of the emoji line with SmolLM2's tokenizer alone (no
model), both ways: what the completions of four-byte characters cost in memory.

Gemma 3's tokenizer (BPE with byte fallback, `fallback_cuts.py`), Qwen 3's (NFC, then a regex split) and
a SentencePiece BPE with byte fallback trained here (`unknown_char_cuts.py`) have no model here; for them
the script times working out the canonical states of every byte of the same texts with the tokenizer
alone, without and with encoding every completion (`--tokenizers-only`: just that part; `--tokenizer NAME`:
one of them).

Run: .venv/bin/python benchmarks/bytelevel_scripts.py [--label NAME] [--bytes 600] [--only-merges]
     [--tokenizers-only [--tokenizer gemma3|qwen3|sentencepiece]]
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
from results_file import write_results  # noqa: E402

from tokwork.bytelevel import ByteLM  # noqa: E402
from tokwork.smollm2 import smollm2_folder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "bytelevel_scripts.json"
LANGUAGES = ("eng", "rus", "hin", "cmn_hans", "jpn")
OTHER_TOKENIZERS = ("gemma3", "qwen3", "sentencepiece")  # no model here: states timed with the tokenizer alone
SENTENCEPIECE_VOCAB = 8000  # a SentencePiece BPE trained here on the shipped UDHR and English sample
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


def states_child(from_merges: bool) -> None:
    """In a child process: the canonical states at every byte of the emoji line, tokenizer only."""
    from tokwork import load_tokenizer
    from tokwork.bytelevel.canonical import CanonicalEncoder
    from tokwork.bytelevel.canonical_text import CanonicalText

    encoder = CanonicalEncoder(load_tokenizer(smollm2_folder()), from_merges=from_merges)
    data = EMOJI_LINE.encode()
    text = CanonicalText(encoder, data)
    started = time.perf_counter()
    states = sum(len(text.states(end)) for end in range(len(data) + 1))
    print(json.dumps({"states": states, "seconds": time.perf_counter() - started}))


def states_memory(from_merges: bool) -> dict:
    """Peak memory and time of `states_child`, as its launcher saw them."""
    import sys

    from child_usage import launcher_floor_mib, measure

    usage = measure([sys.executable, str(Path(__file__)), "--states-child" if from_merges else "--states-child-encoded"],
                    cwd=REPO)
    found = json.loads(usage.stdout.strip().splitlines()[-1])
    return {**found, "peak_rss_mib": usage.peak_rss_mib, "launcher_floor_mib": launcher_floor_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current", help="name of this run in the JSON (e.g. the commit)")
    parser.add_argument("--bytes", type=int, default=600, help="bytes of each UDHR text")
    parser.add_argument("--states-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--states-child-encoded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-only", action="store_true", help="only the emoji line's states in a child")
    parser.add_argument("--only-merges", action="store_true", help="skip the peer that encodes every completion")
    parser.add_argument("--tokenizers-only", action="store_true",
                        help="only Gemma 3's, Qwen 3's and a SentencePiece BPE's states, tokenizer alone")
    parser.add_argument("--tokenizer", choices=OTHER_TOKENIZERS, action="append",
                        help="with --tokenizers-only: just this one (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    if args.states_child or args.states_child_encoded:
        states_child(from_merges=args.states_child)
        return
    ways = (True,) if args.only_merges else (True, False)
    if args.tokenizers_only:
        names = args.tokenizer or OTHER_TOKENIZERS
        save(args.label, {f"{name}_states": tokenizer_rows(name, args.bytes, ways) for name in names})
        return
    if args.memory_only:
        save(args.label, {"emoji_states_memory": memory_rows(ways)})
        return
    from tokwork.bytelevel.canonical import CanonicalEncoder

    torch.set_num_threads(1)
    lm = ByteLM.from_pretrained(smollm2_folder(), tolerance=0.0)
    peer = ByteLM(lm.model, lm.tokenizer, tolerance=0.0)
    peer.encoder = CanonicalEncoder(lm.tokenizer, from_merges=False)
    for model in (lm, peer):
        model.score("A warm-up text, scored once: é 中.".encode())
    rows, peers = {}, {}
    print(f"{'text':<12} {'way':<8} {'bytes':>5} {'chars':>5} {'total s':>8} {'model s':>8} {'other s':>8} "
          f"{'other/model':>11}")
    for name, data in texts(args.bytes).items():
        for way, model, table in (("merges", lm, rows), ("encoded", peer, peers))[:len(ways)]:
            table[name] = score_row(model, data)
            row = table[name]
            print(f"{name:<12} {way:<8} {row['bytes']:>5} {row['chars']:>5} {row['seconds']:>8.2f} "
                  f"{row['model_seconds']:>8.2f} {row['other_seconds']:>8.2f} {row['other_to_model']:>11.2f}",
                  flush=True)
        if name in peers and peers[name]["bits_per_byte"] != rows[name]["bits_per_byte"]:
            raise SystemExit(f"{name}: the two ways disagree ({rows[name]['bits_per_byte']!r} against "
                             f"{peers[name]['bits_per_byte']!r})")
    found = {"rows": rows, "peer_encoding_every_completion": peers} if peers else {"rows": rows}
    save(args.label, {**found, "emoji_states_memory": memory_rows(ways),
                      **{f"{name}_states": tokenizer_rows(name, args.bytes, ways) for name in OTHER_TOKENIZERS}})


def tokenizer_rows(name: str, size: int, ways: tuple[bool, ...]) -> dict:
    """Seconds to work out the canonical states at every byte of the texts with a reference tokenizer
    alone, from the merges and (the peer) by encoding every completion; the states must be equal."""
    from tokwork import load_tokenizer
    from tokwork.bytelevel.canonical import CanonicalEncoder
    from tokwork.bytelevel.canonical_text import CanonicalText
    from tokwork.cache import cache_root

    tokenizer = trained_sentencepiece() if name == "sentencepiece" else load_tokenizer(cache_root() / "tokenizers" / name)
    started = time.perf_counter()
    merges = CanonicalEncoder(tokenizer)
    getattr(merges._merge_cuts, "_merges", None)  # the merge table, read once per tokenizer, timed apart
    setup = time.perf_counter() - started
    print(f"{name}: merges or pieces read in {setup:.2f} s")
    rows = {"merge_table_seconds": setup}
    for text_name, data in texts(size).items():
        found = {}
        for from_merges in ways:
            encoder = merges if from_merges else CanonicalEncoder(tokenizer, from_merges=False)
            text = CanonicalText(encoder, data)
            started = time.perf_counter()
            states = [text.states(end) for end in range(len(data) + 1)]
            found["merges" if from_merges else "encoded"] = (time.perf_counter() - started, states)
        if len(found) == 2 and found["merges"][1] != found["encoded"][1]:
            raise SystemExit(f"{name}, {text_name}: the two ways give different states")
        rows[text_name] = {way: {"seconds": seconds, "states": sum(map(len, states))}
                           for way, (seconds, states) in found.items()}
        print(f"{name} states {text_name:<12} " + "  ".join(f"{way} {row['seconds']:.2f} s"
                                                           for way, row in rows[text_name].items()), flush=True)
    return rows


def trained_sentencepiece():
    """A SentencePiece BPE with byte fallback, as `tokwork train unigram --model-type bpe` makes it (no
    normalisation), of SENTENCEPIECE_VOCAB pieces on the shipped UDHR (all languages, the measured texts
    among them) and English sample: a stand-in for the `.model` files of Llama 2 style models."""
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    corpus = sorted((REPO / "corpora" / "udhr").glob("*.txt")) + [REPO / "corpora" / "en" / "sample.txt"]
    config = UnigramConfig(vocab_size=SENTENCEPIECE_VOCAB, model_type="bpe")
    return train_unigram(corpus, config, progress=False).tokenizer


def score_row(lm: ByteLM, data: bytes) -> dict:
    """Exact scoring of `data`: total, model and other seconds, and what the scores were."""
    started = time.perf_counter()
    scores = lm.score(data)
    seconds = time.perf_counter() - started
    model = scores.stats["model_seconds"]
    return {"bytes": len(data), "chars": len(data.decode()), "seconds": seconds, "model_seconds": model,
            "other_seconds": seconds - model, "other_to_model": (seconds - model) / model,
            "forward_calls": scores.stats["forward_calls"], "states": scores.stats["states"],
            "bits_per_byte": scores.bits_per_byte}


def memory_rows(ways: tuple[bool, ...]) -> dict:
    """The emoji line's states in a child, from the merges and (the peer) by encoding completions."""
    found = {}
    for from_merges in ways:
        way = "merges" if from_merges else "encoded"
        memory = found[way] = states_memory(from_merges)
        print(f"emoji line, canonical states of every byte ({way}): {memory['states']} states, "
              f"{memory['seconds']:.2f} s, peak {memory['peak_rss_mib']:.0f} MiB")
    return found


def save(label: str, parts: dict) -> None:
    """Add `parts` to the run `label` in the results file (other runs are kept)."""
    found = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    found[label] = {**found.get(label, {}), "machine": machine_info(threads=1), **parts}
    write_results(RESULTS, found, indent=1)
    print(f"written to {RESULTS} under '{label}'")


if __name__ == "__main__":
    main()
