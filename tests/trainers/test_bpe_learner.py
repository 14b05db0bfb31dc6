"""The BPE learner from counts gives exactly the merges of the `tokenizers` trainer on the same text."""

from __future__ import annotations

import functools
import json
from collections import Counter

import pytest
from tokenizers import pre_tokenizers

from tests.conftest import ENGLISH_SAMPLE, udhr_files
from tokwork.corpus import CorpusReader
from tokwork.pretoken_counts import CountTable, pretokenizer_from_json
from tokwork.trainers.bpe_learner import learn_bpe
from tokwork.trainers.bpe_model import (
    TRAINING_BLOCK_CHARS,
    BPEConfig,
    bpe_trainer,
    empty_byte_level_bpe,
    trainer_length_limit,
)


@functools.cache
def pretoken_counts(paths: tuple, tokenizer_json: str) -> Counter:
    """Pre-token counts of `paths` under the normaliser and pre-tokenizer of `tokenizer_json` (an untrained
    BPE, the same for configs that split alike); cached, since those configs count the same."""
    counts: Counter = Counter()
    split = pretokenizer_from_json(tokenizer_json)
    for text in CorpusReader(list(paths), block_chars=TRAINING_BLOCK_CHARS):
        counts.update(split(text))
    return counts


def hf_and_learned(paths, config: BPEConfig):
    counts = pretoken_counts(tuple(paths), empty_byte_level_bpe(config).to_str())
    learned = learn_bpe(counts, vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                        special_tokens=config.all_special_tokens,
                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                        max_token_length=trainer_length_limit(config))
    hf = empty_byte_level_bpe(config)
    hf.train_from_iterator(CorpusReader(paths, block_chars=TRAINING_BLOCK_CHARS), bpe_trainer(config, show_progress=False))
    model = json.loads(hf.to_str())["model"]
    return model, learned


@pytest.fixture(scope="module")
def english_part(tmp_path_factory):
    """The first 400 KB of the English sample (about as much English as the UDHR has text in all)."""
    path = tmp_path_factory.mktemp("english") / "english.txt"
    text = ENGLISH_SAMPLE.read_text(encoding="utf-8")[:400_000]
    path.write_text(text[:text.rindex("\n") + 1], encoding="utf-8")
    return path


@pytest.mark.parametrize("config", [
    BPEConfig(vocab_size=6000),
    BPEConfig(vocab_size=3000, min_frequency=5, split="o200k"),
    BPEConfig(vocab_size=2000, max_token_length=3, special_tokens=["<pad>"]),
])
def test_same_vocab_and_merges_as_the_tokenizers_trainer(config, english_part):
    model, learned = hf_and_learned([*udhr_files(), english_part], config)
    assert learned.vocab == model["vocab"]
    assert [tuple(m) for m in model["merges"]] == learned.merges


def test_golden_counts_give_hand_checked_merges():
    # "aaab" x3, "ab" x1: pairs aa=6, ab=4 -> aa; then [aa, a, b]: (aa,a)=3, (a,b)=4 -> ab; then (aa,ab)=3.
    learned = learn_bpe({"aaab": 3, "ab": 1}, vocab_size=100)
    assert learned.merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    assert learned.vocab == {"a": 0, "b": 1, "aa": 2, "ab": 3, "aaab": 4}


def test_count_table_spills_to_disk_and_merges_back(tmp_path):
    shards = [Counter({"a": 1, "b": 2}), Counter({"b": 5, "c": 1}), Counter({"d": 7, "a": 2}), Counter({"e": 1})]
    table = CountTable(max_entries=2, spill_dir=tmp_path)
    for counts in shards:
        table.add(counts)
    assert len(table.runs) >= 2
    assert table.to_dict() == dict(sum(shards, Counter()))
    assert list(table.items()) == sorted(sum(shards, Counter()).items())
