"""Wall time of `tokwork bench` against the bare encode calls on the same texts, same run.

Three fresh processes per round, in rotating order, several rounds; figures are medians and their ratios:

- `tokwork bench` over N tokenizers x M UDHR languages: loads, byte views, every metric, the report; with
  its defaults, i.e. one worker process per CPU (at most one per tokenizer), each loading its tokenizers;
- bare encode calls (the peer): load the same tokenizers with `tokwork.load_tokenizer` and call
  `encode_batch` on every language's blocks, nothing else: the work any measurement must do;
- plain libraries (for orientation): `tokenizers.Tokenizer.from_file` + `encode_batch` for tokenizer.json
  files, `tiktoken` + `encode_ordinary_batch` for .tiktoken files.

Every side prints its token total per tokenizer, and the script checks they agree, so all three encode
the same texts the same way. The machine is shared: the JSON records the load average around each
configuration, since other work slows the Python-heavy side more than the Rust encoders.

    .venv/bin/python benchmarks/bench_overhead.py                 # needs `make tokenizers`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE_TOKWORK = r"""
import json, sys
from tokwork import load_tokenizer
from tokwork.metrics.parallel import load_parallel_corpus
tokenizers, languages = json.loads(sys.argv[1]), json.loads(sys.argv[2])
corpus = load_parallel_corpus("udhr", languages=languages)
totals = {}
for name, path in tokenizers.items():
    tok = load_tokenizer(path)
    totals[name] = sum(len(ids) for lang in corpus.languages.values() for ids in tok.encode_batch(list(lang.blocks)))
print(json.dumps(totals))
"""

PLAIN_LIBRARIES = r"""
import json, sys
from pathlib import Path
tokenizers, languages = json.loads(sys.argv[1]), json.loads(sys.argv[2])
udhr = Path(sys.argv[3])
texts = [(udhr / f"{code}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n") for code in languages]
totals = {}
for name, path in tokenizers.items():
    if path.endswith(".tiktoken"):
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        from tokwork.formats.tiktoken_file import read_encoding_params
        pattern, specials = read_encoding_params(Path(path))
        enc = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(path), special_tokens=specials)
        totals[name] = sum(len(ids) for blocks in texts for ids in enc.encode_ordinary_batch(blocks))
    else:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        tok.encode_special_tokens = True
        totals[name] = sum(len(e.ids) for blocks in texts for e in tok.encode_batch(blocks, add_special_tokens=False))
print(json.dumps(totals))
"""


def timed(command: list[str]) -> tuple[float, str]:
    """Run a command; return its wall time and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command[:4])} ...\n{done.stderr}")
    return seconds, done.stdout


def measure(tokenizers: dict[str, str], languages: list[str], repeats: int, work: Path) -> dict:
    """Rounds of the three sides in rotating order; medians, ratios and the token totals."""
    from tokwork.metrics.parallel import SHIPPED_UDHR

    cli = str(Path(sys.executable).with_name("tokwork"))
    bench = [cli, "bench", "--quiet", "--force", "-o", str(work / "bench"), "--languages", ",".join(languages),
             *[arg for name, path in tokenizers.items() for arg in ("-t", f"{name}={path}")]]
    args = [json.dumps(tokenizers), json.dumps(languages)]
    sides = {"tokwork bench": bench, "bare encode calls": [sys.executable, "-c", BARE_TOKWORK, *args],
             "plain libraries": [sys.executable, "-c", PLAIN_LIBRARIES, *args, str(SHIPPED_UDHR)]}
    times: dict[str, list[float]] = {name: [] for name in sides}
    totals: dict[str, dict] = {}
    names = list(sides)
    for round_number in range(repeats):
        for name in names[round_number % 3:] + names[:round_number % 3]:
            seconds, stdout = timed(sides[name])
            times[name].append(seconds)
            if name != "tokwork bench":
                totals[name] = json.loads(stdout)
    results = json.loads((work / "bench" / "results.json").read_text(encoding="utf-8"))
    totals["tokwork bench"] = {t["tokenizer"]: t["tokens"] for t in results["tokenizers"]}
    if len({json.dumps(t, sort_keys=True) for t in totals.values()}) != 1:
        raise SystemExit(f"the three sides did not encode the same tokens: {totals}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "tokenizers": list(tokenizers), "languages": len(languages), "repeats": repeats,
        "seconds": times, "median_seconds": medians, "tokens": totals["tokwork bench"],
        "ratio_to_bare_encode": medians["tokwork bench"] / medians["bare encode calls"],
        "ratio_to_plain_libraries": medians["tokwork bench"] / medians["plain libraries"],
    }


def main() -> None:
    from tokwork.metrics.bench import reference_tokenizers
    from tokwork.metrics.parallel import DEFAULT_LANGUAGES, available_languages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_overhead.json")
    args = parser.parse_args()
    references = reference_tokenizers()
    if len(references) < 6:
        raise SystemExit("the reference tokenizers are missing; run `make tokenizers` first")
    configs = [("6 tokenizers x all 76 languages", references, available_languages("udhr")),
               ("6 tokenizers x the 56 default languages", references, list(DEFAULT_LANGUAGES)),
               ("2 tokenizers x 10 languages", {k: references[k] for k in ("gpt2", "llama3")},
                list(DEFAULT_LANGUAGES[:10]))]
    runs = []
    with tempfile.TemporaryDirectory(prefix="tokwork-bench-overhead-") as work:
        for label, tokenizers, languages in configs:
            before = os.getloadavg()[0]
            run = {"config": label, **measure(tokenizers, languages, args.repeats, Path(work)),
                   "load_average_before_after": [before, os.getloadavg()[0]]}
            runs.append(run)
            m = run["median_seconds"]
            print(f"{label}: tokwork bench {m['tokwork bench']:.2f} s, bare encode calls "
                  f"{m['bare encode calls']:.2f} s, plain libraries {m['plain libraries']:.2f} s; "
                  f"ratio {run['ratio_to_bare_encode']:.2f}x (bare), {run['ratio_to_plain_libraries']:.2f}x (plain); "
                  f"load average {run['load_average_before_after'][0]:.1f} -> {run['load_average_before_after'][1]:.1f}",
                  flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"runs": runs, "cpus": 2}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
