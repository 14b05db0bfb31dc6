"""Stochastic tokenizers: StochasTok, BPE-dropout and unigram sampling behind one seeded interface.

Golden cases on a tiny byte-level BPE first (its expansion table is checked by hand), then the kernels
against plain-Python references that draw from the same streams, the split-count statistics against
their exact distribution, exactness under hypothesis and on every shipped language, seeds, and saving.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter, defaultdict

import numpy as np
import pytest
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import decoders, models, pre_tokenizers

from tests.conftest import assert_round_trips_any_text, reference_tokenizer_path, udhr_files
from tests.trainers.conftest import bad_parameters_test
from tokwork import load_tokenizer
from tokwork.byteview import bytes_to_byte_level
from tokwork.errors import ParameterError, TokenizerFormatError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.loader import load_stochastic, open_tokenizer
from tokwork.sampling import StochasticConfig, StochasticTokenizer
from tokwork.sampling.bpe_dropout import BPEDropout, bpe_dropout_reference
from tokwork.sampling.stochastok import (
    ExpansionTable,
    StochasTok,
    build_expansion_table,
    stochastok_reference,
)
from tokwork.trainers.stochastic import make_stochastic
from tokwork.trainers.unigram import UnigramConfig, train_unigram

# a b c d are bytes 97..100; the merges make ab=256, abc=257, abcd=258, bc=259, cd=260.
TINY_MERGES = [("a", "b"), ("ab", "c"), ("abc", "d"), ("b", "c"), ("c", "d")]
A, B, C, D, AB, ABC, ABCD, BC, CD = 97, 98, 99, 100, 256, 257, 258, 259, 260
# By hand: every cut of each merged token into two tokens of the vocabulary, in order of the cut.
TINY_TABLE = {AB: [(A, B)], ABC: [(A, BC), (AB, C)], ABCD: [(AB, CD), (ABC, D)], BC: [(B, C)], CD: [(C, D)]}


def tiny_bpe(*, dropout: float | None = None) -> HFTokenizer:
    """A byte-level BPE over the 256 bytes plus the five TINY_MERGES; a text is one word (no regex)."""
    vocab = {bytes_to_byte_level(bytes([b])): b for b in range(256)}
    for left, right in TINY_MERGES:
        vocab[left + right] = len(vocab)
    backend = BackendTokenizer(models.BPE(vocab, TINY_MERGES, dropout=dropout))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return HFTokenizer(backend)


@pytest.fixture(scope="module")
def udhr_texts_list():
    return [p.read_text(encoding="utf-8") for p in udhr_files()]


@pytest.fixture(scope="module")
def sentencepiece_bpe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spbpe") / "out"
    train_unigram(udhr_files(), UnigramConfig(vocab_size=4000, model_type="bpe"), progress=False).save(folder)
    return folder


# Golden: the tiny vocabulary.

def test_expansion_table_of_a_tiny_vocabulary_is_the_hand_written_one():
    table = build_expansion_table(tiny_bpe())
    found = {t: table.splits(t) for t in range(table.vocab_size) if table.splits(t)}
    assert found == TINY_TABLE
    assert table.as_json() == {str(t): [list(s) for s in splits] for t, splits in TINY_TABLE.items()}


def test_samplers_over_one_base_share_its_tables_and_a_new_base_gets_its_own():
    base = tiny_bpe()
    first, second = StochasTok(base, p=0.1), StochasTok(base, p=0.5)
    assert first.table is second.table and first.lengths is second.lengths
    dropout_a, dropout_b = BPEDropout(base, p=0.1), BPEDropout(base, p=0.3)
    assert dropout_a.table is dropout_b.table and dropout_a.slot_keys is dropout_b.slot_keys
    other = tiny_bpe()
    assert StochasTok(other, p=0.1).table is not first.table
    assert BPEDropout(other, p=0.1).table is not dropout_a.table
    assert StochasTok(other, p=0.1).table.as_json() == first.table.as_json()


def test_golden_stochastok_encodings_on_the_tiny_vocabulary():
    base = tiny_bpe()
    assert base.encode("ab") == [AB] and base.encode("abcd") == [ABCD]
    for seed in range(20):  # one token, p = 1: exactly one step, and `ab` has one split
        assert StochasticTokenizer(base, p=1.0, seed=seed).encode("ab") == [A, B]
    assert StochasticTokenizer(base, p=0.5, seed=3).encode("abcd") == [ABCD]  # int(1 * 0.5) = 0 steps
    outcomes = Counter(tuple(ids) for ids in StochasticTokenizer(base, p=1.0, seed=1).encode_batch(["abcd"] * 4000))
    assert set(outcomes) == {(AB, CD), (ABC, D)}  # the two splits of abcd, each with probability 1/2
    assert abs(outcomes[AB, CD] / 4000 - 0.5) < 4 * (0.25 / 4000) ** 0.5


def test_kernel_equals_the_papers_loop_on_a_list(trained, udhr_texts_list):
    base = trained("bpe")[0].tokenizer
    texts = udhr_texts_list[:20]
    ids = base.encode_batch(texts)
    for p in (0.05, 0.3, 1.0):
        sampler = StochasTok(base, p=p)
        out = sampler.expand(ids, seed=11, first_index=5)
        for index, (original, sampled) in enumerate(zip(ids, out, strict=True)):
            assert sampled == stochastok_reference(original, sampler.table, p=p, seed=11, index=5 + index)


# Statistics.

def exact_split_distribution(ids: list[int], table: ExpansionTable, p: float) -> dict[int, float]:
    """The exact distribution of the number of splits StochasTok makes in `ids`: positions are uniform,
    so only the multiset of tokens matters; propagate probabilities over multisets step by step."""
    states = {tuple(sorted(Counter(ids).items())): 1.0}
    for _ in range(int(len(ids) * p)):
        following: dict[tuple, float] = defaultdict(float)
        for state, probability in states.items():
            counts = dict(state)
            length = sum(counts.values())
            for token, count in counts.items():
                weight = probability * count / length
                splits = table.splits(token)
                if not splits:
                    following[state] += weight
                    continue
                for left, right in splits:
                    changed = Counter(counts)
                    changed[token] -= 1
                    changed[left] += 1
                    changed[right] += 1
                    following[tuple(sorted((t, c) for t, c in changed.items() if c))] += weight / len(splits)
        states = following
    dist: dict[int, float] = defaultdict(float)
    for state, probability in states.items():
        dist[sum(c for _, c in state) - len(ids)] += probability
    return dict(dist)


@pytest.mark.parametrize("ids, p", [([ABCD] * 8, 1.0), ([ABCD, AB, A, CD, B, ABC], 0.5), ([ABCD] * 5 + [A] * 5, 0.6)])
def test_split_counts_match_their_exact_distribution(ids, p):
    """Mean within 4 standard errors of the exact mean; total variation distance below 0.02."""
    sampler = StochasTok(tiny_bpe(), p=p)
    samples = 20000
    out = sampler.expand([ids] * samples, seed=2024, first_index=0)
    counts = np.array([len(o) - len(ids) for o in out])
    exact = exact_split_distribution(ids, sampler.table, p)
    mean = sum(k * q for k, q in exact.items())
    sd = sum((k - mean) ** 2 * q for k, q in exact.items()) ** 0.5
    assert abs(counts.mean() - mean) <= 4 * sd / samples ** 0.5
    observed = Counter(counts.tolist())
    assert 0.5 * sum(abs(observed[k] / samples - exact.get(k, 0.0)) for k in set(exact) | set(observed)) < 0.02


def test_p_zero_is_the_deterministic_encoding(trained, udhr_texts_list, reference_tokenizer, sentencepiece_bpe):
    """On every shipped language for the trained tokenizers, every fourth one for Llama 3 (whose whole-word
    lookup the dropout kernel must keep at p = 0; plain merges are the trained BPE's)."""
    bases = [(trained("bpe")[0].tokenizer, udhr_texts_list), (trained("unigram")[0].tokenizer, udhr_texts_list),
             (reference_tokenizer("llama3"), udhr_texts_list[::4])]
    for base, texts in bases:
        deterministic = base.encode_batch(texts)
        assert StochasticTokenizer(base, p=0.0).encode_batch(texts) == deterministic
        if base.format != "sentencepiece":  # the dropout kernel's merges are the library's merges
            assert StochasticTokenizer(base, method="bpe-dropout", p=0.0).encode_batch(texts) == deterministic
    sp_bpe = load_tokenizer(sentencepiece_bpe)
    assert (StochasticTokenizer(sp_bpe, method="bpe-dropout", p=0.0).encode_batch(udhr_texts_list)
            == sp_bpe.encode_batch(udhr_texts_list))


# BPE-dropout: the kernel against the heap loop in Python, and against `tokenizers`' own dropout.

def test_dropout_kernel_equals_the_merge_loop_in_python(trained, udhr_texts_list):
    base = trained("bpe")[0].tokenizer
    sampler = BPEDropout(base, p=0.2)
    texts = udhr_texts_list[:12]
    out = sampler.sample(texts, seed=5, first_index=0)
    for index, (text, sampled) in enumerate(zip(texts, out, strict=True)):
        encoding = base.backend.encode(text, add_special_tokens=False)
        words = [[a for token, _ in group for a in sampler.table.atoms_of(token)]
                 for _, group in itertools.groupby(zip(encoding.ids, encoding.word_ids, strict=True), key=lambda x: x[1])]
        assert sampled == bpe_dropout_reference(words, sampler.table.pairs, p=0.2, seed=5, index=index)


def test_dropout_segmentations_follow_the_tokenizers_library_distribution():
    """The same word 20000 times through `tokenizers`' unseeded dropout and through the seeded kernel:
    the two distributions over segmentations lie within 0.03 in total variation."""
    samples, word = 20000, "abcdabcbcd"
    library = Counter(tuple(e.ids) for e in tiny_bpe(dropout=0.3).backend.encode_batch([word] * samples))
    ours = Counter(tuple(ids) for ids in StochasticTokenizer(tiny_bpe(), method="bpe-dropout", p=0.3, seed=9)
                   .encode_batch([word] * samples))
    assert len(library) > 10
    distance = 0.5 * sum(abs(library[k] - ours[k]) / samples for k in set(library) | set(ours))
    assert distance < 0.03


# Exactness: hypothesis on arbitrary Unicode and every shipped language.

@pytest.fixture(scope="module")
def stochastic_cases(trained, reference_tokenizer, sentencepiece_bpe):
    """One stochastic tokenizer per method and kind of base, built once (the samplers' tables of cl100k and
    Llama 3 take seconds); a test that needs their seeded streams from the start resets them."""
    return {
        "stochastok bpe": StochasticTokenizer(trained("bpe")[0].tokenizer, p=0.5, seed=1),
        "stochastok unigram": StochasticTokenizer(trained("unigram")[0].tokenizer, p=0.5, seed=1),
        "stochastok cl100k": StochasticTokenizer(reference_tokenizer("cl100k_base"), p=0.5, seed=1),
        "dropout bpe": StochasticTokenizer(trained("bpe")[0].tokenizer, method="bpe-dropout", p=0.3, seed=1),
        "dropout llama3": StochasticTokenizer(reference_tokenizer("llama3"), method="bpe-dropout", p=0.3, seed=1),
        "dropout sentencepiece bpe": StochasticTokenizer(load_tokenizer(sentencepiece_bpe), method="bpe-dropout",
                                                         p=0.3, seed=1),
        "unigram sampling": StochasticTokenizer(trained("unigram")[0].tokenizer, method="unigram-sampling",
                                                alpha=0.1, seed=1),
        "unigram sampling 8-best": StochasticTokenizer(trained("unigram")[0].tokenizer, method="unigram-sampling",
                                                       alpha=0.5, nbest_size=8, seed=1),
    }


def test_exact_on_arbitrary_text_for_every_method(stochastic_cases):
    for name, tok in stochastic_cases.items():
        try:
            assert_round_trips_any_text(tok)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from err


def test_exact_on_every_shipped_language_and_actually_stochastic(stochastic_cases, udhr_texts_list):
    """Every other of the 76 languages for the tokenizers trained here, every fourth for the reference ones
    (the hypothesis test above covers arbitrary text); and most languages get a segmentation other than the
    deterministic one (n-best sampling over a whole document mostly picks the best one, so there half do)."""
    for name, tok in stochastic_cases.items():
        texts = udhr_texts_list[::4] if name in ("stochastok cl100k", "dropout llama3") else udhr_texts_list[::2]
        deterministic = tok.deterministic().encode_batch(texts)
        tok.reset()
        sampled = tok.encode_batch(texts)
        vocab_size = tok.vocab_size
        for text, ids in zip(texts, sampled, strict=True):
            assert tok.decode(ids) == text, name
            assert tok.byte_view.join(ids) == text.encode("utf-8"), name
            assert min(ids) >= 0 and max(ids) < vocab_size, name
        changed = sum(s != d for s, d in zip(sampled, deterministic, strict=True))
        assert changed >= (0.4 if "best" in name else 0.9) * len(texts), (name, changed)


# Seeds.

def test_seeds_reproduce_across_batches_single_calls_and_threads(trained, sentencepiece_bpe):
    texts = [p.read_text(encoding="utf-8")[:400] for p in udhr_files()[:8]]
    bases = {"stochastok": trained("bpe")[0].tokenizer, "bpe-dropout": trained("bpe")[0].tokenizer,
             "unigram-sampling": trained("unigram")[0].tokenizer}
    bases["sentencepiece bpe-dropout"] = load_tokenizer(sentencepiece_bpe)
    for name, base in bases.items():
        method = name.split()[-1]

        def make(seed, base=base, method=method):
            return StochasticTokenizer(base, method=method, p=0.3, alpha=0.1, seed=seed)

        batch = make(7).encode_batch(texts)
        single = make(7)
        assert [single.encode(t) for t in texts] == batch, name
        in_thread: list[list[int]] = []
        worker = threading.Thread(target=lambda make=make, got=in_thread: got.extend(make(7).encode_batch(texts)))
        worker.start()
        worker.join()
        assert in_thread == batch, name
        tok = make(7)
        tok.encode_batch(texts[:3])  # later texts do not depend on what came before them in the stream
        assert tok.encode_batch(texts[3:]) == batch[3:], name
        tok.reset()
        assert tok.encode_batch(texts) == batch, name
        other = make(8).encode_batch(texts)
        assert sum(a != b for a, b in zip(batch, other, strict=True)) >= len(texts) - 1, name
        assert len({tuple(ids) for ids in make(7).encode_batch([texts[0]] * 10)}) > 1, name


# Saving: base files unchanged, plain libraries read the base, tokwork reads both.

def test_saved_directory_keeps_the_base_and_reloads_the_same_samples(tmp_path, reference_tokenizer, plain_loader):
    base_path = reference_tokenizer_path("gpt2")
    made = make_stochastic(base_path, StochasticConfig(method="stochastok", p=0.2, seed=5))
    folder = made.save(tmp_path / "sto")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["stochastic.json", "tokenizer.json", "tokenizer_config.json", "tokwork.json"]
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).read_bytes() == (base_path / name).read_bytes()
    record = json.loads((folder / "stochastic.json").read_text(encoding="utf-8"))
    assert record["config"] == {"method": "stochastok", "p": 0.2, "alpha": 0.1, "nbest_size": -1, "seed": 5}
    assert record["expansion"] == made.tokenizer.sampler.table.as_json()

    text = "Plain loaders keep the base; tokwork samples."
    assert load_tokenizer(folder).encode(text) == reference_tokenizer("gpt2").encode(text)
    reloaded = load_stochastic(folder)
    assert reloaded.encode_batch([text] * 5) == made.tokenizer.encode_batch([text] * 5)
    reloaded.reset(seed=6)
    assert reloaded.encode_batch([text] * 5) != made.tokenizer.encode_batch([text] * 5)
    assert made.card.kind == "stochastic" and made.card.notes["splittable_tokens"] == 50000

    seen = plain_loader({"stochastic": (folder, text)})["stochastic"]  # no tokwork in that process
    assert seen["tokenizers"] == seen["transformers"] == reference_tokenizer("gpt2").encode(text)


