"""Next-byte masses of a known byte string at many positions, from one batched evaluation of its cover tree.

At position i the covers of x[:i]·b are the states s in canon(p) for p <= i (see `canonical.py`) followed by
a token whose bytes start with x[p:i]·b. With the vocabulary sorted by bytes, the mass state s gives byte b
is one segment sum of its next-token distribution (`vocabulary.py`, kernel `segment_sum`), times P(s).
Every state of every needed position is a node of one token tree; the tree is evaluated trunk first (the
encoding of the whole text, kept in the KV cache) and then in batches of side branches that attend to the
trunk, so the model runs a handful of forwards for a whole text (Phan et al. 2024, "Exact Byte-Level
Probabilities from Tokenized Language Models", evaluated as a tree as in Hayase et al. 2025's byte sampler).
With a tolerance, side branches whose mass cannot matter are not evaluated (`certified.py`), and the mass
they could have added is kept per position, so that callers can bound their error.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tokwork.bytelevel.canonical_text import CanonicalText
from tokwork.bytelevel.certified import choose_skipped, log_budgets, scaled
from tokwork.bytelevel.tree import ROOT, TokenTree
from tokwork.kernels.segment_sum import segment_sum

if TYPE_CHECKING:
    from tokwork.bytelevel.bytelm import ByteLM

END = 256  # index of end-of-text in a mass vector
BRANCH_CHUNK = 256  # side-branch nodes per forward: attention to the trunk grows with the chunk


@dataclass
class CoverMasses:
    """Unnormalised next-byte masses: P(x[:i]·b) = exp(log_scale[k]) * masses[k, b], end of text at 256.

    With pruning the masses are lower bounds: skipped states could add at most exp(log_missing[k]) to the
    257 masses at position k together (-inf: nothing was skipped there, the masses are exact).
    """

    positions: list[int]
    masses: np.ndarray
    log_scale: np.ndarray
    forward_calls: int = 0
    positions_run: int = 0
    model_seconds: float = 0.0
    kernel_seconds: float = 0.0
    log_missing: np.ndarray | None = None
    states: int = 0
    states_evaluated: int = 0

    def at(self, position: int) -> tuple[np.ndarray, float]:
        """The next-byte masses at one of the evaluated `positions`, with their log scale."""
        k = self.positions.index(position)
        return self.masses[k], float(self.log_scale[k])

    @property
    def missing(self) -> np.ndarray:
        """Per position, the most mass the skipped states could add, on the scale of `masses`."""
        if self.log_missing is None:
            return np.zeros(len(self.positions))
        return scaled(self.log_missing, self.log_scale)

    def missing_at(self, position: int) -> float:
        """`missing` at one of the evaluated `positions`."""
        return float(self.missing[self.positions.index(position)])

    @property
    def counts(self) -> dict:
        """What the evaluation cost, for a caller's `stats`."""
        return {"forward_calls": self.forward_calls, "positions_run": self.positions_run,
                "states": self.states, "states_evaluated": self.states_evaluated,
                "model_seconds": self.model_seconds, "kernel_seconds": self.kernel_seconds}


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
                 context: list[int] | None = None, tolerance: float = 0.0,
                 scored: bool = False) -> CoverMasses:
    """P(x[:i]·b) for every byte b (and end of text) at each stream position i of `text`.

    With `tolerance` > 0, side branches are skipped while the certified bound stays within it
    (`certified.py`): the bound on the normalised next-byte distributions, or with `scored` the bound on
    the log-probability of the byte that follows each position in the text (which must have one).
    """
    data, vocab = text.data, lm.vocab
    positions = sorted(set(positions))
    wanted = set(positions)
    index = {i: k for k, i in enumerate(positions)}
    prefixes = needed_prefixes(lm, data, positions)
    text.encode_ends([p for p in prefixes if text.is_boundary(p)])
    tree = lm.token_tree(context)
    node_of: dict[int, int] = {0: ROOT} if text.state_windows(0) == [(0, ())] else {}
    reference_nodes: list[int] = []

    def reference_node(count: int) -> int:
        """The node of the first `count` tokens of the reference encoding (the windows' shared head)."""
        if not reference_nodes:
            reference_nodes.append(ROOT)
            for token in text.reference()[0] or ():
                reference_nodes.append(tree.child(reference_nodes[-1], token))
        return reference_nodes[count]

    def node_at(count: int, tail: tuple[int, ...]) -> int:
        """The node of a state given as the first `count` reference tokens followed by `tail`."""
        return tree.node_for(tail, start=reference_node(count) if count else ROOT)

    def boundary_node(end: int) -> int:
        if end not in node_of:
            node_of[end] = node_at(*text.windows[end])
        return node_of[end]

    states: dict[int, list[tuple[int, bool]]] = defaultdict(list)  # node -> [(p, is E(x[:p]))]
    encoded = {p for p in prefixes if text.is_encoded(p)}
    for p in prefixes:
        if p in encoded:
            states[boundary_node(p)].append((p, True))
        else:  # inside a character, or the dummy-prefix space alone
            for count, tail in text.state_windows(p):
                states[node_at(count, tail)].append((p, False))
    complete = max(encoded, default=0)
    trunk = set(tree.path(boundary_node(complete))) if complete else set()
    contributions = _Contributions(positions)
    kernel_seconds = 0.0

    reach: dict[int, list[int]] = {}  # prefix end p -> the wanted positions its states' covers reach

    def reached(p: int) -> list[int]:
        if p not in reach:
            found = []
            for i in range(p, min(p + vocab.max_length, len(data)) + 1):
                if i > p and not vocab.has_extension(data[p:i]):
                    break
                if i in wanted:
                    found.append(i)
            reach[p] = found
        return reach[p]

    def consume(nodes: list[int], probs: torch.Tensor | None) -> None:
        nonlocal kernel_seconds
        if probs is None:
            return
        slots, query_pos, query_logw, offsets, ends = [], [], [], [], []
        end_probs = None  # P(end of text | node) for every node of the batch, read in one transfer
        for k, node in enumerate(nodes):
            logp = tree.logp[node]
            if node not in states or logp is None or logp == -np.inf:
                continue
            for p, whole in states[node]:
                for i in reached(p):
                    pending = data[p:i]
                    slots.append(k)
                    query_pos.append(i)
                    query_logw.append(logp)
                    offsets.append(vocab.offsets(pending))
                    if i == p and whole and lm.end_id is not None:
                        if end_probs is None:
                            end_probs = probs[:, tree.column_of[lm.end_id]].double().cpu().numpy()
                        ends.append((i, logp, float(end_probs[k])))
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
    branches = _branches(tree, states, trunk)
    log_missing = np.full(len(positions), -np.inf)
    if tolerance > 0 and branches:
        masses, scale = _text_masses(contributions, text, positions)  # the trunk's: lower bounds
        budgets = log_budgets(masses, scale, tolerance,
                              scored=[data[i] for i in positions] if scored else None)
        reach_of = {node: sorted({index[i] for p, _ in states[node] for i in reached(p)}) for node in states}
        branches, log_missing = _prune(tree, branches, reach_of, budgets)
    for chunk in _branch_chunks(tree, branches, min(lm.chunk_nodes, BRANCH_CHUNK)):
        consume(chunk, tree.evaluate(chunk, keep=False, rows=False))
    masses, scale = _text_masses(contributions, text, positions)
    return CoverMasses(positions, masses, scale, tree.forward_calls, tree.positions_run, tree.model_seconds,
                       kernel_seconds, log_missing, len(states), sum(tree.evaluated[node] for node in states))


