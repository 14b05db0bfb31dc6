"""Sampler tables kept in the tokwork cache, so that a new process does not build them again.

A sampler's tables (BPE-dropout's merges and hash table, StochasTok's splits) depend only on the base
tokenizer's file, and building them reads every token and merge in Python: about 3 s for Llama 3's
128k tokens and 280k merges, more than encoding a page of text takes. `stored_arrays` keeps a table's
arrays in one `.npy`-per-array `.npz` file under the cache's `sampler-tables` folder, keyed by the base's
file digest (its byte-view key, `Tokenizer.byte_view_key`) and by the source of the modules that build
the table, so that another file or changed code never reads a stale table. A tokenizer built in memory
has no key, and its tables are built every time. A cache that cannot be written or read back only costs
the time to build.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable

import numpy as np

from tokwork.cache import cache_dir, source_digest
from tokwork.tokenizer import Tokenizer

FOLDER = "sampler-tables"


def stored_arrays(tokenizer: Tokenizer, name: str, build: Callable[[], dict[str, np.ndarray]],
                  modules: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `build()` returns for `tokenizer`, read from the cache when a process stored them before
    (under `name`, with the source of `modules`, the code that builds them, in the key)."""
    key = tokenizer.byte_view_key()
    if key is None:
        return build()
    data_digest = key.split("-")[0]
    path = cache_dir(FOLDER) / f"{name}-{data_digest}-{key.split('-')[-1]}-{source_digest(frozenset(modules))[:16]}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {array: stored[array] for array in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        pass  # none stored, or a file that does not read back: build it
    arrays = build()
    from tokwork.outputs import output_file  # here, not at the top: it imports importlib.metadata, slow

    try:
        with output_file(path, cache=True) as staging, staging.open("wb") as handle:
            np.savez(handle, **arrays)
        for older in path.parent.glob(f"{name}-{data_digest}-*.npz"):  # the same file, older code
            if older != path:
                older.unlink(missing_ok=True)
    except OSError:
        pass
    return arrays
