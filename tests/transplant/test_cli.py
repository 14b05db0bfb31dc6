"""`tokwork transplant` and `tokwork eval` from the command line: summaries, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from tokwork import load_tokenizer
from tokwork.cli.main import main

TOKWORK = [sys.executable, "-m", "tokwork.cli"]


def run_cli(*args, cwd):
    return subprocess.run([*TOKWORK, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_transplant_then_eval(pico, tmp_path, capsys):
    source, target = pico()
    out = tmp_path / "out"
    assert main(["transplant", str(source), str(target), "-o", str(out), "--method", "subword-mean", "-q"]) == 0
    summary = capsys.readouterr().out
    assert "14 exact, 7 by bytes, 2 special" in summary and "written to" in summary
    text = tmp_path / "eng.txt"
    text.write_text("hello world\nhello", encoding="utf-8")
    assert main(["eval", str(out), str(text), "--json", "-q"]) == 0
    scores = json.loads(capsys.readouterr().out)["total"]
    # by hand, with plain transformers: the target has no merges and no pre-tokenizer, so the text, one word
    # it does not hold, is spelled a character at a time (the newline as its byte-fallback piece): 17 tokens,
    # each predicted after the one before it, the first after bos (<s>); bits per byte is their NLL / 17 bytes
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    pieces = ["<s>", *"hello", "▁", *"world", "<0x0A>", *"hello"]
    ids = tokenizer.convert_tokens_to_ids(pieces)
    assert tokenizer("hello world\nhello", add_special_tokens=False)["input_ids"] == ids[1:]
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]])).logits[0]
    bits = float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum")) / math.log(2)
    assert (scores["bytes"], scores["tokens"]) == (17, 17)
    assert scores["bits"] == pytest.approx(bits, rel=1e-5)
    assert scores["bits_per_byte"] == pytest.approx(bits / 17, rel=1e-5)


@pytest.fixture
def bad_inputs(pico, tmp_path):
    source, target = pico()
    cases = tmp_path / "cases"
    cases.mkdir()
    no_view = cases / "no-view"
    no_view.mkdir()
    spec = json.loads((target / "tokenizer.json").read_text())
    spec["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": True}
    (no_view / "tokenizer.json").write_text(json.dumps(spec))
    corrupt = cases / "corrupt"
    corrupt.mkdir()
    for f in source.iterdir():
        (corrupt / f.name).write_bytes(f.read_bytes())
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    pickled = cases / "pickled"
    pickled.mkdir()
    for f in source.iterdir():
        if f.name != "model.safetensors":
            (pickled / f.name).write_bytes(f.read_bytes())
    import torch

    torch.save(load_file(source / "model.safetensors"), pickled / "pytorch_model.bin")
    exists = cases / "exists"
    exists.mkdir()
    (exists / "keep.txt").write_text("mine")
    wrong_size = cases / "wrong-size"  # transformers prints a load report of many lines before failing
    wrong_size.mkdir()
    for f in source.iterdir():
        (wrong_size / f.name).write_bytes(f.read_bytes())
    config = json.loads((source / "config.json").read_text())
    (wrong_size / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 7}))
    from transformers import BertConfig, BertForMaskedLM

    encoder = cases / "encoder"  # AutoModelForCausalLM loads it (BertLMHeadModel), but it sees the future
    BertForMaskedLM(BertConfig(vocab_size=load_tokenizer(source).vocab_size, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32)).save_pretrained(encoder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (encoder / name).write_bytes((source / name).read_bytes())
    return source, target, cases


BAD = {
    "tokenizer without a byte view": (["{source}", "{cases}/no-view", "-o", "{cases}/o1"], "has no byte view"),
    "corrupt checkpoint": (["{cases}/corrupt", "{target}", "-o", "{cases}/o2"], "cannot be loaded"),
    "missing checkpoint": (["{cases}/nowhere", "{target}", "-o", "{cases}/o3"], "does not exist"),
    "pickle checkpoint": (["{cases}/pickled", "{target}", "-o", "{cases}/o4"], "pass --allow-pickle"),
    "k of zero": (["{source}", "{target}", "-o", "{cases}/o5", "-k", "0"], "k must be a positive"),
    "negative k for hybrid": (["{source}", "{target}", "-o", "{cases}/o6", "-m", "hybrid", "-k", "-2"],
                              "k must be a positive"),
    "output exists": (["{source}", "{target}", "-o", "{cases}/exists"], "already exists"),
    "unknown method": (["{source}", "{target}", "-o", "{cases}/o7", "-m", "magic"], "unknown transplant method"),
    "option the method lacks": (["{source}", "{target}", "-o", "{cases}/o8", "-m", "mean", "-k", "3"],
                                "does not take k"),
    "an encoder as the source": (["{cases}/encoder", "{target}", "-o", "{cases}/o10"],
                                 "is a BertForMaskedLM, not a causal language model"),
    "a config whose vocab_size is not the weights'": (["{cases}/wrong-size", "{target}", "-o", "{cases}/o11"],
                                                      "is inconsistent: its config.json says vocab_size"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_line_and_writes_nothing(bad_inputs, case, capsys):
    source, target, cases = bad_inputs
    args, message = BAD[case]
    before = sorted(p.name for p in cases.iterdir())
    filled = [a.format(source=source, target=target, cases=cases) for a in args]
    assert main(["transplant", *filled, "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokwork: error: ") and message in lines[0], lines
    assert sorted(p.name for p in cases.iterdir()) == before
    assert (cases / "exists" / "keep.txt").read_text() == "mine"


def test_bad_input_in_a_fresh_process_has_no_traceback(bad_inputs):
    source, target, cases = bad_inputs
    done = run_cli("transplant", cases / "pickled", target, "-o", cases / "o9", cwd=cases)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "pass --allow-pickle" in done.stderr
    assert not (cases / "o9").exists()


def test_pickle_checkpoint_loads_with_the_flag(bad_inputs, tmp_path):
    """The pickled copy holds the same tensors as the safetensors source: the transplant of either writes
    the same weights, tensor for tensor, bit for bit."""
    import torch

    from tokwork.transplant.pipeline import transplant_vocabulary

    source, target, cases = bad_inputs
    assert main(["transplant", str(cases / "pickled"), str(target), "-o", str(cases / "ok"), "-m", "mean",
                 "--allow-pickle", "-q"]) == 0
    transplant_vocabulary(source, target, tmp_path / "from-safetensors", method="mean")
    written = load_file(cases / "ok" / "model.safetensors")
    reference = load_file(tmp_path / "from-safetensors" / "model.safetensors")
    assert sorted(written) == sorted(reference)
    for name, tensor in reference.items():
        assert written[name].dtype == tensor.dtype and torch.equal(written[name], tensor), name
    rows = load_tokenizer(target).vocab_size
    assert reference["model.embed_tokens.weight"].shape[0] == rows  # the target's rows, not the source's


def test_eval_bad_input_is_one_line(bad_inputs, capsys):
    source, _, cases = bad_inputs
    assert main(["eval", str(source), str(cases / "no-such.txt")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["eval", str(cases / "pickled"), str(cases / "exists" / "keep.txt")]) == 2
    assert "pass --allow-pickle" in capsys.readouterr().err
    for command in (["eval", str(cases / "encoder"), str(cases / "exists" / "keep.txt")],
                    ["bytes", "next", str(cases / "encoder"), "Hello wor"]):
        assert main(command) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "not a causal language model" in lines[0], lines
    # a tokenizer far smaller than the model's rows (or larger) is not the one it was trained with
    from tokwork import load_tokenizer
    from tokwork.pico import pico_model

    padded = cases / "padded"
    pico_model(load_tokenizer(source).vocab_size + 2000).float().save_pretrained(padded)
    assert main(["eval", str(padded), str(cases / "exists" / "keep.txt"), "--tokenizer", str(source)]) == 2
    assert "do not belong together: the model predicts" in capsys.readouterr().err
