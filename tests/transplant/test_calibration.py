"""Logit calibration: it moves only new rows, only along the shared direction, by the asked strength."""

from __future__ import annotations

import pytest
import torch

from tokwork.errors import ParameterError
from tokwork.transplant.calibration import calibrate_rows, logit_level
from tokwork.transplant.registry import get_method

from .test_methods import context_for


@pytest.mark.parametrize("tied", [True, False])
def test_calibration_moves_new_rows_along_the_shared_direction(pico, tied):
    source, target = pico(tied=tied)
    context = context_for(source, target)
    plain = get_method("subword-mean").function(context)
    level = logit_level(context)
    assert torch.isfinite(level.direction).all() and level.continuation_nats > 0
    # the direction gives (nearly) the same projection for every state it was fitted on
    projections = level.states @ level.direction
    assert projections.std() < 0.5 * projections.mean().abs()
    full = calibrate_rows(context, plain, strength=1.0)
    half = calibrate_rows(context, plain, strength=0.5)
    assert calibrate_rows(context, plain, strength=0.0) is plain
    changed, kept = (plain.output, full.output) if not tied else (plain.input, full.input)
    half_rows = half.output if not tied else half.input
    if not tied:
        assert torch.equal(full.input, plain.input)  # untied: the input side is left alone
    new = torch.from_numpy(context.new_ids_with_bytes)
    others = torch.ones(len(changed), dtype=torch.bool)
    others[new] = False
    assert torch.equal(kept[others], changed[others])
    moved = kept[new] - changed[new]
    along = moved @ level.direction / level.direction.norm() ** 2
    assert torch.allclose(moved, along[:, None] * level.direction[None], atol=1e-5)
    assert torch.allclose(half_rows[new] - changed[new], moved / 2, atol=1e-5)
    # after a full shift, each new token's mean logit sits where calibration wanted it
    head = context.output_embeddings if not tied else context.input_embeddings
    mean_state = level.states.mean(dim=0)
    pieces = context.alignment.new_pieces
    for token_id in context.new_ids_with_bytes[:5]:
        spelled = pieces[int(token_id)]
        wanted = head[spelled[0]] @ mean_state - level.continuation_nats * (len(spelled) - 1)
        assert float(kept[int(token_id)] @ mean_state) == pytest.approx(float(wanted), abs=1e-3)


def test_calibration_strength_is_checked_before_work(pico):
    from tokwork.transplant.registry import check_options

    for name in ("omp", "hybrid", "subword-mean"):
        with pytest.raises(ParameterError, match="calibrate must lie in"):
            check_options(get_method(name), {"calibrate": 1.5})
