"""tokwork: a tokenizer engineering and transplantation workbench.

The shared core lives here: `Tokenizer` (one type over tokenizer.json, SentencePiece and tiktoken files)
with its byte view, corpus streaming, errors and output writing. Trainers, metrics, transplant and the CLI
are the sub-packages `tokwork.trainers`, `tokwork.metrics`, `tokwork.transplant` and `tokwork.cli`.
"""

from tokwork.errors import TokworkError
from tokwork.loader import load_tokenizer, open_tokenizer
from tokwork.tokenizer import SpecialTokens, Tokenizer

__all__ = ["SpecialTokens", "Tokenizer", "TokworkError", "load_tokenizer", "open_tokenizer"]
__version__ = "0.1.0"
