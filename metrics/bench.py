"""The cross-language benchmark: every metric for every tokenizer x language of a parallel corpus.

`run_bench(config)` checks everything a user can get wrong first (corpus, languages, alignment, tokenizer
files, lexicon files, the output folder), plans one independent `BenchJob` per tokenizer x language, runs
them with `tokwork.distributed.run_jobs` (in this process, on worker processes or on Ray: the same
results, since jobs are pure), and `summarize` combines the job results into per-language rows, per-script and per-tokenizer summaries:
premiums against the pivot language (Petrov et al. 2023), normalized sequence length against a reference
tokenizer, pooled entropy and vocabulary use. `tokwork.metrics.report` writes them out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tokwork.distributed import check_engine, default_workers, run_jobs
from tokwork.errors import ParameterError
from tokwork.loader import tokenizer_file
from tokwork.metrics.compression import TextCounts, compression_metrics, normalized_sequence_length
from tokwork.metrics.entropy import DEFAULT_ALPHA, entropy_profile
from tokwork.metrics.entropy import MEASURES as ENTROPY_MEASURES
from tokwork.metrics.integrity import MEASURES as INTEGRITY_MEASURES
from tokwork.metrics.jobs import BenchJob, cached_tokenizer, run_job, token_lengths
from tokwork.metrics.lexicon import lexicon_spec, read_word_list
from tokwork.metrics.parallel import ParallelCorpus, load_parallel_corpus, resolve_corpus
from tokwork.metrics.premiums import premium_summary, premiums_by_script
from tokwork.metrics.scripts import UNKNOWN_SCRIPT, is_non_latin
from tokwork.metrics.tasks import run_task, tokenizer_tasks, worker_tasks
from tokwork.metrics.words import has_words
from tokwork.outputs import check_output_directory
from tokwork.setting_types import check_setting_types

REPORT_KIND = "bench"  # the card kind of a benchmark's report folder, which a new report may replace


@dataclass
class BenchConfig:
    """What a benchmark run measures; saved in `results.json` so that a run can be repeated."""

    tokenizers: dict[str, str]
    corpus: str = "udhr"
    languages: list[str] | None = None
    pivot: str = "eng"
    reference: str | None = None
    alpha: float = DEFAULT_ALPHA
    full_vocab: bool = False
    lexicons: dict[str, str] = field(default_factory=dict)
    wordfreq_list: str = "small"
    wordfreq: bool = True

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give a benchmark."""
        if not isinstance(self.tokenizers, Mapping):
            raise ParameterError("tokenizers must map names to tokenizer paths, e.g. {'gpt2': PATH}, "
                                 f"not a {type(self.tokenizers).__name__}")
        if not self.tokenizers:
            raise ParameterError("no tokenizer given: pass --tokenizer NAME=PATH at least once")
        if self.languages is not None and (isinstance(self.languages, str) or not self.languages):
            raise ParameterError("languages must be a non-empty list of language codes (or None for the "
                                 f"corpus's default set), not {self.languages!r}")
        if isinstance(self.alpha, bool | np.bool_) or not isinstance(self.alpha, int | float | np.number):
            raise ParameterError(f"Rényi alpha must be a number, not {self.alpha!r}")
        if self.reference is not None and self.reference not in self.tokenizers:
            raise ParameterError(f"reference tokenizer '{self.reference}' is not one of the --tokenizer names "
                                 f"({', '.join(self.tokenizers)})")
        if not 0 < self.alpha < 100:
            raise ParameterError(f"Rényi alpha {self.alpha} must be above 0 (and sensibly below 100)")
        check_setting_types(self)

    @property
    def reference_name(self) -> str:
        return self.reference or next(iter(self.tokenizers))


def parse_tokenizer_entries(entries: Iterable[str]) -> dict[str, str]:
    """`NAME=PATH` (or a bare PATH, named after its file or folder) to {name: path}, in order."""
    named: dict[str, str] = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep:
            path = entry
            name = entry.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".tiktoken")
        if not name or not path:
            raise ParameterError(f"tokenizer '{entry}' is not NAME=PATH")
        if name in named:
            raise ParameterError(f"tokenizer name '{name}' is given twice; names must be unique")
        named[name] = path
    return named


