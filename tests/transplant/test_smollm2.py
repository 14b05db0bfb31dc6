"""The real model: SmolLM2-135M onto GPT-2's tokenizer keeps its shared-token logits exactly."""

from __future__ import annotations

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
    assert (report.exact, report.bytes, report.special, report.new) == (36960, 0, 1, 13296)
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
