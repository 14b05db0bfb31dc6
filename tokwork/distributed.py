"""Running jobs in parallel: in this process, on worker processes of this machine, or on Ray, with the same results.

A job is a picklable description of work and a module-level function that does it; `run_jobs` applies the
function to every job in this process (`engine="local"`, one worker), on worker processes of this machine
(`engine="local"`, `workers=N`) or as Ray tasks (`engine="ray"`, the optional extra `tokwork[ray]`), and
returns the results in job order on each, so the engines cannot differ by construction. Jobs start in the
order given, so a caller puts its longest first. Ray retries a task whose worker died; a job that fails on
its input (a `TokworkError`, such as a corpus that is not UTF-8) fails the whole run with that one-line
message, jobs not yet started are cancelled, and nothing is written by the caller.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from tokwork.errors import ParameterError, TokworkError
from tokwork.progress import count_progress

ENGINES = ("local", "ray")
INSTALL_HINT = "pip install 'tokwork[ray]'"
TASK_RETRIES = 3
REACH_SECONDS = 10  # how long a cluster's address may take to answer a connection


def check_engine(engine: str, *, choices: Sequence[str] = ENGINES, address: str | None = None) -> None:
    """Refuse an unknown engine, the Ray engine when Ray is not installed (saying how to install it), and
    a Ray cluster's `address` with another engine (it would be ignored)."""
    if engine not in choices:
        raise ParameterError(f"unknown engine '{engine}'; choose one of {', '.join(choices)}")
    if address and engine != "ray":
        raise ParameterError(f"--address names a Ray cluster, which only --engine ray uses (the engine is '{engine}')")
    if engine == "ray":
        _import_ray()


def default_workers(tasks: int) -> int:
    """Worker processes for `tasks` tasks: one per CPU, at most one per task."""
    return max(1, min(os.cpu_count() or 1, tasks))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise TokworkError(f"the ray engine needs Ray, which is not installed; run: {INSTALL_HINT}") from None
    return ray


