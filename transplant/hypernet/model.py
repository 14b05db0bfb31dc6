"""The hypernetwork: from the source embeddings of a token's pieces to the token's own embeddings.

After Minixhofer et al. 2024, "Zero-Shot Tokenizer Transfer": a token the source model never had is cut
into pieces by the source tokenizer; the source model's rows of those pieces (input rows, and output rows
when the head is untied) are projected to a narrow width, given positions, read by a few transformer
encoder layers, pooled over the pieces and projected back to the model's width, once per matrix.

By default the prediction is residual: the mean of the pieces' rows (FVT, Gee et al. 2022) plus what the
network adds, with the last projection starting at zero. An untrained hypernetwork is then exactly
subword-mean, a one-piece token is its own row, and training only has to learn the corrections; with
`residual=False` the network predicts the rows outright, as ZeTT's does. The network reads rows divided
by the source matrix's root-mean-square entry and writes in the same unit (`scales`, set from the source
once and saved with the weights), so that its learning rate does not depend on the source's scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from tokwork.errors import ParameterError
from tokwork.setting_types import check_setting_types


@dataclass
class HypernetConfig:
    """The shape of a hypernetwork; saved in its card and round-tripped through JSON."""

    hidden_size: int  # width of the source model's embeddings
    tied: bool = True  # one matrix (input = output) or two
    width: int = 256
    layers: int = 2
    heads: int = 4
    max_pieces: int = 16  # pieces read per token (longer decompositions keep their first ones)
    residual: bool = True

    def validate(self) -> None:
        """Raise `ParameterError` for shapes that cannot build a network."""
        check_setting_types(self)
        if min(self.hidden_size, self.width, self.layers, self.heads, self.max_pieces) <= 0:
            raise ParameterError("hypernetwork hidden size, width, layers, heads and max pieces must be positive")
        if self.width % self.heads:
            raise ParameterError(f"hypernetwork width {self.width} is not a multiple of its {self.heads} heads")

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> HypernetConfig:
        return cls(**data)


class Hypernetwork(nn.Module):
    """Predicts a token's rows (one per source matrix) from the source rows of its pieces."""

    def __init__(self, config: HypernetConfig):
        super().__init__()
        config.validate()
        self.config = config
        matrices = 1 if config.tied else 2
        self.read = nn.ModuleList(nn.Linear(config.hidden_size, config.width) for _ in range(matrices))
        self.position = nn.Embedding(config.max_pieces, config.width)
        self.empty = nn.Parameter(torch.zeros(config.width))  # stands in for a token with no pieces
        layer = nn.TransformerEncoderLayer(config.width, config.heads, 4 * config.width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.width)
        self.write = nn.ModuleList(nn.Linear(config.width, config.hidden_size) for _ in range(matrices))
        self.register_buffer("scales", torch.ones(matrices))
        if config.residual:
            for linear in self.write:
                nn.init.zeros_(linear.weight)
                nn.init.zeros_(linear.bias)

    def set_scales(self, matrices: Sequence[torch.Tensor]) -> None:
        """Take the unit of each source matrix (root-mean-square entry of its rows); done once, before training."""
        with torch.no_grad():
            self.scales.copy_(torch.stack([m.float().pow(2).mean().sqrt() for m in matrices]).to(self.scales))

    def forward(self, pieces: torch.Tensor, matrices: Sequence[torch.Tensor],
                fallbacks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Rows for each token of `pieces` (tokens × positions, source ids, -1 for padding).

        `matrices` are the source input matrix (and output matrix when untied), `fallbacks` the row each
        starts from for a token without pieces (the mean of its token rows). Returns one tensor per matrix.
        """
        if len(matrices) != len(self.read):
            raise ValueError(f"this hypernetwork reads {len(self.read)} matrices, not {len(matrices)}")
        padding = pieces < 0
        ids = pieces.clamp_min(0)
        empty = padding.all(dim=1)
        count = pieces.shape[1]
        x = sum(read(matrix[ids].to(read.weight.dtype) / scale)
                for read, matrix, scale in zip(self.read, matrices, self.scales, strict=True))
        x = x + self.position.weight[:count]
        first = torch.zeros_like(padding)
        first[:, 0] = empty
        x = torch.where(first[:, :, None], self.empty.to(x.dtype), x)
        padding = padding & ~first
        states = self.encoder(x, src_key_padding_mask=padding)
        keep = (~padding).to(states.dtype)[:, :, None]
        pooled = self.norm((states * keep).sum(dim=1) / keep.sum(dim=1))
        rows = []
        for write, matrix, fallback, scale in zip(self.write, matrices, fallbacks, self.scales, strict=True):
            predicted = write(pooled).float() * scale
            if self.config.residual:
                real = (~padding & ~first).to(matrix.dtype)[:, :, None]
                mean = (matrix[ids] * real).sum(dim=1) / real.sum(dim=1).clamp_min(1.0)
                predicted = predicted + torch.where(empty[:, None], fallback.to(matrix.dtype), mean).float()
            rows.append(predicted)
        return rows


def pad_pieces(decompositions: Sequence[Sequence[int]], *, max_pieces: int,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """Decompositions as one tensor (tokens × longest, at most `max_pieces`), padded with -1."""
    longest = max(1, min(max_pieces, max((len(d) for d in decompositions), default=1)))
    table = torch.full((len(decompositions), longest), -1, dtype=torch.long)
    for row, pieces in enumerate(decompositions):
        kept = list(pieces)[:longest]
        if kept:
            table[row, :len(kept)] = torch.tensor(kept, dtype=torch.long)
    return table.to(device)


def predict_rows(hypernet: Hypernetwork, decompositions: Sequence[Sequence[int]],
                 matrices: Sequence[torch.Tensor], fallbacks: Sequence[torch.Tensor], *,
                 batch_size: int = 2048) -> list[torch.Tensor]:
    """Rows for many tokens without gradients, in batches of similar length (little padding)."""
    device = matrices[0].device
    order = sorted(range(len(decompositions)), key=lambda i: len(decompositions[i]))
    out = [torch.empty((len(decompositions), m.shape[1]), dtype=torch.float32, device=device) for m in matrices]
    was_training = hypernet.training
    hypernet.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            pieces = pad_pieces([decompositions[i] for i in chosen], max_pieces=hypernet.config.max_pieces,
                                device=device)
            index = torch.tensor(chosen, device=device)
            for target, rows in zip(out, hypernet(pieces, matrices, fallbacks), strict=True):
                target[index] = rows
    hypernet.train(was_training)
    return out
