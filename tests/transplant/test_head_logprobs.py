"""The output layer read a block of positions at a time: the same log-probabilities and gradients as the
model's whole logits, and a distillation step that takes the same values either way."""

from __future__ import annotations

import pytest
import torch

from tokwork.causal_lm import plain_output_layer
from tokwork.pico import pico_model
from tokwork.transplant.distill import head_logprobs
from tokwork.transplant.distill.head_logprobs import block_token_logprobs, reads_by_block
from tokwork.transplant.distill.losses import token_logprobs


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("tied", [True, False])
def test_blocks_give_the_whole_logits_log_probabilities_and_gradients(kind, tied, monkeypatch):
    monkeypatch.setattr(head_logprobs, "BLOCK_LOGITS", 300 * 5)  # 5 rows a block: a batch of 3 x 7 is 5 blocks
    model = pico_model(300, kind=kind, tied=tied, seed=4, dtype=torch.float64)
    ids = torch.randint(0, 300, (3, 7), generator=torch.Generator().manual_seed(1))
    weights = torch.rand(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    whole = token_logprobs(model(ids).logits, ids)
    (whole * weights).sum().backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    head = plain_output_layer(model)
    assert head is not None
    hidden = model.get_decoder()(ids).last_hidden_state
    blocks = block_token_logprobs(hidden, head.weight, ids, compute=torch.float64)
    (blocks * weights).sum().backward()
    # both take the log-softmax in float32 (the whole logits' way: log_softmax; the blocks': logsumexp)
    torch.testing.assert_close(blocks, whole, rtol=1e-6, atol=2e-6)
    for name, p in model.named_parameters():
        scale = float(expected[name].abs().max())  # float32 rounding of the softmax, on the gradient's scale
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-5, atol=1e-6 * scale, msg=name)


def test_blocks_in_bfloat16_round_as_the_models_autocast_does():
    model = pico_model(300, seed=5, dtype=torch.float32)
    ids = torch.randint(0, 300, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        whole = token_logprobs(model(ids).logits, ids)
        hidden = model.get_decoder()(ids).last_hidden_state
        blocks = block_token_logprobs(hidden, model.get_output_embeddings().weight, ids, compute=torch.bfloat16)
    assert blocks.dtype == torch.float32
    torch.testing.assert_close(blocks, whole, rtol=0, atol=1e-6)


def test_only_large_batches_of_plain_heads_read_by_block(monkeypatch):
    model = pico_model(300, seed=5, dtype=torch.float32)
    ids = torch.zeros(4, 100, dtype=torch.long)  # 120,000 logits
    assert not reads_by_block(model, ids)
    monkeypatch.setattr(head_logprobs, "MAX_LOGITS", 100_000)
    assert reads_by_block(model, ids) and not reads_by_block(model, ids, whole_logits=True)
    model.config.final_logit_softcapping = 30.0  # Gemma's logits are not a plain product
    assert plain_output_layer(model) is None and not reads_by_block(model, ids)
