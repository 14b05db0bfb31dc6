"""How much the token a text starts after moves the distillation benchmark's floor.

`tokwork eval` starts each text after the tokenizer's bos (eos without one). SmolLM2's bos is the chat token
`<|im_start|>`; the students' tokenizers (GPT-2, tokwork's BPE) have `<|endoftext|>` there, a row the
transplant copies from SmolLM2's own `<|endoftext|>`. This scores the teacher, SmolLM2 with its own
tokenizer, on the held-out texts of `benchmarks/distill.py` after each of the two tokens, so that the
floor's share in the "gap closed" figures can be read off.

    .venv/bin/python benchmarks/start_token.py        (needs `make model corpora`; about two CPU-minutes)

Prints the table and writes `benchmarks/results/start_token.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from distill import ENGLISH, heldout_texts  # noqa: E402

from tokwork.tokenizer import SpecialTokens  # noqa: E402
from tokwork.transplant.checkpoint import load_checkpoint  # noqa: E402
from tokwork.transplant.evaluate import bits_per_byte  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "start_token.json"


class StartsAfter:
    """The tokenizer with another token in its bos role (what `tokwork eval` starts a text after)."""

    def __init__(self, tokenizer, token_id: int):
        self._tokenizer, self._token_id = tokenizer, token_id

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    @property
    def specials(self) -> SpecialTokens:
        return SpecialTokens(bos=self._token_id, eos=None, pad=None, unk=None)


def main() -> None:
    torch.set_num_threads(2)
    texts = heldout_texts()
    teacher = load_checkpoint("smollm2")
    rows = {}
    for token in ("<|im_start|>", "<|endoftext|>"):
        token_id = teacher.tokenizer.token_to_id(token)
        scores = bits_per_byte(teacher.model, StartsAfter(teacher.tokenizer, token_id), texts)
        by_text = {t.name: t for t in scores.texts}
        pooled = [by_text[name] for name in ENGLISH]
        rows[token] = {"token_id": token_id,
                       "pooled": sum(t.bits for t in pooled) / sum(t.bytes for t in pooled),
                       **{t.name: t.bits_per_byte for t in scores.texts}}
    names = ["pooled", *(t for t in texts)]
    print(f"{'starts after':<16}" + "".join(f"{n:>16}" for n in names))
    for token, row in rows.items():
        print(f"{token:<16}" + "".join(f"{row[n]:>16.4f}" for n in names))
    RESULTS.write_text(json.dumps({"teacher": "smollm2", "texts": {k: len(v.encode()) for k, v in texts.items()},
                                   "rows": rows}, indent=1) + "\n", encoding="utf-8")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
