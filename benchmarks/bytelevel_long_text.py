"""What the tokenizer side of exact byte-level scoring costs as a text grows (`tokwork.bytelevel`).

Scoring a text of n bytes needs the canonical encodings of its n prefixes (`canonical.py`). Encoding each
prefix whole costs about n^2 / 2 bytes of tokenizer work, which is what Qwen 3 (an NFC normaliser before its
regex split) and Gemma 3 (no pre-tokenizer in effect) paid; GPT-2 and Llama 3 (a regex split, no
normaliser) have encoded each prefix from a window a few pre-tokens back. Now Qwen 3 takes windows where
NFC splits the text and Gemma 3 where no token holds the two characters side by side (`safe_cuts.py`), as
do SentencePiece models with byte fallback (tokwork's own, without a dummy prefix, and a Llama 2 style one
with it, both 8,000-piece BPE trained here on the shipped UDHR and English sample), and the latter written as
a Llama 2 style `tokenizer.json` (the layout of transformers' legacy conversion: BPE with byte fallback under
a Prepend("▁") + Replace(" ", "▁") normaliser), which takes windows at spaces too.

For each tokenizer (no model: none of these models is here, and the model's cost is the same either way),
this times working out the states of every byte of the first n bytes of the held-out English sample and of
a text of UDHR articles in five scripts, from windows and (the peer, up to --peer-bytes) by encoding every
prefix whole as before, one after the other in the same run; the two must give the same states.

Run: .venv/bin/python benchmarks/bytelevel_long_text.py [--label NAME] [--sizes 2000 8000 32000 128000]
     [--peer-bytes 8000] [--tokenizer gpt2|llama3|qwen3|gemma3|sentencepiece|sentencepiece-dummy-prefix|
     llama2-style-json ...] [--source english|udhr-mix ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bytelevel_scripts import SENTENCEPIECE_VOCAB, trained_sentencepiece, utf8_cut  # noqa: E402
from machine import machine_info  # noqa: E402
from results_file import write_results  # noqa: E402

from tokwork import load_tokenizer  # noqa: E402
from tokwork.bytelevel.canonical import CanonicalEncoder  # noqa: E402
from tokwork.bytelevel.canonical_text import CanonicalText  # noqa: E402
from tokwork.cache import cache_root  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "bytelevel_long_text.json"
TOKENIZERS = ("gpt2", "llama3", "qwen3", "gemma3", "sentencepiece", "sentencepiece-dummy-prefix",
              "llama2-style-json")
SCRIPTS = ("rus", "hin", "cmn_hans", "jpn", "kor")  # UDHR articles taken in turn from these


def udhr_mix() -> bytes:
    """UDHR articles of five scripts, one language after the other article by article (NFC), about 79 KB."""
    import unicodedata

    articles = {code: (REPO / "corpora" / "udhr" / f"{code}.txt").read_text().splitlines() for code in SCRIPTS}
    parts = [articles[code][k] for k in range(max(map(len, articles.values())))
             for code in SCRIPTS if k < len(articles[code])]
    return unicodedata.normalize("NFC", "\n".join(parts)).encode()


def dummy_prefix_sentencepiece():
    """A Llama 2 style SentencePiece BPE (byte fallback, identity normaliser, dummy-prefix space) of
    SENTENCEPIECE_VOCAB pieces on the shipped UDHR and English sample, trained with `sentencepiece`."""
    import io

    import sentencepiece as spm

    from tokwork.formats.sentencepiece_model import SentencePieceTokenizer

    files = sorted((REPO / "corpora" / "udhr").glob("*.txt")) + [REPO / "corpora" / "en" / "sample.txt"]
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model,
                                   vocab_size=SENTENCEPIECE_VOCAB, model_type="bpe", byte_fallback=True,
                                   add_dummy_prefix=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, num_threads=1, minloglevel=2)
    return SentencePieceTokenizer.from_bytes(model.getvalue())


def load(name: str):
    """A reference tokenizer from the cache, or one of the two SentencePiece models trained here."""
    if name == "sentencepiece":
        return trained_sentencepiece()  # tokwork's own: no dummy prefix
    if name == "sentencepiece-dummy-prefix":
        return dummy_prefix_sentencepiece()
    if name == "llama2-style-json":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tokwork-llama2-") as folder:  # read whole on loading
            path = Path(folder) / "tokenizer.json"
            dummy_prefix_sentencepiece().legacy_tokenizer_json().save(str(path))
            return load_tokenizer(path)
    return load_tokenizer(cache_root() / "tokenizers" / name)


def timed_states(encoder: CanonicalEncoder, data: bytes, *, full: bool) -> tuple[float, list]:
    """Seconds to work out the states at every byte; the states (in full when `full`, else their count)."""
    text = CanonicalText(encoder, data)
    started = time.perf_counter()
    found = [text.state_windows(end) for end in range(len(data) + 1)]
    seconds = time.perf_counter() - started
    return seconds, ([text.states(end) for end in range(len(data) + 1)] if full else [len(f) for f in found])


def tokenizer_rows(name: str, sources: dict[str, bytes], sizes: list[int], peer_bytes: int) -> dict:
    tokenizer = load(name)
    encoder = CanonicalEncoder(tokenizer)
    started = time.perf_counter()
    windowed, _ = encoder.windowed, encoder._merge_cuts  # cut tables read once, timed apart
    rows = {"windowed": windowed, "setup_seconds": time.perf_counter() - started}
    whole = encoder.whole_prefixes()
    for source, text in sources.items():
        for size in sizes:
            data = utf8_cut(text, size)
            if len(data) < size * 0.95:
                continue
            peer = len(data) <= peer_bytes
            seconds, states = timed_states(encoder, data, full=peer)
            row = {"bytes": len(data), "windows_seconds": seconds, "states": sum(map(len, states)) if peer
                   else sum(states)}
            if peer:
                row["whole_prefixes_seconds"], expected = timed_states(whole, data, full=True)
                if expected != states:
                    raise SystemExit(f"{name}, {source} {size}: windows and whole prefixes give different states")
                row["ratio"] = row["whole_prefixes_seconds"] / seconds
            rows[f"{source} {len(data)}"] = row
            shown = (f"whole prefixes {row['whole_prefixes_seconds']:7.2f} s ({row['ratio']:.1f}x)" if peer else "")
            print(f"{name:7} {source:8} {len(data):7} bytes: windows {seconds:6.2f} s  {shown}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="run", help="name of this run in the JSON (e.g. the commit)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000, 128000],
                        help="bytes of each text (the UDHR mix has about 79,000)")
    parser.add_argument("--peer-bytes", type=int, default=8000,
                        help="encode every prefix whole (the peer) for texts up to this many bytes")
    parser.add_argument("--tokenizer", action="append", choices=TOKENIZERS, help="just these (repeatable)")
    parser.add_argument("--source", action="append", choices=("english", "udhr-mix"),
                        help="just these texts (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where the results go (default: the committed file under benchmarks/results)")
    args = parser.parse_args()
    globals()["RESULTS"] = args.output  # every function here writes and reads RESULTS
    sources = {"english": (REPO / "corpora" / "en" / "heldout.txt").read_bytes(), "udhr-mix": udhr_mix()}
    sources = {name: text for name, text in sources.items() if name in (args.source or sources)}
    found = {name: tokenizer_rows(name, sources, args.sizes, args.peer_bytes)
             for name in args.tokenizer or TOKENIZERS}
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs[args.label] = {**runs.get(args.label, {}), "machine": machine_info(threads=1),
                        "peer_bytes": args.peer_bytes, **found}
    write_results(RESULTS, runs, indent=1)
    print(f"written to {RESULTS} under '{args.label}'")


if __name__ == "__main__":
    main()
