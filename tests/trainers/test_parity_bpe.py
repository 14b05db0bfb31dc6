"""Parity-aware BPE: hand-checked choices, plain BPE's merges where the two must agree, a more even token
count across languages, standard files that round-trip any text, and one-line errors for bad dev sets."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter

import pytest
from hypothesis import given
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import models, pre_tokenizers

from tests.conftest import UDHR, assert_round_trips_any_text, texts
from tokwork.cli.main import main
from tokwork.errors import CorpusError
from tokwork.pretoken_counts import pretokenizer_from_json
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.bpe_model import empty_byte_level_bpe
from tokwork.trainers.parallel_dev import read_parallel_dev, training_languages
from tokwork.trainers.parity_bpe import LanguageStop, ParityConfig, learn_parity_bpe

# Scripts that plain BPE serves unequally on the shipped UDHR at a small vocabulary (Latin, Cyrillic,
# Greek, Armenian); Hindi and the Han scripts run out of pairs at the minimum frequency too soon to show it.
LANGUAGES = ["eng", "fra", "rus", "ell_monotonic", "hye"]


def merges_of(trained) -> list[list[str]]:
    return json.loads(trained.tokenizer.backend.to_str())["model"]["merges"]


def dev_folder(tmp_path, codes, name="dev"):
    folder = tmp_path / name
    folder.mkdir()
    for code in codes:
        shutil.copy(UDHR / f"{code}.txt", folder / f"{code}.txt")
    return folder


@pytest.fixture(scope="module")
def udhr_dev(tmp_path_factory):
    return dev_folder(tmp_path_factory.mktemp("parity"), LANGUAGES)


@pytest.fixture(scope="module")
def parity_trained(udhr_dev, tmp_path_factory):
    """Parity-aware and plain BPE on the same five languages, the parity one saved to disk."""
    corpus = [UDHR / f"{code}.txt" for code in LANGUAGES]
    config = BPEConfig(vocab_size=1500)
    parity = train_bpe(corpus, config, parity=ParityConfig(str(udhr_dev)), progress=False)
    folder = tmp_path_factory.mktemp("parity-out") / "out"
    parity.save(folder)
    return parity, folder, train_bpe(corpus, config, progress=False)


def test_golden_two_languages_hand_checked():
    # Alphabet a b c d = ids 0-3. Training: x "abab" x10 (ab 20, ba 10), y "cdcd" x2 (cd 4, dc 2). Dev: x "ab"
    # (2 tokens), y "cdcd" (4 tokens).
    # Parity: y has more dev tokens (4 > 2) and merges its own best pair, cd (id 4): dev y = [cd, cd] = 2.
    # x and y tie at 2; the tie goes to the first code, x, whose best is ab (id 5): dev x = [ab] = 1. Then y
    # (2 > 1) merges (cd, cd) = 2 -> cdcd; tie at 1 again, so x merges (ab, ab) = 10 -> abab.
    training = {"x": {"abab": 10}, "y": {"cdcd": 2}}
    dev = {"x": {"ab": 1}, "y": {"cdcd": 1}}
    learned = learn_parity_bpe(training, dev, vocab_size=8)
    assert learned.merges == [("c", "d"), ("a", "b"), ("cd", "cd"), ("ab", "ab")]
    assert learned.steps == ["y", "x", "y", "x"]
    assert learned.vocab == {"a": 0, "b": 1, "c": 2, "d": 3, "cd": 4, "ab": 5, "cdcd": 6, "abab": 7}
    assert learned.dev_tokens == {"x": 1, "y": 1}
    # Plain BPE on the pooled counts: ab (20), then (ab, ab) (10) before cd (4).
    pooled = learn_parity_bpe(training, dev, vocab_size=7, mix=1.0)
    assert pooled.merges == [("a", "b"), ("ab", "ab"), ("c", "d")] and pooled.steps == ["", "", ""]
    # Mix 1/3 of 3 new tokens: the first merge is global (ab); then dev x = 1 < y = 4, and y chooses twice.
    hybrid = learn_parity_bpe(training, dev, vocab_size=7, mix=1 / 3)
    assert hybrid.merges == [("a", "b"), ("c", "d"), ("cd", "cd")] and hybrid.steps == ["", "y", "y"]


def test_moving_window_passes_over_a_language_that_chose_too_often_hand_checked():
    # Alphabet a-f = ids 0-5. Dev: x "ab" (2 tokens), y "cd" x16 (32), z "ef" (2). Plain parity: y is worst
    # for four merges (cd, then doubling: 16, 8, 4, 2 tokens), then x, y, z tie at 2 and x (first) merges
    # ab, then y at 2 before z. With a window of 3 over L = 3 languages a language that chose more than
    # 2/3 * 3 = 2 of the last 3 merges is passed over: at step 4 y has chosen 3 of 3, so the next worst, x or
    # z at 2 (x first), merges ab; at steps 5 and 6 y has 2 of the last 3 and chooses again.
    training = {"x": {"abab": 10}, "y": {"cd" * 16: 2}, "z": {"efef": 10}}
    dev = {"x": {"ab": 1}, "y": {"cd" * 16: 1}, "z": {"ef": 1}}
    assert learn_parity_bpe(training, dev, vocab_size=12).steps == ["y", "y", "y", "y", "x", "y"]
    windowed = learn_parity_bpe(training, dev, vocab_size=12, window=3)
    assert windowed.steps == ["y", "y", "y", "x", "y", "y"]
    assert windowed.merges[3] == ("a", "b") and windowed.dev_tokens == {"x": 1, "y": 1, "z": 2}
    # A window no language can exceed (2/L of it is all of it for L = 2) changes nothing.
    two = {code: training[code] for code in "xy"}, {code: dev[code] for code in "xy"}
    assert learn_parity_bpe(*two, vocab_size=11, window=3).steps == learn_parity_bpe(*two, vocab_size=11).steps


def test_a_language_out_of_pairs_is_recorded_with_its_dev_tokens_then():
    # Alphabet a b c d e = ids 0-4, min frequency 2. Training: x "abab" x10 (ab 20, ba 10), y "cd" x2, "ce" x1.
    # Dev: x "abab" (4 tokens), y "cdcdcd" (6). y (6 > 4) merges cd: dev y = 3. x (4 > 3) merges ab: dev x = 2.
    # y (3 > 2) has only ce left, seen once: it stops after 2 merges, at dev x 2, y 3. x merges (ab, ab) alone.
    training = {"x": {"abab": 10}, "y": {"cd": 2, "ce": 1}}
    dev = {"x": {"abab": 1}, "y": {"cdcdcd": 1}}
    learned = learn_parity_bpe(training, dev, vocab_size=8, min_frequency=2)
    assert learned.merges == [("c", "d"), ("a", "b"), ("ab", "ab")] and learned.steps == ["y", "x", "x"]
    assert learned.stopped == {"y": LanguageStop(after_merges=2, dev_tokens={"x": 2, "y": 3})}
    assert learned.dev_tokens == {"x": 1, "y": 3}
    # One more token asked: x runs out too, and training ends short of it.
    longer = learn_parity_bpe(training, dev, vocab_size=9, min_frequency=2)
    assert longer.merges == learned.merges
    assert longer.stopped == {"y": LanguageStop(2, {"x": 2, "y": 3}), "x": LanguageStop(3, {"x": 1, "y": 3})}
    # All global: ab (20), (ab, ab) (10), cd (2); then no pair is seen twice, so every language is out.
    pooled = learn_parity_bpe(training, dev, vocab_size=9, min_frequency=2, mix=1.0)
    assert pooled.merges == [("a", "b"), ("ab", "ab"), ("c", "d")]
    assert pooled.stopped == {code: LanguageStop(3, {"x": 1, "y": 3}) for code in "xy"}


def test_card_and_a_warning_name_the_language_that_ran_out(tmp_path, monkeypatch, capsys):
    # French trains on one short sentence: it chooses merges (its dev text is the longest) until its pairs
    # seen twice are gone, then English chooses the rest and French falls behind.
    dev_folder(tmp_path, ["eng", "fra"])
    shutil.copy(UDHR / "eng.txt", tmp_path / "eng.txt")
    (tmp_path / "fra.txt").write_text("Tous les êtres humains naissent libres.\n" * 3, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "bpe", "eng.txt", "fra.txt", "--parity", "dev", "-v", "400", "-o", "out", "--quiet"]) == 0
    notes = json.loads((tmp_path / "out" / "tokwork.json").read_text(encoding="utf-8"))["notes"]["parity"]
    stop = notes["stopped"]["fra"]
    assert list(notes["stopped"]) == ["fra"] and stop["after_merges"] == notes["steps_chosen_by"]["fra"] >= 10
    assert notes["dev_token_ratios"]["fra"] > stop["dev_token_ratio"] + 0.05
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tokwork: warning: 1 of 2 languages ran out of pairs seen at least 2 times")
    assert f"fra after {stop['after_merges']:,} merges (dev ratio {stop['dev_token_ratio']:.2f} then" in lines[0]


@pytest.mark.parametrize(("vocab_size", "mix"), [(600, 0.0), (1000, 0.0), (600, 0.5)])
def test_one_language_gives_the_merges_of_plain_bpe(tmp_path, vocab_size, mix):
    # At 1000 the English text runs out of pairs seen twice (700 merges): the stopping rule agrees too.
    config = BPEConfig(vocab_size=vocab_size)
    plain = train_bpe([UDHR / "eng.txt"], config, engine="hf", progress=False)
    parity = train_bpe([UDHR / "eng.txt"], config, progress=False,
                       parity=ParityConfig(str(dev_folder(tmp_path, ["eng"])), mix=mix))
    assert parity.tokenizer.backend.to_str() == plain.tokenizer.backend.to_str()
    assert len(merges_of(plain)) >= 300


def test_mix_one_gives_plain_bpe_on_the_pooled_languages(udhr_dev):
    corpus = [UDHR / f"{code}.txt" for code in LANGUAGES]
    config = BPEConfig(vocab_size=1200)
    plain = train_bpe(corpus, config, engine="hf", progress=False)
    pooled = train_bpe(corpus, config, progress=False, parity=ParityConfig(str(udhr_dev), mix=1.0))
    assert merges_of(pooled) == merges_of(plain)


def test_parity_evens_out_the_dev_token_counts(parity_trained):
    parity, _, plain = parity_trained
    texts_by_code = {code: (UDHR / f"{code}.txt").read_text(encoding="utf-8") for code in LANGUAGES}
    plain_tokens = {code: len(plain.tokenizer.encode(text)) for code, text in texts_by_code.items()}
    tokens = parity.card.notes["parity"]["dev_tokens"]
    # Plain BPE gives Greek 1.35 times the tokens of English; parity-aware BPE evens them out to within 1%
    # (the dev text is the training text here), mostly at the cost of the best-served language.
    assert max(plain_tokens.values()) / min(plain_tokens.values()) > 1.3
    assert max(tokens.values()) / min(tokens.values()) < 1.01
    assert max(tokens.values()) < 0.92 * max(plain_tokens.values())
    assert set(parity.card.notes["parity"]["steps_chosen_by"]) == set(LANGUAGES)


def test_card_records_the_settings_and_the_ratios_of_the_saved_tokenizer(parity_trained, udhr_dev):
    parity, folder, _ = parity_trained
    card = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))
    assert card["parameters"]["parity"] == {"dev": str(udhr_dev), "mix": 0.0, "pivot": "eng", "window": 0}
    loaded = BackendTokenizer.from_file(str(folder / "tokenizer.json"))  # plain `tokenizers`, no tokwork
    for code in LANGUAGES:
        count = len(loaded.encode((udhr_dev / f"{code}.txt").read_text(encoding="utf-8")).ids)
        assert card["notes"]["parity"]["dev_tokens"][code] == count
        assert card["notes"]["parity"]["dev_token_ratios"][code] == round(count / card["notes"]["parity"]["dev_tokens"]["eng"], 4)
        digest = hashlib.sha256((udhr_dev / f"{code}.txt").read_bytes()).hexdigest()
        assert card["notes"]["parity"]["dev_sha256"][code] == digest  # which dev text chose the merges


def test_round_trip_of_any_text_with_plain_tokenizers(parity_trained):
    parity, folder, _ = parity_trained
    loaded = BackendTokenizer.from_file(str(folder / "tokenizer.json"))

    @given(texts)
    def check(text):
        assert loaded.decode(loaded.encode(text).ids, skip_special_tokens=False) == text

    check()
    assert_round_trips_any_text(parity.tokenizer)


def test_dev_counts_while_learning_are_those_of_the_trained_tokenizer(udhr_dev):
    # The choice at each step rests on counts updated as merges go; at the end they are exactly the counts
    # of the tokenizer the merges make.
    config = BPEConfig(vocab_size=1000)
    backend = empty_byte_level_bpe(config)
    split = pretokenizer_from_json(backend.to_str())
    dev = {code: (udhr_dev / f"{code}.txt").read_text(encoding="utf-8") for code in LANGUAGES}
    counts = {code: Counter(split(text)) for code, text in dev.items()}
    learned = learn_parity_bpe(counts, counts, vocab_size=config.vocab_size, min_frequency=2,
                               special_tokens=config.all_special_tokens,
                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.model = models.BPE(learned.vocab, learned.merges)
    assert learned.dev_tokens == {code: len(backend.encode(text).ids) for code, text in dev.items()}


def test_languages_come_from_file_names_then_folders(tmp_path):
    dev = read_parallel_dev(dev_folder(tmp_path, ["eng", "fra", "rus"]))
    train = tmp_path / "train"
    (train / "fra" / "2024").mkdir(parents=True)
    (train / "fra" / "2024" / "part-1.txt").write_text("bonjour", encoding="utf-8")
    (train / "eng.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "rus").mkdir()
    (tmp_path / "rus" / "a.txt").write_text("привет", encoding="utf-8")
    assert training_languages([train, tmp_path / "rus"], dev) == {
        str(train / "eng.txt"): "eng", str(train / "fra" / "2024" / "part-1.txt"): "fra",
        str(tmp_path / "rus" / "a.txt"): "rus"}
    with pytest.raises(CorpusError, match=r"'.*part-1.txt' is in no dev language"):
        training_languages([train / "fra" / "2024" / "part-1.txt", train / "eng.txt", tmp_path / "rus"], dev)


def test_dev_files_without_blank_lines_are_compared_line_by_line(tmp_path):
    folder = tmp_path / "flores"
    folder.mkdir()
    (folder / "eng.txt").write_text("One.\nTwo.\nThree.\n", encoding="utf-8")
    (folder / "deu.txt").write_text("Eins.\nZwei.\nDrei.\n", encoding="utf-8")
    assert read_parallel_dev(folder).pivot == "eng"
    (folder / "fra.txt").write_text("Un.\nDeux trois.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"dev set not parallel: '.*fra.txt' has 2 lines but the pivot "
                                          r"'.*eng.txt' has 3 lines"):
        read_parallel_dev(folder)
    with pytest.raises(CorpusError, match="is a file, not a folder"):
        read_parallel_dev(folder / "eng.txt")
    with pytest.raises(CorpusError, match="does not exist"):
        read_parallel_dev(folder / "none")


@pytest.fixture
def workdir(tmp_path):
    dev_folder(tmp_path, ["eng", "fra"])
    dev_folder(tmp_path, ["eng", "fra"], name="ragged")
    articles = (UDHR / "fra.txt").read_text(encoding="utf-8").split("\n\n")
    (tmp_path / "ragged" / "fra.txt").write_text("\n\n".join(articles[:-1]) + "\n", encoding="utf-8")
    for code in ("eng", "fra", "deu_1996"):
        shutil.copy(UDHR / f"{code}.txt", tmp_path / f"{code}.txt")
    return tmp_path


BAD = {
    "dev not parallel": (["eng.txt", "fra.txt", "--parity", "ragged"],
                         "dev set not parallel: 'ragged/fra.txt' has 30 paragraphs but the pivot 'ragged/eng.txt' has 31"),
    "dev language without training text": (["eng.txt", "--parity", "dev"],
                                           "dev language 'fra' has no training text"),
    "training text without dev language": (["eng.txt", "fra.txt", "deu_1996.txt", "--parity", "dev"],
                                           "training file 'deu_1996.txt' is in no dev language"),
    "mix above one": (["eng.txt", "fra.txt", "--parity", "dev", "--parity-mix", "1.5"],
                      "parity mix 1.5 must be between 0 and 1"),
    "mix not a number": (["eng.txt", "fra.txt", "--parity", "dev", "--parity-mix", "nan"],
                         "parity mix nan must be between 0 and 1"),
    "mix without a dev set": (["eng.txt", "--parity-mix", "0.5"], "--parity-mix, --parity-pivot and --parity-window need --parity"),
    "negative window": (["eng.txt", "fra.txt", "--parity", "dev", "--parity-window", "-5"],
                        "parity window -5 must be 0 (off) or a number of merges"),
    "pivot without a dev file": (["eng.txt", "fra.txt", "--parity", "dev", "--parity-pivot", "deu"],
                                 "parity pivot 'deu' has no dev file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_parity_input_is_one_line_exit_2_and_writes_nothing(workdir, monkeypatch, capsys, case):
    args, message = BAD[case]
    monkeypatch.chdir(workdir)
    before = sorted(p.name for p in workdir.iterdir())
    code = main(["train", "bpe", *args, "-v", "500", "-o", "out", "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("tokwork: error: ") and message in lines[0], lines
    assert sorted(p.name for p in workdir.iterdir()) == before  # no output, no temporary sibling
