"""Methods on pico models: baselines, subword mean, OMP (exactness, duplicate-safe), hybrid."""

from __future__ import annotations

import zlib

import pytest
import torch

from tests.conftest import ENGLISH_SAMPLE
from tokwork import load_tokenizer
from tokwork.errors import ParameterError
from tokwork.transplant.align import align_vocabularies
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.donors import DonorSpace, token_texts
from tokwork.transplant.omp import merge_duplicates, orthogonal_matching_pursuit
from tokwork.transplant.registry import TransplantContext, get_method


class CaseBlindDonor(DonorSpace):
    """A donor like MiniLM at its worst: case, leading spaces and (optionally) a little noise ignored,
    so that `he`, `He` and ` he` share one vector: duplicates that make a plain OMP diverge."""

    name = "case-blind"

    def __init__(self, *, dim: int = 8, jitter: float = 0.0):
        self.dim, self.jitter = dim, jitter

    def compute(self, context, target_ids):
        rows = []
        for token_id, text in zip(target_ids, token_texts(context.alignment.target, target_ids), strict=True):
            key = text.strip().lower()
            base = torch.randn(self.dim, generator=torch.Generator().manual_seed(zlib.crc32(key.encode())))
            noise = torch.randn(self.dim, generator=torch.Generator().manual_seed(int(token_id))) * self.jitter
            rows.append(base + noise)
        return torch.stack(rows)


def context_for(source, target, *, donor=None):
    checkpoint = load_checkpoint(source)
    alignment = align_vocabularies(checkpoint.tokenizer, checkpoint.tokenizer.__class__.from_path(target),
                                   source_rows=checkpoint.input_embeddings().shape[0])
    return TransplantContext(alignment=alignment, input_embeddings=checkpoint.input_embeddings(),
                             output_embeddings=checkpoint.output_embeddings(), model=checkpoint.model, donor=donor)


def test_omp_with_k_full_recovers_a_vector_in_the_span():
    generator = torch.Generator().manual_seed(1)
    atoms = torch.randn(6, 16, generator=generator, dtype=torch.float64)
    truth = torch.tensor([[0.5, -1.25, 0.0, 2.0, 0.75, -0.3], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    targets = truth @ atoms
    indices, coefficients = orthogonal_matching_pursuit(targets, atoms, k=6, screen=0)
    rebuilt = torch.einsum("bk,bkd->bd", coefficients, atoms[indices])
    assert torch.allclose(rebuilt, targets, atol=1e-6)
    recovered = torch.zeros_like(truth).scatter_add_(1, indices, coefficients)
    assert torch.allclose(recovered, truth, atol=1e-5)
    # the one-atom target stops after one atom instead of fitting noise with the rest
    assert (coefficients[1] != 0).sum() == 1


def test_omp_picks_the_sparse_support_first():
    generator = torch.Generator().manual_seed(2)
    atoms = torch.nn.functional.normalize(torch.randn(200, 64, generator=generator, dtype=torch.float64), dim=1)
    targets = 2.0 * atoms[17] - 1.0 * atoms[150]
    indices, coefficients = orthogonal_matching_pursuit(targets[None], atoms, k=8, screen=0)
    assert set(indices[0, :2].tolist()) == {17, 150}
    assert torch.allclose(torch.einsum("bk,bkd->bd", coefficients, atoms[indices])[0], targets, atol=1e-8)


def test_omp_screening_keeps_k_full_exact_when_the_pool_holds_everything():
    generator = torch.Generator().manual_seed(3)
    atoms = torch.randn(10, 12, generator=generator, dtype=torch.float64)
    targets = torch.randn(4, 10, generator=generator, dtype=torch.float64) @ atoms
    indices, coefficients = orthogonal_matching_pursuit(targets, atoms, k=10, screen=4)  # pool = max(4, 4k)
    assert torch.allclose(torch.einsum("bk,bkd->bd", coefficients, atoms[indices]), targets, atol=1e-6)


@pytest.mark.parametrize("jitter", [0.0, 1e-9, 1e-4, 1e-3])
def test_omp_coefficients_stay_bounded_with_near_duplicate_atoms(jitter):
    """Without clipping: a target outside the atoms' span leaves a residual that a plain OMP fits with the
    tiny difference of a near-duplicate pair (coefficients ~1e4 at jitter 1e-4); the guards refuse that."""
    generator = torch.Generator().manual_seed(4)
    base = torch.nn.functional.normalize(torch.randn(8, 16, generator=generator, dtype=torch.float64), dim=1)
    targets = torch.randn(5, 16, generator=generator, dtype=torch.float64)
    noise = torch.randn(8, 16, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * jitter
    atoms = torch.cat([base, base + noise])  # every atom twice, the copy nudged by `jitter`
    indices, coefficients = orthogonal_matching_pursuit(targets, atoms, k=64, screen=0)
    assert torch.isfinite(coefficients).all() and coefficients.abs().max() < 50
    rebuilt = torch.einsum("bk,bkd->bd", coefficients, atoms[indices])
    best = torch.linalg.lstsq(base.T, targets.T).solution.T @ base  # the closest point of the base span
    assert torch.allclose(rebuilt, best, atol=2e-2)


def test_merge_duplicates_groups_identical_directions():
    atoms = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1e-9]])
    unique, group = merge_duplicates(atoms)
    assert len(unique) == 2 and group[0] == group[1] == group[3] != group[2]


