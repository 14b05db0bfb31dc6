"""Exact byte-level probabilities from tokenized language models.

Definition (after Phan et al. 2024, "Exact Byte-Level Probabilities from Tokenized Language Models", and
Hayase et al. 2025, "Sampling from Your Language Model One Byte at a Time"). For a byte string x, P(x) is
the total probability, under the model started from its start tokens, of the token sequences that *cover*
x: sequences t1..tk whose bytes before tk are a strict prefix p of x and whose bytes through tk start with
x, where the committed part t1..t(k-1) must be a canonical encoding of p, one the tokenizer itself
produces (`canonical.py`: the tokenizer's encoding of p, or, when p ends inside a UTF-8 character, what it
produces for p on the way to any completion of that character). The last token tk is any token whose bytes
start with the rest of x. Special tokens spell no bytes and never cover anything; P(empty) = 1.

Normalisation. The next-byte distribution is P(b | x) = P(x·b) / Z(x) over the 256 bytes plus end of text,
Z(x) = sum_b P(x·b) + P_end(x), where P_end(x) = P(E(x)) * P(end token | E(x)) for the tokenizer's encoding
E(x) of a text that ends at a character boundary (0 otherwise), and bytes that would make x·b invalid UTF-8
get probability zero (the layer models text). Because P counts only canonical committed parts, Z(x) is not
P(x) in general: mass the model puts on non-canonical continuations or on other special tokens is left out,
and states that end exactly at x add mass that P(x) did not count when their own prefix was not canonical.
So the log of the product of the normalised next-byte probabilities along x equals
log P(x) + sum_i [log P(x[:i]) - log Z(x[:i])] (with P(x[:0]) = 1); the two agree exactly when the model puts
no mass outside canonical continuations. `ByteLM.logprob` returns log P (the cover sum; `score_text` with
its bound and cost), which needs only the states that can end the text, about one forward over its tokens;
`ByteLM.score` the normalised per-byte log-probabilities, which need a state at nearly every byte. Bytes
that no token can spell get probability zero.

Certified pruning (`certified.py`). A cover state's probability is known from its parent's row before the
state itself is evaluated, and it caps everything the state's covers can add at any later position. With
`ByteLM(..., tolerance=eps)` (default 1e-6) side branches are left unevaluated while the mass they could
add keeps every normalised probability, and every scored log-probability, within eps of the exact value;
each result reports the bound it reached. `tolerance=0` evaluates every state.
"""

from tokwork.bytelevel.bytelm import ByteLM
from tokwork.bytelevel.scores import ByteScores, TextScore

__all__ = ["ByteLM", "ByteScores", "TextScore"]
