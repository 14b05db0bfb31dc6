"""Bench jobs grouped into tasks for worker processes: each tokenizer loaded once, the workers kept busy alike.

Loading a tokenizer (parsing its file, building its byte view) is single-threaded and holds the GIL, and
for a handful of large vocabularies it is most of a benchmark's time; threads cannot overlap it, processes
can. So a task holds every job of a tokenizer (`tokenizer_tasks`), and a tokenizer is loaded in one worker
only. With more tokenizers than workers, handing tasks out one at a time, largest first, can leave one
worker finishing a last task while the others are idle; `worker_tasks` instead joins the tokenizers into
one task per worker, of about equal estimated cost. Grouping changes speed, never results.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokwork.loader import tokenizer_file
from tokwork.metrics.jobs import BenchJob, run_job

# Measuring one byte of text (encoding it and every per-text measure) costs about as much as loading 20
# bytes of tokenizer file (about 0.6 s and 0.03 s per MB, read off one profile of the six reference
# tokenizers on the UDHR; only the ratio matters, and only for how tasks are grouped).
TEXT_WEIGHT = 20


def tokenizer_tasks(jobs: list[BenchJob]) -> list[tuple[BenchJob, ...]]:
    """The jobs grouped into one task per tokenizer, the slowest tokenizer to load first."""
    groups: dict[str, list[BenchJob]] = {}
    for job in jobs:
        groups.setdefault(job.tokenizer_path, []).append(job)
    order = sorted(groups, key=load_size, reverse=True)
    return [tuple(groups[path]) for path in order]


def worker_tasks(jobs: list[BenchJob], workers: int) -> list[tuple[BenchJob, ...]]:
    """At most `workers` tasks: one per tokenizer when there are no more tokenizers than workers, else the
    tokenizers joined into one task per worker, balanced by their estimated cost (`task_cost`)."""
    tasks = tokenizer_tasks(jobs)
    if len(tasks) <= workers:
        return tasks
    groups = balanced_groups([task_cost(task) for task in tasks], workers)
    return [tuple(job for index in group for job in tasks[index]) for group in groups]


def task_cost(task: Sequence[BenchJob]) -> float:
    """About how long a task takes, in bytes of tokenizer file loaded (the unit of `load_size`)."""
    text = sum(len(block.encode("utf-8")) for job in task for block in job.blocks)
    return load_size(task[0].tokenizer_path) + TEXT_WEIGHT * text


def balanced_groups(costs: Sequence[float], bins: int) -> list[list[int]]:
    """Indices of `costs` split into at most `bins` groups whose largest total is small: each item to the
    least loaded group, largest first, then single moves and pairwise swaps out of the most loaded group
    while they lower it. Each group lists its items largest first."""
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    groups: list[list[int]] = [[] for _ in range(min(bins, len(costs)))]
    loads = [0.0] * len(groups)
    for item in order:
        target = min(range(len(groups)), key=lambda g: (loads[g], g))
        groups[target].append(item)
        loads[target] += costs[item]
    while _improve(costs, groups, loads):
        pass
    return [sorted(group, key=lambda i: (-costs[i], i)) for group in groups]


def _improve(costs: Sequence[float], groups: list[list[int]], loads: list[float]) -> bool:
    """One move or swap of items between the most loaded group and another that lowers both below the
    most loaded group's total; False when there is none. (Each such step lowers the sum of squared
    loads, so repeating it ends.)"""
    top = max(range(len(groups)), key=lambda g: (loads[g], -g))
    for other in range(len(groups)):
        if other == top:
            continue
        for item in groups[top]:
            candidates = [(None, costs[item])] + [(swap, costs[item] - costs[swap]) for swap in groups[other]]
            for swap, shift in candidates:
                if shift > 0 and loads[other] + shift < loads[top]:
                    groups[top].remove(item)
                    groups[other].append(item)
                    if swap is not None:
                        groups[other].remove(swap)
                        groups[top].append(swap)
                    loads[top] -= shift
                    loads[other] += shift
                    return True
    return False


def load_size(path: str) -> int:
    """About how many bytes loading the tokenizer at `path` parses, which is what its loading time follows:
    its file, but for a .tiktoken file the tokenizer.json it is converted to, about four times the size."""
    file = tokenizer_file(path)
    return file.stat().st_size * (4 if file.suffix == ".tiktoken" else 1)


def run_task(jobs: tuple[BenchJob, ...]) -> list[dict]:
    """Run one task's jobs (every language of one or more tokenizers) in turn."""
    return [run_job(job) for job in jobs]
