"""Benchmark jobs on worker processes of this machine, one tokenizer's jobs per task.

Loading a tokenizer (parsing its file, building its byte view) is single-threaded and holds the GIL, and
for a handful of large vocabularies it is most of a benchmark's time; threads cannot overlap it, processes
can. Each task is every language of one tokenizer, so each tokenizer is loaded by one worker only; tasks
go out largest file first, so that the last one to start is a short one. Jobs are pure (`run_job`), so
the results equal the in-process ones; `summarize` does not depend on their order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from tokwork.metrics.jobs import BenchJob, run_job
from tokwork.tokenizer import tokenizer_file


def default_workers(tokenizers: int) -> int:
    """Worker processes for a benchmark of `tokenizers` tokenizers: one per CPU, at most one per tokenizer."""
    return max(1, min(os.cpu_count() or 1, tokenizers))


def _file_size(path: str) -> int:
    """Size of the file a tokenizer loads from, as a guess of how long it takes to load."""
    return tokenizer_file(path).stat().st_size


def _run_group(jobs: list[BenchJob]) -> list[dict]:
    return [run_job(job) for job in jobs]


def run_in_workers(jobs: list[BenchJob], workers: int) -> Iterator[dict]:
    """Run the jobs on `workers` processes and yield each job's result as its tokenizer's task finishes.

    A `TokworkError` in a worker (a tokenizer that does not load) is raised here, and the tasks not yet
    started are cancelled."""
    groups: dict[str, list[BenchJob]] = {}
    for job in jobs:
        groups.setdefault(job.tokenizer_path, []).append(job)
    order = sorted(groups, key=_file_size, reverse=True)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future] = {pool.submit(_run_group, groups[path]) for path in order}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            for future in pending:
                future.cancel()
