"""The real model: SmolLM2-135M onto GPT-2's tokenizer keeps its shared-token logits exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_smollm2_onto_gpt2_keeps_shared_logits(reference_tokenizer):
    from tokwork.smollm2 import smollm2_folder
    from tokwork.transplant.checkpoint import apply_embeddings, load_checkpoint
    from tokwork.transplant.pipeline import transplant_vocabulary

    source = smollm2_folder()
    gpt2 = reference_tokenizer("gpt2")
    result = transplant_vocabulary(source, gpt2.source, None, method="subword-mean")
    report = result.report
    # counted from the two tokenizer.json files: both spell tokens in GPT-2's byte alphabet, so a GPT-2 token is
    # an exact match where SmolLM2 stores the same string; GPT-2's one added token (<|endoftext|>) matches by
    # role; the rest is new
    spelled = {}
    for name, folder in (("gpt2", Path(gpt2.source)), ("smollm2", source)):
        spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        assert spec["model"]["type"] == "BPE" and spec["pre_tokenizer"]["type"] == "ByteLevel"
        spelled[name] = set(spec["model"]["vocab"]) - {t["content"] for t in spec["added_tokens"]}
    exact = len(spelled["gpt2"] & spelled["smollm2"])
    special = gpt2.vocab_size - len(spelled["gpt2"])
    assert (report.exact, report.bytes, report.special, report.new) == (
        exact, 0, special, gpt2.vocab_size - exact - special)
    original = load_checkpoint(source).model
    model = apply_embeddings(load_checkpoint(source).model, result.alignment, result.embeddings)
    ids = gpt2.encode("The capital of France is")
    alignment = result.alignment
    assert all(alignment.source_ids[i] >= 0 for i in ids)
    shared_target = torch.from_numpy(alignment.anchor_target_ids)
    shared_source = torch.from_numpy(alignment.source_ids[alignment.anchor_target_ids])
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits[0][:, shared_target]
        want = original(torch.tensor([alignment.source_ids[ids].tolist()])).logits[0][:, shared_source]
    assert torch.allclose(got, want, atol=1e-4)
    assert gpt2.decode([int(shared_target[got[-1].argmax()])]) == " Paris"
