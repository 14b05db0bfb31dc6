"""Ray engine: the same counts and the same tokenizer as the local path; retries; clear failures."""

from __future__ import annotations

import os
import sys
from importlib import metadata

import pytest

from tests.conftest import ENGLISH_SAMPLE, REPO, udhr_files
from tokwork.distributed import check_engine, run_jobs
from tokwork.errors import CorpusError, TokworkError
from tokwork.pretoken_counts import count_pretokens
from tokwork.trainers.bpe import train_bpe
from tokwork.trainers.bpe_model import BPEConfig, empty_byte_level_bpe

HELDOUT = REPO / "corpora" / "en" / "heldout.txt"


@pytest.fixture(scope="module")
def ray_local():
    import ray  # a dev dependency: a broken install fails here, loudly, instead of skipping every Ray test
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             object_store_memory=256 * 1024 * 1024)
    yield ray
    ray.shutdown()


def test_counts_on_ray_equal_local_counts_exactly(ray_local):
    corpus = [*udhr_files()[:20], ENGLISH_SAMPLE]
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=1000)).to_str()
    local, local_files = count_pretokens(corpus, tokenizer_json=tokenizer_json, shard_bytes=200_000)
    remote, remote_files = count_pretokens(corpus, tokenizer_json=tokenizer_json, shard_bytes=200_000,
                                           engine="ray")
    assert local.to_dict() == remote.to_dict()
    assert local_files == remote_files
    assert sum(local.to_dict().values()) > 100_000


def test_tokenizer_trained_on_ray_equals_local_and_hf(ray_local):
    # Every fourth shipped language (eight scripts) and the held-out English: equality does not need the
    # large corpus, and tests/trainers/test_bpe_learner.py checks the learner against `tokenizers` on it.
    corpus = [*udhr_files()[::4], HELDOUT]
    config = BPEConfig(vocab_size=3000)
    trained = {engine: train_bpe(corpus, config, engine=engine, progress=False) for engine in ("hf", "local", "ray")}
    spelled = {engine: t.tokenizer.backend.to_str() for engine, t in trained.items()}
    assert spelled["ray"] == spelled["local"] == spelled["hf"]
    assert trained["ray"].card.corpus == trained["hf"].card.corpus  # same sha256, bytes, documents per file


def test_parity_bpe_trained_on_ray_equals_local(ray_local, tmp_path):
    import shutil

    from tests.conftest import UDHR
    from tokwork.trainers.parity_bpe import ParityConfig

    codes = ["eng", "rus", "hye", "kat"]
    (tmp_path / "dev").mkdir()
    for code in codes:
        shutil.copy(UDHR / f"{code}.txt", tmp_path / "dev" / f"{code}.txt")
    corpus, parity = [UDHR / f"{code}.txt" for code in codes], ParityConfig(str(tmp_path / "dev"), mix=0.2)
    trained = {engine: train_bpe(corpus, BPEConfig(vocab_size=1500), engine=engine, parity=parity, progress=False)
               for engine in ("local", "ray")}
    assert trained["ray"].tokenizer.backend.to_str() == trained["local"].tokenizer.backend.to_str()
    assert trained["ray"].card.notes["parity"] == trained["local"].card.notes["parity"]
    assert trained["ray"].card.corpus == trained["local"].card.corpus