@pytest.mark.parametrize("jitter", [0.0, 1e-7, 1e-3])
@pytest.mark.parametrize("tied", [True, False])
def test_omp_stays_finite_and_in_the_source_range_with_duplicate_donor_vectors(pico, jitter, tied):
    source, target = pico(tied=tied)
    context = context_for(source, target, donor=CaseBlindDonor(jitter=jitter))
    embeddings = get_method("omp").function(context, k=64, calibrate=0.0)
    new = torch.from_numpy(context.new_ids_with_bytes)
    for result, original in [(embeddings.input, context.input_embeddings),
                             (embeddings.output, context.output_embeddings)]:
        if original is None:
            assert result is None
            continue
        norms = original.norm(dim=1)
        assert torch.isfinite(result).all()
        assert (result[new].norm(dim=1) <= norms.max() * (1 + 1e-5)).all()
        assert (result[new].norm(dim=1) >= norms.min() * (1 - 1e-5)).all()


def test_omp_rejects_k_below_one(pico):
    source, target = pico()
    context = context_for(source, target, donor=CaseBlindDonor())
    with pytest.raises(ParameterError, match="k must be a positive"):
        get_method("omp").function(context, k=0)


def test_subword_mean_is_the_mean_of_the_pieces(pico):
    source, target = pico(tied=False)
    context = context_for(source, target)
    embeddings = get_method("subword-mean").function(context)
    alignment = context.alignment
    for token_id, pieces in alignment.new_pieces.items():
        for result, original in [(embeddings.input, context.input_embeddings),
                                 (embeddings.output, context.output_embeddings)]:
            assert torch.allclose(result[token_id], original[list(pieces)].mean(dim=0))


def test_baselines_fill_new_rows_and_copy_the_rest(pico):
    source, target = pico(padding=3)
    context = context_for(source, target)
    alignment = context.alignment
    source_rows = context.input_embeddings
    new = torch.from_numpy(alignment.new_ids)
    shared = torch.from_numpy(alignment.shared_target_ids)
    expected_new = {"zero": torch.zeros_like(source_rows[0]), "mean": source_rows[:-3].mean(dim=0)}
    for name in ("zero", "mean", "random"):
        rows = get_method(name).function(context).input
        assert rows.shape[0] == alignment.target_vocab + 3
        assert torch.equal(rows[shared], source_rows[torch.from_numpy(alignment.shared_source_ids)])
        assert torch.equal(rows[-3:], source_rows[-3:])
        if name in expected_new:
            assert torch.allclose(rows[new], expected_new[name].expand(len(new), -1))
    drawn = get_method("random").function(context, seed=5).input[new]
    assert not torch.allclose(drawn[0], drawn[1])
    assert torch.equal(drawn, get_method("random").function(context, seed=5).input[new])


def test_hybrid_mixes_local_and_global_rows(pico):
    source, target = pico()
    context = context_for(source, target, donor=CaseBlindDonor())
    local_only = get_method("hybrid").function(context, mix=0.0, calibrate=0.0).input
    global_only = get_method("hybrid").function(context, mix=1.0, calibrate=0.0).input
    mixed = get_method("hybrid").function(context, mix=0.3, calibrate=0.0).input
    new = torch.from_numpy(context.new_ids_with_bytes)
    assert torch.allclose(mixed[new], 0.7 * local_only[new] + 0.3 * global_only[new], atol=1e-6)
    # a token spelled by one source piece takes that piece's row locally
    zz = context.alignment.target.token_to_id("zz")
    z = context.alignment.source.token_to_id("z")
    assert torch.allclose(local_only[zz], context.input_embeddings[z])
    with pytest.raises(ParameterError):
        get_method("hybrid").function(context, mix=1.5)


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(ParameterError, match="hybrid, hypernet, mean, omp, random, subword-mean, zero"):
        get_method("nope")


def test_every_method_copies_matched_and_padding_rows_exactly(pico, tmp_path):
    """What every registered method promises (each one's docstring: "matched rows copied"): the rows of
    tokens matched by bytes or by role (specials), and the model's padding rows, are the source's bit for
    bit, in the input and in the untied output matrix; only new tokens get rows of the method's making."""
    source, target = pico(kind="gpt2", tied=False, padding=2)
    from tokwork.transplant.hypernet.training import TrainingConfig, train_hypernet
    from tokwork.transplant.registry import load_methods

    # hypernet needs a trained network: a few warm-up steps make one (tests/transplant/test_hypernet.py trains it)
    train_hypernet(source, [ENGLISH_SAMPLE], tmp_path / "hn", progress=False,
                   config=TrainingConfig(steps=3, warmup_steps=3, warmup_tokens=64))
    options = {"hypernet": {"hypernet": tmp_path / "hn"}}
    target_tokenizer = load_tokenizer(target)
    # by hand: <s> and </s> take the row of the source's <|endoftext|> (bos and eos); `▁x` is ` x`
    by_hand = {target_tokenizer.token_to_id("<s>"): 0, target_tokenizer.token_to_id("</s>"): 0,
               target_tokenizer.token_to_id("▁x"): load_tokenizer(source).token_to_id("Ġx")}
    for name, info in load_methods().items():
        context = context_for(source, target, donor=CaseBlindDonor() if info.needs_donor else None)
        embeddings = info.function(context, **options.get(name, {}))
        alignment = context.alignment
        rows = alignment.target_rows
        shared = torch.from_numpy(alignment.shared_target_ids)
        shared_source = torch.from_numpy(alignment.shared_source_ids)
        assert len(shared) == 14 + 7 + 2  # exact, by bytes, special (tests/transplant/test_align.py)
        for result, original in [(embeddings.input, context.input_embeddings),
                                 (embeddings.output, context.output_embeddings)]:
            assert result.shape == (rows, 32) and torch.isfinite(result).all(), name
            assert torch.equal(result[shared], original[shared_source]), name
            assert torch.equal(result[-2:], original[-2:]), name  # padding rows, after the target's
            for target_id, source_id in by_hand.items():
                assert torch.equal(result[target_id], original[source_id]), (name, target_id)
