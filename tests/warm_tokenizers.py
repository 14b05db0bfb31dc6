"""Convert the reference tiktoken files into tokwork's cache, for `make test` on a fresh checkout.

The first load of a `.tiktoken` file converts it into a `tokenizers` BPE (o200k: about 6 s, the three
files about 10 s) and caches the result under the file's digest, with its byte view. On a fresh checkout
each pytest-xdist worker that loads such a file before the other has cached it converts it again inside
the tests (both did, in a profile of the suite). `make test` runs this beside the SmolLM2 conversion and
the kernels' warm-up, after the tokenizer fetch; what it leaves undone the tests do as before, so nothing
depends on it. Run as `python -m tests.warm_tokenizers` from the repository.
"""

from __future__ import annotations

from tests.conftest import REFERENCE_TOKENIZERS, reference_tokenizer_path
from tokwork import load_tokenizer


def main() -> None:
    """Load each reference tiktoken file and its byte view once (each lands in the cache)."""
    for name in REFERENCE_TOKENIZERS:
        if name.endswith("_base"):
            view = load_tokenizer(reference_tokenizer_path(name)).byte_view
            print(f"{name}: {len(view.token_bytes):,} tokens, converted and cached with its byte view")


if __name__ == "__main__":
    main()
