"""`tokwork adapt`: each step's output is the step's alone, a run killed at any step boundary resumes to the
same bits, changed settings redo only the steps they feed, and bad input is one line with nothing written.

The model is a pico Llama on a byte-level BPE trained here on English (no Cyrillic merges); the language is
Russian from the shipped UDHR, its last articles held out.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tokwork.pico
from tests.conftest import ENGLISH_SAMPLE, UDHR
from tests.transplant.conftest import byte_level_tokenizer, pico_model
from tokwork import load_tokenizer
from tokwork.cli.main import main
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.extend import ExtendConfig, extend_tokenizer, new_token_ids
from tokwork.transplant.adapt.config import AdaptConfig, read_heldout
from tokwork.transplant.adapt.pipeline import adapt_model
from tokwork.transplant.adapt.resume import STEPS
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.distill.config import DistillConfig
from tokwork.transplant.distill.training import distill
from tokwork.transplant.evaluate import bits_per_byte
from tokwork.transplant.pipeline import transplant_vocabulary

ENG = UDHR / "eng.txt"
ADD = 60
# pico embeddings have a spread of 0.02, so Adam's steps must be small against it (as in test_distill.py)
FAST = {"steps": 4, "batch_size": 4, "text_chars": 64, "save_every": 2, "learning_rate": 2e-4, "warmup_steps": 0}
HELDOUT_CHARS = 2500  # of each held-out text: scoring three models on all of them was most of a run's time


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A pico model on a 400-token English BPE, and Russian split into training and held-out text."""
    root = tmp_path_factory.mktemp("adapt")
    english = root / "en.txt"
    english.write_text(ENGLISH_SAMPLE.read_text(encoding="utf-8")[:40_000], encoding="utf-8")
    model = root / "model"
    train_bpe([english], BPEConfig(vocab_size=400), progress=False).save(model)
    tokenizer = load_tokenizer(model)
    tokwork.pico.pico_model(tokenizer.vocab_size, tied=True, spread=0.02, max_positions=256,
                            end_of_text_id=tokenizer.specials.eos, dtype=torch.float32).save_pretrained(model)
    articles = (UDHR / "rus.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    train, heldout = root / "rus-train.txt", root / "rus-heldout.txt"
    train.write_text("\n\n".join(articles[:22]) + "\n", encoding="utf-8")
    heldout.write_text("\n\n".join(articles[22:]) + "\n", encoding="utf-8")
    return {"root": root, "model": model, "train": train, "heldout": heldout}


def config(setup, **changes) -> AdaptConfig:
    settings = {"model": str(setup["model"]), "language": "rus", "corpus": [str(setup["train"])],
                "heldout": {"rus": str(setup["heldout"]), "eng": str(ENG)}, "add": ADD, "method": "subword-mean",
                "donor": None, "distill": DistillConfig(**FAST), "heldout_chars": HELDOUT_CHARS}
    return AdaptConfig(**{**settings, **changes})


def single_thread(run):
    """Run with one torch thread: bit-exact comparisons need the same thread count on both sides."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight(setup, tmp_path_factory):
    """One uninterrupted run, its work area kept (the default)."""
    out = tmp_path_factory.mktemp("straight") / "out"
    result = single_thread(lambda: adapt_model(config(setup), out, progress=False))
    return result, out, out.parent / ".out.adapt-work"


def same_weights(a: Path, b: Path) -> bool:
    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_each_step_is_what_the_step_alone_gives(setup, straight, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result, out, work = straight
    assert result.ran == list(STEPS) and result.skipped == [] and work.is_dir()
    extended = extend_tokenizer([str(setup["train"])], ExtendConfig(base=str(setup["model"]), add=ADD),
                                progress=False).save(tmp_path / "extend")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (extended / name).read_bytes() == (work / "extend" / name).read_bytes()
    assert (extended / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes()
    # the model's tokenizer config is the extended one with the model's context as its length limit
    extended_config = json.loads((extended / "tokenizer_config.json").read_text())
    context = json.loads((out / "config.json").read_text())["max_position_embeddings"]
    assert json.loads((out / "tokenizer_config.json").read_text()) == {**extended_config, "model_max_length": context}
    assert new_token_ids(work / "extend") == range(400, 400 + ADD)
    assert result.card["new_ids"] == {"start": 400, "stop": 400 + ADD}

    transplant_vocabulary(setup["model"], work / "extend", tmp_path / "transplant", method="subword-mean")
    assert same_weights(tmp_path / "transplant", work / "transplant")
    original = load_file(setup["model"] / "model.safetensors")["model.embed_tokens.weight"]
    rows = load_file(work / "transplant" / "model.safetensors")["model.embed_tokens.weight"]
    assert torch.equal(rows[:400], original) and rows.shape[0] == 400 + ADD  # old rows copied exactly

    single_thread(lambda: distill(setup["model"], work / "transplant", [setup["train"]], tmp_path / "distill",
                                  config=DistillConfig(**FAST), progress=False))
    assert same_weights(tmp_path / "distill", work / "distill") and same_weights(tmp_path / "distill", out)
    assert not same_weights(work / "transplant", out)  # distillation moved the weights

    scores, texts = {}, read_heldout(config(setup), [setup["train"]])
    assert {name: (ENG if name == "eng" else setup["heldout"]).read_text(encoding="utf-8").startswith(text)
            and len(text) <= HELDOUT_CHARS for name, text in texts.items()} == {"rus": True, "eng": True}
    for name, text in texts.items():
        checkpoint = load_checkpoint(out)
        scores[name] = bits_per_byte(checkpoint.model, checkpoint.tokenizer, {name: text}).total.bits_per_byte
    rows = {row["text"]: row for row in result.rows}
    assert {name: rows[name]["bits_per_byte_distilled"] for name in scores} == scores
    # the English BPE has no Cyrillic merges: the new tokens halve Russian and leave English alone
    assert rows["rus"]["tokens_per_byte_before"] == 1.0 and rows["rus"]["fewer_tokens_percent"] > 50
    assert rows["eng"]["fewer_tokens_percent"] == 0.0

    card = json.loads((out / "tokwork.json").read_text(encoding="utf-8"))
    assert card["kind"] == "adapt" and card["steps"]["extend"]["card"]["kind"] == "extend"
    assert card["steps"]["transplant"]["card"]["method"] == "subword-mean"
    assert card["steps"]["distill"]["card"]["step"] == FAST["steps"]
    assert AdaptConfig.from_json(card["config"]) == config(setup)
    assert not (out / "distill-optimizer.safetensors").exists()
    model, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    ids = tokenizer("Все люди рождаются свободными", return_tensors="pt").input_ids
    assert (ids >= 400).any() and model(ids).logits.shape[-1] == 400 + ADD


@pytest.mark.parametrize("killed_after", STEPS)
def test_a_run_killed_after_any_step_resumes_to_the_same_bits(setup, straight, tmp_path, killed_after):
    _, straight_out, _ = straight
    out = tmp_path / "out"
    first = single_thread(lambda: adapt_model(config(setup), out, stop_after=killed_after, progress=False))
    done = list(STEPS[:STEPS.index(killed_after) + 1])
    assert first.ran == done and first.output is None and not out.exists()
    (tmp_path / ".out.adapt-work" / ".distill.tmp-left-by-a-kill").mkdir()  # a kill leaves such folders
    second = single_thread(lambda: adapt_model(config(setup), out, keep_work=False, progress=False))
    assert second.skipped == done and second.ran == [s for s in STEPS if s not in done]
    assert same_weights(out, straight_out)
    for name in ("tokenizer.json", "adapt.json"):
        assert (out / name).read_bytes() == (straight_out / name).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # keep_work=False: the work area is gone


def test_a_run_killed_inside_distillation_resumes_from_its_checkpoint(setup, straight, tmp_path, monkeypatch):
    from tokwork.transplant.distill.distiller import Distiller

    step, taken, kill = Distiller.step, [], [True]

    def step_killed_at_3(self, number):
        if number == 3 and kill:  # the 4th step; the checkpoint after the 2nd is on disk (save_every=2)
            kill.clear()
            raise KeyboardInterrupt
        taken.append(number)
        return step(self, number)

    out = tmp_path / "out"
    monkeypatch.setattr(Distiller, "step", step_killed_at_3)
    with pytest.raises(KeyboardInterrupt):
        single_thread(lambda: adapt_model(config(setup), out, progress=False))
    taken.clear()
    resumed = single_thread(lambda: adapt_model(config(setup), out, progress=False))
    assert resumed.skipped == ["extend", "transplant"] and resumed.ran == ["distill", "evaluate"]
    assert taken == [2, 3]  # from the checkpoint, not from the start
    assert same_weights(out, straight[1])


def test_changed_settings_redo_only_the_steps_they_feed(setup, tmp_path):
    out = tmp_path / "out"
    single_thread(lambda: adapt_model(config(setup), out, stop_after="evaluate", progress=False))
    fewer_steps = config(setup, distill=DistillConfig(**{**FAST, "steps": 2}))
    changed = single_thread(lambda: adapt_model(fewer_steps, out, keep_work=True, progress=False))
    assert changed.skipped == ["extend", "transplant"] and changed.ran == ["distill", "evaluate"]
    assert changed.card["steps"]["distill"]["card"]["step"] == 2
    again = adapt_model(fewer_steps, out, progress=False)
    assert again.ran == [] and again.card == changed.card
    shorter = replace(fewer_steps, heldout_chars=2000)
    assert adapt_model(shorter, out, stop_after="evaluate", progress=False).ran == ["evaluate"]


def test_more_distillation_steps_go_on_from_the_finished_run(setup, straight, tmp_path, monkeypatch):
    from tokwork.transplant.distill.distiller import Distiller

    out, taken, step = tmp_path / "out", [], Distiller.step

    def counted(self, number):
        taken.append(number)
        return step(self, number)

    monkeypatch.setattr(Distiller, "step", counted)
    half = config(setup, distill=DistillConfig(**{**FAST, "steps": 2}))
    single_thread(lambda: adapt_model(half, out, stop_after="evaluate", progress=False))
    assert taken == [0, 1]
    taken.clear()
    longer = single_thread(lambda: adapt_model(config(setup), out, progress=False))
    assert longer.ran == ["distill", "evaluate"] and taken == [2, 3]  # on from step 2, not from the start
    assert same_weights(out, straight[1])  # the same bits as 4 steps in one go
    assert longer.card["steps"]["distill"]["card"]["step"] == FAST["steps"]


def cli_args(setup, out: Path, *extra: str, model: Path | None = None, corpus: Path | None = None,
             heldout: bool = True, quiet: bool = True) -> list[str]:
    texts = ["--heldout", str(setup["heldout"]), "--heldout", f"eng={ENG}"] if heldout else []
    return ["adapt", str(model or setup["model"]), "--language", "rus", "--corpus", str(corpus or setup["train"]),
            *texts, "-o", str(out), "--add", str(ADD), "--method", "subword-mean", "--distill-steps", "2",
            "--batch-size", str(FAST["batch_size"]), "--text-chars", str(FAST["text_chars"]),
            "--heldout-chars", str(HELDOUT_CHARS),
            *(["-q"] if quiet else []), *extra]


def test_cli_writes_the_model_its_card_and_a_report(setup, tmp_path, capsys, monkeypatch):
    from tokwork.cli import console

    monkeypatch.setattr(console.out, "width", 160)  # a terminal wide enough for the whole table
    out = tmp_path / "out"
    assert single_thread(lambda: main(cli_args(setup, out))) == 0
    printed = capsys.readouterr().out
    flat = "".join(printed.split())
    card = json.loads((out / "tokwork.json").read_text(encoding="utf-8"))
    rows = {row["text"]: row for row in card["evaluation"]}
    assert {k: card["config"]["distill"][k] for k in ("batch_size", "text_chars")} == \
        {k: FAST[k] for k in ("batch_size", "text_chars")}
    assert f"{rows['rus']['fewer_tokens_percent']:.1f}%" in flat and "rus" in flat and "eng" in flat
    assert f"{out / 'report.html'}" in printed  # the path is never broken across lines
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokwork.json", "adapt.json", "report.html",
            "adapt.png"} <= {p.name for p in out.iterdir()}
    assert (out / "adapt.png").read_bytes().startswith(b"\x89PNG")
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Adapting a model to rus" in report and "data:image/png;base64," in report
    assert main(cli_args(setup, out)) == 0  # the same command again: every step skipped
    assert re.findall(r"^ *(\w+) .* (ran|skipped) *$", printed, re.M) == [(s, "ran") for s in STEPS]
    again = capsys.readouterr().out
    assert re.findall(r"^ *(\w+) .* (ran|skipped) *$", again, re.M) == [(s, "skipped") for s in STEPS]
    assert main(["adapt", "--help"]) == 0
    assert "resumes after its last finished step" in " ".join(capsys.readouterr().out.split())


def test_cli_hands_the_distillation_its_schedule_and_rate(setup, tmp_path, monkeypatch):
    """The options reach the distillation's settings (`tokwork distill`'s tests train with them): without
    --distill-steps a linear schedule is planned by --distill-minutes, with them over the steps; recomputing
    activations is passed on."""
    from tokwork.transplant.adapt import pipeline

    class Handed(Exception):
        pass

    def capture(config, *args, **kwargs):
        raise Handed(config.distill)

    monkeypatch.setattr(pipeline, "adapt_model", capture)
    args = cli_args(setup, tmp_path / "out", "--distill-schedule", "linear", "--distill-lr", "1e-4",
                    "--distill-minutes", "3", "--checkpoint-activations")
    at = args.index("--distill-steps")
    for given, budget, steps in ((args[:at] + args[at + 2:], 3.0, 1_000_000), (args, None, 2)):
        with pytest.raises(Handed) as handed:
            main(given)
        distill = handed.value.args[0]
        assert (distill.schedule, distill.learning_rate, distill.budget_minutes, distill.steps,
                distill.checkpoint_activations) == ("linear", 1e-4, budget, steps, True)
        distill.validate()


@pytest.fixture
def bad(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    merge_less = byte_level_tokenizer(tmp_path / "merge-less")  # a BPE with no merges to extend
    pico_model(merge_less, rows=load_tokenizer(merge_less).vocab_size)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    small = tmp_path / "small"  # the adapt setup's tokenizer on a model with fewer rows than it has tokens
    train_bpe([setup["train"]], BPEConfig(vocab_size=400), progress=False).save(small)
    tokwork.pico.pico_model(300, tied=True, spread=0.02, max_positions=256, end_of_text_id=0,
                            dtype=torch.float32).save_pretrained(small)
    return {**setup, "merge-less": merge_less, "foreign": foreign, "empty": tmp_path / "empty.txt",
            "out": tmp_path / "out", "tmp": tmp_path, "small": small}


CASES = {
    "a language with no text": (lambda b: ["adapt", str(b["model"]), "--language", "xyz", "-o", str(b["out"])],
                                "no text for language 'xyz'"),
    "an empty corpus": (lambda b: cli_args(b, b["out"], corpus=b["empty"], quiet=False), "corpus is empty"),
    "a tokenizer without merges": (lambda b: cli_args(b, b["out"], model=b["merge-less"], quiet=False),
                                   "BPE without merges"),
    "an output tokwork did not write": (lambda b: cli_args(b, b["foreign"]), "not a tokwork output"),
    "no held-out text": (lambda b: cli_args(b, b["out"], heldout=False), "no held-out text for 'rus'"),
    "held-out text that is training text": (lambda b: cli_args(b, b["out"], "--heldout", str(b["train"])),
                                            "also in the training corpus"),
    "an unknown method": (lambda b: cli_args(b, b["out"], "--method", "magic"), "unknown transplant method"),
    "a model smaller than its tokenizer": (lambda b: cli_args(b, b["out"], model=b["small"]),
                                           "model and tokenizer do not belong together"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_writes_nothing(bad, capsys, case):
    make, message = CASES[case]
    code = main(make(bad))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert "Traceback" not in err
    assert not bad["out"].exists() and not any(p.name.startswith(".") for p in bad["tmp"].iterdir())
    assert [p.name for p in bad["foreign"].iterdir()] == ["keep.txt"]


def test_the_distill_steps_record_leaves_out_what_changes_no_number(tmp_path):
    """A work area made before `checkpoint_activations` existed recorded the distillation's settings
    without it; recomputing activations changes no number, so either setting still matches that record."""
    from tokwork.transplant.adapt.resume import plan_inputs

    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer.json").write_text("{}")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("text", encoding="utf-8")

    def digest(distill: DistillConfig) -> str:
        config = AdaptConfig(model=str(model), language="xx", corpus=[str(corpus)], heldout={}, distill=distill)
        return plan_inputs(config, model, [corpus], {}, None)["distill"]["digest"]

    assert digest(DistillConfig(checkpoint_activations=True)) == digest(DistillConfig())
    assert "checkpoint_activations" not in json.dumps(plan_inputs(
        AdaptConfig(model=str(model), language="xx", corpus=[str(corpus)], heldout={}), model, [corpus], {}, None))
    assert digest(DistillConfig(learning_rate=1e-4)) != digest(DistillConfig())
