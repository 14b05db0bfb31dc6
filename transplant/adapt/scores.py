"""Scoring the stages of an adaptation on held-out text: tokens per byte of the original and the extended
tokenizer, and bits per byte (`tokwork.transplant.evaluate`, comparable across tokenizers) of the original,
the zero-shot transplanted and the distilled model."""

from __future__ import annotations

from pathlib import Path

STAGES = ("original", "zero-shot", "distilled")


def score_stages(models: dict[str, Path], texts: dict[str, str], *, window: int, progress: bool) -> dict:
    """Tokens per byte and bits per byte of each model (stage name -> folder) on each text (name -> text)."""
    from tokwork.transplant.checkpoint import load_checkpoint
    from tokwork.transplant.evaluate import bits_per_byte

    stages = {}
    for stage, folder in models.items():
        checkpoint = load_checkpoint(folder)
        evaluation = bits_per_byte(checkpoint.model, checkpoint.tokenizer, texts, window=window, progress=progress)
        stages[stage] = {}
        for score in evaluation.texts:
            tokens, size = len(checkpoint.tokenizer.encode(texts[score.name])), len(texts[score.name].encode())
            stages[stage][score.name] = {"tokens": tokens, "tokens_per_byte": tokens / size,
                                         "bits_per_byte": score.bits_per_byte, "scored_bytes": score.bytes}
        del checkpoint
    return {"window": window, "texts": {name: {"bytes": len(t.encode()), "chars": len(t)} for name, t in texts.items()},
            "stages": stages}


def comparison_rows(evaluation: dict) -> list[dict]:
    """Per text: tokens per byte before and after, and bits per byte of each stage, with the changes (%)."""
    stages = evaluation["stages"]
    rows = []
    for name, size in evaluation["texts"].items():
        before, zero_shot, distilled = (stages[s][name] for s in STAGES)
        rows.append({
            "text": name, "bytes": size["bytes"],
            "tokens_per_byte_before": before["tokens_per_byte"], "tokens_per_byte_after": distilled["tokens_per_byte"],
            "fewer_tokens_percent": 100 * (1 - distilled["tokens_per_byte"] / before["tokens_per_byte"]),
            "bits_per_byte_original": before["bits_per_byte"], "bits_per_byte_zero_shot": zero_shot["bits_per_byte"],
            "bits_per_byte_distilled": distilled["bits_per_byte"],
            "bits_per_byte_change_percent": 100 * (distilled["bits_per_byte"] / before["bits_per_byte"] - 1),
        })
    return rows
