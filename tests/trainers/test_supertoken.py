"""Supertoken tokenizers: a hand-checkable cross-word merge, the stage-2 learner against `tokenizers`, the
scanner against the saved pre-tokenizer, exact round trips, and one saved file that encodes like the two
stages run separately and loads without tokwork."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tests.cli.test_bad_input import assert_one_line_error, run_cli
from tests.conftest import ENGLISH_SAMPLE, REPO, UDHR, assert_round_trips_any_text, texts, udhr_articles
from tests.trainers.conftest import bad_parameters_test
from tests.trainers.test_bpe import merges_of
from tokwork import load_tokenizer
from tokwork.cli.main import main
from tokwork.corpus import iter_texts
from tokwork.trainers.bpe_model import bpe_trainer, empty_byte_level_bpe
from tokwork.trainers.supertoken import (
    SupertokenConfig,
    SuperwordStages,
    parse_chunk_lengths,
    train_supertoken,
)
from tokwork.trainers.supertoken.byte_level_bpe import superword_pretokenizer, whole_text_encoder
from tokwork.trainers.supertoken.chunks import count_chunks
from tokwork.trainers.supertoken.memory import TextBuffer
from tokwork.trainers.supertoken.merges import learn_merges, learn_superword_merges
from tokwork.trainers.supertoken.random_chunk import random_chunks
from tokwork.trainers.supertoken.units import stage1_ids

HELDOUT = REPO / "corpora" / "en" / "heldout.txt"
SCRIPTS = ("eng", "rus", "cmn_hans", "arb", "hin", "jpn", "vie", "ell_monotonic")


@pytest.fixture(scope="session")
def corpus():
    return [ENGLISH_SAMPLE, *(UDHR / f"{code}.txt" for code in SCRIPTS)]


@pytest.fixture(scope="session")
def two_stage(corpus, tmp_path_factory):
    result = train_supertoken(corpus, SupertokenConfig(vocab_size=3000), progress=False)
    folder = tmp_path_factory.mktemp("two-stage") / "out"
    result.save(folder)
    return result, folder


@pytest.fixture(scope="session")
def random_chunk(corpus, tmp_path_factory):
    config = SupertokenConfig(vocab_size=2000, method="random-chunk", chunk_lengths="3-9")
    result = train_supertoken(corpus, config, progress=False)
    folder = tmp_path_factory.mktemp("random-chunk") / "out"
    result.save(folder)
    return result, folder


@pytest.fixture(scope="session")
def stage1(corpus):
    """Stage 1 alone (a byte-level BPE of 1,500 tokens) with the texts it was trained on."""
    blocks = list(iter_texts(corpus))
    config = SupertokenConfig(vocab_size=2000).bpe_config(1500)
    backend = empty_byte_level_bpe(config)
    backend.train_from_iterator(blocks, trainer=bpe_trainer(config, show_progress=False))
    return backend, blocks


def test_golden_cross_word_merge(tmp_path):
    # Stage 1 (3 merges, GPT-2 pretokens "to" x3, " be" x3, "\n" x2): (b,e), (t,o) and (Ġ,b) all occur 3
    # times and the tie goes to the smaller ids, so (b,e); then (t,o) beats (Ġ,be) on ids; then (Ġ,be).
    # Stage 2 sees the chunks "to be\n" x2 and "to be" x1 as [to, Ġbe, Ċ] and [to, Ġbe]: (to, Ġbe) occurs
    # 3 times, (Ġbe, Ċ) twice, so the one stage-2 merge joins two words into "to be".
    corpus = tmp_path / "golden.txt"
    corpus.write_text("to be\nto be\nto be", encoding="utf-8")
    result = train_supertoken([corpus], SupertokenConfig(vocab_size=261, transition=260), progress=False)
    assert merges_of(result) == [["b", "e"], ["t", "o"], ["Ġ", "be"], ["to", "Ġbe"]]
    tok = result.tokenizer
    assert [tok.byte_view[i] for i in tok.encode("to be\nto be")] == [b"to be", b"\n", b"to be"]
    assert result.card.notes["stage1_vocab_size"] == 260 and result.card.notes["stage2_merges"] == 1


def test_stage2_learner_picks_the_merges_of_the_tokenizers_trainer(stage1):
    # Same chunks, same counts: each chunk's stage-1 ids spelled as one character per id for the Rust
    # BpeTrainer. With no merge refused, both learners must choose the same merges in the same order.
    backend, blocks = stage1
    chunks = count_chunks(*TextBuffer(blocks).read())
    tokens, starts, lengths = stage1_ids(backend, chunks)
    first_id = backend.get_vocab_size()
    merges, refused = learn_merges(backend, tokens.copy(), starts, lengths.copy(), chunks.counts,
                                   num_merges=300, min_frequency=2)
    assert refused == 0 and len(merges) == 300

    def symbol(i):
        return chr(0x4E00 + i)

    words = Counter()
    for c, count in enumerate(chunks.counts.tolist()):
        words["".join(symbol(i) for i in tokens[starts[c]:starts[c] + lengths[c]].tolist())] += count
    peer = Tokenizer(models.BPE())
    peer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=first_id + 300, min_frequency=2, show_progress=False,
                                  initial_alphabet=[symbol(i) for i in range(first_id)])
    peer.train_from_iterator((" ".join([w] * n) for w, n in words.items()), trainer=trainer)
    spelled = {i: symbol(i) for i in range(first_id)}
    ours = []
    for k, (a, b) in enumerate(merges.tolist()):
        spelled[first_id + k] = spelled[a] + spelled[b]
        ours.append([spelled[a], spelled[b]])
    assert ours == json.loads(peer.to_str())["model"]["merges"]


def test_learner_refuses_a_merge_that_would_spell_an_existing_token():
    # ids 0 "x", 1 "y", 2 "xy": the chunk [x, y] seen 5 times must not merge into a second "xy";
    # the next pair, (y, x) from [y, x] seen 3 times, is taken instead.
    pool = np.frombuffer(b"xyxy", dtype=np.uint8)
    offsets, lengths = np.array([0, 1, 2]), np.array([1, 1, 2])
    tokens = np.array([0, 1, 1, 0], dtype=np.int32)
    merges, refused = learn_superword_merges(tokens, np.array([0, 2]), np.array([2, 2]), np.array([5, 3]), pool,
                                             offsets, lengths, np.ones(3, dtype=np.bool_), 3, 2, 2)
    assert refused == 1 and merges.tolist() == [[1, 0]]


def test_chunks_are_the_pretokens_of_the_saved_tokenizer(corpus, udhr_texts):
    # The numba scanner and the `tokenizers` Split of the saved file cut every text alike.
    split = superword_pretokenizer(byte_level=False)
    sample = list(udhr_texts.values()) + list(iter_texts(corpus[:1]))
    expected = Counter(piece for text in sample for piece, _ in split.pre_tokenize_str(text))
    chunks = count_chunks(*TextBuffer(sample).read())
    found = {chunks.data[a:b].tobytes().decode(): n
             for a, b, n in zip(chunks.starts.tolist(), chunks.ends.tolist(), chunks.counts.tolist(), strict=True)}
    assert found == dict(expected)

    @given(texts)
    def same_cuts(text):
        found = count_chunks(*TextBuffer([text]).read())
        pieces = Counter(piece for piece, _ in split.pre_tokenize_str(text))
        assert {found.data[a:b].tobytes().decode(): n for a, b, n in
                zip(found.starts.tolist(), found.ends.tolist(), found.counts.tolist(), strict=True)} == dict(pieces)

    same_cuts()


def test_stage1_ids_of_chunks_equal_stage1_on_the_whole_chunk(stage1):
    backend, blocks = stage1
    chunks = count_chunks(*TextBuffer(blocks).read())
    tokens, starts, lengths = stage1_ids(backend, chunks)
    whole = whole_text_encoder(backend)
    texts_ = [chunks.data[a:b].tobytes().decode() for a, b in zip(chunks.starts.tolist(), chunks.ends.tolist(),
                                                                  strict=True)]
    expected = [e.ids for e in whole.encode_batch(texts_, add_special_tokens=False)]
    assert [tokens[s:s + n].tolist() for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)] == expected


def test_saved_file_encodes_like_the_two_stages_run_apart(two_stage, udhr_texts):
    result, folder = two_stage
    plain = Tokenizer.from_file(str(folder / "tokenizer.json"))
    held_out = HELDOUT.read_text(encoding="utf-8").split("\n\n")
    others = [udhr_texts[code] for code in ("deu_1996", "fra", "kor", "tha", "heb")]
    encoded = [e.ids for e in plain.encode_batch(held_out + others, add_special_tokens=False)]
    assert encoded == [result.stages.encode(text) for text in held_out + others]
    assert encoded == [result.tokenizer.encode(text) for text in held_out + others]
    assert sum(map(len, encoded)) > 1000
    # the two stages can also be read back from the saved file alone
    first_id = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))["notes"]["stage1_vocab_size"]
    reread = SuperwordStages.from_tokenizer(plain, first_id)
    assert [reread.encode(text) for text in held_out[:300] + others] == encoded[:300] + encoded[len(held_out):]


def test_two_stage_has_superwords_and_the_asked_vocab(two_stage):
    result, _ = two_stage
    tok = result.tokenizer
    assert tok.vocab_size == 3000
    notes = result.card.notes
    assert notes["stage1_vocab_size"] == 2400 and notes["stage2_merges"] == 600
    stage2_pieces = [tok.byte_view[i] for i in range(2400, 3000)]
    assert sum(b" " in piece.strip(b" ") for piece in stage2_pieces) > len(stage2_pieces) // 3  # many join words
    english = "\n\n".join(udhr_articles("eng"))
    assert any(b" " in tok.byte_view[i].strip(b" ") for i in tok.encode(english))


@pytest.mark.parametrize("method", ["two_stage", "random_chunk"])
def test_round_trip_and_byte_view_on_arbitrary_text(request, method):
    result, _ = request.getfixturevalue(method)
    assert_round_trips_any_text(result.tokenizer)


PLAIN_TEXT = "By the way, it's 12345 items.\n\nТокенизаторы делят текст. 分词器把文本切开。  \tend"


@pytest.fixture(scope="module")
def plain_loads(two_stage, random_chunk, plain_loader):
    cases = {"two_stage": (two_stage[1], PLAIN_TEXT), "random_chunk": (random_chunk[1], PLAIN_TEXT)}
    return plain_loader(cases)


@pytest.mark.parametrize("method", ["two_stage", "random_chunk"])
def test_loads_in_plain_tokenizers_and_transformers_without_tokwork(request, plain_loads, method):
    _, folder = request.getfixturevalue(method)
    seen = plain_loads[method]
    assert seen["tokenizers"] == seen["transformers"] == load_tokenizer(folder).encode(PLAIN_TEXT)
    assert seen["decoded"] == PLAIN_TEXT


def test_card_records_both_stages(two_stage):
    _, folder = two_stage
    card = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))
    assert card["kind"] == "supertoken" and card["parameters"]["method"] == "two-stage"
    assert card["parameters"]["transition"] == 2400
    assert "chunk_lengths" not in card["parameters"] and "seed" not in card["parameters"]  # random-chunk's only
    assert set(card["notes"]["seconds"]) >= {"stage1", "stage2", "count_chunks", "stage1_ids", "learn_merges"}
    assert card["notes"]["pretokenizer"] and "stage-1 merges then stage-2" in card["notes"]["inference"]


def test_random_chunks_ignore_words_and_follow_the_seed():
    text = "the quick brown fox jumps over the lazy dog " * 40
    first = random_chunks([text, "short"], "3-9", seed=7)
    assert ["".join(pieces) for pieces in first] == [text, "short"]
    assert all(3 <= len(piece) <= 9 for piece in first[0][:-1])
    assert any(" " in piece.strip() for piece in first[0])  # chunks run across word boundaries
    assert first == random_chunks([text, "short"], "3-9", seed=7)
    assert first != random_chunks([text, "short"], "3-9", seed=8)


def test_random_chunk_tokens_span_words(random_chunk):
    result, _ = random_chunk
    tok = result.tokenizer
    assert tok.vocab_size == 2000
    longest = max(len(tok.byte_view[i].decode("utf-8", "replace")) for i in range(257, 2000))
    assert longest <= 9
    assert any(b" " in tok.byte_view[i].strip(b" ") for i in range(257, 2000))


def test_chunk_length_distribution_is_parsed():
    assert parse_chunk_lengths("6-18:0.7,19-28:0.3") == ([(6, 18), (19, 28)], [0.7, 0.3])
    assert parse_chunk_lengths("8") == ([(8, 8)], [1.0])


test_bad_parameters = bad_parameters_test([
    (SupertokenConfig(vocab_size=1000, transition=1000), "transition point 1000 must be below the vocab size"),
    (SupertokenConfig(vocab_size=1000, transition=100), "below the byte alphabet"),
    (SupertokenConfig(vocab_size=1000, method="random-chunk", chunk_lengths="0-5"), "chunk length 0"),
    (SupertokenConfig(vocab_size=1000, method="random-chunk", chunk_lengths="5-x"), "must look like"),
    (SupertokenConfig(vocab_size=1000, method="stochastic"), "unknown supertoken method"),
    (SupertokenConfig(vocab_size=1000, method="random-chunk", transition=500), "--transition does nothing"),
    (SupertokenConfig(vocab_size=1000, method="random-chunk", split="o200k"), "--split does nothing"),
    (SupertokenConfig(vocab_size=1000, chunk_lengths="3-9"), "--chunk-lengths does nothing with --method two"),
    (SupertokenConfig(vocab_size=1000, seed=3), "--seed does nothing with --method two-stage"),
])


def test_cli_trains_both_methods_and_reports(tmp_path, capsys):
    assert main(["train", "supertoken", "--help"]) == 0
    assert "--transition" in capsys.readouterr().out
    corpus = str(UDHR / "eng.txt")
    for extra in ([], ["--method", "random-chunk", "--chunk-lengths", "4-12", "--seed", "3"]):
        out = tmp_path / (extra[1] if extra else "two-stage")
        assert main(["train", "supertoken", corpus, "-v", "600", "-o", str(out), "-q", *extra]) == 0
        assert "written to" in capsys.readouterr().out
        assert load_tokenizer(out).vocab_size == 600
        assert main(["info", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["trained"]["kind"] == "supertoken"


@pytest.mark.parametrize("args, message", [
    (["-v", "1000", "-t", "1000"], "transition point 1000 must be below the vocab size 1000"),
    (["-v", "1000", "-t", "100"], "is below the byte alphabet"),
    (["-v", "1000", "--method", "random-chunk", "--chunk-lengths", "0"], "chunk length 0"),
    (["-v", "1000", "--method", "random-chunk", "--chunk-lengths", "-4-8:1"], "chunk length -4"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "good.txt").write_text((UDHR / "eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    done = run_cli("train", "supertoken", "good.txt", *args, "-o", "out", cwd=tmp_path)
    assert_one_line_error(done, message)
    assert not (tmp_path / "out").exists()



@pytest.mark.parametrize(("split", "dead"), [("o200k", r"\w'\w"), ("gpt2", r"\d{4}")])
def test_stage1_learns_no_token_the_saved_file_cannot_produce(split, dead):
    # the saved file cuts text into superword chunks first, which split off contractions and cut digit runs
    # every three: o200k's " don't" and GPT-2's " 2001" would take vocabulary and never be used
    import re

    result = train_supertoken([ENGLISH_SAMPLE], SupertokenConfig(vocab_size=6000, split=split), progress=False)
    view = result.tokenizer.byte_view
    texts = [view[i].decode("utf-8", "replace") for i in range(result.tokenizer.vocab_size) if view[i] is not None]
    assert not [t for t in texts if re.search(dead, t)]
    assert result.tokenizer.encode(" I don't know it's 2001") == result.stages.encode(" I don't know it's 2001")
