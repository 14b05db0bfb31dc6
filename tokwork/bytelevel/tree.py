"""A tree of token sequences below a fixed context, evaluated by a causal LM with one shared KV cache.

The cover states of a byte string share long token prefixes and differ near their ends. Each node of the
tree is one token appended to its parent; evaluating a batch of nodes is one forward call in which every
node attends to its own ancestors only (a tree attention mask, positions = depth), so a whole cover tree is
scored in a few batched forwards instead of one forward per state. Nodes evaluated with `keep=True` stay in
the cache as context for later nodes; `keep=False` batches are dropped from the cache afterwards.

Rows come out in *column order*: with a `SortedHead` the output layer's rows are permuted once so that the
logits of byte-bearing tokens come out sorted by their bytes (what the segment sums read) with no gather
per forward; `column_of[token]` and `token_at[column]` translate.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from tokwork.attention_mask import additive_mask
from tokwork.causal_lm import context_length, plain_output_layer
from tokwork.errors import TokworkError

ROOT = 0


class ContextFullError(TokworkError):
    """A node would sit past the last position the model was trained for (its context length)."""


def _with_position(spans: np.ndarray, position: int) -> np.ndarray:
    """Ancestor spans (rows of [start, stop) cache positions) with one more position after them."""
    if len(spans) and spans[-1, 1] == position:
        grown = spans.copy()
        grown[-1, 1] = position + 1
        return grown
    return np.concatenate([spans, np.array([[position, position + 1]], dtype=np.int64)])


def cache_argument(model) -> str:
    """The keyword under which `model.forward` takes its KV cache (`cache` in newer transformers)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class SortedHead:
    """The model's output layer with its rows permuted into `order` (a permutation of all token ids), used
    when the head is a plain bias-free linear map; otherwise the logits are permuted after each forward."""

    def __init__(self, model, order: np.ndarray):
        self.order = torch.from_numpy(order)
        self.column_of = np.empty(len(order), dtype=np.int64)
        self.column_of[order] = np.arange(len(order))
        head = model.get_output_embeddings()
        plain = plain_output_layer(model) is not None
        device = head.weight.device if head is not None else torch.device("cpu")
        self.weight = head.weight.detach()[self.order.to(device)].contiguous() if plain else None
        self.gather = None if plain else self.order.to(device)


