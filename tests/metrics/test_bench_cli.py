"""`tokwork bench`: the files it writes, the self-contained report, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import UDHR, reference_tokenizer_path
from tests.metrics.conftest import TOY_TEXTS, read_json, write_parallel
from tokwork import load_tokenizer
from tokwork.cli.main import main
from tokwork.metrics.bench import BenchConfig, run_bench

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def gpt2() -> str:
    return str(reference_tokenizer_path("gpt2"))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["bench", "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bench_writes_results_plots_and_a_self_contained_report(tmp_path, capsys, gpt2, toy_tokenizers):
    out = tmp_path / "bench"
    # vai (Vai script) is not in the default list; its shipped text is enough
    # a name with dollar signs is a name, not mathematics for the plots (which failed after measuring)
    code, stdout, stderr = run(capsys, "-t", f"gpt2={gpt2}", "-t", f"$x^2$={toy_tokenizers['toy']}",
                               "-l", "eng,rus,vai", "-o", str(out), "--plots")
    assert code == 0, stderr
    assert f"report: {out / 'report.html'}" in stdout.replace("\n", "")
    assert sorted(p.name for p in out.iterdir()) == [
        "compression_vs_vocab.png", "premiums.png", "premiums_by_script.png", "renyi_efficiency.png",
        "report.html", "results.csv", "results.json", "tokwork.json"]
    for png in out.glob("*.png"):
        assert png.read_bytes().startswith(PNG) and png.stat().st_size > 5000
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html and 'src="' not in html.replace('src="data:', "")
    assert html.count("<figcaption>") == 4 and "<thead>" in html and "What the columns mean" in html
    # how to run it again: the command, each tokenizer's file with its sha256, the versions
    assert f"tokwork bench -t gpt2={gpt2}" in html and "'-t' " not in html and "--languages eng,rus,vai" in html
    assert html.count("(sha256 ") == 2 and "tokenizers " in html
    assert html.count("wordfreq &#x27;small&#x27; lists: eng (en), rus (ru)") == 1  # one phrase per list
    results = read_json(out / "results.json")
    assert [t["tokenizer"] for t in results["tokenizers"]] == ["gpt2", "$x^2$"]
    vai = next(r for r in results["rows"] if r["language"] == "vai" and r["tokenizer"] == "gpt2")
    assert vai["script"] == "Vaii" and vai["premium"] > 1 and len(vai["block_tokens"]) == 31
    with (out / "results.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {"premium", "bytes_per_token", "renyi_efficiency", "lexicon_tokens"} <= set(rows[0])
    assert read_json(out / "tokwork.json")["kind"] == "bench"
    # a tokwork output is replaced on the next run without --force; without --plots there are no figures
    code, _, stderr = run(capsys, "-t", f"gpt2={gpt2}", "-l", "eng", "-o", str(out))
    assert code == 0, stderr
    assert [t["tokenizer"] for t in read_json(out / "results.json")["tokenizers"]] == ["gpt2"]
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.csv", "results.json", "tokwork.json"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html and "Cross-lingual premiums" not in html and "run with --plots" in html


def test_a_new_language_file_in_a_corpus_folder_works(tmp_path, capsys, gpt2):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(UDHR / "eng.txt", corpus / "eng.txt")
    shutil.copy(UDHR / "fra.txt", corpus / "xfr.txt")  # a code no table knows
    code, stdout, stderr = run(capsys, "-t", f"gpt2={gpt2}", "--corpus", str(corpus), "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    results = read_json(tmp_path / "out" / "results.json")
    row = next(r for r in results["rows"] if r["language"] == "xfr")
    # no table: the script is read off the text, and a Latin-script language gives no non-Latin premium
    assert row["script"] == "Latn" and row["name"] == "xfr" and 1 < row["premium"] < 3
    assert results["tokenizers"][0]["premium_non_latin_mean"] is None
    gpt2_row = next(line for line in stdout.splitlines() if line.startswith("│ gpt2"))
    assert [cell.strip() for cell in gpt2_row.split("│")][5] == "–"  # the non-Latin premium column
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Scripts read off the text" in html and "no non-Latin premium" in html


def unaligned_corpus(tmp_path):
    return str(write_parallel(tmp_path / "unaligned", {"eng": TOY_TEXTS["eng"], "ell": TOY_TEXTS["ell"][:2]},
                              {"eng": "Latn", "ell": "Grek"}))


def changed_corpus(tmp_path, *, table: bytes | None = None, eng: list[str] | None = None) -> str:
    """The toy corpus with its `languages.tsv` or its English blocks replaced."""
    folder = write_parallel(tmp_path / "changed", {"eng": eng or TOY_TEXTS["eng"], "ell": TOY_TEXTS["ell"]},
                            {"eng": "Latn", "ell": "Grek"})
    if table is not None:
        (folder / "languages.tsv").write_bytes(table)
    return str(folder)


def made_folder(path):
    path.mkdir()
    return path


def lone_empty_block(tmp_path):
    """English with an extra blank line after its first block and one block fewer at the end: the counts
    agree, the blocks do not."""
    return changed_corpus(tmp_path, eng=[TOY_TEXTS["eng"][0], "", *TOY_TEXTS["eng"][1:-1]])


ERRORS = {
    "language without text": (lambda tmp, tok: ["-t", tok, "-l", "eng,xyz"],
                              "language 'xyz' has no text in"),
    "pivot without text": (lambda tmp, tok: ["-t", tok, "--pivot", "zzz"], "pivot language 'zzz' has no text"),
    "unaligned corpus": (lambda tmp, tok: ["-t", tok, "--corpus", unaligned_corpus(tmp)],
                         "is not aligned: ell.txt has 2 blocks but eng.txt has 3"),
    "tokenizer path missing": (lambda tmp, tok: ["-t", tok, "-t", f"bad={tmp}/nope"], "does not exist"),
    "tokenizer that does not load": (lambda tmp, tok: ["-t", f"bad={tmp / 'tokenizer.json'}"],
                                     "is not a valid tokenizer.json"),
    "corpus folder missing": (lambda tmp, tok: ["-t", tok, "--corpus", str(tmp / "none")],
                              "is not a folder of <language code>.txt files"),
    "tokenizer not NAME=PATH": (lambda tmp, tok: ["-t", "=x"], "is not NAME=PATH"),
    "unknown reference": (lambda tmp, tok: ["-t", tok, "--reference", "llama"], "reference tokenizer 'llama'"),
    "lexicon file missing": (lambda tmp, tok: ["-t", tok, "-l", "eng", "--lexicon", f"eng={tmp}/words.txt"],
                             "lexicon file"),
    "output not a tokwork output": (lambda tmp, tok: ["-t", tok, "-l", "eng", "-o", str(tmp / "precious")],
                                    "exists and is not a tokwork output; pass --force"),
    "output that is a tokenizer": (lambda tmp, tok: ["-t", tok, "-l", "eng", "-o", str(tmp / "trained")],
                                   "holds a tokwork 'bpe' output, not one this command writes"),
    "output that is an input, even with --force": (
        lambda tmp, tok: ["-t", f"mine={tmp / 'trained'}", "-l", "eng", "-o", str(tmp / "trained"), "--force"],
        "is the input"),
    "an empty language code": (lambda tmp, tok: ["-t", tok, "-l", "eng,,fra"], "has an empty code"),
    "no language code": (lambda tmp, tok: ["-t", tok, "-l", ""], "has an empty code"),
    "a cluster address without Ray": (lambda tmp, tok: ["-t", tok, "-l", "eng", "--address", "127.0.0.1:1"],
                                      "only --engine ray uses"),
    "workers with Ray": (lambda tmp, tok: ["-t", tok, "-l", "eng", "--engine", "ray", "--workers", "2"],
                         "Ray places its own tasks"),
    "a table that is not UTF-8": (lambda tmp, tok: ["-t", tok, "--corpus", changed_corpus(tmp, table=b"code\xff\n")],
                                  "languages.tsv' is not UTF-8 at byte 4"),
    "a script that is no ISO 15924 code": (
        lambda tmp, tok: ["-t", tok, "--corpus", changed_corpus(tmp, table=b"code\tscript\neng\tLatn\nell\tGreek\n")],
        "line 3 gives script 'Greek' for 'ell', which is not an ISO 15924 code"),
    "a table row short of fields": (
        lambda tmp, tok: ["-t", tok, "--corpus", changed_corpus(tmp, table=b"code\tscript\neng\n")],
        "line 2 has fewer tab-separated fields than its header"),
    "an extra blank line": (lambda tmp, tok: ["-t", tok, "--corpus", lone_empty_block(tmp)],
                            "block 2 of eng.txt is empty and that of ell.txt is not"),
    "a folder as a lexicon": (lambda tmp, tok: ["-t", tok, "-l", "eng", "--lexicon", f"eng={made_folder(tmp / 'lex')}"],
                              "cannot read lexicon file"),
    "a pivot that is only a byte order mark": (lambda tmp, tok: ["-t", tok, "--corpus", bom_only_pivot(tmp)],
                                               "eng.txt' is empty"),
}


def bom_only_pivot(tmp_path):
    folder = Path(changed_corpus(tmp_path))
    (folder / "eng.txt").write_bytes(b"\xef\xbb\xbf\n")
    return str(folder)


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, gpt2, case):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": ', encoding="utf-8")
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep", encoding="utf-8")
    (tmp_path / "trained").mkdir()  # a tokenizer's folder as `tokwork train` leaves it
    shutil.copy(f"{gpt2}/tokenizer.json" if Path(gpt2).is_dir() else gpt2, tmp_path / "trained" / "tokenizer.json")
    (tmp_path / "trained" / "tokwork.json").write_text('{"kind": "bpe", "files": ["tokenizer.json"]}', "utf-8")
    make_args, message = ERRORS[case]
    args = make_args(tmp_path, f"gpt2={gpt2}")
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out")]
    code, _, stderr = run(capsys, *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokwork: error: ") and message in lines[0], stderr
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "precious" / "notes.txt").read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in (tmp_path / "trained").iterdir()) == ["tokenizer.json", "tokwork.json"]


def test_blocks_keep_their_carriage_returns(tmp_path, gpt2):
    # bytes, characters and tokens are those of the file as stored: a CRLF block is measured with its CRs,
    # blocks are separated by a blank line in either convention, and a lone CR does not end a block
    folder = tmp_path / "crlf"
    folder.mkdir()
    (folder / "eng.txt").write_bytes(b"Hello\r\nthere\r\n\r\none\r\rtwo\r\n")
    (folder / "fra.txt").write_bytes(b"Bonjour\n\nun deux\n")
    results = run_bench(BenchConfig(tokenizers={"gpt2": gpt2}, corpus=str(folder), wordfreq=False), progress=False)
    eng = next(r for r in results.summary["rows"] if r["language"] == "eng")
    blocks = ["Hello\r\nthere", "one\r\rtwo"]
    tokenizer = load_tokenizer(gpt2)
    assert eng["bytes"] == eng["chars"] == sum(map(len, blocks)) == 20
    assert eng["tokens"] == sum(len(tokenizer.encode(b)) for b in blocks)


def test_a_language_table_with_a_byte_order_mark_is_read(tmp_path, gpt2):
    # spreadsheets save TSV files with a BOM; the 'code' column is still the first one
    corpus = changed_corpus(tmp_path, table="\ufeffcode\tname\tscript\neng\tEnglish\tLatn\nell\tGreek\tGrek\n".encode())
    config = BenchConfig(tokenizers={"gpt2": gpt2}, corpus=corpus, wordfreq=False)
    results = run_bench(config, progress=False)
    assert results.corpus["languages"]["ell"]["name"] == "Greek"


def test_the_table_marks_a_tokenizer_whose_tokens_do_not_all_stand_for_text(tmp_path, capsys, toy_corpus):
    from tests.metrics.conftest import letters_tokenizer

    letters = letters_tokenizer(tmp_path / "letters.json")
    code, out, _ = run(capsys, "-t", f"letters={letters}", "--corpus", str(toy_corpus), "--no-wordfreq",
                       "-o", str(tmp_path / "report"))
    assert code == 0 and "letters *" in out
    assert "* gives tokens that stand for no text (unknown tokens) in letters: ell" in out


def test_the_report_records_where_its_jobs_ran_and_its_command_says_so(tmp_path, capsys, toy_corpus):
    import html
    import shlex

    from tests.metrics.conftest import letters_tokenizer

    letters = letters_tokenizer(tmp_path / "letters.json")
    out = tmp_path / "report"
    code, _, _ = run(capsys, "-t", f"letters={letters}", "-t", "gpt2", "--corpus", str(toy_corpus), "--no-wordfreq",
                     "--workers", "2", "-o", str(out))
    assert code == 0
    assert json.loads((out / "results.json").read_text())["engine"] == {"engine": "local", "workers": 2}
    page = (out / "report.html").read_text(encoding="utf-8")
    command = html.unescape(page.split("<pre>")[1].split("</pre>")[0])
    words = shlex.split(command)
    assert words[:2] == ["tokwork", "bench"] and words[words.index("--workers") + 1] == "2"
