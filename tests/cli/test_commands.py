"""The CLI end to end: train each kind, then encode and inspect what was written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import UDHR
from tokwork import load_tokenizer
from tokwork.cli.main import main

SENTENCE = "Tokenizers split text. Токенизаторы делят текст. 分词器把文本切开。"


@pytest.mark.parametrize("kind, extra", [("bpe", []), ("unigram", []), ("char", ["--mode", "char"])])
def test_train_encode_info(tmp_path, capsys, kind, extra):
    out = tmp_path / kind
    corpus = [str(UDHR / f"{code}.txt") for code in ("eng", "rus", "cmn_hans")]
    assert main(["train", kind, *corpus, "-v", "1024", "-o", str(out), "-q", *extra]) == 0
    assert (out / "tokwork.json").is_file()
    assert "written to" in capsys.readouterr().out

    assert main(["encode", str(out), SENTENCE, "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    tok = load_tokenizer(out)
    assert [row["id"] for row in shown["tokens"]] == tok.encode(SENTENCE)
    assert shown["round_trip"] is True and shown["bytes"] == len(SENTENCE.encode())

    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["vocab_size"] == tok.vocab_size and info["trained"]["kind"] == ("unigram" if kind == "unigram" else kind)
    assert info["single_byte_tokens"] == 256


def test_retraining_replaces_a_tokwork_output_without_force(tmp_path, capsys):
    out = tmp_path / "bpe"
    corpus = str(UDHR / "eng.txt")
    assert main(["train", "bpe", corpus, "-v", "400", "-o", str(out), "-q"]) == 0
    assert main(["train", "bpe", corpus, "-v", "500", "-o", str(out), "-q"]) == 0
    assert load_tokenizer(out).vocab_size == 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bpe"]


def test_force_replaces_a_foreign_directory(tmp_path):
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["train", "bpe", str(UDHR / "eng.txt"), "-v", "400", "-o", str(out), "-q", "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "tokenizer.json").is_file()


def test_encode_table_and_ids(tmp_path, capsys, reference_tokenizer):
    from tests.conftest import reference_tokenizer_path

    gpt2 = str(reference_tokenizer_path("gpt2"))
    assert main(["encode", gpt2, "Hello world", "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["15496", "995"]
    assert main(["encode", gpt2, "Hello world"]) == 0
    table = capsys.readouterr().out
    assert "'Ġworld'" in table and "' world'" in table and "round trip: exact" in table
    text_file = tmp_path / "t.txt"
    text_file.write_text("Hello world", encoding="utf-8")
    assert main(["encode", gpt2, "--file", str(text_file), "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["15496", "995"]


def test_console_script_help_everywhere():
    for args in ([], ["--help"], ["train", "--help"], ["train", "bpe", "--help"], ["encode", "--help"],
                 ["info", "--help"], ["train", "unigram", "--help"], ["train", "char", "--help"]):
        done = subprocess.run([sys.executable, "-m", "tokwork.cli", *args], capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage" in done.stdout


def test_help_prints_each_paragraph_of_a_docstring_as_one_flowing_paragraph(capsys):
    """typer (rich markup) keeps a paragraph's line breaks in the command lists and in the paragraphs
    after the first, so a docstring wrapped in the source printed broken mid-sentence; each command's help
    is its docstring with every paragraph on one line, no word lost."""
    import inspect

    from tokwork.cli.main import app

    def commands(group):
        for info in group.registered_commands:
            yield info.name or info.callback.__name__, info
        for sub in group.registered_groups:
            yield from commands(sub.typer_instance)

    named = dict(commands(app))
    assert {"distill", "adapt", "score", "bpe", "generate"} <= set(named)
    for name, info in named.items():
        doc = inspect.cleandoc(info.callback.__doc__ or "")
        assert info.help.split("\n\n") == [" ".join(p.split()) for p in doc.split("\n\n")], name
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    rows = [line for line in listing.splitlines() if "│" in line]
    distill = next(i for i, line in enumerate(rows) if line.split("│")[1].split()[:1] == ["distill"])
    # the summary fills each row of the panel before it wraps (it broke after "gives the same")
    assert len(rows[distill].rstrip("│ ")) > 64 and len(rows[distill + 1].rstrip("│ ")) > 64


def test_version_is_the_packages(capsys):
    import re
    from importlib.metadata import version
    from pathlib import Path

    from tokwork import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tokwork {__version__}"
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == __version__ == version("tokwork")


def test_sigterm_ends_the_workers_and_unwinds_as_an_interrupt(tmp_path):
    """kill/timeout send SIGTERM to the command alone (Ctrl-C reaches its workers too): the handler ends
    the worker processes and unwinds, so that outputs are not half written and no worker outlives it."""
    script = (
        "import multiprocessing, os, signal, sys, time\n"
        "from tokwork.cli.main import _on_terminate\n"
        "signal.signal(signal.SIGTERM, _on_terminate(os.getpid()))\n"
        "context = multiprocessing.get_context('fork')\n"
        "for wait_until_running in (True, False):\n"
        "    worker = context.Process(target=time.sleep, args=(60,))\n"
        "    worker.start()\n"
        "    try:\n"
        "        time.sleep(1 if wait_until_running else 0)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(30)\n"
        "    except KeyboardInterrupt:\n"
        "        print(worker.exitcode)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    running, just_forked = done.stdout.split()
    # a worker just forked may lose the signal (Python clears its pending flags there) and is then killed
    assert done.returncode == 0 and running == "-15" and just_forked in ("-15", "-9"), done.stderr


def test_a_terminated_command_exits_143(monkeypatch, capsys):
    from tokwork.cli import main as cli_main

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "app", interrupted)
    assert cli_main.main([]) == 130 and capsys.readouterr().err.strip() == "tokwork: interrupted"
    monkeypatch.setattr(cli_main, "_terminated", True)
    assert cli_main.main([]) == 143 and capsys.readouterr().err.strip() == "tokwork: terminated"


def test_a_corpus_too_small_for_the_vocabulary_is_noted(tmp_path, capsys):
    (tmp_path / "small.txt").write_text("a small corpus, a small vocabulary\n" * 3, encoding="utf-8")
    assert main(["train", "bpe", str(tmp_path / "small.txt"), "-v", "5000", "-o", str(tmp_path / "tok"), "-q"]) == 0
    note = capsys.readouterr().err
    assert "fewer than the 5,000 asked: no other pair merges and occurs at least 2 times" in note
    # a char tokenizer trains toward the power of two its size rounds up to: short of that, it says so
    assert main(["train", "char", str(tmp_path / "small.txt"), "-v", "600", "--mode", "char",
                 "-o", str(tmp_path / "char"), "-q"]) == 0
    note = capsys.readouterr().err
    assert "fewer than the 1,024 that the 600 asked rounds up to: the corpus has no other character" in note
    card = json.loads((tmp_path / "char" / "tokwork.json").read_text())
    assert card["notes"]["vocab_size_reached"] == load_tokenizer(tmp_path / "char").vocab_size < 1024


def test_output_to_a_file_holds_no_progress_bar_lines(tmp_path, capfd):
    """The `tokenizers` trainer draws its bars on stdout (blank lines there when it is not a terminal)."""
    assert main(["train", "bpe", str(UDHR / "eng.txt"), "-v", "400", "-o", str(tmp_path / "tok")]) == 0
    printed = capfd.readouterr().out
    assert printed.startswith(" kind"), repr(printed[:40])


@pytest.mark.parametrize("command", ["eval", "distill", "adapt"])
def test_thread_counts_below_one_are_refused(command, capsys):
    assert main([command, "--threads", "-1"]) == 2
    assert "Invalid value for '--threads': -1 is not in the range x>=1" in capsys.readouterr().err


def test_encode_file_shows_jsonl_records_one_per_line(tmp_path, capsys):
    records = tmp_path / "records.jsonl"
    records.write_text('{"text": "hello"}\n{"text": "world"}\n', encoding="utf-8")
    assert main(["encode", "gpt2", "--file", str(records), "--format", "ids"]) == 0
    from_file = capsys.readouterr().out
    assert main(["encode", "gpt2", "hello\nworld", "--format", "ids"]) == 0
    assert from_file == capsys.readouterr().out


def test_encode_says_when_decoding_gives_the_normalised_text_not_the_input(tmp_path, capsys):
    out = tmp_path / "nfkc"
    assert main(["train", "bpe", str(UDHR / "eng.txt"), "-v", "400", "--nfkc", "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["encode", str(out), "ﬁ ①", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["round_trip"] is False and shown["normalized"] is True
    assert main(["encode", str(out), "ﬁ ①"]) == 0
    assert "NOT exact: the tokenizer normalises this text" in capsys.readouterr().out
    assert main(["encode", str(out), "fi 1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["round_trip"] is True


def test_encode_refuses_text_that_is_not_utf8_in_one_line(capsys):
    from tests.conftest import reference_tokenizer_path

    # bytes that are not UTF-8 reach Python's argv as lone surrogates
    assert main(["encode", str(reference_tokenizer_path("gpt2")), "a\udcffb"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "TEXT is not UTF-8 at character 1" in lines[0]


def test_info_says_what_an_extension_or_a_supertoken_run_did(tmp_path, capsys):
    base, ext, sup = tmp_path / "base", tmp_path / "ext", tmp_path / "sup"
    assert main(["train", "bpe", str(UDHR / "eng.txt"), "-v", "400", "-o", str(base), "-q"]) == 0
    assert main(["train", "extend", "--base", str(base), str(UDHR / "rus.txt"), "--add", "20", "-o", str(ext),
                 "-q"]) == 0
    assert main(["train", "supertoken", str(UDHR / "eng.txt"), "-v", "600", "-o", str(sup), "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(ext)]) == 0
    assert "new ids 400..419" in capsys.readouterr().out
    # a file inside the folder finds the folder's card
    assert main(["info", str(sup / "tokenizer.json")]) == 0
    shown = capsys.readouterr().out
    assert "trained" in shown and "two-stage; stage 1 480 tokens" in shown


def test_extending_a_stochastic_folder_says_its_deterministic_base_was_extended(tmp_path, capsys):
    base, sampling, ext = tmp_path / "base", tmp_path / "sampling", tmp_path / "ext"
    assert main(["train", "bpe", str(UDHR / "eng.txt"), "-v", "400", "-o", str(base), "-q"]) == 0
    assert main(["train", "stochastic", "--base", str(base), "-m", "stochastok", "-o", str(sampling)]) == 0
    capsys.readouterr()
    assert main(["train", "extend", "--base", str(sampling), str(UDHR / "rus.txt"), "--add", "10", "-o", str(ext),
                 "-q"]) == 0
    assert "is a stochastic tokenizer; its deterministic base was extended" in capsys.readouterr().err
    assert not (ext / "stochastic.json").exists()


def test_no_option_help_shows_an_unfilled_placeholder():
    """An option's help written without its f-prefix printed `{REFERENCE_NAMES}` literally."""
    import re

    import typer.main

    from tokwork.cli.main import app

    def walk(command, context):
        yield command
        if hasattr(command, "list_commands"):  # a group (typer's click, which may be its own copy)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                yield from walk(sub, type(context)(sub, parent=context, info_name=name))

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="tokwork")
    texts = [param.help or "" for command in walk(root, context)
             for param in command.params if type(param).__name__.endswith("Option")]
    assert len(texts) > 100
    assert not [text for text in texts if re.search(r"\{[A-Za-z_]+\}", text)]


def test_a_full_disk_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """Writing a trained tokenizer to a full disk: one line naming the cause, no traceback, nothing left."""
    import errno

    from tokwork.formats.hf_json import HFTokenizer

    def full(self, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(HFTokenizer, "_write_files", full)
    corpus = tmp_path / "c.txt"
    corpus.write_text("some text to train on\n" * 50, encoding="utf-8")
    assert main(["train", "bpe", str(corpus), "-v", "300", "-o", str(tmp_path / "out"), "-q"]) == 2
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("tokwork: error: the disk is full") and "\n" not in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
