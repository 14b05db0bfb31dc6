"""What code that runs a Hugging Face causal LM in its own way needs to know of it.

Its context length (the byte level's tree and windows, `tokwork eval`'s windows), whether a tokenizer
fits it (the byte level, a model scored with another tokenizer), and whether its logits
are a plain product of its last hidden states and its output layer: the byte level (its rows reordered)
and the distillation (a block of positions at a time) apply that layer themselves only then.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tokwork.errors import TokenizerFormatError, TokworkError

# The class names transformers gives left-to-right language models (LlamaForCausalLM, GPT2LMHeadModel).
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")

# Models may pad their embedding matrix past the tokenizer's last id; more than this many extra rows
# means the model was trained with another tokenizer.
MAX_PADDING_ROWS = 1024


def causal_lm_problem(config: dict) -> str | None:
    """Why a model with this config.json is not a left-to-right language model: its config names only
    other architectures, such as BERT's masked LM, which `AutoModelForCausalLM` still loads but whose
    positions see the text after them; None when it is one (or does not say)."""
    architectures = config.get("architectures") or []
    if architectures and not any(str(a).endswith(CAUSAL_SUFFIXES) for a in architectures):
        return f"is a {', '.join(map(str, architectures))}, not a causal language model"
    if config.get("is_encoder_decoder", False):
        return "is an encoder-decoder model, not a causal language model"
    return None


def check_causal_lm(folder: Path, *, role: str = "model", why: str = "") -> dict:
    """Refuse (one line, `TokworkError`) a model folder whose config.json says it is no causal LM, before
    loading it (transformers would load an encoder as a causal LM, with a warning); `why` ends the
    message. Returns the config read ({} for a folder without a readable one, left to the loader)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict):
        return {}
    problem = causal_lm_problem(config)
    if problem:
        raise TokworkError(f"the {role} '{folder}' {problem}{why}")
    rows = embedding_rows(Path(folder))
    vocab_size = config.get("vocab_size")
    if rows is not None and isinstance(vocab_size, int) and rows != vocab_size:
        raise TokworkError(f"the {role} '{folder}' is inconsistent: its config.json says vocab_size {vocab_size:,} "
                           f"but its weights have {rows:,} embedding rows; set vocab_size to {rows:,}")
    return config


# Names of the input embedding matrix in the common decoder families (Llama, Qwen, Gemma, GPT-2, GPT-NeoX).
EMBEDDING_NAMES = ("embed_tokens.weight", "wte.weight", "embed_in.weight")


def embedding_rows(folder: Path) -> int | None:
    """Rows of the input embedding matrix as the folder's safetensors headers give them (no weights read);
    None where no file or no known name says."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as weights:
                names = weights.keys()  # a safe_open handle is no dict: it does not iterate
                for name in names:
                    if name.endswith(EMBEDDING_NAMES):
                        return int(weights.get_slice(name).get_shape()[0])
        except (OSError, SafetensorError):
            return None  # a corrupt file: the loader says so
    return None


def model_rows(model) -> int:
    """Number of next-token logits the model produces."""
    head = model.get_output_embeddings()
    return int(head.weight.shape[0]) if head is not None else int(model.config.vocab_size)


def check_tokenizer_fits(model, tokenizer) -> None:
    """Refuse a tokenizer the model was not trained with, as far as sizes tell: more tokens than the model
    has rows, or far fewer (past `MAX_PADDING_ROWS` of padding)."""
    rows = model_rows(model)
    if rows < tokenizer.vocab_size or rows > tokenizer.vocab_size + MAX_PADDING_ROWS:
        raise TokenizerFormatError(
            f"model and tokenizer do not belong together: the model predicts {rows:,} tokens, the "
            f"tokenizer has {tokenizer.vocab_size:,}; pass the tokenizer the model was trained with")


def plain_output_layer(model) -> torch.nn.Linear | None:
    """The model's output layer when its logits are exactly `model.get_decoder()(...) @ layer.weight.T` (a
    linear map without bias, no logit softcapping or scale, the decoder reachable), else None."""
    head = model.get_output_embeddings()
    config = model.config
    plain = (isinstance(head, torch.nn.Linear) and head.bias is None
             and not getattr(config, "final_logit_softcapping", None)
             and getattr(config, "logit_scale", None) in (None, 1.0)
             and callable(getattr(model, "get_decoder", None)))
    return head if plain else None


def context_length(model) -> int | None:
    """The most positions `model` reads (its config's `max_position_embeddings`, GPT-2's `n_positions`);
    None when the config does not say."""
    found = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(found) if isinstance(found, int) and found > 0 else None
