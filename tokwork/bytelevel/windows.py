"""Texts longer than the model's context, scored in windows of whole tokens.

A model reads a bounded number of positions (`ByteLM.context_length`). A text whose encoding does not fit,
with the start tokens, is scored the way `tokwork eval` scores one at the token level: in consecutive
windows cut where the tokenizer's own encoding has a token boundary between two characters, each window
conditioned on the one token before it (its bytes, as a prompt: from the start of its first character
where that token begins inside one, and at least two bytes) and on nothing earlier; a prompt before the
text keeps at most half a window. Each window is exact up to its certified bound, and the windows'
log-probabilities and bounds add up.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokwork.bytelevel.tree import ContextFullError

if TYPE_CHECKING:
    from tokwork.bytelevel.bytelm import ByteLM

# Positions a window leaves free: a window's own encoding may differ from the whole text's near its first
# token, and a cover state adds a token after a prefix.
ROOM = 16
# A window's prompt holds at least this many bytes. It was set to keep windows off a dummy-prefix
# SentencePiece's first byte, which gave some texts probability zero until the prefix space alone became a
# canonical state (`CanonicalEncoder.prefix_states`); it stays so that windows are cut as they were.
MIN_CONTEXT_BYTES = 2


@dataclass(frozen=True)
class Window:
    """Byte offsets in the caller's data: data[context:start] is conditioned on, data[start:stop] scored."""

    context: int
    start: int
    stop: int


def text_windows(lm: ByteLM, data: bytes, start: int) -> list[Window]:
    """Windows that score data[start:] within the model's context; one window when it all fits."""
    limit, whole = lm.context_length, [Window(0, start, len(data))]
    if limit is None or len(lm.start_ids) + len(lm.stream_prefix) + len(data) + ROOM <= limit:
        return whole  # every token spells at least one byte
    text = lm.canonical_text(data)
    ids, bounds = text.reference()
    if ids is None:
        raise ContextFullError("the text is longer than the model's context and cannot be cut into windows: the "
                               "tokenizer's encoding of it does not spell it back (its normaliser changes it)")
    if len(lm.start_ids) + len(ids) + ROOM <= limit:
        return whole
    shift = len(lm.stream_prefix)
    ends = sorted(bounds)  # stream offsets of the token boundaries; ends[k]: after k tokens
    capacity = limit - len(lm.start_ids) - 2 * ROOM
    if capacity < 4:
        raise ContextFullError(f"the model's context ({limit} positions) is too short to score "
                               "a text in windows")

    def tokens_before(offset: int) -> int:  # tokens that end at or before a stream offset
        return bisect.bisect_right(ends, offset) - 1

    def at_character(count: int) -> int:  # a window's text must start a character: back to one that does
        while count > 0 and not text.is_boundary(ends[count]):
            count -= 1
        return count

    windows = []
    position = start + shift
    # a prompt keeps at most half a window: where that cut falls inside a character, on to the next start
    first, prompt_end = max(0, tokens_before(position) - capacity // 2), tokens_before(position)
    ahead = first
    while ahead < prompt_end and not text.is_boundary(ends[ahead]):
        ahead += 1
    context_tokens = ahead if text.is_boundary(ends[ahead]) else at_character(first)
    while True:
        last = context_tokens + capacity
        if last >= len(ends) - 1:
            windows.append(Window(ends[context_tokens], position, len(text.data)))
            break
        cut = at_character(last)  # end a window between characters, so that the next one's prompt does too
        stop = max(ends[cut if ends[cut] > position else last], position + 1)
        windows.append(Window(ends[context_tokens], position, stop))
        position = stop
        context_tokens = at_character(tokens_before(stop) - 1)
        while context_tokens > 0 and stop - ends[context_tokens] < MIN_CONTEXT_BYTES:
            context_tokens = at_character(context_tokens - 1)
    return [Window(max(w.context - shift, 0), w.start - shift, w.stop - shift) for w in windows]
