"""What an output may replace: the same family of tokwork output, never its inputs or the folders around
the user, nothing the user put there; what cannot be written is refused before the work; what is written
gets the umask's permissions."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import UDHR
from tokwork.cli.main import main
from tokwork.errors import OutputError
from tokwork.outputs import check_output_directory, output_directory, output_file


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.txt").write_text((UDHR / "eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def card(folder, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokwork.json").write_text(json.dumps(fields), encoding="utf-8")


def test_an_output_replaces_only_its_own_family_without_force(place):
    card(place / "report", kind="bench", files=[])
    card(place / "old-transplant", method="omp", alignment={}, source="s", target="t")  # they named no kind before
    assert check_output_directory(place / "report", kinds=("bench",)) == place / "report"
    assert check_output_directory(place / "old-transplant", kinds=(None, "transplant"))
    with pytest.raises(OutputError, match="holds a tokwork 'bench' output, not one this command writes"):
        check_output_directory(place / "report", kinds=("bpe",))
    with pytest.raises(OutputError, match="a tokwork output of another kind"):
        check_output_directory(place / "old-transplant", kinds=("bpe",))
    assert check_output_directory(place / "report", kinds=("bpe",), force=True)
    (place / "report" / "tokwork.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(OutputError, match="has a tokwork.json that cannot be read as a tokwork card"):
        check_output_directory(place / "report", kinds=("bench",))


def test_files_the_card_does_not_list_are_kept_unless_forced(place):
    card(place / "tok", kind="bpe", files=["tokenizer.json"])
    (place / "tok" / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert check_output_directory(place / "tok", kinds=("bpe",))
    (place / "tok" / "NOTES.md").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=r"also holds files tokwork did not write there \(NOTES.md\)"):
        check_output_directory(place / "tok", kinds=("bpe",))
    assert check_output_directory(place / "tok", kinds=("bpe",), force=True)


def test_inputs_and_the_folders_around_the_user_are_refused_even_with_force(place):
    (place / "data").mkdir()
    (place / "data" / "corpus.txt").write_text("text", encoding="utf-8")
    cases = {place / "data": "holds the input", place / "data" / "corpus.txt": "exists and is a file"}
    for output, message in cases.items():
        with pytest.raises(OutputError, match=message):
            check_output_directory(output, force=True, inputs=[place / "data" / "corpus.txt"])
    with pytest.raises(OutputError, match="is the input"):
        check_output_directory(place / "data", force=True, inputs=[place / "data"])
    for output, message in ((".", "is the current folder"), ("..", "a folder that holds the current one"),
                            ("/", "is the root"), (os.path.expanduser("~"), "the home folder")):
        with pytest.raises(OutputError, match=message):
            check_output_directory(output, force=True)
    assert check_output_directory("gpt2", inputs=["gpt2"])  # a name that is no path here is no input


def test_an_output_that_cannot_be_made_is_refused_before_the_work(place):
    (place / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="'.*a-file' is a file, not a folder"):
        check_output_directory(place / "a-file" / "deeper" / "out")
    with pytest.raises(OutputError, match="is a file, not a folder"), output_file(place / "a-file" / "ids.npy"):
        pass


def test_an_output_in_a_folder_the_user_cannot_write_in_is_refused_before_the_work(place, monkeypatch):
    """Root may write anywhere, so `os.access` (what the check asks) answers as it does for a user whose
    folder is read-only: no write permission in `locked`, as its mode says."""
    locked, open_folder = place / "locked", place / "open"
    locked.mkdir(mode=0o500)
    open_folder.mkdir()
    real_access = os.access

    def access(path, mode, **options):
        if Path(path).resolve() == locked.resolve() and mode & os.W_OK:
            return False
        return real_access(path, mode, **options)

    monkeypatch.setattr(os, "access", access)
    for output in (locked / "out", locked / "deeper" / "out"):  # a missing folder below counts as its parent
        message = f"cannot write '{output}': no permission to write in '{locked}'"
        with pytest.raises(OutputError, match=re.escape(message)):
            check_output_directory(output)
    with pytest.raises(OutputError, match="no permission to write"), output_file(locked / "ids.npy"):
        pass
    assert not any(locked.iterdir())
    assert check_output_directory(open_folder / "out") == open_folder / "out"


def test_what_is_written_gets_the_umasks_permissions(place):
    mask = os.umask(0o022)
    try:
        with output_directory(place / "out") as staging:
            (staging / "a.txt").write_text("a", encoding="utf-8")
            (staging / "weights.bin").write_bytes(b"w")
            os.chmod(staging / "weights.bin", 0o600)  # as safetensors writes its files
        with output_file(place / "ids.bin") as staging:
            staging.write_bytes(b"1")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((place / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((place / "out" / "weights.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((place / "ids.bin").stat().st_mode) == 0o644


def cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_the_commands_keep_what_is_not_theirs(place, capsys):
    code, err = cli(capsys, "train", "bpe", "good.txt", "-v", "300", "-o", "tok", "-q")
    assert code == 0, err
    (place / "tok" / "NOTES.md").write_text("mine", encoding="utf-8")
    code, err = cli(capsys, "train", "bpe", "good.txt", "-v", "310", "-o", "tok", "-q")
    assert code == 2 and "NOTES.md" in err and (place / "tok" / "NOTES.md").is_file()
    (place / "tok" / "NOTES.md").unlink()
    assert cli(capsys, "train", "char", "good.txt", "-v", "300", "-o", "tok", "-q")[0] == 0  # a tokenizer
    card(place / "report", kind="bench", files=[])
    code, err = cli(capsys, "train", "bpe", "good.txt", "-v", "300", "-o", "report", "-q")
    assert code == 2 and "holds a tokwork 'bench' output" in err and len(err.strip().splitlines()) == 1
    (place / "corpus").mkdir()
    (place / "good.txt").rename(place / "corpus" / "good.txt")
    code, err = cli(capsys, "train", "bpe", "corpus", "-v", "300", "-o", "corpus", "-q", "--force")
    assert code == 2 and "is the input 'corpus'" in err and (place / "corpus" / "good.txt").is_file()
    code, err = cli(capsys, "train", "bpe", "corpus", "-v", "300", "-o", ".", "-q", "--force")
    assert code == 2 and "is the current folder" in err and (place / "corpus" / "good.txt").is_file()


def test_encode_keeps_an_ids_file_it_was_not_told_to_replace(place, capsys):
    np.save(place / "precious.npy", np.arange(5))
    code, err = cli(capsys, "encode", "gpt2", "--file", "good.txt", "--out", "precious.npy", "-q")
    assert code == 2 and "exists; pass --force" in err
    assert np.load(place / "precious.npy").tolist() == [0, 1, 2, 3, 4]
    assert cli(capsys, "encode", "gpt2", "--file", "good.txt", "--out", "precious.npy", "-q", "--force")[0] == 0
    assert len(np.load(place / "precious.npy")) > 1000


@pytest.mark.parametrize("args, message", [
    (("--eos-token", "a"), "special token 'a' is one character"),
    (("--eos-token", ""), "special token '' is empty or blank"),
    (("--special", " "), "special token ' ' is empty or blank"),
])
def test_special_tokens_that_would_break_text_are_refused(place, capsys, args, message):
    code, err = cli(capsys, "train", "bpe", "good.txt", "-v", "300", "-o", "tok", "-q", *args)
    assert code == 2 and message in err and not (place / "tok").exists()


def test_encode_shows_bytes_a_program_reads_and_bounds_its_samples(place, capsys):
    assert main(["encode", "gpt2", "hé", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [row["bytes"] for row in shown["tokens"]] == ["68", "c3a9"]
    assert bytes.fromhex("".join(row["bytes"] for row in shown["tokens"])).decode() == "hé"
    code, err = cli(capsys, "encode", "gpt2", "hi", "--samples", "100000000")
    assert code == 2 and "must lie in [1, 1,000]" in err


def test_every_card_lists_what_its_folder_holds(place):
    with output_directory(place / "model", kinds=("transplant",)) as staging:
        (staging / "model.safetensors").write_bytes(b"w")
        (staging / "tokwork.json").write_text(json.dumps({"kind": "transplant"}), encoding="utf-8")
    assert json.loads((place / "model" / "tokwork.json").read_text())["files"] == ["model.safetensors"]
    (place / "model" / "README.md").write_text("my notes", encoding="utf-8")
    with pytest.raises(OutputError, match=r"\(README.md\)"):
        check_output_directory(place / "model", kinds=("transplant",))


def test_inputs_given_by_name_or_pattern_and_the_cache_itself_are_refused(place, monkeypatch):
    cache = place / "deep" / "cache"
    monkeypatch.setenv("TOKWORK_CACHE", str(cache))
    (cache / "tokenizers" / "gpt2").mkdir(parents=True)
    (cache / "models" / "smollm2-135m-instruct").mkdir(parents=True)
    for name, folder in (("gpt2", "tokenizers/gpt2"), ("smollm2", "models/smollm2-135m-instruct")):
        with pytest.raises(OutputError, match=f"is the input '{name}'"):
            check_output_directory(cache / folder, force=True, inputs=[name])
    with pytest.raises(OutputError, match="is the tokwork cache"):
        check_output_directory(cache, force=True)
    with pytest.raises(OutputError, match="holds the tokwork cache"):
        check_output_directory(place / "deep", force=True)
    (place / "texts").mkdir()
    (place / "texts" / "a.txt").write_text("a", encoding="utf-8")
    for pattern in ("texts/*.txt", f"{place}/texts/*.txt"):
        with pytest.raises(OutputError, match="holds the input '.*texts/\\*.txt'"):
            check_output_directory(place / "texts", force=True, inputs=[pattern])
    with pytest.raises(OutputError, match="is the input 'texts/a.txt'"), output_file(place / "texts" / "a.txt",
                                                                                     inputs=["texts/a.txt"]):
        pass
    assert (place / "texts" / "a.txt").read_text(encoding="utf-8") == "a"


def test_paths_that_cannot_be_outputs_are_one_line_errors(place):
    (place / "dangling").symlink_to(place / "nowhere")
    with pytest.raises(OutputError, match="is a link to nothing"):
        check_output_directory(place / "dangling")
    with pytest.raises(OutputError, match="cannot write"):
        check_output_directory(place / ("a" * 300))


def test_a_card_with_no_usable_file_list_or_kind_protects_the_folder(place):
    for odd in ("tokenizer.json", None):
        card(place / "odd-list", kind="bpe", files=odd)
        (place / "odd-list" / "mine.txt").write_text("mine", encoding="utf-8")
        with pytest.raises(OutputError, match=r"\(mine.txt\)"):
            check_output_directory(place / "odd-list", kinds=("bpe",))
    card(place / "no-kind", note="made by hand")
    with pytest.raises(OutputError, match="a tokwork output of another kind"):
        check_output_directory(place / "no-kind", kinds=(None, "transplant"))


def test_an_interrupt_while_an_output_moves_into_place_waits_for_it(place):
    import signal

    from tokwork.outputs import _interrupts_deferred

    moved = False
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # a test worker may ignore SIGINT
    try:
        with pytest.raises(KeyboardInterrupt), _interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            moved = True
    finally:
        signal.signal(signal.SIGINT, before)
    assert moved
