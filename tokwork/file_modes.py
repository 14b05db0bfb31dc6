"""The modes of what tokwork writes: those the user's umask gives new folders and files.

Outputs are made in temporary folders and files, which tempfile creates private (0700, 0600), as some
writers do (safetensors' files are 0600); once moved into place they would stay so, unreadable to a
group or a web server that the user's umask lets read everything else.
"""

from __future__ import annotations

import os
from pathlib import Path


def publish_modes(path: Path) -> None:
    """Give `path`, and everything in it when it is a folder, the modes the umask gives new ones."""
    mask = os.umask(0)
    os.umask(mask)
    for inner in [path, *(path.rglob("*") if path.is_dir() else ())]:
        if not inner.is_symlink():
            os.chmod(inner, (0o777 if inner.is_dir() else 0o666) & ~mask)
