"""Pico models for the byte-level tests: tiny tokenizers trained here, random 2-layer Llama models on top
(`tokwork.pico.pico_model`: float64, peaky guesses). They evaluate every cover state (tolerance 0): the tests
built on them check exactness; `test_certified.py` checks pruning against them."""

from __future__ import annotations

import pytest

from tests.conftest import ENGLISH_SAMPLE, UDHR
from tokwork.pico import pico_model
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.unigram import UnigramConfig, train_unigram


@pytest.fixture(scope="session")
def pico_corpus(tmp_path_factory):
    """A small corpus with English, French, Chinese and Japanese, so that tokens split characters."""
    parts = [ENGLISH_SAMPLE.read_text(encoding="utf-8")[:20000]]
    for code in ("fra", "cmn_hans", "jpn"):
        parts.append((UDHR / f"{code}.txt").read_text(encoding="utf-8")[:3000])
    path = tmp_path_factory.mktemp("pico") / "corpus.txt"
    path.write_text("\n\n".join(parts), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def pico_bpe(pico_corpus):
    return train_bpe([pico_corpus], BPEConfig(vocab_size=330), progress=False).tokenizer


@pytest.fixture(scope="session")
def pico_sentencepiece(tmp_path_factory):
    """SentencePiece BPE with byte fallback; few Japanese characters, so most of them fall back to bytes."""
    parts = [ENGLISH_SAMPLE.read_text(encoding="utf-8")[:20000], (UDHR / "fra.txt").read_text(encoding="utf-8")[:3000],
             (UDHR / "jpn.txt").read_text(encoding="utf-8")[:300]]
    path = tmp_path_factory.mktemp("pico-sp") / "corpus.txt"
    path.write_text("\n\n".join(parts), encoding="utf-8")
    return train_unigram([path], UnigramConfig(vocab_size=520, model_type="bpe"), progress=False).tokenizer


@pytest.fixture(scope="session")
def pico_bytelm(pico_bpe):
    from tokwork.bytelevel import ByteLM

    return ByteLM(pico_model(pico_bpe.vocab_size, seed=1), pico_bpe, tolerance=0)


@pytest.fixture(scope="session")
def pico_sp_bytelm(pico_sentencepiece):
    from tokwork.bytelevel import ByteLM

    return ByteLM(pico_model(pico_sentencepiece.vocab_size, seed=2), pico_sentencepiece, tolerance=0)


@pytest.fixture(scope="session")
def pico_dummy_prefix_sentencepiece():
    """Llama-2 style SentencePiece: BPE, byte fallback, dummy-prefix space."""
    import io

    import sentencepiece as spm

    from tokwork.formats.sentencepiece_model import SentencePieceTokenizer

    lines = [line for line in ENGLISH_SAMPLE.read_text(encoding="utf-8")[:20000].split("\n") if line]
    lines += (UDHR / "fra.txt").read_text(encoding="utf-8")[:3000].split("\n")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=500,
                                   model_type="bpe", byte_fallback=True, add_dummy_prefix=True,
                                   normalization_rule_name="identity", remove_extra_whitespaces=False,
                                   num_threads=1, minloglevel=2)
    tokenizer = SentencePieceTokenizer.from_bytes(model.getvalue())
    assert tokenizer.byte_view.strips_leading_space
    return tokenizer


@pytest.fixture(scope="session")
def dummy_prefix_tokenizer_json(pico_dummy_prefix_sentencepiece, tmp_path_factory):
    """The same model as a Llama-2 style `tokenizer.json` (what transformers' legacy conversion writes: BPE
    with byte fallback under Prepend("▁") and Replace(" ", "▁"), a decoder that strips the dummy prefix)."""
    from tokwork import load_tokenizer

    backend = pico_dummy_prefix_sentencepiece.legacy_tokenizer_json()
    path = tmp_path_factory.mktemp("llama2-style") / "tokenizer.json"
    backend.save(str(path))
    tokenizer = load_tokenizer(path)
    assert tokenizer.byte_view.strips_leading_space
    return tokenizer


@pytest.fixture(scope="session")
def pico_dummy_prefix_bytelm(pico_dummy_prefix_sentencepiece):
    """The Llama-2 style SentencePiece under a pico model."""
    from tokwork.bytelevel import ByteLM

    return ByteLM(pico_model(pico_dummy_prefix_sentencepiece.vocab_size, seed=4), pico_dummy_prefix_sentencepiece,
                  tolerance=0)
