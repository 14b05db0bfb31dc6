"""Benchmark jobs on worker processes give exactly the in-process results, and fail cleanly."""

from __future__ import annotations

import pytest

from tests.conftest import reference_tokenizer_path
from tokwork.distributed import default_workers
from tokwork.errors import TokworkError
from tokwork.metrics.bench import BenchConfig, run_bench

LANGUAGES = ["eng", "rus", "hin", "jpn", "deu_1996", "kat"]


def test_worker_processes_give_the_in_process_results(toy_tokenizers):
    tokenizers = {"gpt2": str(reference_tokenizer_path("gpt2")), "o200k": str(reference_tokenizer_path("o200k_base")),
                  **toy_tokenizers}
    config = BenchConfig(tokenizers=tokenizers, languages=LANGUAGES)
    here = run_bench(config, progress=False, workers=1)
    spread = run_bench(config, progress=False, workers=2)
    assert spread.summary == here.summary and spread.corpus == here.corpus
    assert [t["tokenizer"] for t in spread.summary["tokenizers"]] == list(tokenizers)


def test_a_tokenizer_that_does_not_load_in_a_worker_is_one_error(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    config = BenchConfig(tokenizers={"gpt2": str(reference_tokenizer_path("gpt2")), "broken": str(broken)},
                         languages=["eng", "fra"])
    with pytest.raises(TokworkError, match="broken.json"):
        run_bench(config, progress=False, workers=2)
    missing = BenchConfig(tokenizers={"gpt2": str(reference_tokenizer_path("gpt2")),
                                      "gone": str(tmp_path / "gone.json")}, languages=["eng"])
    with pytest.raises(TokworkError, match="gone.json"):
        run_bench(missing, progress=False, workers=2)


@pytest.mark.parametrize(("cpus", "tasks", "workers"), [
    (8, 1, 1), (8, 5, 5), (8, 8, 8), (8, 50, 8),  # one per CPU, at most one per task
    (1, 50, 1), (8, 0, 1),  # never none
    (None, 50, 1),  # os.cpu_count() may not know: one worker
])
def test_default_workers_stay_within_cpus_and_tasks(monkeypatch, cpus, tasks, workers):
    import tokwork.distributed

    monkeypatch.setattr(tokwork.distributed.os, "cpu_count", lambda: cpus)
    assert default_workers(tasks) == workers
