"""`ByteLM`: a tokenized causal LM seen as a model over bytes, with exact next-byte probabilities.

See the package docstring for the definition (covers, canonical committed parts) and the normalisation.
With `tolerance` > 0 (the default, 1e-6) side branches of the cover tree whose mass cannot matter are not
evaluated, and every result comes with a certified bound on its error (`certified.py`); `tolerance=0`
evaluates every cover state.
Everything here takes and returns bytes; the tokenizer's dummy-prefix space (Llama-2 style SentencePiece)
is added in front of every text internally and conditioned on, so users never see it.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from tokwork.bytelevel.canonical import CanonicalEncoder
from tokwork.bytelevel.canonical_text import CanonicalText
from tokwork.bytelevel.certified import (
    DEFAULT_TOLERANCE,
    check_tolerance,
    cover_sum_bound,
    logprob_bound,
    probability_bound,
)
from tokwork.bytelevel.covers import END, CoverMasses, cover_masses
from tokwork.bytelevel.scores import ByteScores, TextScore
from tokwork.bytelevel.tree import SortedHead, TokenTree
from tokwork.bytelevel.vocabulary import ByteVocabulary
from tokwork.bytelevel.windows import Window, text_windows
from tokwork.causal_lm import check_causal_lm, check_tokenizer_fits, context_length, model_rows
from tokwork.errors import ParameterError, TokenizerFormatError, TokworkError
from tokwork.kernels.segment_sum import segment_sum
from tokwork.loader import load_tokenizer
from tokwork.progress import transformers_bars_off
from tokwork.smollm2 import resolve_model_path
from tokwork.tokenizer import Tokenizer

T = TypeVar("T")

DOCUMENT_SEPARATOR = "<|endoftext|>"


def default_start_ids(tokenizer: Tokenizer) -> list[int]:
    """The tokens every sequence starts from: what the tokenizer adds in front of a text, else the
    document separator `<|endoftext|>` (GPT-2 family convention), else bos, else eos."""
    added = tokenizer.encode("", add_special_tokens=True)
    if added:
        return list(added)
    separator = tokenizer.token_to_id(DOCUMENT_SEPARATOR)
    specials = tokenizer.specials
    for candidate in (separator, specials.bos, specials.eos):
        if candidate is not None:
            return [candidate]
    raise TokenizerFormatError("the tokenizer has no bos, eos or <|endoftext|> token to start a text from; "
                               "pass start_ids")


def default_end_id(tokenizer: Tokenizer) -> int | None:
    """The token that ends a text: the document separator `<|endoftext|>` if present, else eos."""
    separator = tokenizer.token_to_id(DOCUMENT_SEPARATOR)
    return separator if separator is not None else tokenizer.specials.eos


class ByteLM:
    """Exact next-byte probabilities from a causal LM and its tokenizer (byte-level BPE or SentencePiece
    with byte fallback), after Phan et al. 2024 and Hayase et al. 2025.

    `tolerance` is the certified bound asked for: every normalised next-byte probability and every scored
    log-probability differs from the exact one by at most this much (0: evaluate every cover state).
    Texts and prompts are bytes; a str is read as its UTF-8.
    """

    def __init__(self, model, tokenizer: Tokenizer, *, start_ids: list[int] | None = None,
                 end_id: int | None = None, backend: str = "auto", chunk_nodes: int = 512,
                 context_pretokens: int = 2, tolerance: float = DEFAULT_TOLERANCE):
        check_tokenizer_fits(model, tokenizer)
        rows = model_rows(model)
        self.model = model.eval()
        self.context_length = context_length(model)  # positions the model reads; None: its config does not say
        self.tokenizer = tokenizer
        self.encoder = CanonicalEncoder(tokenizer, context_pretokens=context_pretokens)
        self.vocab = ByteVocabulary(tokenizer.byte_view, rows)
        if not self.vocab.size:
            raise TokenizerFormatError("the tokenizer's byte view has no token that spells any byte")
        self.device = next(model.parameters()).device
        rest = np.setdiff1d(np.arange(rows), self.vocab.order)
        self.head = SortedHead(model, np.concatenate([self.vocab.order, rest]))
        self.start_ids = default_start_ids(tokenizer) if start_ids is None else _checked_start_ids(start_ids, rows)
        self.end_id = end_id if end_id is not None else default_end_id(tokenizer)
        self.backend = backend
        self.chunk_nodes = chunk_nodes
        self.tolerance = check_tolerance(tolerance)
        # Compile (or load) the kernel now, so that the first text scored does not pay for it: for whole rows
        # and for the column slice of them that the segment sums read when some tokens spell no bytes.
        for values in (torch.zeros((1, 2), device=self.device), torch.zeros((1, 3), device=self.device)[:, :2]):
            segment_sum(values, torch.zeros(1, dtype=torch.long), torch.tensor([[0, 1, 2]]), backend=backend)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, tokenizer: str | Path | Tokenizer | None = None,
                        dtype: torch.dtype = torch.float32, device: str = "cpu", **options) -> ByteLM:
        """Load an HF causal-LM folder (offline; 'smollm2' names the converted SmolLM2 folder) and its
        tokenizer (the folder's own unless given; a reference name such as 'gpt2' also works there)."""
        from safetensors import SafetensorError
        from transformers import AutoModelForCausalLM

        path = resolve_model_path(path)
        if not path.is_dir() or not (path / "config.json").is_file():
            raise TokworkError(f"model '{path}' is not a model folder with a config.json")
        check_causal_lm(path, why="; byte-level probabilities need one")
        try:
            with transformers_bars_off():
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:  # corrupt weights too
            reason = " ".join(str(err).split())[:200] or type(err).__name__
            raise TokworkError(f"'{path}' is not a causal language model folder ({reason})") from None
        if not isinstance(tokenizer, Tokenizer):
            tokenizer = load_tokenizer(tokenizer if tokenizer is not None else path)
        return cls(model.to(device), tokenizer, **options)

    # --- the byte stream ------------------------------------------------------------------------------
    @property
    def stream_prefix(self) -> bytes:
        """Bytes the tokenizer puts before every text (its dummy-prefix space), conditioned on silently."""
        return self.encoder.stream_prefix

    def token_tree(self, context: list[int] | None = None) -> TokenTree:
        """A fresh token tree below `context` (the start tokens by default), rows in byte-sorted order."""
        return TokenTree(self.model, context or self.start_ids, self.head)

    def canonical_text(self, data: bytes) -> CanonicalText:
        """The canonical encodings of the prefixes of `data` (the stream prefix is added here)."""
        return CanonicalText(self.encoder, bytes(data))

    def masses(self, data: bytes, positions: list[int], *, scored: bool = False) -> CoverMasses:
        """Unnormalised next-byte masses at user-byte `positions` of `data` (0 = before the first byte),
        pruned at the tolerance (for the byte of `data` at each position when `scored`)."""
        shift = len(self.stream_prefix)
        found = cover_masses(self, self.canonical_text(data), [p + shift for p in positions],
                             tolerance=self.tolerance, scored=scored)
        found.positions = [p - shift for p in found.positions]
        return found

    # --- the API --------------------------------------------------------------------------------------
    def next_byte_masses(self, prefix: bytes | str) -> tuple[np.ndarray, float]:
        """P(prefix·b) for the 256 bytes and end of text (index 256), as (masses, log scale):
        P(prefix·b) = exp(log_scale) * masses[b] (lower bounds when states were pruned)."""
        prefix = as_bytes(prefix)
        found = self.masses(prefix, [len(prefix)])
        return found.masses[0], float(found.log_scale[0])

    def next_byte_probs(self, prefix: bytes | str, *,
                        return_bound: bool = False) -> np.ndarray | tuple[np.ndarray, float]:
        """The next-byte distribution after `prefix`: 257 probabilities (256 bytes, then end of text),
        P(b | prefix) = P(prefix·b) / sum over b' of P(prefix·b'), exact up to the certified bound (at most
        the tolerance), which `return_bound` returns with it. The prefix may end mid-token and
        mid-character."""
        prefix = as_bytes(prefix)
        found = self.masses(prefix, [len(prefix)])
        masses = found.masses[0]
        total = masses.sum()
        if total <= 0:
            raise TokworkError(f"no token sequence of this tokenizer spells the prefix {_show(prefix)}; "
                               "it has probability zero under the model")
        if return_bound:
            return masses / total, float(probability_bound(found.missing[0], total))
        return masses / total

    def next_characters(self, prefix: bytes | str, *, top: int = 10, expand: int = 4, return_bound: bool = False
                        ) -> list[tuple[str, float]] | tuple[list[tuple[str, float]], float]:
        """The most probable next characters (UTF-8) after `prefix`, with their probabilities; the
        `expand` most probable multi-byte starts are followed byte by byte. End of text shows as "".
        `return_bound` also returns the certified bound on every probability listed: a character's
        probability is a product of next-byte probabilities (each at most 1), so its error is at most the
        sum of their bounds."""
        if top < 1 or expand < 0:
            raise ParameterError(f"top {top} must be at least 1 and expand {expand} at least 0")
        prefix = as_bytes(prefix)
        if not self.canonical_text(prefix).is_boundary(len(prefix) + len(self.stream_prefix)):
            raise ParameterError("the prompt ends inside a UTF-8 character, so its next characters are not "
                                 "text; ask for the next bytes instead")
        probs, first_bound = self.next_byte_probs(prefix, return_bound=True)
        found = [("", float(probs[END]), first_bound)] if probs[END] > 0 else []
        partial = []
        for byte in np.flatnonzero(probs[:END] > 0):
            if byte < 0x80:
                found.append((chr(byte), float(probs[byte]), first_bound))
            else:
                partial.append((float(probs[byte]), bytes([byte]), first_bound))
        for _ in range(expand):  # follow the most probable unfinished characters, best first
            floor = sorted((item[1] for item in found), reverse=True)[top - 1] if len(found) >= top else 0.0
            partial = sorted((item for item in partial if item[0] > floor), reverse=True)
            if not partial:
                break
            mass, head, error = partial.pop(0)
            step, step_bound = self.next_byte_probs(prefix + head, return_bound=True)
            for byte in np.flatnonzero(step[:END] > 0):
                grown = head + bytes([int(byte)])
                try:
                    found.append((grown.decode("utf-8"), mass * float(step[byte]), error + step_bound))
                except UnicodeDecodeError:
                    partial.append((mass * float(step[byte]), grown, error + step_bound))
        shown = sorted(found, key=lambda item: -item[1])[:top]
        chars = [(char, probability) for char, probability, _ in shown]
        return (chars, max((item[2] for item in shown), default=0.0)) if return_bound else chars

    def logprob(self, text: bytes | str, *, prompt: bytes | str = b"",
                return_bound: bool = False) -> float | tuple[float, float]:
        """log P(prompt·text) - log P(prompt) (natural log), P being the cover sum over canonical committed
        parts, for a prompt that ends anywhere, mid-token or mid-character; exact up to the certified
        bound (at most the tolerance), which `return_bound` returns with it."""
        found = self.score_text(text, prompt=prompt)
        return (found.logprob, found.bound) if return_bound else found.logprob

    def score_text(self, text: bytes | str, *, prompt: bytes | str = b"",
                   progress: Callable[[int], None] | None = None) -> TextScore:
        """The log-probability of `text` after `prompt` as `logprob` gives it, with its bound, bits per byte
        and what it cost. Only the cover states that can end the text are evaluated (the tokenizer's encoding
        of the text and a few branches at its end), so this costs about one forward over the text's tokens,
        where `score`, which normalises at every byte, evaluates a cover state at nearly every byte. A text
        longer than the model's context is scored in windows (`windows.py`; `stats["windows"]`), and
        `progress` is told each window's bytes once it is scored (for a progress bar)."""
        text, prompt = as_bytes(text), as_bytes(prompt)
        if not text:
            return TextScore(0.0, 0.0, 0, {"tolerance": self.tolerance})
        started = time.perf_counter()
        data = prompt + text
        parts = [_told(progress, w, self._window_logprob(data[w.context:w.start], data[w.start:w.stop]))
                 for w in text_windows(self, data, len(prompt))]
        stats = {**_summed([counts for _, _, counts in parts]), "seconds": time.perf_counter() - started,
                 "tolerance": self.tolerance, "windows": len(parts)}
        return TextScore(sum(p[0] for p in parts), sum(p[1] for p in parts), len(text), stats)

    def _window_logprob(self, prompt: bytes, text: bytes) -> tuple[float, float, dict]:
        """log P(prompt·text) - log P(prompt), its bound and its cost counts, in one evaluation."""
        data = prompt + text
        ends = [len(data) - 1] + ([len(prompt) - 1] if prompt else [])
        found = self.masses(data, ends, scored=True)
        total, bound = self._prefix_logprob(found, data, len(data))
        if prompt:
            head, head_bound = self._prefix_logprob(found, data, len(prompt))
            total, bound = total - head, max(bound, head_bound)
        return total, bound, found.counts

    def _prefix_logprob(self, found: CoverMasses, data: bytes, length: int) -> tuple[float, float]:
        """log P(data[:length]) from the masses at position length - 1, and its certified bound (the cover
        sum can only be too low, by at most that much)."""
        masses, scale = found.at(length - 1)
        mass = masses[data[length - 1]]
        if mass <= 0:
            raise _zero_probability(self, data, length - 1)
        return float(np.log(mass) + scale), float(cover_sum_bound(found.missing_at(length - 1), mass))

    def score(self, text: bytes | str, *, prompt: bytes | str = b"", distributions: bool = False,
              progress: Callable[[int], None] | None = None) -> ByteScores:
        """Normalised log P(byte | preceding bytes) for every byte of `text` after `prompt`, from one
        evaluation of the cover tree (a few batched forwards for the whole text); exact up to the certified
        per-byte bounds in `bounds` (at most the tolerance). `stats` counts forwards, positions run and
        cover states (all of them, and those evaluated). A text longer than the model's context is scored
        in windows (`windows.py`; `stats["windows"]`), and `progress` is told each window's bytes once it
        is scored."""
        text, prompt = as_bytes(text), as_bytes(prompt)
        data = prompt + text
        started = time.perf_counter()
        parts = [_told(progress, w, self._window_scores(data[w.context:w.start], data[w.start:w.stop], distributions))
                 for w in text_windows(self, data, len(prompt))]
        stats = {**_summed([part.stats for part in parts]), "seconds": time.perf_counter() - started,
                 "tolerance": self.tolerance, "windows": len(parts)}
        return ByteScores(np.concatenate([part.logprobs for part in parts]), sum(part.logprob for part in parts),
                          np.concatenate([part.distributions for part in parts]) if distributions else None,
                          stats, np.concatenate([part.bounds for part in parts]),
                          sum(part.logprob_bound for part in parts))

    def _window_scores(self, prompt: bytes, text: bytes, distributions: bool) -> ByteScores:
        """`score` of one window (its stats: the cost counts only)."""
        data = prompt + text
        positions = list(range(len(prompt), len(data)))
        found = self.masses(data, positions, scored=True)
        totals = found.masses.sum(axis=1)
        picked = found.masses[np.arange(len(text)), np.frombuffer(text, dtype=np.uint8)]
        zero = np.flatnonzero(picked <= 0)
        if zero.size:
            raise _zero_probability(self, data, len(prompt) + int(zero[0]))
        logprobs = np.log(picked) - np.log(totals)
        missing = found.missing
        bounds = logprob_bound(missing, picked, totals)
        logprob, logprob_error = 0.0, 0.0
        if len(text):
            logprob = float(np.log(picked[-1]) + found.log_scale[-1])
            logprob_error = float(cover_sum_bound(missing[-1], picked[-1]))
        counts = found.counts
        if prompt and len(text):
            before = self.masses(prompt, [len(prompt) - 1], scored=True)
            head, head_error = self._prefix_logprob(before, prompt, len(prompt))
            logprob, logprob_error = logprob - head, max(logprob_error, head_error)
            counts = _summed([counts, before.counts])
        return ByteScores(logprobs, logprob, found.masses / totals[:, None] if distributions else None, counts,
                          bounds, logprob_error)

    def generate(self, prompt: bytes | str, max_bytes: int, **options):
        """Sample (or greedily decode) up to `max_bytes` bytes after `prompt` at the byte level; see
        `tokwork.bytelevel.sampling.generate` for the options."""
        from tokwork.bytelevel.sampling import generate

        return generate(self, as_bytes(prompt), max_bytes, **options)


def as_bytes(value: bytes | str) -> bytes:
    """A text as the byte level reads it: bytes (or a bytes-like object) as they are, a str as its UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int) or not hasattr(value, "__len__"):
        raise TypeError(f"the byte level reads bytes or str, not {type(value).__name__}")
    return bytes(value)


def _told(progress: Callable[[int], None] | None, window: Window, result: T) -> T:
    """`result`, once `progress` (if any) has been told the bytes of the window it scored."""
    if progress is not None:
        progress(window.stop - window.start)
    return result


def _summed(counts: list[dict]) -> dict:
    """Cost counts (forwards, positions, states, seconds) of several evaluations, added up."""
    return {key: sum(c[key] for c in counts) for key in counts[0]} if counts else {}


def _show(data: bytes) -> str:
    shown = data[-40:]
    return repr(shown) if len(data) <= 40 else "..." + repr(shown)


def _first_non_utf8(data: bytes) -> int | None:
    """Offset of the first byte where `data` stops being UTF-8 (an unfinished last character is fine)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError as err:
        return err.start
    return None


def _zero_probability(lm: ByteLM, data: bytes, offset: int) -> TokworkError:
    """The error for a text the model gives probability zero at `offset`, naming the first byte up to there
    that breaks UTF-8 or that no token contains, if any (a whole text's probability fails at its end,
    whatever the cause)."""
    broken = _first_non_utf8(data[:offset + 1])
    if broken is not None:
        return ParameterError(f"byte 0x{data[broken]:02x} at offset {broken} has probability zero: the text is not "
                              "UTF-8 there, and the byte level is a model of text (a byte that breaks UTF-8 never "
                              "comes next)")
    spelled = set().union(*(piece for piece in lm.vocab.pieces if piece))
    missing = next((i for i in range(offset + 1) if data[i] not in spelled), None)
    if missing is not None:
        return ParameterError(f"byte 0x{data[missing]:02x} at offset {missing} has probability zero: no token of "
                              "the tokenizer contains it (its byte view is incomplete)")
    return ParameterError(f"byte 0x{data[offset]:02x} at offset {offset} has probability zero: no canonical token "
                          "sequence of the tokenizer spells the text up to there")


def _checked_start_ids(start_ids, rows: int) -> list[int]:
    """The start ids as a list of ints, or `ParameterError` where they are no non-empty sequence of token
    ids of a model of `rows` rows."""
    listed = np.asarray(start_ids).tolist() if isinstance(start_ids, np.ndarray) else start_ids
    if isinstance(listed, str | bytes) or not isinstance(listed, list | tuple) or not listed or any(
            isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < rows for i in listed):
        raise ParameterError(f"start ids {start_ids!r} must be a non-empty list of token ids of the model "
                             f"(0 to {rows - 1})")
    return [int(i) for i in listed]


__all__ = ["END", "ByteLM", "ByteScores", "TextScore", "default_end_id", "default_start_ids"]
