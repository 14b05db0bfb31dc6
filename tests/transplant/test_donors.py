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


def donor_folder(target, folder):
    """A donor model: the target's tokenizer over a pico model with a row for each of its tokens."""
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((target / name).read_bytes())
    return pico_model(folder, rows=load_tokenizer(target).vocab_size, seed=7)


def test_donor_model_must_share_the_target_vocabulary(pico, tmp_path):
    source, target = pico()
    donor = donor_folder(target, tmp_path / "donor")
    context = context_for(source, target, donor=DonorModel(donor))
    rows = context.donor.vectors(context, np.array([1, 5]))
    assert torch.equal(rows, DonorModel(donor).matrix[[1, 5]])
    wrong = context_for(source, source, donor=DonorModel(donor))
    with pytest.raises(TokworkError, match="does not use the target tokenizer"):
        wrong.donor.vectors(wrong, np.array([1]))


def test_hybrid_takes_its_neighbours_from_the_donor_model(pico, tmp_path):
    """Give the new token `zz` the donor vector of a shared token: with only its nearest neighbour (k=1)
    and only the global part (mix=1), its row is that token's source row. Which token it is follows the
    donor, so a hybrid that ignored the donor could not pass both ways round."""
    source, target = pico()
    donor = donor_folder(target, tmp_path / "donor")
    target_tokenizer, source_tokenizer = load_tokenizer(target), load_tokenizer(source)
    zz = target_tokenizer.token_to_id("zz")
    for twin in ("hello", "he"):
        space = DonorModel(donor)
        space.matrix[zz] = space.matrix[target_tokenizer.token_to_id(twin)]
        context = context_for(source, target, donor=space)
        rows = get_method("hybrid").function(context, mix=1.0, k=1, calibrate=0.0).input
        assert torch.equal(rows[zz], context.input_embeddings[source_tokenizer.token_to_id(twin)]), twin


def test_resolve_donor_names(pico, tmp_path):
    from safetensors.torch import load_file

    from tokwork.transplant.donors import minilm_folder

    for name in (None, "", "minilm"):
        default = resolve_donor(name)
        assert isinstance(default, TextEncoder) and default.path == minilm_folder()
    assert isinstance(resolve_donor("source"), SourceContext) and resolve_donor("source").layer == 0.5
    _, target = pico()
    folder = donor_folder(target, tmp_path / "donor")
    donor = resolve_donor(str(folder))
    assert isinstance(donor, DonorModel)
    assert torch.equal(donor.matrix, load_file(folder / "model.safetensors")["model.embed_tokens.weight"])
    encoder = tmp_path / "sentence-encoder"  # a sentence-transformers folder is encoded, not read as rows
    encoder.mkdir()
    (encoder / "modules.json").write_text("[]")
    assert isinstance(resolve_donor(str(encoder)), TextEncoder) and resolve_donor(str(encoder)).path == encoder
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
