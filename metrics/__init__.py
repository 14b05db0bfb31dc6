"""Tokenizer metrics: compression, entropy, cross-lingual premiums, integrity, and the benchmark report.

One concept per module: `compression` (bytes/characters per token, fertility, split words, normalized
sequence length), `entropy` (Shannon and Rényi entropy and efficiency, bigram entropy, utilisation),
`premiums` (token premiums on parallel text), `integrity` and `lexicon` (tokens and words against word
lists), `words` (words in byte offsets and the tokens over them), `parallel` (aligned corpora), `jobs`
(one pure tokenizer x language job), `bench` (planning, running and combining jobs), `plots` and `report`.

This folder is installed as `tokwork.metrics`; importing it under any other name is a mistake that would
load a second copy of the code, so it is refused.
"""

if __name__ != "tokwork.metrics":
    raise ImportError("import tokwork.metrics, not the folder 'metrics' on its own")
