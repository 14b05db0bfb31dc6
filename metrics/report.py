"""Writing a benchmark run: `results.json`, `results.csv`, the PNG figures when asked for, and one
self-contained `report.html` (figures embedded, no external files or network), with a `tokwork.json` card,
atomically."""

from __future__ import annotations

import base64
import csv
import html
import json
import shlex
from pathlib import Path

from tokwork.card import created_now, library_versions, write_card
from tokwork.errors import TokworkError
from tokwork.metrics.bench import REPORT_KIND, BenchResults
from tokwork.metrics.plots import draw_all
from tokwork.metrics.scripts import LATIN, UNKNOWN_SCRIPT
from tokwork.outputs import output_directory

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta, .note { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
"""

TOKENIZER_COLUMNS = [("vocab_size", "vocab", "{:,}"), ("bytes_per_token", "bytes/token", "{:.2f}"),
                     ("chars_per_token", "chars/token", "{:.2f}"), ("nsl", "NSL", "{:.3f}"),
                     ("premium_mean", "mean premium", "{:.2f}"), ("premium_non_latin_mean", "non-Latin premium", "{:.2f}"),
                     ("premium_max", "max premium", "{:.2f}"), ("pooled_renyi_efficiency", "Rényi eff. (pooled)", "{:.3f}"),
                     ("pooled_utilisation", "vocab used", "{:.1%}")]
ROW_COLUMNS = [("bytes_per_token", "bytes/tok", "{:.2f}"), ("fertility", "tok/word", "{:.2f}"),
               ("split_share", "split words", "{:.1%}"), ("nsl", "NSL", "{:.3f}"), ("premium", "premium", "{:.2f}"),
               ("premium_p10", "p10", "{:.2f}"), ("premium_p90", "p90", "{:.2f}"),
               ("renyi_efficiency", "Rényi eff.", "{:.3f}"), ("shannon_efficiency", "Shannon eff.", "{:.3f}"),
               ("conditional_entropy", "H(t|t-1)", "{:.2f}"), ("lexicon_tokens", "lexicon tokens", "{:.1%}"),
               ("lexicon_words_whole", "lexicon words whole", "{:.1%}")]
SCRIPT_COLUMNS = [("languages", "languages (pivot too)", "{}"), ("bytes_per_token", "bytes/token", "{:.2f}"),
                  ("fertility", "tok/word", "{:.2f}"), ("premium_mean", "mean premium", "{:.2f}"),
                  ("premium_max", "max premium", "{:.2f}"), ("renyi_efficiency_mean", "Rényi eff.", "{:.3f}")]


def _cell(value, style: str) -> str:
    return "<td>–</td>" if value is None else f"<td>{html.escape(style.format(value))}</td>"


def html_table(records: list[dict], lead: list[tuple[str, str]], columns: list[tuple[str, str, str]]) -> str:
    """An HTML table of `records`: the `lead` columns (key, title) as text, then `columns` (key, title,
    format) right-aligned; a missing value shows as a dash."""
    head = "".join(f'<th scope="col" class="text">{html.escape(t)}</th>' for _, t in lead)
    head += "".join(f'<th scope="col">{html.escape(t)}</th>' for _, t, _ in columns)
    body = []
    for record in records:
        cells = "".join(f'<td class="text">{html.escape(str(record[k]))}</td>' for k, _ in lead)
        cells += "".join(_cell(record.get(k), style) for k, _, style in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _premium_table(summary: dict, pivot: str) -> str:
    """Languages as rows, tokenizers as columns, premiums as cells (grouped by script: Latin first, the
    other scripts, then languages of unknown script)."""
    names = [t["tokenizer"] for t in summary["tokenizers"]]
    value = {(r["tokenizer"], r["language"]): r for r in summary["rows"]}
    script = {r["language"]: r["script"] for r in summary["rows"]}
    codes = sorted(dict.fromkeys(script),
                   key=lambda c: (script[c] != LATIN, script[c] == UNKNOWN_SCRIPT, script[c], c))
    records = []
    for code in codes:
        first = value[(names[0], code)]
        records.append({"language": code, "name": first["name"], "script": first["script"],
                        **{n: value[(n, code)]["premium"] for n in names}})
    return html_table(records, [("language", "code"), ("name", "language"), ("script", "script")],
                      [(n, n, "{:.2f}") for n in names])


def embedded_image(path: Path, caption: str, description: str = "") -> str:
    """A PNG embedded as a figure, its caption (and what it shows) as alt text and figure caption."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    text = html.escape(f"{caption}: {description}" if description else caption)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{text}"><figcaption>{text}</figcaption></figure>'


def _notes_html(results: BenchResults) -> str:
    notes = results.summary["notes"]
    config = results.config
    items = [notes["measured_text"] + "."]
    for name, changed in notes["normalizing_tokenizers"].items():
        blocks = sum(changed.values())
        items.append(f"{name} normalises its input: {blocks} block(s) in {len(changed)} language(s) "
                     f"({', '.join(sorted(changed))}) change; its tokens spell the normalised text.")
    if notes["unspaced_languages"]:
        items.append("No word counts (fertility, split words, words kept whole) for languages whose script does "
                     f"not separate words with spaces: {', '.join(notes['unspaced_languages'])}.")
    for name, codes in notes["tokens_not_spelling_text"].items():
        items.append(f"{name}'s tokens do not spell the text (unknown or special tokens) in {', '.join(codes)}: "
                     "no word measures there.")
    for name, shares in notes.get("tokens_without_bytes", {}).items():
        listed = ", ".join(f"{code} {share:.1%}" for code, share in shares.items())
        items.append(f"{name} gives tokens that stand for no text (unknown or special tokens; share of its tokens: "
                     f"{listed}): each counts as one token of unknown length, so its bytes/token, premiums, NSL "
                     "and entropy there are not comparable with other tokenizers'.")
    items.append(f"Lexicons: {_lexicon_sources(notes['lexicons'])}. Languages without a lexicon "
                 f"(no integrity measures): {', '.join(notes['without_lexicon']) or 'none'}.")
    items.extend(_script_notes(notes))
    items.append(f"Premium = tokens / tokens of '{config.pivot}' on the same blocks (Petrov et al. 2023); the "
                 "table gives the corpus-level ratio, p10/p90 the spread over blocks; mean and max premiums leave the "
                 "pivot out (its premium is 1 by definition), and the by-script Rényi efficiency is the mean over "
                 "the script's languages. NSL = tokens / tokens of "
                 f"'{config.reference_name}' (Dagan et al. 2024). Rényi efficiency H_{config.alpha:g} / log2 |V| "
                 f"with |V| = {'the full vocabulary' if config.full_vocab else 'distinct tokens observed'} "
                 "(Zouhar et al. 2023). Integrity after Bayram et al. 2025 (%TR, %Pure). Times are UTC.")
    return "<ul class='note'>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _lexicon_sources(lexicons: dict[str, str]) -> str:
    """Each language's lexicon, the wordfreq lists gathered into one phrase per list ("wordfreq 'small'
    lists: eng (en), fra (fr)"), files named one by one."""
    gathered: dict[str, list[str]] = {}
    for code, source in sorted(lexicons.items()):
        head, marker, language = source.partition(" list for ")
        if marker:
            gathered.setdefault(f"{head} lists", []).append(f"{code} ({language})")
        else:
            gathered.setdefault(source, []).append(code)
    return "; ".join(f"{source}: {', '.join(codes)}" for source, codes in gathered.items()) or "none"


def _script_notes(notes: dict) -> list[str]:
    """Where scripts came from and which languages the non-Latin premium pools."""
    items = []
    if notes["scripts_from_text"]:
        found = ", ".join(f"{code} {script}" for code, script in notes["scripts_from_text"].items())
        items.append("Scripts read off the text (no script in languages.tsv; the Unicode script most letters "
                     f"belong to): {found}.")
    non_latin = notes["non_latin_languages"]
    if non_latin:
        items.append(f"Non-Latin premium: the mean premium of the {len(non_latin)} language(s) in a known script "
                     "other than Latin.")
    else:
        items.append("No measured language is in a known script other than Latin: no non-Latin premium.")
    if notes["unknown_script_languages"]:
        items.append(f"Script unknown for {', '.join(notes['unknown_script_languages'])} (no script in "
                     "languages.tsv and no letters to read one from): counted in the mean and largest premium "
                     "and shown as script 'unknown', in neither the Latin nor the non-Latin pool.")
    return items


def render_html(results: BenchResults, figures: list[Path]) -> str:
    """The whole report as one HTML string (figures, if any were drawn, embedded as data URIs)."""
    summary, config, corpus = results.summary, results.config, results.corpus
    captions = [
        ("premiums by language", f"one point per language and tokenizer, its premium against {config.pivot} "
         "(log scale, 1 = as many tokens as the pivot; lower is fairer), languages grouped by script"),
        ("premiums by script", "the mean premium of each script's languages for each tokenizer (lower is fairer)"),
        ("compression against vocabulary size", "pooled UTF-8 bytes per token of each tokenizer over all "
         "languages, Latin and other scripts, against its vocabulary size (higher compresses more)"),
        ("Rényi efficiency", f"each language's Rényi efficiency (alpha = {config.alpha:g}) per tokenizer, and the "
         "pooled value as a bar (higher spreads tokens more evenly over the vocabulary)")]
    images = ([embedded_image(path, *caption) for path, caption in zip(figures, captions, strict=True)] if figures
              else [""] * len(captions))
    count = len(config.tokenizers)
    meta = (f"corpus {corpus['path']} · {_language_set(results)} × {corpus['blocks']} aligned blocks · "
            f"{count} tokenizer{'s' * (count != 1)} · pivot {config.pivot} · NSL reference {config.reference_name} · "
            f"run in {results.seconds:.1f} s, finished {created_now()}")
    title = f"tokwork bench: {', '.join(config.tokenizers)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>Tokenizer benchmark</h1>
<p class="meta">{html.escape(meta)}</p>
<h2>Tokenizers</h2>
{html_table(summary["tokenizers"], [("tokenizer", "tokenizer")], TOKENIZER_COLUMNS)}
{_figures_html(images)}
<h2>Premium by language</h2>
{_premium_table(summary, config.pivot)}
<h2>By script</h2>
<details><summary>{len(summary["scripts"])} rows: compression pooled over each script's languages, their premiums</summary>
{html_table(summary["scripts"], [("tokenizer", "tokenizer"), ("script", "script")], SCRIPT_COLUMNS)}
</details>
<h2>Every tokenizer × language</h2>
<details><summary>{len(summary["rows"])} rows</summary>
{html_table(summary["rows"], [("tokenizer", "tokenizer"), ("language", "language"), ("script", "script")], ROW_COLUMNS)}
</details>
<h2>What the columns mean</h2>
{DEFINITIONS}
<h2>What was measured</h2>
{_notes_html(results)}
<h2>How to run it again</h2>
{_provenance_html(results)}
</body></html>
"""


DEFINITIONS = "<dl class='note'>" + "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in [
    ("bytes/token, chars/token", "UTF-8 bytes (characters) of text per token; higher compresses more."),
    ("premium", "tokens for a text / tokens for the same text in the pivot language (Petrov et al. 2023); 1 is "
     "parity, lower is fairer. A tokenizer that spends many tokens on the pivot itself gets low premiums "
     "without being cheap anywhere: read them beside bytes/token or NSL."),
    ("mean, non-Latin, max premium", "the mean over the measured languages (the pivot left out), over those in a "
     "known script other than Latin, and the largest."),
    ("NSL", "normalised sequence length: tokens / tokens of the reference tokenizer on the same text (Dagan et "
     "al. 2024); below 1 is shorter than the reference."),
    ("tok/word (fertility)", "tokens that carry part of a word, per word (punctuation tokens do not count); 1 is "
     "every word one token, lower is better. Only for scripts that separate words with spaces."),
    ("split words", "share of words cut into two tokens or more; lower is better."),
    ("Rényi eff., Shannon eff.", "entropy of the token distribution over log2 |V| (Zouhar et al. 2023), from 0 "
     "to 1; higher uses the vocabulary more evenly. With |V| the distinct tokens observed, a language alone "
     "observes few tokens and often scores higher than the pooled text of every language, which observes many: "
     "compare pooled with pooled and languages with languages."),
    ("vocab used", "share of the vocabulary that occurs in the measured text."),
    ("H(t|t-1)", "conditional entropy of a token given the one before it, in bits."),
    ("lexicon tokens", "share of the tokens that are a whole word of the language's lexicon on their own (for "
     "scripts without spaces: tokens whose text alone is a lexicon word); after Bayram et al. 2025's %TR."),
    ("lexicon words whole", "of the text's words that are lexicon words, the share kept as one token; after "
     "Bayram et al. 2025's %Pure."),
]) + "</dl>"


def _language_set(results: BenchResults) -> str:
    """How many languages were measured, and out of how many the corpus holds where a default set was taken."""
    measured = len(results.corpus["languages"])
    held = len(list(Path(results.corpus["path"]).glob("*.txt")))
    if results.config.languages is None and held > measured:
        return f"{measured} languages (the default set of the corpus's {held}; --languages all measures every one)"
    return f"{measured} language{'s' * (measured != 1)}"


def _provenance_html(results: BenchResults) -> str:
    """The command that measures the same again, the tokenizers' files with their sha256, and the versions."""
    from tokwork.corpus import file_sha256
    from tokwork.loader import tokenizer_file

    config = results.config
    parts = ["tokwork", "bench", *(a for name, path in config.tokenizers.items() for a in ("-t", f"{name}={path}")),
             "--corpus", str(results.corpus["path"]), "--languages", ",".join(results.corpus["languages"]),
             "--pivot", config.pivot, "--reference", config.reference_name, "--alpha", f"{config.alpha:g}",
             *(["--full-vocab"] if config.full_vocab else []),
             *(a for code, path in config.lexicons.items() for a in ("--lexicon", f"{code}={path}")),
             *(["--wordfreq-list", config.wordfreq_list] if config.wordfreq else ["--no-wordfreq"]),
             *(["--engine", "ray"] if results.engine["engine"] == "ray" else
               ["--workers", str(results.engine["workers"])] if results.engine.get("workers") not in (None, 1) else []),
             "-o", "OUT"]
    files = []
    for name, path in config.tokenizers.items():
        try:
            file = tokenizer_file(path)
            files.append(f"{name}: {file} (sha256 {file_sha256(file)})")
        except (OSError, TokworkError) as err:  # a file moved since the run is noted, not fatal
            files.append(f"{name}: {path} ({err})")
    versions = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    items = [f"<pre>{html.escape(shlex.join(parts))}</pre>",
             *(f"<li>{html.escape(f)}</li>" for f in files), f"<li>{html.escape(versions)}</li>"]
    return f"{items[0]}<ul class='note'>{''.join(items[1:])}</ul>"


def _figures_html(images: list[str]) -> str:
    """The two sections of figures, or a line saying how to get them (a run without --plots draws none)."""
    if not any(images):
        return '<p class="meta">No figures: run with --plots to draw and embed them.</p>'
    return (f'<h2>Cross-lingual premiums</h2>\n<div class="figures">{images[0]}{images[1]}</div>\n'
            f'<h2>Compression and entropy</h2>\n<div class="figures">{images[2]}{images[3]}</div>')


def write_csv(rows: list[dict], path: Path) -> None:
    """One line per tokenizer x language with every scalar measure."""
    columns = [k for k, v in rows[0].items() if not isinstance(v, list | dict)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_report(results: BenchResults, output: str | Path, *, force: bool = False, plots: bool = False) -> Path:
    """Write results.json, results.csv, report.html and, with `plots`, the figures (PNG files, embedded in
    the report too; drawing them takes seconds, longer than a small run measures) into `output`
    (atomically); return the path of report.html."""
    with output_directory(output, force=force, kinds=(REPORT_KIND,)) as staging:
        data = results.as_json()
        (staging / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
        write_csv(results.summary["rows"], staging / "results.csv")
        figures = (draw_all(results.summary, staging, pivot=results.config.pivot, alpha=results.config.alpha)
                   if plots else [])
        (staging / "report.html").write_text(render_html(results, figures), encoding="utf-8")
        card = {"kind": REPORT_KIND, "config": data["config"], "libraries": library_versions(),
                "created": created_now()}  # its "files" are listed as the folder is written (tokwork.outputs)
        write_card(staging, card)
    return Path(output) / "report.html"
