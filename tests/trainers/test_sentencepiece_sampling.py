"""SentencePiece segmentations computed by tokwork: sentencepiece's own encode where no merge is dropped and
no segmentation sampled, the exact distribution where one is, and the same draws in every process."""

from __future__ import annotations

import collections
import math
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece as spm

from tests.conftest import REPO, UDHR, udhr_files
from tokwork.sampling.piece_bpe_dropout import KEY_BITS, _merge, _merges, _symbols, bpe_dropout
from tokwork.sampling.piece_table import PieceTable
from tokwork.sampling.random_streams import text_state
from tokwork.sampling.unigram_lattice import _lattice, best_unigram, sample_unigram, sample_unigram_nbest

MODELS = {  # name: sentencepiece training options beyond the English UDHR and a vocabulary of 500
    "unigram, bytes, dummy prefix, user symbols": dict(model_type="unigram", byte_fallback=True,
                                                       add_dummy_prefix=True, user_defined_symbols=["<tag>", "@@"]),
    "unigram, unknown piece": dict(model_type="unigram", byte_fallback=False),
    "bpe, bytes, user symbols": dict(model_type="bpe", byte_fallback=True, user_defined_symbols=["<tag>"]),
    "bpe, unknown piece, no dummy prefix": dict(model_type="bpe", byte_fallback=False, add_dummy_prefix=False),
    # tokwork's wrapper spells a literal U+2581 with byte pieces here, and samples the parts between them
    "bpe, bytes, no dummy prefix": dict(model_type="bpe", byte_fallback=True, add_dummy_prefix=False),
    # user-defined pieces that compete with normal ones: sentencepiece scores each at about -0.1
    "unigram, competing user symbols": dict(model_type="unigram", byte_fallback=True,
                                            user_defined_symbols=["tion", "ation", "ment", "the", "and", "ri", "he"]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spm")
    made = {}
    for index, (name, options) in enumerate(MODELS.items()):
        prefix = folder / f"m{index}"
        spm.SentencePieceTrainer.train(input=str(UDHR / "eng.txt"), model_prefix=str(prefix), vocab_size=500,
                                       minloglevel=2, num_threads=1, **options)
        processor = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
        made[name] = (processor, PieceTable.from_model(processor.serialized_model_proto()), f"{prefix}.model")
    return made


def texts():
    """Real text in many scripts (most of it unknown to an English model), and the hard cases."""
    found = [p.read_text(encoding="utf-8")[:600] for p in udhr_files()[::3]]
    return [*found, "hello  world <tag>x @@ end", "☃☃ Ωμ  \t x", " lead and trail ", "a", "ondering the rights"]


@pytest.mark.parametrize("name", list(MODELS))
def test_without_sampling_the_segmentation_is_sentencepieces_encode(models, name):
    processor, table, _ = models[name]
    for text in texts():
        normalized = processor.normalize(text)
        ours = bpe_dropout(table, normalized, 0.0, 0)[0] if "bpe" in name else best_unigram(table, normalized)
        assert ours == processor.encode(text), text[:40]


def segmentations(table: PieceTable, text: str):
    """Every path through the lattice with its score (exhaustive: short texts only)."""
    starts, ends, ids, scores = _lattice(table, text)
    ending = [[i for i in range(len(ends)) if ends[i] == end] for end in range(len(text) + 1)]

    def upto(end):
        if end == 0:
            yield [], 0.0
            return
        for i in ending[end]:
            for path, total in upto(int(starts[i])):
                yield [*path, i], total + float(scores[i])

    for path, total in upto(len(text)):
        yield tuple(table.output_ids([(text[starts[i]:ends[i]], int(ids[i])) for i in path])), total


def test_unigram_samples_follow_exp_theta_score(models):
    processor, table, _ = models["unigram, bytes, dummy prefix, user symbols"]
    normalized, theta, draws = processor.normalize("the rights"), 0.3, 6000
    exact = dict(segmentations(table, normalized))
    weights = {ids: math.exp(theta * score) for ids, score in exact.items()}
    total = sum(weights.values())
    seen = collections.Counter(tuple(sample_unigram(table, normalized, theta, text_state(3, i))[0])
                               for i in range(draws))
    assert set(seen) <= set(exact)
    for ids, weight in weights.items():
        p = weight / total
        assert abs(seen[ids] - draws * p) <= 5 * math.sqrt(draws * p * (1 - p)) + 2, ids


def test_nbest_sampling_draws_among_sentencepieces_n_best(models):
    processor, table, _ = models["unigram, bytes, dummy prefix, user symbols"]
    text = "The quick brown fox jumps"
    nbest = {tuple(ids) for ids in processor.nbest_encode_as_ids(text, nbest_size=6)}
    normalized = processor.normalize(text)
    seen = collections.Counter(tuple(sample_unigram_nbest(table, normalized, 0.0, 6, text_state(5, i))[0])
                               for i in range(1200))
    assert set(seen) == nbest and min(seen.values()) > 120  # theta 0: the six alike
    best = sample_unigram_nbest(table, normalized, 1e6, 6, text_state(5, 0))[0]
    assert best == processor.encode(text)


def test_dropout_one_merges_nothing(models):
    processor, table, _ = models["bpe, bytes, user symbols"]
    normalized = processor.normalize("the <tag>rights")
    ids = bpe_dropout(table, normalized, 1.0, text_state(0, 0))[0]
    assert [processor.id_to_piece(i) for i in ids] == ["▁", "t", "h", "e", "▁", "<tag>", "r", "i", "g", "h", "t", "s"]


def test_a_batch_draws_each_text_and_each_part_as_alone(models):
    # BPE-dropout runs a batch in one kernel call; each text draws from its own stream as it would alone, and
    # the parts of a text between literal U+2581 marks go on with the stream the part before left
    from tokwork import load_tokenizer
    from tokwork.sampling.subword_sampling import SentencePieceSampling

    processor, table, path = models["bpe, bytes, no dummy prefix"]
    sampler = SentencePieceSampling(load_tokenizer(path), method="bpe-dropout", alpha=0.3)
    assert sampler.splits_marks  # the wrapper spells a literal mark with bytes, so texts are cut at it
    batch = ["the▁rights of <tag>all", "▁lead", "", "x▁▁y▁", "▁", *texts()[:4]]
    got = sampler.sample(batch, seed=5, first_index=10)
    for offset, text in enumerate(batch):
        state, want = text_state(5, 10 + offset), []
        for index, part in enumerate(text.split("▁")):
            want += sampler.mark_ids if index else []
            if part:
                ids, state = bpe_dropout(table, processor.normalize(part), 0.3, state)
                want += ids
        assert got[offset] == want, text
    assert got[:1] != [processor.encode(batch[0])]


def test_a_batch_with_user_pieces_draws_each_text_as_alone(models):
    # the batch's symbols are found in one pass over all its texts: user pieces, texts that normalise to
    # nothing and unknown characters keep to their own text
    from tokwork.sampling.piece_bpe_dropout import bpe_dropout_segments

    processor, table, _ = models["bpe, bytes, user symbols"]
    batch = [processor.normalize(t) for t in ["<tag>x <tag>", "   ", "the <tag><tag> rights", "ǂ☃ ok", *texts()[:5]]]
    states = [text_state(3, i) for i in range(len(batch))]
    got, final = bpe_dropout_segments(table, batch, 0.3, np.array(states, dtype=np.uint64),
                                      np.zeros(len(batch), dtype=np.bool_))
    alone = [bpe_dropout(table, text, 0.3, state) for text, state in zip(batch, states, strict=True)]
    assert got == [ids for ids, _ in alone] and final.tolist() == [int(state) for _, state in alone]
    assert processor.piece_to_id("<tag>") in got[0]


def test_keys_too_wide_to_pack_queue_the_piece_beside_them(models):
    # a pair's key packs priority, position and piece into one int64 where they fit; the other heap, with
    # the piece as payload, merges alike
    import numpy as np

    for name in (name for name in MODELS if name.startswith("bpe")):
        processor, table, _ = models[name]
        slot_keys, slot_values, priority, unused, char_ids = _merges(table)
        for index, text in enumerate(texts()):
            sym, frozen, _, _, _ = _symbols(table, [processor.normalize(text)], char_ids)
            packed, paired = (_merge(sym.copy(), frozen, len(table.texts), slot_keys, slot_values, priority, unused,
                                     0.3, np.uint64(index), bits) for bits in (KEY_BITS, 0))
            assert [a.tolist() if hasattr(a, "tolist") else a for a in packed] == \
                   [a.tolist() if hasattr(a, "tolist") else a for a in paired], (name, text[:30])


SAMPLE_IN_A_PROCESS = """
import json, sys
from tokwork import load_tokenizer
from tokwork.sampling import StochasticTokenizer
model, method, texts = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
tok = StochasticTokenizer(load_tokenizer(model), method=method, p=0.3, alpha=0.2, seed=11)
print(json.dumps(tok.encode_batch(texts)))
"""


@pytest.mark.parametrize(("name", "method"), [("unigram, bytes, dummy prefix, user symbols", "unigram-sampling"),
                                              ("bpe, bytes, user symbols", "bpe-dropout")])
def test_a_seed_gives_the_same_samples_in_another_process(models, name, method):
    # sentencepiece's own sampling gave other samples in every new process
    import json

    from tokwork import load_tokenizer
    from tokwork.sampling import StochasticTokenizer

    path = models[name][2]
    batch = texts()[:6]
    here = StochasticTokenizer(load_tokenizer(path), method=method, p=0.3, alpha=0.2, seed=11).encode_batch(batch)
    runs = [subprocess.run([sys.executable, "-c", SAMPLE_IN_A_PROCESS, path, method], input=json.dumps(batch),
                           capture_output=True, text=True, check=True, cwd=REPO) for _ in range(2)]
    assert [json.loads(run.stdout) for run in runs] == [here, here]
    assert here != [load_tokenizer(path).encode(t) for t in batch]  # it does sample


def with_unused(serialized: bytes, piece: str) -> bytes:
    """The serialized model with `piece` marked unused (type 5): a type field appended to its message, which
    protobuf reads as the last value of that field."""
    from tokwork.sampling.piece_table import protobuf_fields

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)

    out = bytearray()
    for number, wire, value in protobuf_fields(serialized):
        if wire == 2:
            if number == 1 and any(n == 1 and v == piece.encode() for n, _, v in protobuf_fields(value)):
                value = value + b"\x18\x05"
            out += varint(number << 3 | 2) + varint(len(value)) + value
        elif wire == 0:
            out += varint(number << 3) + varint(value)
        else:
            out += varint(number << 3 | wire) + value
    return bytes(out)


def test_a_character_whose_piece_is_unused_is_written_as_unknown(models, tmp_path):
    processor, _, path = models["bpe, bytes, user symbols"]
    changed = with_unused(processor.serialized_model_proto(), "e")
    unused = spm.SentencePieceProcessor(model_proto=changed)
    table = PieceTable.from_model(changed)
    for text in texts()[:12]:
        assert bpe_dropout(table, unused.normalize(text), 0.0, 0)[0] == unused.encode(text), text[:40]
