"""Writing outputs so that nothing is lost: work happens in a temporary sibling that is renamed into place.

A failed or interrupted run leaves the previous output (or nothing) where the user looks, never a half
written directory. One rule decides whether an output directory may be written, for every command and
library call (`check_output_directory`): an earlier tokwork output (a folder with its `tokwork.json` card) is
replaced; a non-empty folder that tokwork did not write is replaced only with `force=True`; a file in the
way is always refused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tokwork.card import CARD_NAME
from tokwork.errors import OutputError


def check_output_directory(path: str | Path, *, force: bool = False) -> Path:
    """Refuse an output directory that is a file, or a non-empty folder tokwork did not write (no card),
    unless `force` is given; an earlier tokwork output passes, to be replaced.

    Call it before long work starts so that the user learns of the clash at once.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output '{path}' exists and is a file, not a directory; choose another path")
    if path.is_dir() and any(path.iterdir()) and not (path / CARD_NAME).is_file() and not force:
        raise OutputError(
            f"output directory '{path}' already exists and is not a tokwork output; pass --force to replace it"
        )
    return path


@contextmanager
def output_directory(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; on success it replaces `path` in one rename.

    On an exception the temporary directory is removed and `path` is left as it was.
    """
    path = check_output_directory(path, force=force).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, retired / path.name)
        os.replace(staging, path)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, path)


@contextmanager
def output_file(path: str | Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure removed."""
    path = Path(path).absolute()
    if path.is_dir():
        raise OutputError(f"output '{path}' is a directory; give a file name")
    if path.exists() and not force:
        raise OutputError(f"output file '{path}' exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(handle)
    staging = Path(staging_name)
    try:
        yield staging
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)
