"""The benchmark on the shipped UDHR with the real reference tokenizers: the known direction of premiums,
the text a normalising tokenizer measures, and jobs that give the same results in any process or order."""

from __future__ import annotations

import multiprocessing
import random
import statistics
from concurrent.futures import ProcessPoolExecutor

import pytest

from tests.conftest import UDHR, reference_tokenizer_path
from tokwork.metrics.bench import BenchConfig, check_inputs, plan_jobs, run_bench, summarize
from tokwork.metrics.jobs import BenchJob, run_job
from tokwork.metrics.parallel import load_parallel_corpus


def test_english_centric_gpt2_has_far_higher_premiums_for_other_scripts():
    """Petrov et al. 2023: GPT-2 needs many times more tokens for non-Latin scripts than multilingual
    vocabularies (Gemma 3, o200k) do, for the same content."""
    names = ("gpt2", "gemma3", "o200k")
    config = BenchConfig(tokenizers={n: str(reference_tokenizer_path(n if n != "o200k" else "o200k_base"))
                                     for n in names}, wordfreq=False)
    results = run_bench(config, progress=False)
    rows = results.summary["rows"]
    codes = {r["language"] for r in rows}
    assert len(codes) >= 40
    premium = {(r["tokenizer"], r["language"]): r["premium"] for r in rows}
    other = sorted(r["language"] for r in rows if r["tokenizer"] == "gpt2" and r["script"] != "Latn")
    assert len(other) >= 25
    mean = {n: statistics.mean(premium[(n, c)] for c in other) for n in names}
    assert mean["gpt2"] > 2.5 * mean["gemma3"] and mean["gpt2"] > 2 * mean["o200k"]
    assert sum(premium[("gpt2", c)] > premium[("gemma3", c)] for c in other) >= 0.9 * len(other)
    # and within Latin script the gap is far smaller
    latin = [r["language"] for r in rows if r["tokenizer"] == "gpt2" and r["script"] == "Latn" and r["language"] != "eng"]
    assert statistics.mean(premium[("gpt2", c)] for c in latin) < mean["gpt2"] / 2


def test_a_normalising_tokenizer_says_which_text_it_measured():
    """Qwen 3 applies NFC: counts stay those of the input text, and the result says how many blocks
    the normalisation changed and how many bytes the tokens spell."""
    corpus = load_parallel_corpus("udhr", languages=["vie", "eng"])
    qwen = str(reference_tokenizer_path("qwen3"))
    vie = corpus.languages["vie"]
    result = run_job(BenchJob("qwen3", qwen, "vie", vie.script, vie.blocks))
    assert result["counts"]["bytes"] == sum(len(b.encode()) for b in vie.blocks)
    assert result["normalized_blocks"] == 31
    assert result["normalized_bytes"] < result["counts"]["bytes"]  # NFC composes the decomposed marks
    assert result["word_note"] is None  # the tokens spell the normalised text, so words align
    english = corpus.languages["eng"]
    assert run_job(BenchJob("qwen3", qwen, "eng", "Latn", english.blocks))["normalized_blocks"] == 0


def test_jobs_give_the_same_results_in_other_processes_and_any_order(toy_tokenizers):
    """Each job is a pure function of plain data: run in fresh processes (as a distributed runner would),
    the results equal the local ones exactly, and the summary does not depend on their order."""
    config = BenchConfig(tokenizers={"gpt2": str(reference_tokenizer_path("gpt2")), "toy": toy_tokenizers["toy"]},
                         corpus=str(UDHR), languages=["eng", "rus", "hin", "jpn"])
    jobs = plan_jobs(config, check_inputs(config))
    local = [run_job(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = list(pool.map(run_job, jobs))
    assert remote == local
    languages = {c: {"name": c, "script": s, "bcp47": ""}
                 for c, s in (("eng", "Latn"), ("rus", "Cyrl"), ("hin", "Deva"), ("jpn", "Jpan"))}
    shuffled = local[:]
    random.Random(7).shuffle(shuffled)
    assert summarize(config, languages, shuffled) == summarize(config, languages, remote)


@pytest.mark.parametrize("tokenizer", ["llama3", "cl100k_base"])
def test_every_format_places_its_tokens_on_the_words(tokenizer):
    """tiktoken files and tokenizer.json files alike spell the text exactly, so word measures exist."""
    corpus = load_parallel_corpus("udhr", languages=["deu_1996"])
    german = corpus.languages["deu_1996"]
    result = run_job(BenchJob(tokenizer, str(reference_tokenizer_path(tokenizer)), "deu_1996", "Latn",
                              german.blocks))
    assert result["word_note"] is None
    assert 0 < result["counts"]["split_words"] < result["counts"]["words"]


def test_job_results_are_plain_data(toy_tokenizers):
    """Only built-in types (what JSON, pickle and any distributed runner carry without surprises)."""
    corpus = load_parallel_corpus("udhr", languages=["eng"])
    english = corpus.languages["eng"]
    result = run_job(BenchJob("toy", toy_tokenizers["toy"], "eng", "Latn", english.blocks))

    def check(value):
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)
        else:
            assert value is None or type(value) in (int, float, str, bool), (value, type(value))

    check(result)