@contextmanager
def ray_cluster(address: str | None = None) -> Iterator[Any]:
    """Connect to the Ray cluster at `address` (else `$RAY_ADDRESS`), or start a local one of this
    process's own, for the duration of the block. A cluster that does not answer as Ray is refused in one
    line, before Ray would wait minutes for it."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    given = address or os.environ.get("RAY_ADDRESS") or None
    source = "--address" if address else "RAY_ADDRESS"
    if given:
        _check_reachable(given, source)
    else:  # a cluster of this process's own, which no one else joins, needs no token
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    settings = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                "configure_logging": True}
    main_thread = threading.current_thread() is threading.main_thread()
    on_terminate = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        ray.init(address=given or "local", **settings)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"at '{given}' ({source})" if given else "locally"
        reason = str(err).splitlines()[0]
        hint = ("; the cluster asks for a token: set RAY_AUTH_MODE=token (and its token) as for the cluster"
                if given and "auth" in str(err).lower() else "")
        raise TokworkError(f"cannot start or reach a Ray cluster {where}: {reason}{hint}") from None
    finally:
        if main_thread and on_terminate is not None:  # Ray puts its own handler in, which exits without unwinding
            signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, source: str = "--address") -> None:
    """Refuse a `host:port` address that nothing answers at, or that answers but not as Ray's GCS (a
    dashboard's web port), before Ray waits minutes for it; other forms, such as `auto`, are Ray's to
    resolve."""
    if address.startswith(("http://", "https://")):
        raise TokworkError(f"{source} '{address}' is a web address; give the cluster's host:port (its GCS port, "
                           "6379 by default), not the dashboard's URL")
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=REACH_SECONDS) as link:
            answer = _http2_answer(link)
    except TimeoutError:
        raise TokworkError(f"'{address}' ({source}) accepts a connection but does not answer as a Ray cluster's GCS "
                           f"port within {REACH_SECONDS} s; give the head node's host:port, 6379 by default") from None
    except OSError as err:
        raise TokworkError(f"cannot reach a Ray cluster at '{address}' ({source}): {err.strerror or err}") from None
    if not answer:
        raise TokworkError(f"'{address}' ({source}) answers, but not as a Ray cluster's GCS port (gRPC); give the "
                           "head node's host:port, 6379 by default")


def _http2_answer(link: socket.socket) -> bool:
    """Whether the server on `link` answers an HTTP/2 client preface with a SETTINGS frame, as every gRPC
    server (Ray's GCS among them) does, where a web server answers in HTTP/1 or not at all."""
    link.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    header = b""
    while len(header) < 9:
        part = link.recv(9 - len(header))
        if not part:
            break
        header += part
    return len(header) == 9 and header[3] == 4  # frame type 4: SETTINGS


def run_jobs(
    function: Callable[[Any], Any],
    jobs: Sequence[Any],
    *,
    engine: str = "local",
    workers: int | None = 1,
    address: str | None = None,
    description: str = "working",
    progress: bool = False,
    on_result: Callable[[int, Any], None] | None = None,
    sizes: Sequence[int] | None = None,
) -> list[Any]:
    """Apply `function` to every job and return the results in job order, on the chosen engine.

    The local engine runs the jobs in this process with one worker, else on `workers` processes (None:
    one per CPU, at most one per job); the Ray engine runs them on the cluster at `address` (default: a
    local one). With `on_result(index, result)`, each result is handed over as soon as it is done (in any
    order) and not kept, so that large results stream to disk instead of piling up; the list is then empty.
    The progress bar counts jobs, or units of work where `sizes` gives each job's count (a job that holds
    several of the caller's items).
    """
    check_engine(engine, address=address)
    if workers is not None and workers < 1:
        raise ParameterError(f"workers {workers} must be at least 1")
    kept: dict[int, Any] = {}

    def take(index: int, result: Any) -> None:
        if on_result is None:
            kept[index] = result
        else:
            on_result(index, result)

    if sizes is not None and len(sizes) != len(jobs):
        raise ValueError(f"{len(sizes)} sizes for {len(jobs)} jobs")
    weights = [1] * len(jobs) if sizes is None else list(sizes)
    count = default_workers(len(jobs)) if workers is None else min(workers, len(jobs))
    with count_progress(description, sum(weights), enabled=progress) as advance:
        if engine == "local" and count <= 1:
            for index, job in enumerate(jobs):
                take(index, function(job))
                advance(weights[index])
        elif engine == "local":
            _run_on_processes(function, jobs, count, take, lambda index: advance(weights[index]))
        else:
            with ray_cluster(address) as ray:
                _run_on_ray(ray, function, jobs, description, take, lambda index: advance(weights[index]))
    return [kept[index] for index in sorted(kept)]


def _run_on_processes(function, jobs: Sequence[Any], workers: int, take, advance) -> None:
    """The jobs on a pool of `workers` processes (forked where the platform can, so they start at once)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        index_of: dict[Future, int] = {pool.submit(function, job): index for index, job in enumerate(jobs)}
        pending = set(index_of)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    take(index_of[future], future.result())
                    advance(index_of[future])
        finally:
            for future in pending:
                future.cancel()


def _run_on_ray(ray, function, jobs: Sequence[Any], description: str, take, advance) -> None:
    remote = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False)(run_in_directory)
    here = os.getcwd()
    references = [remote.remote(here, function, job) for job in jobs]
    index_of = {reference: index for index, reference in enumerate(references)}
    pending = list(references)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for reference in done:
            take(index_of[reference], _result(ray, reference, description))
            advance(index_of[reference])


def _result(ray, reference, description: str):
    try:
        return ray.get(reference)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, TokworkError):
            raise type(cause)(str(cause)) from None
        reason = str(cause or err).strip().splitlines()[-1]
        raise TokworkError(f"{description} failed on a Ray worker: {reason}") from None
    except ray.exceptions.RayError as err:
        reason = str(err).strip().splitlines()[0]
        raise TokworkError(f"{description} could not finish after {TASK_RETRIES} retries: {reason}") from None


def run_in_directory(directory: str, function: Callable[[Any], Any], job: Any) -> Any:
    """`function(job)` in the caller's working folder, where the worker's machine has it, so that relative
    paths in a job mean on a cluster's workers what they meant to the caller."""
    if os.path.isdir(directory):
        os.chdir(directory)
    return function(job)
