"""How much the token a text starts after moves the distillation benchmark's floor and zero-shot row.

`tokwork eval` starts each text after the tokenizer's bos (eos without one). SmolLM2's bos is the chat token
`<|im_start|>`; the students' tokenizers (GPT-2, tokwork's BPE) have `<|endoftext|>` there, bos and eos at
once, whose row the transplant copies from SmolLM2's special of the same role: its bos `<|im_start|>`
before the transplant matched eos first, its eos `<|im_end|>` since (so that a transplanted model ends its
text where SmolLM2 does). This scores the teacher, SmolLM2 with its own tokenizer, on the held-out texts of
`benchmarks/distill.py` after each of the three tokens, and the zero-shot hybrid student onto GPT-2 made
now, with its `<|endoftext|>` row as the transplant gives it (SmolLM2's `<|im_end|>`) and set to SmolLM2's
`<|im_start|>` row (what the earlier matching gave), so that the floor's and the start row's share in the
"gap closed" figures can be read off.

    .venv/bin/python benchmarks/start_token.py        (needs `make model corpora`; about five CPU-minutes)

Prints the table and writes `benchmarks/results/start_token.json`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from distill import ENGLISH, heldout_texts  # noqa: E402
from results_file import write_results  # noqa: E402

from tokwork.tokenizer import SpecialTokens  # noqa: E402
from tokwork.transplant.checkpoint import load_checkpoint  # noqa: E402
from tokwork.transplant.evaluate import bits_per_byte  # noqa: E402
from tokwork.transplant.pipeline import transplant_vocabulary  # noqa: E402

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


def scored(model, tokenizer, texts: dict[str, str]) -> dict[str, float]:
    """Bits per byte pooled over the two English texts, and per text."""
    scores = bits_per_byte(model, tokenizer, texts)
    by_text = {t.name: t for t in scores.texts}
    pooled = [by_text[name] for name in ENGLISH]
    return {"pooled": sum(t.bits for t in pooled) / sum(t.bytes for t in pooled),
            **{t.name: t.bits_per_byte for t in scores.texts}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    torch.set_num_threads(2)
    texts = heldout_texts()
    teacher = load_checkpoint("smollm2")
    rows = {}
    for token in ("<|im_start|>", "<|endoftext|>", "<|im_end|>"):
        token_id = teacher.tokenizer.token_to_id(token)
        rows[token] = {"token_id": token_id,
                       **scored(teacher.model, StartsAfter(teacher.tokenizer, token_id), texts)}
    with tempfile.TemporaryDirectory() as folder:
        transplant_vocabulary("smollm2", "gpt2", Path(folder) / "student", method="hybrid")
        student = load_checkpoint(Path(folder) / "student")
    end = student.tokenizer.token_to_id("<|endoftext|>")
    embeddings = student.model.get_input_embeddings().weight
    given = embeddings[end].clone()
    im_end, im_start = (teacher.model.get_input_embeddings().weight[teacher.tokenizer.token_to_id(t)]
                        for t in ("<|im_end|>", "<|im_start|>"))
    rows["hybrid onto GPT-2, as transplanted"] = {"row_is_im_end": bool(torch.equal(given, im_end)),
                                                  **scored(student.model, student.tokenizer, texts)}
    with torch.no_grad():
        embeddings[end] = im_start  # tied: the output row too
    rows["hybrid onto GPT-2, <|im_start|> row"] = scored(student.model, student.tokenizer, texts)
    names = ["pooled", *(t for t in texts)]
    print(f"{'model, starts after':<38}" + "".join(f"{n:>14}" for n in names))
    for token, row in rows.items():
        print(f"{token:<38}" + "".join(f"{row[n]:>14.4f}" for n in names))
    write_results(args.output, {"teacher": "smollm2", "texts": {k: len(v.encode()) for k, v in texts.items()},
                                "rows": rows}, indent=1)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