class TokenTree:
    """Nodes (parent, token, depth, log-probability given the context) and the model that evaluates them.

    `logp[n]` is known once the parent of n is evaluated; `rows[n]` (probabilities of the next token over
    the model's vocabulary) exists once n itself is evaluated and its row was kept.
    """

    def __init__(self, model, context: Sequence[int], head: SortedHead):
        if not context:
            raise ValueError("a token tree needs at least one context token")
        self.model = model
        self.limit = context_length(model)
        self.head = head
        self.column_of = head.column_of
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.row_dtype = torch.promote_types(self.dtype, torch.float32)
        self.parent: list[int] = [-1]
        self.token: list[int] = [int(context[-1])]
        self.depth: list[int] = [len(context) - 1]
        self.logp: list[float | None] = [0.0]
        self.children: list[dict[int, int]] = [{}]
        self.evaluated: list[bool] = [False]
        self.rows: dict[int, torch.Tensor] = {}
        self._forgotten: set[int] = set()  # evaluated nodes whose rows were let go and may be wanted again
        self.forward_calls = 0
        self.positions_run = 0
        self.model_seconds = 0.0
        # evaluated node kept in the cache -> the cache positions it attends to, as [start, stop) spans: a
        # path's positions are a few runs, so a long text's trunk costs memory linear in its length
        self._ancestors: dict[int, np.ndarray] = {}
        self._cache = None
        self._cache_length = 0
        self._cache_name = cache_argument(model)
        self._context = [int(t) for t in context]

    # --- building -------------------------------------------------------------------------------------
    def child(self, node: int, token: int) -> int:
        """The node for `token` after `node`, created if new (its logp is set when the parent has a row)."""
        found = self.children[node].get(token)
        if found is not None:
            return found
        index = len(self.parent)
        self.parent.append(node)
        self.token.append(int(token))
        self.depth.append(self.depth[node] + 1)
        row = self.row(node)
        parent_logp = self.logp[node]
        if row is None or parent_logp is None:
            self.logp.append(None)
        else:
            self.logp.append(parent_logp + _log(row[self.column_of[token]]))
        self.children.append({})
        self.evaluated.append(False)
        self.children[node][token] = index
        return index

    def node_for(self, ids: Sequence[int], *, start: int = ROOT) -> int:
        """The node reached from `start` by the token path `ids`, creating what is missing."""
        node = start
        for token in ids:
            node = self.child(node, token)
        return node

    def path(self, node: int) -> list[int]:
        """Nodes from the root's first child down to `node` (the root itself excluded)."""
        nodes = []
        while node != ROOT:
            nodes.append(node)
            node = self.parent[node]
        return nodes[::-1]

    def unevaluated_path(self, node: int) -> list[int]:
        """`node` and its ancestors that still need a forward, parents first."""
        missing = []
        while not self.evaluated[node]:
            missing.append(node)
            if node == ROOT:
                break
            node = self.parent[node]
        return missing[::-1]

    def row(self, node: int) -> torch.Tensor | None:
        """The next-token row of `node`: kept, computed again when it was forgotten, None when the node is
        not evaluated or was evaluated without keeping its row."""
        found = self.rows.get(node)
        if found is None and node in self._forgotten:
            found = self._row_again(node)
        return found

    @property
    def cache_length(self) -> int:
        """Positions in the KV cache: the context and every node evaluated with `keep` and not dropped."""
        return self._cache_length

    def compact(self, keep: Iterable[int]) -> None:
        """Drop from the KV cache every node that is not in `keep` nor an ancestor of one. A dropped node
        counts as not evaluated again (its probability and its children's stay known), so a later batch
        that needs it runs it again; the cache, and each forward's attention over it, then holds what the
        text can still reach instead of every branch ever run."""
        if self._cache is None:
            return
        kept: set[int] = set()
        for node in keep:
            while node != ROOT and node not in kept:
                kept.add(node)
                node = self.parent[node]
        slots = np.zeros(self._cache_length, dtype=bool)
        for node in [ROOT, *kept]:
            for start, stop in self._ancestors.get(node, ()):
                slots[start:stop] = True
        renumbered = np.cumsum(slots) - 1
        index = torch.from_numpy(np.flatnonzero(slots)).to(self.device)
        for layer in self._cache.layers:
            layer.keys = layer.keys.index_select(-2, index)
            layer.values = layer.values.index_select(-2, index)
        for node in list(self._ancestors):
            if node == ROOT or node in kept:  # a kept node's ancestors are all kept: its spans stay whole
                spans = self._ancestors[node]
                self._ancestors[node] = np.stack([renumbered[spans[:, 0]], renumbered[spans[:, 1] - 1] + 1], 1)
            else:
                del self._ancestors[node]
                self.evaluated[node] = False
                self.rows.pop(node, None)
                self._forgotten.discard(node)
        self._cache_length = int(slots.sum())

    def forget_rows(self, nodes: Sequence[int]) -> None:
        """Let go of the rows of evaluated nodes that are probably not needed again, to bound memory; one
        that is (a new child needs its parent's row) is computed again by `_row_again`."""
        for node in nodes:
            if node != ROOT and self.rows.pop(node, None) is not None:
                self._forgotten.add(node)

    def _row_again(self, node: int) -> torch.Tensor:
        """The next-token row of an evaluated node whose row was forgotten: the node's token run once more
        over its ancestors' cached keys, in a batch dropped from the cache afterwards."""
        logits, _ = self._run([node])
        self._cache.crop(-1)
        row = torch.softmax(logits[0].to(self.row_dtype), dim=-1)
        self.rows[node] = row
        self._forgotten.discard(node)
        return row

    # --- evaluating -----------------------------------------------------------------------------------
    def evaluate(self, nodes: Sequence[int], *, keep: bool = True, rows: bool = True) -> torch.Tensor | None:
        """Run `nodes` (parents before children; every parent evaluated or in the batch) in one forward.

        Sets the logp of their children, stores their next-token probability rows when `rows`, and returns
        those rows ([len(nodes), vocab], in the order given). The root is evaluated on first use.
        """
        if not self.evaluated[ROOT]:
            self._run_context()
        nodes = [n for n in nodes if not self.evaluated[n]]
        if not nodes:
            return None
        logits, spans = self._run(nodes)
        probs = torch.softmax(logits.to(self.row_dtype), dim=-1)
        if keep:
            self._ancestors.update(zip(nodes, spans, strict=True))
            self._cache_length += len(nodes)
        else:  # a negative count removes that many entries in every transformers version
            self._cache.crop(-len(nodes))
        waiting = []  # (row, column, child): the children's probabilities, read in one transfer
        for i, node in enumerate(nodes):
            self.evaluated[node] = True
            if rows:
                self.rows[node] = probs[i]
            waiting.extend((i, self.column_of[token], child) for token, child in self.children[node].items())
        if waiting:
            at = torch.tensor([(i, column) for i, column, _ in waiting], device=probs.device).T
            with np.errstate(divide="ignore"):
                logs = np.log(probs[at[0], at[1]].double().cpu().numpy())
            for (i, _, child), value in zip(waiting, logs.tolist(), strict=True):  # parents first: a child's
                mine = self.logp[nodes[i]]  # logp may come from a parent in this same batch
                if mine is not None:
                    self.logp[child] = mine + value
        return probs

    def _run(self, nodes: Sequence[int]) -> tuple[torch.Tensor, list[np.ndarray]]:
        """One forward of `nodes` (parents first; each parent cached or among them) after the cached keys,
        every node attending to its own ancestors only. Returns the logits and each node's ancestor spans
        (itself included) over the cache and the batch; the batch's keys are left in the cache."""
        self._check_room(max(self.depth[n] for n in nodes))
        position = {node: i for i, node in enumerate(nodes)}
        base = self._cache_length
        allowed = np.zeros((len(nodes), base + len(nodes)), dtype=bool)
        spans = []
        for i, node in enumerate(nodes):
            parent = self.parent[node]
            mine = _with_position(spans[position[parent]] if parent in position else self._ancestors[parent],
                                  base + i)
            for start, stop in mine:
                allowed[i, start:stop] = True
            spans.append(mine)
        ids = torch.tensor([[self.token[n] for n in nodes]], device=self.device)
        positions = torch.tensor([[self.depth[n] for n in nodes]], device=self.device)
        return self._forward(ids, positions, allowed), spans

    def _check_room(self, deepest: int) -> None:
        """Refuse a node past the model's context: position ids there were never trained (a learned position
        table has no row for them; rotary positions give quietly wrong probabilities)."""
        if self.limit is not None and deepest >= self.limit:
            raise ContextFullError(
                f"the text needs more than the model's {self.limit:,} positions (its context length); "
                "`score`, `score_text` and `tokwork bytes score` take long texts in windows, a prompt or a "
                "generation has to be shorter")

    def _run_context(self) -> None:
        from transformers import DynamicCache

        self._cache = DynamicCache()
        length = len(self._context)
        self._check_room(length - 1)
        allowed = np.tril(np.ones((length, length), dtype=bool))
        ids = torch.tensor([self._context], device=self.device)
        positions = torch.arange(length, device=self.device)[None]
        logits = self._forward(ids, positions, allowed)
        self._cache_length = length
        self._ancestors[ROOT] = np.array([[0, length]], dtype=np.int64)
        self.evaluated[ROOT] = True
        row = torch.softmax(logits[-1].to(self.row_dtype), dim=-1)
        self.rows[ROOT] = row
        for token, child in self.children[ROOT].items():
            self.logp[child] = _log(row[self.column_of[token]])

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, allowed: np.ndarray) -> torch.Tensor:
        mask = additive_mask(torch.from_numpy(allowed), self.dtype).to(self.device)[None, None]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        inputs = {"input_ids": ids, "position_ids": positions, "attention_mask": mask, "use_cache": True,
                  self._cache_name: self._cache}
        with torch.no_grad():
            if self.head.weight is not None:
                hidden = self.model.get_decoder()(**inputs).last_hidden_state[0]
                logits = hidden @ self.head.weight.T
            else:
                logits = self.model(**inputs).logits[0][:, self.head.gather]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.model_seconds += time.perf_counter() - start
        self.forward_calls += 1
        self.positions_run += ids.shape[1]
        return logits


def _log(probability: torch.Tensor) -> float:
    value = float(probability)
    return float(np.log(value)) if value > 0 else -np.inf
