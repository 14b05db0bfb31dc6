"""The hypernetwork on pico models: it learns, warm-up teaches identity, it resumes exactly, the CLI uses it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tokwork import load_tokenizer
from tokwork.cli.main import main
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.hypernet.checkpoint import load_hypernet, save_hypernet
from tokwork.transplant.hypernet.model import predict_rows
from tokwork.transplant.hypernet.sampling import TrainingText
from tokwork.transplant.hypernet.training import Trainer, TrainingConfig, train_hypernet

from .conftest import SOURCE_TOKENS, byte_level_tokenizer, pico_model, sentencepiece_style_tokenizer

CORPUS = "corpora/en/sample.txt"
# Small enough for a pico model: sampled tokenizers of 300-600 tokens trained on 20-40 KB slices.
PICO = {"batch_size": 2, "sequence_length": 32, "new_tokens": 64, "warmup_tokens": 64, "aux_tokens": 32,
        "slice_bytes": (20_000, 40_000), "vocab_sizes": (300, 600), "save_every": 10, "log_every": 5}


def pico_config(**changes) -> TrainingConfig:
    return TrainingConfig(**{**PICO, **changes})


def source_matrices(source):
    checkpoint = load_checkpoint(source)
    output = checkpoint.output_embeddings()
    return checkpoint, [checkpoint.input_embeddings()] + ([] if output is None else [output])


def predictions(folder, source, decompositions):
    network, _ = load_hypernet(folder)
    _, matrices = source_matrices(source)
    return predict_rows(network, decompositions, matrices, [m.mean(dim=0) for m in matrices])


def sharpen(folder):
    """Input rows of std 0.5 instead of 0.02: the pico model's logits then depend on the rows, as a trained
    model's do, so that there is something for the hypernetwork to learn."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(1))
    model.save_pretrained(folder)


def wide_model(folder, rows: int):
    """A pico Llama of hidden size 64 (the shared pico models have 32)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=rows, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True, bos_token_id=0, eos_token_id=0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Sources that share the tokenizer (tied, untied, wider), one with another vocabulary, a target."""
    root = tmp_path_factory.mktemp("hypernet-models")
    folders = {}
    for name, tied in (("tied", True), ("untied", False)):
        folders[name] = byte_level_tokenizer(root / name)
        pico_model(folders[name], tied=tied, rows=load_tokenizer(folders[name]).vocab_size)
        sharpen(folders[name])
    folders["wide"] = byte_level_tokenizer(root / "wide")
    wide_model(folders["wide"], load_tokenizer(folders["wide"]).vocab_size)
    folders["other-vocab"] = byte_level_tokenizer(root / "other-vocab", [*SOURCE_TOKENS, b"zz", b"ly"])
    pico_model(folders["other-vocab"], rows=load_tokenizer(folders["other-vocab"]).vocab_size)
    folders["target"] = sentencepiece_style_tokenizer(root / "target")
    return folders


@pytest.fixture(scope="module")
def trained(models, tmp_path_factory):
    """A hypernetwork trained 40 steps (10 warm-up) on the tied source; the warm-up checkpoint kept aside."""
    root = tmp_path_factory.mktemp("hypernet-trained")
    kept = {}

    def keep(step, folder):
        kept[step] = root / f"step-{step}"
        shutil.copytree(folder, kept[step])

    config = pico_config(steps=40, warmup_steps=10, lm_learning_rate=1e-3)
    card = train_hypernet(models["tied"], [CORPUS], root / "hn", config=config, progress=False, on_checkpoint=keep)
    return root / "hn", kept, card


def test_language_modelling_loss_falls(models, trained):
    folder, kept, card = trained
    assert [entry["step"] for entry in card.history if "lm" in entry] == [15, 20, 25, 30, 35, 40]
    # Steps differ in difficulty (each draws its tokenizer and text), so the loss is compared on the same
    # steps (same sampled tokenizers, windows and new tokens) before and after the 30 language-modelling steps.
    checkpoint = load_checkpoint(models["tied"])
    text = TrainingText.read([CORPUS], max_bytes=TrainingConfig().max_corpus_bytes)
    losses = []
    for snapshot in (kept[10], folder):
        network, saved = load_hypernet(snapshot)
        config = TrainingConfig.from_json(saved.training)
        trainer = Trainer(checkpoint, text, network, config, torch.device("cpu"))
        with torch.no_grad():
            losses.append(np.mean([float(trainer.language_model_loss(step_vocabulary(trainer, step)))
                                   for step in range(10, 40, 3)]))
    assert losses[1] < losses[0] - 0.5, losses


