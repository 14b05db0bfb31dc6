"""Bench tasks: every job once, each tokenizer in one task, and workers loaded evenly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import reference_tokenizer_path
from tokwork.metrics.bench import BenchConfig, check_inputs, plan_jobs
from tokwork.metrics.tasks import balanced_groups, tokenizer_tasks, worker_tasks


def _largest_first_makespan(costs: list[float], bins: int) -> float:
    """What handing items out largest first to the least loaded bin ends at (a pool's schedule)."""
    loads = [0.0] * bins
    for cost in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += cost
    return max(loads)


def test_golden_six_tokenizers_on_two_workers_split_evenly():
    # Estimated task costs of gemma3, o200k, qwen3, llama3, cl100k, gpt2: handed out largest first they end
    # at 1.55 + 0.82 + 0.66 = 3.03 against 2.63; one swap (llama3 for cl100k) gives 2.96 against 2.70.
    costs = [1.55, 0.99, 0.89, 0.82, 0.75, 0.66]
    groups = balanced_groups(costs, 2)
    assert sorted(map(sorted, groups)) == [[0, 4, 5], [1, 2, 3]]
    assert _largest_first_makespan(costs, 2) == 1.55 + 0.82 + 0.66


@given(st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=14), st.integers(1, 5))
def test_groups_hold_every_item_once_and_end_no_later_than_largest_first(costs, bins):
    groups = balanced_groups(costs, bins)
    assert sorted(i for group in groups for i in group) == list(range(len(costs)))
    assert 1 <= len(groups) <= bins and all(groups)
    makespan = max(sum(costs[i] for i in group) for group in groups)
    assert makespan <= _largest_first_makespan(costs, bins) + 1e-9
    assert makespan >= max(max(costs), sum(costs) / bins) - 1e-9


def test_worker_tasks_keep_each_tokenizer_in_one_task(toy_tokenizers):
    tokenizers = {"gpt2": str(reference_tokenizer_path("gpt2")), **toy_tokenizers}
    config = BenchConfig(tokenizers=tokenizers, languages=["eng", "rus", "jpn"])
    jobs = plan_jobs(config, check_inputs(config, load_tokenizers=False))
    assert [len(t) for t in worker_tasks(jobs, len(tokenizers))] == [3] * len(tokenizers)
    assert worker_tasks(jobs, len(tokenizers)) == tokenizer_tasks(jobs)
    for workers in range(1, len(tokenizers)):
        tasks = worker_tasks(jobs, workers)
        assert len(tasks) == workers
        assert sorted(id(job) for task in tasks for job in task) == sorted(map(id, jobs))
        owners = [{job.tokenizer for job in task} for task in tasks]
        assert sum(map(len, owners)) == len(tokenizers)  # no tokenizer split across tasks
