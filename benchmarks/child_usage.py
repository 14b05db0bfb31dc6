"""Wall time, CPU time and peak memory of one command, measured from a small launcher process.

Linux keeps a process's peak resident set across fork and exec: a command started straight from a
benchmark that holds a few hundred MiB reports at least that much, whatever it used itself (the 8k row
of an early `train_bpe.json` read 258 MiB on both sides for that reason). So each command is started by
a bare Python launcher (`-S -I`: no site packages, a few MiB), which waits for it and reads its
children's usage. `launcher_floor_mib` is what the launcher alone puts under every figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# argv: the command. Prints one JSON line: exit status, wall and CPU seconds, peak RSS (KiB), load.
LAUNCHER = r"""
import json, os, resource, subprocess, sys, time
before = os.getloadavg()[0]
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": done.returncode, "wall": wall, "user": usage.ru_utime, "system": usage.ru_stime,
                  "peak_kib": usage.ru_maxrss, "load_before": before, "load_after": os.getloadavg()[0],
                  "stdout": done.stdout.decode(errors="replace"), "stderr": done.stderr.decode(errors="replace")[-4000:]}))
"""


@dataclass
class ChildUsage:
    """What one command used, as its launcher saw it."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    load_before: float
    load_after: float
    stdout: str


def measure(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> ChildUsage:
    """Run `command` under the launcher; its usage, or exit with its error output if it failed."""
    done = subprocess.run([sys.executable, "-S", "-I", "-c", LAUNCHER, *command], env=env or dict(os.environ),
                          cwd=cwd, capture_output=True, text=True, check=True)
    run = json.loads(done.stdout)
    if run["returncode"] != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{run['stderr']}")
    return ChildUsage(wall_seconds=run["wall"], cpu_seconds=run["user"] + run["system"],
                      peak_rss_mib=run["peak_kib"] / 1024, load_before=run["load_before"],
                      load_after=run["load_after"], stdout=run["stdout"])


def launcher_floor_mib() -> float:
    """Peak memory reported for a command that does nothing: the part of every figure that is the launcher's."""
    return measure(["/bin/true"]).peak_rss_mib
