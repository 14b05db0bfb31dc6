"""Donor spaces: a donor model with the target vocabulary, the source's own hidden states, MiniLM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokwork import load_tokenizer
from tokwork.errors import TokworkError
from tokwork.transplant.donors import DonorModel, SourceContext, TextEncoder, resolve_donor
from tokwork.transplant.registry import get_method

from .conftest import pico_model
from .test_methods import context_for


def test_source_context_reads_a_shared_token_after_bos(pico):
    source, target = pico()
    context = context_for(source, target, donor=SourceContext(layer=0.5))
    alignment = context.alignment
    token = int(alignment.anchor_target_ids[3])
    vector = context.donor.vectors(context, np.array([token]))[0]
    with torch.no_grad():
        states = context.model(torch.tensor([[0, int(alignment.source_ids[token])]]), output_hidden_states=True)
    assert torch.allclose(vector, states.hidden_states[1][0, 1], atol=1e-5)
    embeddings = get_method("omp").function(context, k=8)
    assert torch.isfinite(embeddings.input).all()


def test_donor_model_must_share_the_target_vocabulary(pico, tmp_path):
    source, target = pico()
    donor = tmp_path / "donor"
    donor.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (donor / name).write_bytes((target / name).read_bytes())
    pico_model(donor, rows=load_tokenizer(target).vocab_size, seed=7)
    context = context_for(source, target, donor=DonorModel(donor))
    rows = context.donor.vectors(context, np.array([1, 5]))
    assert torch.equal(rows, DonorModel(donor).matrix[[1, 5]])
    assert torch.isfinite(get_method("hybrid").function(context).input).all()
    wrong = context_for(source, source, donor=DonorModel(donor))
    with pytest.raises(TokworkError, match="does not use the target tokenizer"):
        wrong.donor.vectors(wrong, np.array([1]))


def test_resolve_donor_names(tmp_path):
    assert isinstance(resolve_donor("source"), SourceContext)
    assert isinstance(resolve_donor(None), TextEncoder)
    with pytest.raises(TokworkError, match="neither minilm, source, nor an existing model folder"):
        resolve_donor(str(tmp_path / "nothing"))


def test_minilm_separates_words_but_not_case():
    vectors = TextEncoder().encode(["hello", "Hello", " hello", "zebra"])
    assert torch.allclose(vectors[0], vectors[1], atol=1e-5) and torch.allclose(vectors[0], vectors[2], atol=1e-5)
    assert float(vectors[0] @ vectors[3]) < 0.9
    assert torch.allclose(vectors.norm(dim=1), torch.ones(4), atol=1e-5)


def test_a_corrupt_text_encoder_folder_is_one_error(tmp_path):
    from tokwork.transplant.donors import minilm_folder

    copy = tmp_path / "encoder"
    copy.mkdir()
    for part in minilm_folder().iterdir():
        if part.is_file():
            data = part.read_bytes()
            (copy / part.name).write_bytes(data[:1000] if part.suffix == ".safetensors" else data)
    with pytest.raises(TokworkError, match="donor text encoder .* cannot be loaded"):
        resolve_donor(str(copy)).encode(["hello"])
