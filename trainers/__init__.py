"""Tokenizer trainers: byte-level BPE, SentencePiece unigram and BPE, character-level, supertoken, stochastic,
and the extension of an existing tokenizer with new tokens (`extend`).

Each returns the tokenizer with its card (`tokwork.json`). A stochastic tokenizer is itself core
(`tokwork.sampling`); `stochastic.make_stochastic` only builds one over a base, with its card.

This folder is installed as `tokwork.trainers`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.trainers":
    raise ImportError("import tokwork.trainers, not the folder 'trainers' on its own")
