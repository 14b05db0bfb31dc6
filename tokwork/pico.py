"""Pico models: tiny random causal LMs for tests, benchmarks and demos (2 layers, hidden size 32).

They make transplant and byte-level checks run in a second on a CPU. The same arguments give the same
weights, bit for bit, so a test, a benchmark and a demo that name a seed see the same model.
"""

from __future__ import annotations

import torch

KINDS = ("llama", "gpt2")


def pico_model(vocab_size: int, *, kind: str = "llama", seed: int = 0, tied: bool = False, spread: float = 0.3,
               head_spread: float | None = None, max_positions: int = 2048, end_of_text_id: int | None = None,
               dtype: torch.dtype = torch.float64):
    """A random `kind` model ("llama" or "gpt2") with `vocab_size` embedding rows, in eval mode and `dtype`.

    `spread` is the initialiser's standard deviation: the default 0.3 makes the model's guesses peaky, so that
    byte-level checks see probabilities far from uniform (transformers' own default is 0.02). `head_spread`
    redraws an untied output head with that deviation, to make it clearly different from the input matrix.
    `end_of_text_id` is written into the config as bos and eos (None: the config class's defaults).
    """
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    if kind not in KINDS:
        raise ValueError(f"unknown pico model kind '{kind}'; choose one of {', '.join(KINDS)}")
    specials = {} if end_of_text_id is None else {"bos_token_id": end_of_text_id, "eos_token_id": end_of_text_id}
    torch.manual_seed(seed)
    if kind == "llama":
        config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                             initializer_range=spread, tie_word_embeddings=tied, **specials)
    else:
        config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=max_positions,
                            initializer_range=spread, tie_word_embeddings=tied, **specials)
    model = AutoModelForCausalLM.from_config(config)
    if head_spread is not None and not tied:
        torch.nn.init.normal_(model.get_output_embeddings().weight, std=head_spread)
    return model.eval().to(dtype)