def crash_once(marker: str) -> str:
    """A task whose first attempt kills its worker process; Ray must retry it."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return "survived"


def test_a_worker_that_dies_is_retried(ray_local, tmp_path):
    assert run_jobs(crash_once, [str(tmp_path / "attempted")], engine="ray") == ["survived"]


def test_bad_input_on_a_worker_fails_the_run_with_its_own_message(ray_local, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\n\n\xff")
    tokenizer_json = empty_byte_level_bpe(BPEConfig(vocab_size=1000)).to_str()
    with pytest.raises(CorpusError, match=r"'.*bad.txt' is not UTF-8 at byte 11"):
        count_pretokens([ENGLISH_SAMPLE, bad], tokenizer_json=tokenizer_json, engine="ray")


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(TokworkError, match=r"pip install 'tokwork\[ray\]'"):
        check_engine("ray")
    check_engine("local")


def test_an_unknown_engine_names_every_engine_of_the_feature():
    from tokwork.errors import ParameterError
    from tokwork.token_ids import encode_corpus

    with pytest.raises(ParameterError, match="choose one of hf, local, ray"):
        train_bpe([ENGLISH_SAMPLE], BPEConfig(vocab_size=300), engine="hff", progress=False)
    with pytest.raises(ParameterError, match="choose one of stream, local, ray"):
        encode_corpus("gpt2", [ENGLISH_SAMPLE], "ids.npy", engine="hff", progress=False)


def test_a_cluster_address_nothing_answers_at_is_refused_at_once():
    import socket
    import time

    from tokwork.distributed import _check_reachable

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(TokworkError, match=f"cannot reach a Ray cluster at '{address}'"):
            _check_reachable(address)
    assert time.perf_counter() - started < 5
    _check_reachable("auto")  # Ray's own to resolve
    with pytest.raises(TokworkError, match="only --engine ray uses"):
        run_jobs(str, [1], engine="local", address="127.0.0.1:6379")


def _serve_once(answer: bytes | None):
    """A server on a free local port that reads a client's first bytes and sends `answer` (None: nothing,
    holding the connection open), in a thread; returns its port."""
    import contextlib
    import socket
    import threading

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()

    def serve():
        with listening:
            link, _ = listening.accept()
            with link, contextlib.suppress(OSError):  # the client may close or reset first
                link.settimeout(5)
                link.recv(64)
                if answer is not None:
                    link.sendall(answer)
                link.recv(64)  # until the client closes (a silent server holds the line meanwhile)

    threading.Thread(target=serve, daemon=True).start()
    return listening.getsockname()[1]


def test_an_address_that_answers_but_not_as_ray_is_refused_in_one_line(monkeypatch):
    """A dashboard's web port, an HTTP/1 server or a silent one: refused at once, not after Ray's minutes of
    retries; a gRPC server (as Ray's GCS is) answering with an HTTP/2 SETTINGS frame passes."""
    import tokwork.distributed as distributed

    monkeypatch.setattr(distributed, "REACH_SECONDS", 0.5)
    with pytest.raises(TokworkError, match="is a web address; give the cluster's host:port"):
        distributed._check_reachable("http://127.0.0.1:8265")
    web = _serve_once(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    with pytest.raises(TokworkError, match="answers, but not as a Ray cluster's GCS port"):
        distributed._check_reachable(f"127.0.0.1:{web}")
    silent = _serve_once(None)
    with pytest.raises(TokworkError, match="does not answer as a Ray cluster's GCS port"):
        distributed._check_reachable(f"127.0.0.1:{silent}", "RAY_ADDRESS")
    grpc = _serve_once(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))  # an empty SETTINGS frame, as a gRPC server sends
    distributed._check_reachable(f"127.0.0.1:{grpc}")


def test_a_job_reads_relative_paths_in_the_callers_folder(tmp_path, monkeypatch):
    """A cluster's worker runs where the cluster was started: the job is run in the caller's folder."""
    from pathlib import Path

    from tokwork.distributed import run_in_directory

    (tmp_path / "part.txt").write_text("relative to the caller", encoding="utf-8")
    monkeypatch.chdir("/")
    assert run_in_directory(str(tmp_path), Path.read_text, Path("part.txt")) == "relative to the caller"
    assert run_in_directory("/no/such/folder", len, "abc") == 3  # a folder the worker lacks: left as it is


def test_an_empty_corpus_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import tokwork.distributed as distributed
    from tokwork.token_ids import encode_corpus

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started for an empty corpus")

    monkeypatch.setattr(distributed, "ray_cluster", no_cluster)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(CorpusError, match="corpus is empty"):
        train_bpe([empty], BPEConfig(vocab_size=300), engine="ray", progress=False)
    with pytest.raises(CorpusError, match="corpus is empty"):
        encode_corpus("gpt2", [empty], tmp_path / "ids", engine="ray", progress=False)
    assert not (tmp_path / "ids").exists()


def test_shard_tokens_apply_to_the_stream_engine_only(tmp_path):
    from tokwork.errors import ParameterError
    from tokwork.token_ids import encode_corpus

    with pytest.raises(ParameterError, match="applies to the stream engine only"):
        encode_corpus("gpt2", [ENGLISH_SAMPLE], tmp_path / "ids", engine="local", shard_tokens=100, progress=False)
    assert not (tmp_path / "ids").exists()


def test_base_install_does_not_pull_ray():
    requirements = metadata.requires("tokwork") or []
    ray = [r for r in requirements if r.split(";")[0].strip().startswith("ray")]
    assert ray and all("extra ==" in r for r in ray)


def test_cli_engine_ray_without_ray_is_one_line_exit_2(tmp_path):
    import subprocess

    code = ("import sys; sys.modules['ray'] = None; from tokwork.cli.main import main; "
            f"sys.exit(main(['train', 'bpe', {str(ENGLISH_SAMPLE)!r}, '-v', '500', '-o', 'out', '--engine', 'ray']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("tokwork: error: the ray engine needs Ray, which is not installed; "
                                   "run: pip install 'tokwork[ray]'")
    assert not (tmp_path / "out").exists()


def load_shards(folder):
    import json

    import numpy as np

    manifest = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))
    return manifest, [np.load(folder / entry["file"]) for entry in manifest["shards"]]


