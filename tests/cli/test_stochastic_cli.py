"""`tokwork train stochastic`, `tokwork encode --seed/--samples`, and corpus to token ids (`--out`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_bad_input import assert_one_line_error, run_cli
from tests.conftest import UDHR, reference_tokenizer_path
from tokwork import load_tokenizer
from tokwork.cli.main import main
from tokwork.corpus import iter_texts
from tokwork.loader import load_stochastic

SENTENCE = "Tokenizers split text. Токенизаторы делят текст. 分词器把文本切开。"


@pytest.fixture(scope="module")
def stochastok_dir(tmp_path_factory):
    """StochasTok at p = 0.3 over a small byte-level BPE trained on three shipped languages."""
    folder = tmp_path_factory.mktemp("cli")
    corpus = [str(UDHR / f"{code}.txt") for code in ("eng", "rus", "cmn_hans")]
    assert main(["train", "bpe", *corpus, "-v", "1200", "-o", str(folder / "bpe"), "-q"]) == 0
    assert main(["train", "stochastic", "--base", str(folder / "bpe"), "-p", "0.3", "-o", str(folder / "sto")]) == 0
    return folder / "sto"


def samples(capsys, *args: str) -> list[dict]:
    assert main(["encode", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["samples"]


def test_train_stochastic_then_show_seeded_samples(stochastok_dir, capsys):
    first = samples(capsys, str(stochastok_dir), SENTENCE, "--samples", "6", "--seed", "3")
    assert len(first) == 6 and all(s["round_trip"] for s in first)
    assert len({tuple(s["ids"]) for s in first}) > 1
    assert samples(capsys, str(stochastok_dir), SENTENCE, "--samples", "6", "--seed", "3") == first
    assert samples(capsys, str(stochastok_dir), SENTENCE, "--samples", "6", "--seed", "4") != first
    tok = load_stochastic(stochastok_dir, seed=3)
    assert [s["ids"] for s in first] == tok.encode_batch([SENTENCE] * 6)

    assert main(["encode", str(stochastok_dir), SENTENCE, "--samples", "3"]) == 0
    table = capsys.readouterr().out
    assert "3 samples of" in table and "round trip: exact for every sample" in table


def test_corpus_to_token_ids_is_seeded_exact_and_shards_agree(stochastok_dir, tmp_path, capsys):
    corpus = [str(UDHR / f"{code}.txt") for code in ("eng", "rus", "cmn_hans")]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in corpus:
        (folder / Path(path).name).write_text(Path(path).read_text(encoding="utf-8"), encoding="utf-8")
    single = tmp_path / "ids.npy"
    assert main(["encode", str(stochastok_dir), "--file", str(folder), "--out", str(single), "--seed", "5", "-q"]) == 0
    assert "written to" in capsys.readouterr().out
    ids = np.load(single)
    tok = load_stochastic(stochastok_dir, seed=5)
    eos = tok.specials.eos
    assert ids.dtype == np.uint16 and (ids == eos).sum() == 3  # one end-of-text per file
    documents = np.split(ids, np.flatnonzero(ids == eos) + 1)[:-1]
    for document, path in zip(documents, sorted(folder.glob("*.txt")), strict=True):
        assert tok.decode(document[:-1].tolist()) == path.read_text(encoding="utf-8")
    expected = tok.encode_batch(list(iter_texts([folder])))  # paragraph by paragraph, streams 0, 1, ...
    assert ids[ids != eos].tolist() == [i for paragraph in expected for i in paragraph]
    assert ids.tolist() != load_stochastic(stochastok_dir).deterministic().encode("".join(iter_texts([folder])))

    again = tmp_path / "again.npy"
    assert main(["encode", str(stochastok_dir), "--file", str(folder), "--out", str(again), "--seed", "5", "-q"]) == 0
    assert again.read_bytes() == single.read_bytes()
    other = tmp_path / "other.npy"
    assert main(["encode", str(stochastok_dir), "--file", str(folder), "--out", str(other), "--seed", "6", "-q"]) == 0
    assert not np.array_equal(np.load(other), ids)

    shards = tmp_path / "shards"
    assert main(["encode", str(stochastok_dir), "--file", str(folder), "--out", str(shards), "--seed", "5",
                 "--shard-tokens", "7000", "-q"]) == 0
    manifest = json.loads((shards / "tokwork.json").read_text(encoding="utf-8"))
    parts = [np.load(shards / entry["file"]) for entry in manifest["shards"]]
    assert all(len(p) == 7000 for p in parts[:-1]) and 0 < len(parts[-1]) <= 7000
    assert np.array_equal(np.concatenate(parts), ids) and manifest["tokens"] == len(ids)
    assert manifest["stochastic"] == {"method": "stochastok", "p": 0.3, "seed": 5}


def test_jsonl_records_are_documents(tmp_path, capsys):
    records = tmp_path / "docs.jsonl"
    records.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("one record", "two\n\nparagraphs")), "utf-8")
    out = tmp_path / "ids.npy"
    gpt2 = str(reference_tokenizer_path("gpt2"))
    assert main(["encode", gpt2, "--file", str(records), "--out", str(out), "-q"]) == 0
    tok = load_tokenizer(gpt2)
    assert np.load(out).tolist() == [*tok.encode("one record"), 50256, *tok.encode("two\n\nparagraphs"), 50256]


BAD = {
    "p above 1": (["train", "stochastic", "--base", "{gpt2}", "-p", "1.5", "-o", "out"], "p = 1.5 is outside [0, 1]"),
    "p below 0": (["train", "stochastic", "--base", "{gpt2}", "-p", "-0.2", "-o", "out"], "is outside [0, 1]"),
    "dropout on a unigram base": (["train", "stochastic", "--base", "{unigram}", "-m", "bpe-dropout", "-o", "out"],
                                  "bpe-dropout needs a SentencePiece bpe model"),
    "sampling on a BPE base": (["train", "stochastic", "--base", "{gpt2}", "-m", "unigram-sampling", "-o", "out"],
                               "unigram-sampling needs a SentencePiece unigram model"),
    "missing base": (["train", "stochastic", "--base", "no-such-tokenizer", "-o", "out"], "does not exist"),
    "unknown method": (["train", "stochastic", "--base", "{gpt2}", "-m", "dropout", "-o", "out"],
                       "unknown stochastic method 'dropout'"),
    "samples of a deterministic tokenizer": (["encode", "{gpt2}", "hello", "--samples", "3"],
                                             "--samples needs a stochastic tokenizer"),
    "seed for a deterministic tokenizer": (["encode", "{gpt2}", "hello", "--seed", "3"], "--seed applies to stochastic"),
    "ids output without a corpus": (["encode", "{gpt2}", "hello", "--out", "ids.npy"], "--out encodes a corpus"),
    "ids output not .npy": (["encode", "{gpt2}", "--file", "good.txt", "--out", "ids.bin"], "must end in .npy"),
    "corpus not UTF-8 for ids": (["encode", "{gpt2}", "--file", "latin1.txt", "--out", "ids.npy"],
                                 "is not UTF-8 at byte 3"),
    "shards of no tokens": (["encode", "{gpt2}", "--file", "good.txt", "--out", "out", "--shard-tokens", "0"],
                            "shard size 0 must be at least 1 token"),
}


@pytest.fixture(scope="module")
def unigram_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "unigram"
    assert main(["train", "unigram", str(UDHR / "eng.txt"), "-v", "600", "-o", str(out), "-q"]) == 0
    return out


@pytest.mark.parametrize("case", list(BAD))
def test_bad_stochastic_input_is_one_line_and_exit_2(tmp_path, case, unigram_dir):
    (tmp_path / "good.txt").write_text("some text", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9".encode("latin-1"))
    names = {"gpt2": str(reference_tokenizer_path("gpt2")), "unigram": str(unigram_dir)}
    args, message = BAD[case]
    done = run_cli(*[a.format(**names) for a in args], cwd=tmp_path)
    assert_one_line_error(done, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.txt", "latin1.txt"]  # nothing written or left
