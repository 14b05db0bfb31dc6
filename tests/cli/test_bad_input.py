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
    # found by a walkthrough of the commands: each failed with a traceback, or did something else silently
    "a negative seed": (["distill", "smollm2", "x", "-c", "good.txt", "-o", "out", "--seed", "-1"],
                        "Invalid value for '--seed'"),
    "a device torch cannot run": (["distill", "smollm2", "precious", "-c", "good.txt", "-o", "out", "--device",
                                   "tpu"], "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
    "a time budget below zero": (["hypernet", "train", "smollm2", "-c", "good.txt", "-o", "out", "--max-minutes",
                                  "-1"], "--max-minutes must be positive, not -1.0"),
    "an option of --out without it": (["encode", "gpt2", "hello", "--shard-tokens", "100"],
                                      "--shard-tokens applies only to writing ids with --out"),
    "a .npy name for a folder of shards": (["encode", "gpt2", "-f", "good.txt", "-o", "out.npy", "--engine", "local"],
                                           "ends in .npy, but engine 'local' writes a folder of shards"),
    "greedy decoding with sampling options": (["bytes", "generate", "smollm2", "Hi", "--greedy", "--temperature",
                                               "0.5"], "--greedy takes the most probable byte"),
    "a weight for a part the loss lacks": (["distill", "smollm2", "precious", "-c", "good.txt", "-o", "out", "--loss",
                                            "alm", "--latent-weight", "2"],
                                           "--latent-weight weighs a part that --loss alm does not have"),
    "an absolute glob that matches nothing": (["train", "bpe", "/nonexistent/e*.txt", "-v", "300", "-o", "out"],
                                              "corpus pattern '/nonexistent/e*.txt' matches no files"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(workdir, case):
    args, message = CASES[case]
    done = run_cli(*args, cwd=workdir)
    assert_one_line_error(done, message)
    assert not (workdir / "out").exists()
    assert leftovers(workdir) == []
    assert (workdir / "precious" / "notes.txt").read_text(encoding="utf-8") == "do not lose me"


def test_an_absolute_glob_is_a_corpus(workdir):
    done = run_cli("train", "bpe", str(workdir / "go*.txt"), "-v", "300", "-o", "out", "-q", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (workdir / "out" / "tokenizer.json").is_file()


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(workdir):
    text = "word " * 3000
    done = subprocess.run(f"{sys.executable} -m tokwork.cli encode gpt2 '{text}' --limit 0 | head -1",
                          shell=True, capture_output=True, text=True, cwd=workdir, timeout=300,
                          executable="/bin/bash")
    assert done.stderr == "" and done.stdout.startswith(" 3001 tokens")
