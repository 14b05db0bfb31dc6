"""`tokwork bytes` on a pico model saved as an HF folder; bad input gives one line and exit code 2."""

from __future__ import annotations

import pytest

from tests.bytelevel.conftest import pico_model
from tokwork.cli.main import main


@pytest.fixture(scope="module")
def pico_folder(pico_bpe, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pico-lm")
    pico_model(pico_bpe.vocab_size, seed=1).float().save_pretrained(folder)
    pico_bpe.save(folder)
    return folder


def _one_line_error(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("tokwork: error:"), err
    for word in words:
        assert word in err, err


def test_next_score_generate_and_ensemble(pico_folder, pico_sentencepiece, tmp_path, capsys):
    assert main(["bytes", "next", str(pico_folder), "The caf"]) == 0
    assert "probability" in capsys.readouterr().out
    assert main(["bytes", "next", str(pico_folder), "546865e697", "--hex", "--bytes"]) == 0
    assert "0x" in capsys.readouterr().out
    assert main(["bytes", "next", str(pico_folder), "", "--top", "3"]) == 0  # how texts begin
    assert "at the start of a text" in capsys.readouterr().out
    assert main(["bytes", "score", str(pico_folder), "Le café."]) == 0
    shown = capsys.readouterr().out
    assert main(["bytes", "score", str(pico_folder), "Le café. " * 600]) == 0  # longer than any file name
    assert "bits per byte" in capsys.readouterr().out
    assert "bits per byte" in shown and "text's probability" in shown and "normalised" not in shown
    assert main(["bytes", "score", str(pico_folder), "Le café.", "--per-byte"]) == 0
    shown = capsys.readouterr().out
    assert "probability" in shown and "normalised" in shown
    assert main(["bytes", "generate", str(pico_folder), "The ", "-n", "12", "--format", "hex"]) == 0
    shown = capsys.readouterr()
    assert "model forwards" in shown.err and len(bytes.fromhex(shown.out.strip())) == 12
    other = tmp_path / "sp-lm"
    pico_model(pico_sentencepiece.vocab_size, seed=2).float().save_pretrained(other)
    pico_sentencepiece.save(other)
    assert main(["bytes", "ensemble", str(pico_folder), str(other), "--text", "Le café."]) == 0
    assert "ensemble (mean)" in capsys.readouterr().out


def test_bad_input(pico_folder, pico_sentencepiece, tmp_path, capsys):
    sp_folder = tmp_path / "sp"
    sp_folder.mkdir()
    pico_sentencepiece.save(sp_folder)
    _one_line_error(capsys, ["bytes", "next", str(pico_folder), "x", "--tokenizer", str(sp_folder)],
                    "do not belong together")
    _one_line_error(capsys, ["bytes", "next", str(pico_folder), "e697", "--hex"], "inside a UTF-8 character")
    _one_line_error(capsys, ["bytes", "score", str(tmp_path / "missing"), "x"], "not a model folder")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for part in pico_folder.iterdir():
        weights = part.read_bytes()
        (corrupt / part.name).write_bytes(weights[:len(weights) // 2] if part.suffix == ".safetensors" else weights)
    _one_line_error(capsys, ["bytes", "score", str(corrupt), "x"], "not a causal language model folder",
                    "deserializing")
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "-n", "0"], "--max-bytes 0")
    _one_line_error(capsys, ["bytes", "next", str(pico_folder), "The ", "--top", "0"], "--top 0")
    # find a length at which greedy output stops inside a character, then ask for it as text
    assert main(["bytes", "generate", str(pico_folder), "The ", "-n", "24", "--greedy", "--format", "hex"]) == 0
    data = bytes.fromhex(capsys.readouterr().out.split()[0])
    cut = next(n for n in range(1, len(data) + 1) if not _utf8(data[:n]))
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "-n", str(cut), "--greedy"],
                    "not UTF-8 text")
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "--lookahead", "-1"],
                    "lookahead -1")
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "--top-k", "-1"], "x>=0")
    _one_line_error(capsys, ["bytes", "score", str(pico_folder), "The ", "--start", "<nope>"],
                    "--start '<nope>' is not a token of the tokenizer")
    ensemble = ["bytes", "ensemble", str(pico_folder), str(pico_folder)]
    _one_line_error(capsys, [*ensemble, "--text", ""], "the text is empty")
    _one_line_error(capsys, [*ensemble, "--text", "x", "--next", "ab"], "give it without --text or --file")
    _one_line_error(capsys, ensemble, "give either --text or --file")


def test_lookahead_changes_no_output_of_greedy_decoding(pico_folder, capsys):
    outputs = []
    for lookahead in ("0", "3"):
        assert main(["bytes", "generate", str(pico_folder), "The ", "-n", "16", "--greedy", "--format", "hex",
                     "--lookahead", lookahead]) == 0
        outputs.append(capsys.readouterr().out.split()[0])
    assert outputs[0] == outputs[1]


def test_cli_lookahead_default_is_the_librarys():
    import inspect

    from tokwork.bytelevel.sampling import LOOKAHEAD_TOKENS
    from tokwork.cli.bytes import generate_command

    assert inspect.signature(generate_command).parameters["lookahead"].default.default == LOOKAHEAD_TOKENS


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_start_names_the_token_a_text_starts_after(pico_folder, capsys):
    from tokwork.bytelevel import ByteLM

    lm = ByteLM.from_pretrained(pico_folder)
    default = lm.tokenizer.id_to_token(lm.start_ids[0])
    shown = {}
    for start in ([], ["--start", default], ["--start", "a"]):
        assert main(["bytes", "score", str(pico_folder), "The cat sat.", *start]) == 0
        shown[tuple(start)] = next(line for line in capsys.readouterr().out.splitlines() if "bits per byte" in line)
    assert shown[()] == shown[("--start", default)] != shown[("--start", "a")]


def test_a_str_is_read_as_its_utf8(pico_folder):
    from tokwork.bytelevel import ByteLM

    lm = ByteLM.from_pretrained(pico_folder)
    text = "Thé cat"
    assert lm.logprob(text) == lm.logprob(text.encode())
    assert lm.score_text(text, prompt="A ").logprob == lm.score_text(text.encode(), prompt=b"A ").logprob
    assert (lm.next_byte_probs("Th") == lm.next_byte_probs(b"Th")).all()
    with pytest.raises(TypeError, match="reads bytes or str, not int"):
        lm.next_byte_probs(5)
