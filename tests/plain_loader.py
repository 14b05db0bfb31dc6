"""Plain `tokenizers` and `transformers`, without tokwork, in one child process per test worker.

Several trainer tests check that what tokwork saves loads in the plain libraries alone. Each used to start
its own process, and importing transformers (which imports torch) costs about 5 CPU-seconds; the child
here imports them once and answers every request of the worker's session over its stdin and stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LOOP = r"""
import json, sys, traceback
from tokenizers import Tokenizer
from transformers import AutoTokenizer
for line in sys.stdin:
    try:
        seen = {}
        for name, (folder, text) in json.loads(line).items():
            a = Tokenizer.from_file(folder + "/tokenizer.json").encode(text, add_special_tokens=False).ids
            hf = AutoTokenizer.from_pretrained(folder)
            b = hf(text, add_special_tokens=False)["input_ids"]
            seen[name] = {"tokenizers": a, "transformers": b, "eos": hf.eos_token_id, "decoded": hf.decode(b)}
        assert not any(m.startswith("tokwork") for m in sys.modules), "tokwork was imported"
        print(json.dumps({"seen": seen}), flush=True)
    except Exception:
        print(json.dumps({"error": traceback.format_exc()}), flush=True)
"""


class PlainLoader:
    """Ask the child what plain `tokenizers` and `transformers` make of saved tokenizer folders."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._child: subprocess.Popen | None = None
        self._log = None

    def __call__(self, cases: dict[str, tuple[Path, str]]) -> dict[str, dict]:
        """name -> ids from each library for the (folder, text) of that name, the eos id and the decoded
        text; the child never imports tokwork."""
        if self._child is None:
            self._log = (self.workdir / "plain-loader.log").open("w")  # warnings: a file, not a pipe to fill
            self._child = subprocess.Popen([sys.executable, "-c", LOOP], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=self.workdir,
                                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
        request = {name: [str(folder), text] for name, (folder, text) in cases.items()}
        self._child.stdin.write(json.dumps(request) + "\n")
        self._child.stdin.flush()
        line = self._child.stdout.readline()
        assert line, "the plain loader exited: " + (self.workdir / "plain-loader.log").read_text()
        answer = json.loads(line)
        assert "error" not in answer, answer.get("error")
        return answer["seen"]

    def close(self) -> None:
        if self._child is not None:
            self._child.stdin.close()
            self._child.wait(timeout=60)
            self._log.close()
