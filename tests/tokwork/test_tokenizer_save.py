"""`Tokenizer.save`: every file appears whole or not at all, and a folder that is not there is refused."""

from __future__ import annotations

import pytest

from tokwork import load_tokenizer
from tokwork.errors import OutputError
from tokwork.formats.hf_json import HFTokenizer


def _contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_a_failed_save_leaves_the_folder_as_it_was(tmp_path, reference_tokenizer, monkeypatch):
    gpt2 = reference_tokenizer("gpt2")
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("an older file the save must not half overwrite\n")
    before = _contents(folder)
    real = HFTokenizer._write_files

    def fail_after_writing(self, directory):
        real(self, directory)  # every file written in full to the staging folder, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(HFTokenizer, "_write_files", fail_after_writing)
    with pytest.raises(OSError):
        gpt2.save(folder)
    assert _contents(folder) == before  # the old file intact, no staging folder left behind
    monkeypatch.undo()
    written = gpt2.save(folder)
    assert sorted(p.name for p in written) == sorted(p.name for p in folder.iterdir())
    assert load_tokenizer(folder).encode("saved whole: ünïcode\n") == gpt2.encode("saved whole: ünïcode\n")


def test_saving_into_a_missing_folder_is_refused(tmp_path, reference_tokenizer):
    with pytest.raises(OutputError, match="does not exist"):
        reference_tokenizer("gpt2").save(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
