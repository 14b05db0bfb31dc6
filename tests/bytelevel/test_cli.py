"""`tokwork bytes` on a pico model saved as an HF folder; bad input gives one line and exit code 2."""

from __future__ import annotations

import numpy as np
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


def table_rows(shown: str) -> list[list[str]]:
    """The body rows of the rich tables in `shown`, as their cells' text (header rows are drawn with ┃); a
    cell wrapped over several lines (the later cells of its continuation lines empty) is joined by spaces."""
    rows: list[list[str]] = []
    for line in shown.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if rows and len(cells) == len(rows[-1]) and cells[-1] == "" and any(cells):
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def number(cell: str) -> float:
    """The number a cell starts with ("9.8361 ± 0.0e+00 (the text's probability)" -> 9.8361)."""
    return float(cell.split()[0])


def test_next_score_generate_and_ensemble(pico_folder, pico_sentencepiece, tmp_path, capsys):
    """Each command prints what the Python API gives for the same model folder, to the digits it prints."""
    from tokwork.bytelevel import ByteLM
    from tokwork.bytelevel.ensemble import ByteEnsemble

    lm = ByteLM.from_pretrained(pico_folder)
    for prompt, top in (("The caf", 10), ("", 3)):  # "": how texts begin
        assert main(["bytes", "next", str(pico_folder), prompt, "--top", str(top)]) == 0
        shown = capsys.readouterr().out
        assert ("at the start of a text" in shown) == (prompt == "")
        want = lm.next_characters(prompt.encode(), top=top)
        rows = table_rows(shown)
        assert [char for char, _ in rows] == [repr(char) if char else "<end>" for char, _ in want]
        assert [number(p) for _, p in rows] == pytest.approx([p for _, p in want], abs=5e-5)

    assert main(["bytes", "next", str(pico_folder), "546865e697", "--hex", "--bytes"]) == 0
    probs = lm.next_byte_probs(bytes.fromhex("546865e697"))
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 10 and all(shown.startswith("0x") for shown, _ in rows)
    assert [probs[int(shown.split()[0], 16)] for shown, _ in rows] == pytest.approx(
        [number(p) for _, p in rows], abs=5e-5)
    assert [number(p) for _, p in rows] == pytest.approx(np.sort(probs)[::-1][:10], abs=5e-5)  # the ten likeliest

    for text in ("Le café.", "Le café. " * 600):  # the second is longer than any file name
        assert main(["bytes", "score", str(pico_folder), text]) == 0
        shown = dict(table_rows(capsys.readouterr().out))
        assert "normalised" not in shown["bits per byte"] and "bits per byte, per byte" not in shown
        assert "text's probability" in shown["bits per byte"]
        want = lm.score_text(text.encode())
        assert int(shown["bytes"].replace(",", "")) == len(text.encode())
        assert number(shown["bits per byte"]) == pytest.approx(want.bits_per_byte, abs=5e-5)
        assert number(shown["log P (cover sum)"]) == pytest.approx(want.logprob, abs=5e-4)
    assert main(["bytes", "score", str(pico_folder), "Le café.", "--per-byte"]) == 0
    shown = dict(table_rows(capsys.readouterr().out))
    assert "normalised" in shown["bits per byte, per byte"]
    per_byte, whole = lm.score("Le café.".encode()), lm.score_text("Le café.".encode())
    assert number(shown["bits per byte, per byte"]) == pytest.approx(per_byte.bits_per_byte, abs=5e-5)
    assert number(shown["bits per byte"]) == pytest.approx(whole.bits_per_byte, abs=5e-5)

    assert main(["bytes", "generate", str(pico_folder), "The ", "-n", "12", "--format", "hex", "--seed", "4"]) == 0
    shown = capsys.readouterr()
    made = lm.generate(b"The ", 12, seed=4)
    assert bytes.fromhex(shown.out.strip()) == made.data and len(made.data) == 12
    assert f"{made.forward_calls} model forwards" in shown.err

    other = tmp_path / "sp-lm"
    pico_model(pico_sentencepiece.vocab_size, seed=2).float().save_pretrained(other)
    pico_sentencepiece.save(other)
    assert main(["bytes", "ensemble", str(pico_folder), str(other), "--text", "Le café."]) == 0
    rows = table_rows(capsys.readouterr().out)
    want = ByteEnsemble([lm, ByteLM.from_pretrained(other)]).score("Le café.".encode())
    assert [name.replace(" ", "") for name, _ in rows] == [str(pico_folder), str(other), "ensemble(mean)"]
    assert [number(bpb) for _, bpb in rows] == pytest.approx([*want.member_bits_per_byte, want.bits_per_byte],
                                                            abs=5e-5)
    assert len(set(want.member_bits_per_byte)) == 2  # two models, two scores: the rows are not one number thrice


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
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "--lookahead", "-1"], "x>=0")
    _one_line_error(capsys, ["bytes", "generate", str(pico_folder), "The ", "--temperature", "0"],
                    "--temperature 0.0 must be positive")
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
