"""Every bad input gets one line on stderr, exit code 2, no traceback, and nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import UDHR

TOKWORK = [sys.executable, "-m", "tokwork.cli"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*TOKWORK, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tokwork: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "good.txt").write_text((UDHR / "eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9 ".encode() + "na\u00efve".encode("latin-1"))
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": ', encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("do not lose me", encoding="utf-8")
    return tmp_path


CASES = {
    "missing corpus file": (["train", "bpe", "nope.txt", "-v", "1000", "-o", "out"], "corpus file 'nope.txt' does not exist"),
    "empty corpus": (["train", "bpe", "empty.txt", "-v", "1000", "-o", "out"], "corpus is empty"),
    "non-UTF-8 corpus": (["train", "bpe", "latin1.txt", "-v", "1000", "-o", "out"], "is not UTF-8 at byte 8"),
    "output not a tokwork output": (["train", "bpe", "good.txt", "-v", "1000", "-o", "precious"],
                                    "exists and is not a tokwork output; pass --force"),
    "vocab below the byte alphabet": (["train", "bpe", "good.txt", "-v", "200", "-o", "out"], "below the byte alphabet"),
    "vocab absurdly large": (["train", "unigram", "good.txt", "-v", "99999999", "-o", "out"], "absurdly large"),
    "char vocab below alphabet": (["train", "char", "good.txt", "-v", "100", "-o", "out"], "below the byte alphabet"),
    "unknown tokenizer format": (["encode", "vocab.txt", "hello"], "unknown tokenizer format"),
    "corrupt tokenizer.json": (["info", "tokenizer.json"], "is not a valid tokenizer.json"),
    "missing tokenizer": (["info", "no-such-dir"], "does not exist"),
    "not an integer": (["train", "bpe", "good.txt", "-v", "lots", "-o", "out"], "Invalid value for '--vocab-size'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(workdir, case):
    args, message = CASES[case]
    done = run_cli(*args, cwd=workdir)
    assert_one_line_error(done, message)
    assert not (workdir / "out").exists()
    assert leftovers(workdir) == []
    assert (workdir / "precious" / "notes.txt").read_text(encoding="utf-8") == "do not lose me"
