"""Tokenizer trainers: byte-level BPE, SentencePiece unigram, character-level; later supertoken and stochastic.

This folder is installed as `tokwork.trainers`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.trainers":
    raise ImportError("import tokwork.trainers, not the folder 'trainers' on its own")