def step_vocabulary(trainer, step):
    config = trainer.config
    rng = np.random.default_rng([config.seed, 0, step])
    vocabulary = trainer.vocabulary((step - config.warmup_steps) // config.steps_per_tokenizer)
    windows = vocabulary.windows(trainer.text, rng, batch=config.batch_size, length=config.sequence_length)
    return vocabulary.step(windows, rng, new_tokens=config.new_tokens)


def test_identity_warmup_reproduces_source_rows(models, tmp_path):
    """ZeTT's shape (no residual): the warm-up alone teaches it the rows of source tokens read as themselves,
    input and output rows of the untied source (the tied source's rows after warm-up: the residual test)."""
    source = models["untied"]
    train_hypernet(source, [CORPUS], tmp_path / "hn", config=pico_config(steps=150, warmup_steps=150,
                                                                         warmup_tokens=256, save_every=150),
                   shape={"residual": False, "width": 64}, progress=False)
    checkpoint, matrices = source_matrices(source)
    ids = list(range(1, checkpoint.tokenizer.vocab_size))
    before = predictions(tmp_path / "hn", source, [(i,) for i in ids])
    for rows, matrix in zip(before, matrices, strict=True):
        cosine = torch.nn.functional.cosine_similarity(rows, matrix[ids]).mean()
        assert cosine >= 0.9, float(cosine)


def test_residual_network_keeps_identity_after_warmup_and_near_it_after_training(models, trained):
    """The default (residual) network starts at the rows themselves; warm-up must keep that, and the
    language-modelling steps may move them only a little (the auxiliary loss holds them)."""
    folder, kept, _ = trained
    checkpoint, matrices = source_matrices(models["tied"])
    ids = list(range(1, checkpoint.tokenizer.vocab_size))
    for snapshot, bar in ((kept[10], 0.9), (folder, 0.85)):
        rows = predictions(snapshot, models["tied"], [(i,) for i in ids])[0]
        assert torch.nn.functional.cosine_similarity(rows, matrices[0][ids]).mean() >= bar


def test_resume_with_another_corpus_or_model_is_refused(models, tmp_path):
    from tokwork.transplant.hypernet.checkpoint import HypernetError

    config = pico_config(steps=4, warmup_steps=1, save_every=2)
    narrow = {"width": 32, "layers": 1}
    train_hypernet(models["untied"], [CORPUS], tmp_path / "run", config=replace(config, steps=2), shape=narrow,
                   progress=False)
    other = tmp_path / "other.txt"
    other.write_text(Path(CORPUS).read_text(encoding="utf-8")[: 20_000] + "\nmore\n", encoding="utf-8")
    with pytest.raises(HypernetError, match="give the same corpus to resume it, or pass --fresh"):
        train_hypernet(models["untied"], [other], tmp_path / "run", config=config, progress=False)
    twin = tmp_path / "twin"  # the same model, copied: the same vocabulary and shape, another model to resume on
    shutil.copytree(models["untied"], twin)
    with pytest.raises(HypernetError, match="was trained for the model"):
        train_hypernet(twin, [CORPUS], tmp_path / "run", config=config, progress=False)
    assert train_hypernet(models["untied"], [CORPUS], tmp_path / "run", config=config, progress=False).step == 4


def test_resume_gives_the_same_network_as_one_run(models, tmp_path):
    # The crash comes mid-tokenizer (steps 8-11 share the second sampled tokenizer), so the resumed run
    # must draw that tokenizer again exactly; a narrow network, since exactness does not depend on width.
    config = pico_config(steps=14, warmup_steps=4, save_every=5)
    narrow = {"width": 32, "layers": 1}
    whole = train_hypernet(models["untied"], [CORPUS], tmp_path / "whole", config=config, shape=narrow,
                           progress=False)

    def crash(step, folder):
        if step == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_hypernet(models["untied"], [CORPUS], tmp_path / "resumed", config=config, shape=narrow,
                       progress=False, on_checkpoint=crash)
    assert json.loads((tmp_path / "resumed" / "tokwork.json").read_text())["step"] == 10
    resumed = train_hypernet(models["untied"], [CORPUS], tmp_path / "resumed", config=config, progress=False)
    assert resumed.step == whole.step == 14
    assert resumed.model["width"] == 32
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in resumed.history] == \
           [{k: v for k, v in e.items() if k != "seconds"} for e in whole.history]
    one, two = load_hypernet(tmp_path / "whole")[0], load_hypernet(tmp_path / "resumed")[0]
    for (name, a), (_, b) in zip(one.state_dict().items(), two.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    pieces = [(3, 4), (15, 16, 7), (20,), ()]
    for a, b in zip(predictions(tmp_path / "whole", models["untied"], pieces),
                    predictions(tmp_path / "resumed", models["untied"], pieces), strict=True):
        assert torch.equal(a, b)


def test_save_and_load_give_the_same_predictions(models, trained, tmp_path):
    folder, _, _ = trained
    network, card = load_hypernet(folder)
    save_hypernet(tmp_path / "copy", network, card)
    pieces = [(3, 4), (15, 16, 7), (20,), (), tuple(range(1, 20))]
    for a, b in zip(predictions(folder, models["tied"], pieces), predictions(tmp_path / "copy", models["tied"], pieces),
                    strict=True):
        assert torch.equal(a, b)


def test_cli_trains_and_transplants_a_checkpoint_transformers_loads(models, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hn, out = tmp_path / "hn", tmp_path / "out"
    # A 40 KB corpus and a narrow network: the CLI has no option for the sampled tokenizers' slice sizes
    # (by default more than the whole 1.5 MB sample), and what is checked here is the plumbing, not learning.
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(Path(CORPUS).read_text(encoding="utf-8")[:40_000], encoding="utf-8")
    assert main(["hypernet", "train", str(models["tied"]), "--corpus", str(corpus), "-o", str(hn),
                 "--steps", "6", "--warmup-steps", "2", "--batch-size", "2", "--sequence-length", "32",
                 "--new-tokens", "64", "--vocab-sizes", "300-500", "--save-every", "3", "--seed", "3",
                 "--width", "32", "--layers", "1", "--float32", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "6 of 6" in printed and "(float32)" in printed
    card = json.loads((hn / "tokwork.json").read_text())
    assert card["kind"] == "hypernet" and card["step"] == 6 and card["training"]["seed"] == 3
    assert card["precision"] == "float32" and card["training"]["bf16"] is False
    assert card["model"]["width"] == 32 and card["model"]["layers"] == 1
    # resumed with options the run does not take: it keeps its own, and a note names them
    capsys.readouterr()
    assert main(["hypernet", "train", str(models["tied"]), "--corpus", str(corpus), "-o", str(hn), "--steps", "7",
                 "--vocab-sizes", "300-500", "--seed", "3", "--width", "64", "--lr", "0.01", "--float32", "-q"]) == 0
    note = capsys.readouterr().err
    assert "--width 64 (the run's: 32)" in note and "--lr 0.01 (the run's: 0.001)" in note
    assert "--vocab-sizes" not in note and "--seed" not in note and "--float32" not in note
    card = json.loads((hn / "tokwork.json").read_text())
    assert card["step"] == 7 and card["model"]["width"] == 32 and card["training"]["learning_rate"] == 0.001
    assert main(["transplant", str(models["tied"]), str(models["target"]), "-o", str(out), "--method", "hypernet",
                 "--hypernet", str(hn), "-q"]) == 0
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("hello worldly zz", return_tensors="pt").input_ids
    assert ids.shape[1] > 1 and torch.isfinite(model(ids).logits).all()
    # matched rows are the source's; new rows are the hypernetwork's predictions
    source, target = load_checkpoint(models["tied"]), load_tokenizer(models["target"])
    rows = model.get_input_embeddings().weight.detach()
    hello = target.token_to_id("hello")
    assert torch.equal(rows[hello], source.input_embeddings()[source.tokenizer.token_to_id("hello")])
    zz, z = target.token_to_id("zz"), source.tokenizer.token_to_id("z")
    expected = predictions(hn, models["tied"], [(z, z)])[0][0]
    assert torch.allclose(rows[zz], expected, atol=1e-6)


def one_line_error(capsys, message):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokwork: error: ") and message in lines[0], lines


@pytest.mark.parametrize(("source", "message"), [("wide", "hidden size 32, but"),
                                                 ("other-vocab", "another source vocabulary"),
                                                 ("untied", "tied embeddings, but")])
def test_hypernetwork_of_another_source_is_refused(models, trained, tmp_path, capsys, source, message):
    hn = trained[0]
    out = tmp_path / "out"
    assert main(["transplant", str(models[source]), str(models["target"]), "-o", str(out), "--method", "hypernet",
                 "--hypernet", str(hn), "-q"]) == 2
    one_line_error(capsys, message)
    assert not out.exists()
    # resuming it on that source is refused as well, and the folder is left as it was
    before = (hn / "hypernet.safetensors").read_bytes()
    assert main(["hypernet", "train", str(models[source]), "--corpus", CORPUS, "-o", str(hn), "-q"]) == 2
    one_line_error(capsys, message)
    assert (hn / "hypernet.safetensors").read_bytes() == before


def broken_copies(folder, root):
    cases = {}
    for name in ("bad-card", "bad-weights", "no-weights", "wrong-shape"):
        cases[name] = root / name
        shutil.copytree(folder, cases[name])
    (cases["bad-card"] / "tokwork.json").write_text("{not json", encoding="utf-8")
    (cases["bad-weights"] / "hypernet.safetensors").write_bytes(b"not a safetensors file")
    (cases["no-weights"] / "hypernet.safetensors").unlink()
    card = json.loads((cases["wrong-shape"] / "tokwork.json").read_text())
    card["model"]["width"] = 128
    (cases["wrong-shape"] / "tokwork.json").write_text(json.dumps(card), encoding="utf-8")
    return cases


@pytest.mark.parametrize(("case", "message"), [("missing", "does not exist"), ("bad-card", "corrupt tokwork.json"),
                                               ("bad-weights", "corrupt weights"), ("no-weights", "no hypernet"),
                                               ("wrong-shape", "corrupt weights"), ("none", "needs a trained"),
                                               ("not-a-hypernet", "not a hypernetwork folder")])
def test_missing_or_corrupt_hypernetwork_is_one_line(models, trained, tmp_path, capsys, case, message):
    cases = {**broken_copies(trained[0], tmp_path), "missing": tmp_path / "nowhere",
             "not-a-hypernet": models["target"]}
    hypernet = [] if case == "none" else ["--hypernet", str(cases[case])]
    assert main(["transplant", str(models["tied"]), str(models["target"]), "-o", str(tmp_path / "out"),
                 "--method", "hypernet", *hypernet, "-q"]) == 2
    one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [(["--steps", "0"], "steps must be a positive"),
                                               (["--steps", "-5"], "steps must be a positive"),
                                               (["--vocab-sizes", "many"], "not a range"),
                                               (["--max-minutes", "0"], "--max-minutes must be positive"),
                                               (["--sequence-length", "1"], "sequence length 1 must be at least 2")])
def test_train_bad_options_are_one_line(models, tmp_path, capsys, args, message):
    assert main(["hypernet", "train", str(models["tied"]), "--corpus", CORPUS, "-o", str(tmp_path / "hn"),
                 *args, "-q"]) == 2
    one_line_error(capsys, message)
    assert not (tmp_path / "hn").exists()


def test_training_text_reads_a_jsonl_field(tmp_path):
    from tokwork.transplant.hypernet.sampling import TrainingText

    records = tmp_path / "records.jsonl"
    records.write_text('{"body": "first text"}\n{"body": "second text"}\n', encoding="utf-8")
    assert TrainingText.read([records], max_bytes=1000, text_field="body").paragraphs == ["first text",
                                                                                         "second text"]