def parse_lexicon_entries(entries: Iterable[str]) -> dict[str, str]:
    """`CODE=FILE` (a word list for one language) to {code: file}; a later entry for a code wins."""
    lexicons: dict[str, str] = {}
    for entry in entries:
        code, sep, path = entry.partition("=")
        if not sep or not code or not path:
            raise ParameterError(f"--lexicon '{entry}' is not CODE=FILE")
        lexicons[code] = path
    return lexicons


@dataclass
class BenchResults:
    """A finished run: its config, the corpus it read, and the combined results."""

    config: BenchConfig
    corpus: dict
    summary: dict
    seconds: float
    engine: dict = field(default_factory=lambda: {"engine": "local", "workers": 1})  # where the jobs ran

    def as_json(self) -> dict:
        return {"config": asdict(self.config), "corpus": self.corpus, **self.summary, "seconds": self.seconds,
                "engine": self.engine}


def plan_jobs(config: BenchConfig, corpus: ParallelCorpus) -> list[BenchJob]:
    """One job per tokenizer x language; language by language, so that per-text caches serve every
    tokenizer in turn (the order changes speed, never results)."""
    lexicons = {code: lexicon_spec(code, lang.bcp47, files=config.lexicons, wordlist=config.wordfreq_list)
                if config.wordfreq or code in config.lexicons else None
                for code, lang in corpus.languages.items()}
    return [
        BenchJob(tokenizer=name, tokenizer_path=str(path), language=code, script=lang.script,
                 blocks=lang.blocks, lexicon=lexicons[code], alpha=config.alpha, full_vocab=config.full_vocab)
        for code, lang in corpus.languages.items()
        for name, path in config.tokenizers.items()
    ]


def check_inputs(config: BenchConfig, *, load_tokenizers: bool = True) -> ParallelCorpus:
    """Everything that can fail on user input, before any long work: the config, the corpus and its
    alignment, every tokenizer file (loaded, byte view built; when `load_tokenizers` is false, because
    worker processes load them, only checked to be a tokenizer file that exists) and every lexicon file."""
    config.validate()
    corpus = load_parallel_corpus(config.corpus, languages=config.languages, pivot=config.pivot)
    unknown = sorted(set(config.lexicons) - set(corpus.languages))
    if unknown:
        raise ParameterError(f"lexicon given for '{unknown[0]}', which is not among the measured languages")
    for path in config.lexicons.values():
        read_word_list(path)
    for path in config.tokenizers.values():
        if load_tokenizers:
            cached_tokenizer(str(path))
            token_lengths(str(path))
        else:
            tokenizer_file(path)
    return corpus


def run_bench(config: BenchConfig, *, engine: str = "local", workers: int | None = 1, address: str | None = None,
              progress: bool = True, output: str | Path | None = None, force: bool = False) -> BenchResults:
    """Check the inputs, run every job and summarize; raises `TokworkError` on bad input before measuring
    anything, including an `output` folder the report could not be written to (`metrics.report`).

    Jobs run in this process (`workers=1`), on `workers` processes of this machine (None: one per CPU,
    at most one per tokenizer) or on Ray workers (`engine="ray"`, the cluster at `address`): the results
    do not depend on where jobs run. In this process jobs go language by language, so that per-text
    caches serve every tokenizer in turn; elsewhere a task holds every job of one or more tokenizers
    (`tokwork.metrics.tasks`: on this machine's processes one task per worker, balanced; on Ray one per
    tokenizer).
    """
    started = time.perf_counter()
    config.validate()
    check_engine(engine, address=address)
    if output is not None:
        check_output_directory(output, force=force, kinds=(REPORT_KIND,),
                               inputs=[resolve_corpus(config.corpus), *config.tokenizers.values(),
                                       *config.lexicons.values()])
    if workers is not None and workers < 1:
        raise ParameterError(f"workers {workers} must be at least 1")
    if workers is None:
        workers = default_workers(len(config.tokenizers))
    in_this_process = engine == "local" and workers == 1
    corpus = check_inputs(config, load_tokenizers=in_this_process)
    jobs = plan_jobs(config, corpus)
    if in_this_process:
        results = run_jobs(run_job, jobs, description="measuring", progress=progress)
    else:
        grouped = worker_tasks(jobs, workers) if engine == "local" else tokenizer_tasks(jobs)
        tasks = run_jobs(run_task, grouped, engine=engine, workers=workers, address=address,
                         description="measuring", progress=progress, sizes=[len(task) for task in grouped])
        results = [result for task in tasks for result in task]
    languages = {code: {"name": lang.name, "script": lang.script, "bcp47": lang.bcp47,
                        "script_from_text": lang.script_from_text}
                 for code, lang in corpus.languages.items()}
    summary = summarize(config, languages, results)
    corpus_info = {"path": str(corpus.path), "pivot": corpus.pivot, "blocks": corpus.blocks,
                   "languages": languages}
    ran = {"engine": engine, "workers": None if engine == "ray" else workers}
    return BenchResults(config, corpus_info, summary, time.perf_counter() - started, ran)