@pytest.fixture(scope="module")
def stochastic_gpt2(tmp_path_factory):
    from tests.conftest import reference_tokenizer_path
    from tokwork.sampling import StochasticConfig
    from tokwork.trainers.stochastic import make_stochastic

    folder = tmp_path_factory.mktemp("stochastok") / "gpt2-stochastok"
    make_stochastic(reference_tokenizer_path("gpt2"), StochasticConfig(method="stochastok", p=0.1, seed=7)).save(folder)
    return folder


def test_encoding_on_ray_equals_local_shard_by_shard(ray_local, tmp_path, stochastic_gpt2):
    import numpy as np

    from tests.conftest import reference_tokenizer_path
    from tokwork.loader import open_tokenizer
    from tokwork.token_ids import encode_corpus

    corpus = [HELDOUT, udhr_files()[0]]
    gpt2 = reference_tokenizer_path("gpt2")
    for name, tokenizer in (("gpt2", gpt2), ("stochastok", stochastic_gpt2)):
        outputs = {}
        for engine in ("local", "ray"):
            outputs[engine] = tmp_path / f"{name}-{engine}"
            encode_corpus(tokenizer, corpus, outputs[engine], engine=engine, shard_bytes=10_000, progress=False)
        local_manifest, local = load_shards(outputs["local"])
        ray_manifest, remote = load_shards(outputs["ray"])
        assert len(local) == len(remote) >= 6
        assert all(np.array_equal(a, b) for a, b in zip(local, remote, strict=True))
        assert local_manifest["shards"] == ray_manifest["shards"]
        if name == "gpt2":  # a deterministic tokenizer: the shards concatenate to the one-file encoding
            encode_corpus(gpt2, corpus, tmp_path / "one.npy", progress=False)
            assert np.array_equal(np.concatenate(local), np.load(tmp_path / "one.npy"))
    again = tmp_path / "again"
    encode_corpus(stochastic_gpt2, corpus, again, engine="local", shard_bytes=10_000, seed=8, progress=False)
    _, other_seed = load_shards(again)
    assert not all(np.array_equal(a, b) for a, b in zip(local, other_seed, strict=True))
    tok = open_tokenizer(stochastic_gpt2)
    assert tok.decode([int(i) for i in local[0]]).startswith(HELDOUT.read_text(encoding="utf-8")[:1000])


def test_bench_on_ray_equals_the_local_bench(ray_local):
    from tests.conftest import reference_tokenizer_path
    from tokwork.metrics.bench import BenchConfig, run_bench

    config = BenchConfig(tokenizers={"gpt2": str(reference_tokenizer_path("gpt2")),
                                     "o200k": str(reference_tokenizer_path("o200k_base"))},
                         languages=["eng", "rus", "hin", "jpn", "deu_1996", "kat"])
    local = run_bench(config, progress=False)
    remote = run_bench(config, progress=False, engine="ray")
    assert remote.summary == local.summary and remote.corpus == local.corpus
    assert local.summary["tokenizers"][0]["premium_mean"] > 1.5


def test_a_failed_distributed_encoding_leaves_no_output(ray_local, tmp_path):
    from tests.conftest import reference_tokenizer_path
    from tokwork.token_ids import encode_corpus

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\n" * 1000 + b"\xc3\x28")
    with pytest.raises(CorpusError, match="is not UTF-8 at byte 6000"):
        encode_corpus(reference_tokenizer_path("gpt2"), [ENGLISH_SAMPLE, bad], tmp_path / "ids", engine="ray",
                      shard_bytes=200_000, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


def _len_of(job):
    return len(job)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_progress_bar_counts_each_jobs_units_of_work(monkeypatch, workers):
    # bench hands each worker a task of several tokenizer x language jobs; its bar counts those jobs.
    import contextlib

    import tokwork.distributed as distributed

    steps: list[tuple[int, int]] = []

    @contextlib.contextmanager
    def recording(description, total, *, enabled=True):
        yield lambda n=1: steps.append((total, n))

    monkeypatch.setattr(distributed, "count_progress", recording)
    jobs = ["abc", "de", "f"]
    assert run_jobs(_len_of, jobs, workers=workers, progress=True, sizes=[3, 2, 1]) == [3, 2, 1]
    assert sorted(steps) == [(6, 1), (6, 2), (6, 3)]
    with pytest.raises(ValueError, match="2 sizes for 3 jobs"):
        run_jobs(_len_of, jobs, sizes=[1, 2])
