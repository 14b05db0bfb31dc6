"""A special token both vocabularies hold is copied, even when only one side names its role."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from tokwork import load_tokenizer
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.transplant.align import Match, align_vocabularies
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.pipeline import transplant_vocabulary

from .conftest import pico_model

UDHR = Path(__file__).resolve().parents[2] / "corpora" / "udhr"
END = "<|endoftext|>"


@pytest.fixture(scope="module")
def roleless_source_and_target(tmp_path_factory):
    """A pico Llama whose tokenizer (a tokwork BPE re-saved by plain transformers) names no bos/eos, and a
    tokwork BPE on French as the target, whose card makes <|endoftext|> its bos and eos."""
    root = tmp_path_factory.mktemp("specials")
    train_bpe([UDHR / "eng.txt"], BPEConfig(vocab_size=300), progress=False).save(root / "bpe-en", force=True)
    train_bpe([UDHR / "fra.txt"], BPEConfig(vocab_size=300), progress=False).save(root / "target", force=True)
    source = root / "source"
    PreTrainedTokenizerFast(tokenizer_file=str(root / "bpe-en" / "tokenizer.json")).save_pretrained(source)
    pico_model(source, tied=False, rows=load_tokenizer(source).vocab_size)
    return source, root / "target"


def test_a_role_the_source_does_not_name_falls_back_to_the_name(roleless_source_and_target):
    source, target = (load_tokenizer(path) for path in roleless_source_and_target)
    assert source.specials.eos is None and target.specials.eos == target.token_to_id(END)
    alignment = align_vocabularies(source, target)
    token_id = target.token_to_id(END)
    assert alignment.source_ids[token_id] == source.token_to_id(END)
    assert alignment.kinds[token_id] == Match.SPECIAL


@pytest.mark.parametrize("method", ["zero", "mean", "subword-mean"])
def test_every_method_copies_the_shared_special_row(roleless_source_and_target, tmp_path, method):
    source, target = roleless_source_and_target
    transplant_vocabulary(source, target, tmp_path / "out", method=method)
    before, after = load_checkpoint(source), load_checkpoint(tmp_path / "out")
    old, new = before.tokenizer.token_to_id(END), after.tokenizer.token_to_id(END)
    assert torch.equal(after.input_embeddings()[new], before.input_embeddings()[old])
    assert torch.equal(after.output_embeddings()[new], before.output_embeddings()[old])