def summarize(config: BenchConfig, languages: dict[str, dict], results: list[dict]) -> dict:
    """Combine job results (in any order) into rows per tokenizer x language and summaries per script and
    per tokenizer. Pure: the same job results give the same summary."""
    by_key = {(r["tokenizer"], r["language"]): r for r in results}
    names = list(config.tokenizers)
    codes = list(languages)
    reference = config.reference_name
    reference_tokens = sum(by_key[(reference, c)]["counts"]["tokens"] for c in codes)
    rows = []
    for name in names:
        for code in codes:
            job = by_key[(name, code)]
            counts = TextCounts(**job["counts"])
            pivot = by_key[(name, config.pivot)]
            row = {"tokenizer": name, "language": code, "name": languages[code]["name"],
                   "script": languages[code]["script"], **counts.as_json(), **compression_metrics(counts),
                   "nsl": normalized_sequence_length(counts.tokens, by_key[(reference, code)]["counts"]["tokens"])}
            premium = premium_summary(job["block_tokens"], pivot["block_tokens"])
            row.update({"premium": premium.pop("premium")}, **{f"premium_{k}": v for k, v in premium.items()})
            row.update(job["entropy"] or dict.fromkeys(ENTROPY_MEASURES))
            row.update(job["integrity"] or dict.fromkeys(INTEGRITY_MEASURES))
            row.update(lexicon=job["lexicon"], word_note=job["word_note"],
                       tokens_without_bytes=job["tokens_without_bytes"],
                       normalized_blocks=job["normalized_blocks"], normalized_bytes=job["normalized_bytes"],
                       block_tokens=job["block_tokens"])
            rows.append(row)
    return {
        "rows": rows,
        "tokenizers": [_tokenizer_summary(config, name, [r for r in rows if r["tokenizer"] == name],
                                          [by_key[(name, c)] for c in codes], reference_tokens) for name in names],
        "scripts": _script_summaries(config, names, rows),
        "notes": _notes(config, names, codes, languages, by_key),
    }


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _pooled_counts(rows: list[dict]) -> TextCounts:
    return TextCounts.pooled([TextCounts(r["bytes"], r["chars"], r["tokens"], r["words"], r["split_words"],
                                         r["word_tokens"]) for r in rows])


