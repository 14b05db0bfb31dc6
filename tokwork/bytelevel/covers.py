"""Next-byte masses of a known byte string at many positions, from one batched evaluation of its cover tree.

At position i the covers of x[:i]·b are the states s in canon(p) for p <= i (see `canonical.py`) followed by
a token whose bytes start with x[p:i]·b. With the vocabulary sorted by bytes, the mass state s gives byte b
is one segment sum of its next-token distribution (`vocabulary.py`, kernel `segment_sum`), times P(s).
Every state of every needed position is a node of one token tree; the tree is evaluated trunk first (the
encoding of the whole text, kept in the KV cache) and then in batches of side branches that attend to the
trunk, so the model runs a handful of forwards for a whole text (Phan et al. 2024, "Exact Byte-Level
Probabilities from Tokenized Language Models", evaluated as a tree as in Hayase et al. 2025's byte sampler).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tokwork.bytelevel.canonical import CanonicalText
from tokwork.bytelevel.tree import ROOT, TokenTree
from tokwork.kernels.segment_sum import segment_sum

if TYPE_CHECKING:
    from tokwork.bytelevel.bytelm import ByteLM

END = 256  # index of end-of-text in a mass vector
BRANCH_CHUNK = 256  # side-branch nodes per forward: attention to the trunk grows with the chunk


@dataclass
class CoverMasses:
    """Unnormalised next-byte masses: P(x[:i]·b) = exp(log_scale[k]) * masses[k, b], end of text at 256."""

    positions: list[int]
    masses: np.ndarray
    log_scale: np.ndarray
    forward_calls: int = 0
    positions_run: int = 0
    model_seconds: float = 0.0
    kernel_seconds: float = 0.0

    def at(self, position: int) -> tuple[np.ndarray, float]:
        k = self.positions.index(position)
        return self.masses[k], float(self.log_scale[k])


def needed_prefixes(lm: ByteLM, data: bytes, positions: list[int]) -> list[int]:
    """Prefix ends p whose states can cover some requested position: p = i, or a token extends x[p:i]."""
    needed = set()
    for i in positions:
        needed.add(i)
        for p in range(max(0, i - lm.vocab.max_length), i):
            if p not in needed and lm.vocab.has_extension(data[p:i]):
                needed.add(p)
    return sorted(needed)


class _Contributions:
    """Weighted segment sums gathered chunk by chunk, combined per position in log space at the end."""

    def __init__(self, positions: list[int]):
        self.index = {p: k for k, p in enumerate(positions)}
        self.slots: list[np.ndarray] = []
        self.logw: list[np.ndarray] = []
        self.vectors: list[np.ndarray] = []

    def add(self, positions: list[int], logw: list[float], vectors: np.ndarray) -> None:
        self.slots.append(np.array([self.index[p] for p in positions], dtype=np.int64))
        self.logw.append(np.array(logw, dtype=np.float64))
        self.vectors.append(vectors)

    def combine(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        masses = np.zeros((count, END + 1))
        scale = np.full(count, -np.inf)
        if not self.slots:
            return masses, scale
        slots, logw = np.concatenate(self.slots), np.concatenate(self.logw)
        vectors = np.concatenate(self.vectors)
        np.maximum.at(scale, slots, logw)
        weights = np.exp(logw - scale[slots])
        np.add.at(masses, slots, vectors * weights[:, None])
        return masses, scale


def cover_masses(lm: ByteLM, text: CanonicalText, positions: list[int], *,
                 context: list[int] | None = None) -> CoverMasses:
    """P(x[:i]·b) for every byte b (and end of text) at each stream position i of `text`."""
    data, vocab = text.data, lm.vocab
    positions = sorted(set(positions))
    wanted = set(positions)
    prefixes = needed_prefixes(lm, data, positions)
    text.encodings([p for p in prefixes if text.is_boundary(p)])
    tree = lm.token_tree(context)
    node_of: dict[int, int] = {0: ROOT} if text.states(0) == [()] else {}
    reference_nodes: list[int] = []

    def reference_node(count: int) -> int:
        """The node of the first `count` tokens of the reference encoding (the windows' shared head)."""
        if not reference_nodes:
            reference_nodes.append(ROOT)
            for token in text.reference()[0] or ():
                reference_nodes.append(tree.child(reference_nodes[-1], token))
        return reference_nodes[count]

    def boundary_node(end: int) -> int:
        if end not in node_of:
            count, tail = text.windows[end]
            node_of[end] = tree.node_for(tail, start=reference_node(count) if count else ROOT)
        return node_of[end]

    states: dict[int, list[tuple[int, bool]]] = defaultdict(list)  # node -> [(p, is E(x[:p]))]
    for p in prefixes:
        found = text.states(p)
        if text.is_boundary(p):
            if found:
                states[boundary_node(p)].append((p, True))
        else:
            for encoding in found:
                states[tree.node_for(encoding)].append((p, False))
    complete = max((p for p in prefixes if text.is_boundary(p) and text.states(p)), default=0)
    trunk = set(tree.path(boundary_node(complete))) if complete else set()
    contributions = _Contributions(positions)
    kernel_seconds = 0.0

    def consume(nodes: list[int], probs: torch.Tensor | None) -> None:
        nonlocal kernel_seconds
        if probs is None:
            return
        slots, query_pos, query_logw, offsets, ends = [], [], [], [], []
        for k, node in enumerate(nodes):
            logp = tree.logp[node]
            if node not in states or logp is None or logp == -np.inf:
                continue
            for p, whole in states[node]:
                for i in range(p, min(p + vocab.max_length, len(data)) + 1):
                    pending = data[p:i]
                    if i > p and not vocab.has_extension(pending):
                        break
                    if i not in wanted:
                        continue
                    slots.append(k)
                    query_pos.append(i)
                    query_logw.append(logp)
                    offsets.append(vocab.offsets(pending))
                    if i == p and whole and lm.end_id is not None:
                        ends.append((i, logp, float(probs[k, tree.column_of[lm.end_id]])))
        if ends:
            vectors = np.zeros((len(ends), END + 1))
            vectors[:, END] = [e[2] for e in ends]
            contributions.add([e[0] for e in ends], [e[1] for e in ends], vectors)
        if not slots:
            return
        values = probs[:, :vocab.size]
        start = time.perf_counter()
        sums = segment_sum(values, torch.tensor(slots), torch.from_numpy(np.stack(offsets)),
                           backend=lm.backend).cpu().numpy()
        kernel_seconds += time.perf_counter() - start
        vectors = np.zeros((len(slots), END + 1))
        vectors[:, :END] = sums[:, 1:]
        contributions.add(query_pos, query_logw, vectors)

    tree.evaluate([])
    consume([ROOT], tree.rows[ROOT][None])
    ordered_trunk = sorted(trunk, key=lambda n: tree.depth[n])
    for start in range(0, len(ordered_trunk), lm.chunk_nodes):
        chunk = ordered_trunk[start:start + lm.chunk_nodes]
        consume(chunk, tree.evaluate(chunk, keep=True, rows=False))
    for chunk in _branch_chunks(tree, states, trunk, min(lm.chunk_nodes, BRANCH_CHUNK)):
        consume(chunk, tree.evaluate(chunk, keep=False, rows=False))
    masses, scale = contributions.combine(len(positions))
    for k, i in enumerate(positions):  # bytes that would break UTF-8 get nothing: the model is over text
        masses[k, :END][~text.continuations(i)] = 0.0
    return CoverMasses(positions, masses, scale, tree.forward_calls, tree.positions_run, tree.model_seconds,
                       kernel_seconds)


def _branch_chunks(tree: TokenTree, states: dict, trunk: set[int], size: int) -> list[list[int]]:
    """The state nodes off the trunk with their off-trunk ancestors, whole branches per chunk."""
    branches: dict[int, set[int]] = defaultdict(set)
    for node in states:
        off = []
        while node != ROOT and node not in trunk:
            off.append(node)
            node = tree.parent[node]
        if off:
            branches[off[-1]].update(off)
    chunks, current = [], []
    for root in sorted(branches):
        members = sorted(branches[root], key=lambda n: tree.depth[n])
        if current and len(current) + len(members) > size:
            chunks.append(current)
            current = []
        current.extend(members)
    if current:
        chunks.append(current)
    return chunks