def test_a_tampered_expansion_table_is_refused(tmp_path, trained):
    folder = make_stochastic(trained("bpe")[1], StochasticConfig(p=0.1)).save(tmp_path / "sto")
    record = json.loads((folder / "stochastic.json").read_text(encoding="utf-8"))
    token, pairs = next(iter(record["expansion"].items()))
    record["expansion"][token] = [[pairs[0][1], pairs[0][0]]]  # the halves swapped: not the token's bytes
    (folder / "stochastic.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="not a split of its bytes"):
        load_stochastic(folder)
    record["expansion"][token] = [[1, 2, 3]]
    (folder / "stochastic.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="is not {id"):
        load_stochastic(folder)


def test_an_expansion_table_that_keeps_fewer_splits_is_read_as_saved(tmp_path, trained):
    """A table other than the one tokwork builds (here: one token's splits left out) is checked split by
    split and used as it is."""
    folder = make_stochastic(trained("bpe")[1], StochasticConfig(p=0.1)).save(tmp_path / "sto")
    record = json.loads((folder / "stochastic.json").read_text(encoding="utf-8"))
    token = next(iter(record["expansion"]))
    del record["expansion"][token]
    (folder / "stochastic.json").write_text(json.dumps(record), encoding="utf-8")
    table = load_stochastic(folder).sampler.table
    assert table.splits(int(token)) == [] and table.as_json() == record["expansion"]


def test_sentencepiece_and_tiktoken_bases_save_unchanged(tmp_path, trained):
    folder = make_stochastic(trained("unigram")[1], StochasticConfig(method="unigram-sampling")).save(tmp_path / "u")
    model = trained("unigram")[1] / "tokenizer.model"
    assert (folder / "tokenizer.model").read_bytes() == model.read_bytes()
    tiktoken_file = reference_tokenizer_path("r50k_base")
    folder = make_stochastic(tiktoken_file, StochasticConfig(method="bpe-dropout", p=0.1)).save(tmp_path / "t")
    assert (folder / tiktoken_file.name).read_bytes() == tiktoken_file.read_bytes()
    text = "tiktoken files stay what they were"
    assert load_tokenizer(folder).encode(text) == load_tokenizer(tiktoken_file).encode(text)
    assert load_stochastic(folder).decode(load_stochastic(folder).encode(text)) == text


# Bad input.

test_bad_parameters = bad_parameters_test([
    (StochasticConfig(p=1.5), r"p = 1.5 is outside \[0, 1\]"),
    (StochasticConfig(p=-0.1), r"outside \[0, 1\]"),
    (StochasticConfig(method="dropout"), "unknown stochastic method 'dropout'"),
    (StochasticConfig(method="unigram-sampling", nbest_size=1), "nbest size 1"),
    (StochasticConfig(method="unigram-sampling", alpha=float("nan")), "alpha = nan"),
    (StochasticConfig(seed=-1), "seed -1"),
])


def test_methods_that_do_not_fit_the_base_are_refused(trained, sentencepiece_bpe, reference_tokenizer):
    with pytest.raises(ParameterError, match="bpe-dropout needs a SentencePiece bpe model.* is a unigram model"):
        StochasticTokenizer(trained("unigram")[0].tokenizer, method="bpe-dropout")
    word_level = HFTokenizer(BackendTokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    with pytest.raises(ParameterError, match="BPE-dropout needs a BPE tokenizer.* is WordLevel"):
        StochasticTokenizer(word_level, method="bpe-dropout")
    with pytest.raises(ParameterError, match="needs a SentencePiece unigram model.*use --method bpe-dropout"):
        StochasticTokenizer(reference_tokenizer("gpt2"), method="unigram-sampling")
    with pytest.raises(ParameterError, match="is a bpe model; use --method bpe-dropout"):
        StochasticTokenizer(load_tokenizer(sentencepiece_bpe), method="unigram-sampling")
    with pytest.raises(ParameterError, match="--seed applies to stochastic tokenizers"):
        open_tokenizer(trained("bpe")[1], seed=3)


def test_a_base_with_nothing_to_split_gives_a_folder_that_loads(tmp_path):
    """StochasTok over a BPE without merges: an empty expansion table, saved and read back; samples are
    the base's segmentation."""
    from tokwork.loader import open_tokenizer
    from tokwork.sampling import StochasticConfig
    from tokwork.trainers.bpe import train_bpe
    from tokwork.trainers.bpe_model import BPEConfig
    from tokwork.trainers.training import make_stochastic_tokenizer

    base = train_bpe(udhr_files()[:1], BPEConfig(vocab_size=257), progress=False)
    base.save(tmp_path / "base")
    make_stochastic_tokenizer(tmp_path / "base", StochasticConfig(method="stochastok"), tmp_path / "st")
    opened = open_tokenizer(tmp_path / "st", seed=1)
    text = "abc déjà"
    assert opened.encode(text) == base.tokenizer.encode(text) and opened.decode(opened.encode(text)) == text