def _tokenizer_summary(config: BenchConfig, name: str, rows: list[dict], jobs: list[dict],
                       reference_tokens: int) -> dict:
    """Pooled compression and entropy over all languages, and premium statistics, for one tokenizer."""
    vocab_size = jobs[0]["vocab_size"]
    pooled = np.zeros(vocab_size, dtype=np.int64)
    for job in jobs:
        np.add.at(pooled, np.asarray(job["unigram"]["ids"], dtype=np.int64), job["unigram"]["counts"])
    others = [r for r in rows if r["language"] != config.pivot]
    non_latin = [r["premium"] for r in others if is_non_latin(r["script"])]
    counts = _pooled_counts(rows)
    summary = {
        "tokenizer": name, "path": config.tokenizers[name], "vocab_size": vocab_size,
        **counts.as_json(), **compression_metrics(counts),
        "nsl": normalized_sequence_length(counts.tokens, reference_tokens),
        "premium_mean": float(np.mean([r["premium"] for r in others])) if others else None,
        "premium_median": float(np.median([r["premium"] for r in others])) if others else None,
        "premium_max": max((r["premium"] for r in others), default=None),
        "premium_non_latin_mean": float(np.mean(non_latin)) if non_latin else None,
        "renyi_efficiency_mean": _mean(r.get("renyi_efficiency") for r in rows),
    }
    profile = entropy_profile(pooled, alpha=config.alpha, vocab_size=vocab_size, full_vocab=config.full_vocab)
    summary.update({f"pooled_{key}": value for key, value in profile.items()})
    return summary


def _script_summaries(config: BenchConfig, names: list[str], rows: list[dict]) -> list[dict]:
    """Per tokenizer and script: pooled compression, and premiums of the script's languages."""
    summaries = []
    for name in names:
        mine = [r for r in rows if r["tokenizer"] == name]
        by_script = premiums_by_script({r["language"]: r["premium"] for r in mine},
                                       {r["language"]: r["script"] for r in mine}, exclude=[config.pivot])
        for script in sorted({r["script"] for r in mine}):
            group = [r for r in mine if r["script"] == script]
            counts = _pooled_counts(group)
            premium = by_script.get(script, {})
            summaries.append({"tokenizer": name, "script": script, "languages": len(group),
                              **compression_metrics(counts),
                              "premium_mean": premium.get("mean"), "premium_median": premium.get("median"),
                              "premium_max": premium.get("max"),
                              "renyi_efficiency_mean": _mean(r.get("renyi_efficiency") for r in group)})
    return summaries


def _notes(config: BenchConfig, names: list[str], codes: list[str], languages: dict[str, dict],
           by_key: dict) -> dict:
    """What the reader must know to read the numbers: which text each tokenizer's tokens spell, which
    tokenizers give tokens that stand for no text (unknown tokens: their compression is not comparable),
    where words are not counted and why, which languages have no lexicon, which scripts were read off the text
    and which languages the non-Latin premium pools (never those of unknown script)."""
    normalizing, unplaced, unknown = {}, {}, {}
    for name in names:
        shares = {c: by_key[(name, c)]["tokens_without_bytes"] / by_key[(name, c)]["counts"]["tokens"]
                  for c in codes if by_key[(name, c)]["tokens_without_bytes"]}
        if shares:
            unknown[name] = shares
        changed = {c: by_key[(name, c)]["normalized_blocks"] for c in codes if by_key[(name, c)]["normalized_blocks"]}
        if changed:
            normalizing[name] = changed
        spelled = [c for c in codes if has_words(languages[c]["script"]) and by_key[(name, c)]["word_note"]]
        if spelled:
            unplaced[name] = spelled
    first = names[0]
    return {
        "measured_text": "bytes and characters are counted on the input text; tokens spell the text after "
                         "each tokenizer's normalisation (Tokenizer.normalize)",
        "normalizing_tokenizers": normalizing,
        "unspaced_languages": [c for c in codes if not has_words(languages[c]["script"])],
        "tokens_not_spelling_text": unplaced,
        "tokens_without_bytes": unknown,
        "lexicons": {c: by_key[(first, c)]["lexicon"] for c in codes if by_key[(first, c)]["lexicon"]},
        "without_lexicon": [c for c in codes if not by_key[(first, c)]["lexicon"]],
        "scripts_from_text": {c: languages[c]["script"] for c in codes if languages[c].get("script_from_text")},
        "non_latin_languages": [c for c in codes if c != config.pivot and is_non_latin(languages[c]["script"])],
        "unknown_script_languages": [c for c in codes if languages[c]["script"] == UNKNOWN_SCRIPT],
    }
