"""The `hypernet` transplant method: a trained hypernetwork predicts the rows of the new tokens.

After Minixhofer et al. 2024, "Zero-Shot Tokenizer Transfer". Matched rows are copied from the source
as by every other method; each new token that stands for bytes is cut into source pieces
(`Alignment.new_pieces`, the cut the hypernetwork was trained on) and its input row (and output row,
for an untied head) is the hypernetwork's prediction. `calibrate` adds the logit calibration of omp
and hybrid on top (0 by default: the language-modelling loss already teaches the network the logit
level of new tokens).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tokwork.errors import ParameterError
from tokwork.transplant.calibration import calibrate_rows, check_strength
from tokwork.transplant.hypernet.checkpoint import SourceInfo, load_hypernet, read_hypernet_card
from tokwork.transplant.hypernet.model import predict_rows
from tokwork.transplant.registry import Embeddings, TransplantContext, register


def check_hypernet_options(*, hypernet: str | Path | None, calibrate: float, **_) -> None:
    """Refuse a missing `--hypernet`, a folder that is not a readable hypernetwork, a bad calibration."""
    check_strength(calibrate)
    if hypernet is None or str(hypernet) == "":
        raise ParameterError("method 'hypernet' needs a trained hypernetwork: pass --hypernet DIR "
                             "(made by `tokwork hypernet train`)")
    read_hypernet_card(hypernet)


@register("hypernet", summary="rows predicted by a trained ZeTT hypernetwork (Minixhofer et al. 2024)",
          check=check_hypernet_options)
def hypernet_embeddings(context: TransplantContext, *, hypernet: str | Path | None = None,
                        calibrate: float = 0.0) -> Embeddings:
    """Matched rows copied; new rows predicted by the hypernetwork in folder `hypernet`.

    Raises `HypernetError` when the hypernetwork was trained for another source model (hidden size,
    tied head or vocabulary differ) or its folder is corrupt.
    """
    check_hypernet_options(hypernet=hypernet, calibrate=calibrate)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network, card = load_hypernet(hypernet, device=device)
    alignment = context.alignment
    info = SourceInfo.of(alignment.source, context.input_embeddings, context.output_embeddings)
    card.source_info.check(info, folder=Path(hypernet), model=str(getattr(alignment.source, "source", "the model")))
    ids = context.new_ids_with_bytes
    matrices = [context.input_embeddings] + ([] if context.tied else [context.output_embeddings])
    predicted: dict[int, torch.Tensor] = {}
    if len(ids):
        on_device = [m.to(device).float() for m in matrices]
        fallbacks = [context.token_rows(m).mean(dim=0) for m in on_device]
        decompositions = [alignment.new_pieces.get(int(i), ()) for i in ids]
        rows = predict_rows(network, decompositions, on_device, fallbacks)
        predicted = {id(m): r.cpu() for m, r in zip(matrices, rows, strict=True)}

    def new_rows(matrix: torch.Tensor, chosen: np.ndarray) -> torch.Tensor:
        return predicted[id(matrix)]

    embeddings = context.fill(new_rows, needs_bytes=True)
    return calibrate_rows(context, embeddings, strength=calibrate)