def _text_masses(contributions: _Contributions, text: CanonicalText, positions: list[int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The masses gathered so far, with bytes that would break UTF-8 zeroed: the model is over text."""
    masses, scale = contributions.combine(len(positions))
    for k, i in enumerate(positions):
        masses[k, :END][~text.continuations(i)] = 0.0
    return masses, scale


def _branches(tree: TokenTree, states: dict, trunk: set[int]) -> dict[int, set[int]]:
    """The state nodes off the trunk with their off-trunk ancestors, by the branch's first node."""
    branches: dict[int, set[int]] = defaultdict(set)
    for node in states:
        off = []
        while node != ROOT and node not in trunk:
            off.append(node)
            node = tree.parent[node]
        if off:
            branches[off[-1]].update(off)
    return branches


def _prune(tree: TokenTree, branches: dict[int, set[int]], reach_of: dict[int, list[int]], budgets: np.ndarray
           ) -> tuple[dict[int, set[int]], np.ndarray]:
    """The branches left to evaluate, and the log of the mass skipped at each position: a branch is bounded
    by its first node's probability (known, its parent is on the trunk), over every position its states'
    covers reach (`reach_of`: state node -> position indices)."""
    roots = sorted(branches)
    candidates = []
    for root in roots:
        logp = tree.logp[root]
        reach = set().union(*(reach_of.get(node, ()) for node in branches[root]))
        candidates.append((0.0 if logp is None else logp, sorted(reach)))
    skipped, log_missing = choose_skipped(candidates, budgets)
    return {root: branches[root] for root, skip in zip(roots, skipped, strict=True) if not skip}, log_missing


def _branch_chunks(tree: TokenTree, branches: dict[int, set[int]], size: int) -> list[list[int]]:
    """Branches packed into chunks of about `size` nodes, whole branches per chunk, parents first."""
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
