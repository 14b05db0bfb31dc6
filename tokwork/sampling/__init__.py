"""Stochastic tokenizers: a base tokenizer whose encode samples a segmentation, seeded per text.

They are encoders that run whenever text is encoded, not trainers, so they live in the core beside the
formats they wrap: `stochastic` (the `StochasticTokenizer` and its saved form), one module per sampler
(`stochastok`, `bpe_dropout` with the `merge_table` it reads, `subword_sampling`), and what the samplers
share (`random_streams`, `ragged_ids`). Opening a saved one is `tokwork.loader.open_tokenizer`; making one
with a card is `tokwork.trainers.stochastic.make_stochastic`.
"""

from tokwork.sampling.stochastic import METHODS, StochasticConfig, StochasticTokenizer

__all__ = ["METHODS", "StochasticConfig", "StochasticTokenizer"]
