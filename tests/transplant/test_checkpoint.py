"""The written checkpoint: reloads with plain transformers, rows copied bit for bit, same logits."""

from __future__ import annotations

import json

import pytest
import torch

from tests.transplant.conftest import SOURCE_TOKENS
from tokwork import load_tokenizer
from tokwork.byteview import bytes_to_byte_level
from tokwork.transplant.pipeline import transplant_vocabulary


def shared_ids(result):
    alignment = result.alignment
    view = alignment.target.byte_view
    pairs = [(int(t), int(s)) for t, s in zip(alignment.shared_target_ids, alignment.shared_source_ids, strict=True)
             if view[int(t)] is not None]
    return [t for t, _ in pairs], [s for _, s in pairs]


def assert_same_logits_on_shared_tokens(model, original, target_ids, source_ids):
    """On random texts of shared tokens, the new model's logits for them are the source model's."""
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(target_ids), (3, 12), generator=generator)
    with torch.no_grad():
        got = model(torch.tensor(target_ids)[picks]).logits[..., target_ids]
        want = original(torch.tensor(source_ids)[picks]).logits[..., source_ids]
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(("kind", "tied", "padding"), [("llama", True, 0), ("llama", False, 3), ("gpt2", True, 2),
                                                       ("gpt2", False, 0)])
def test_written_checkpoint_reloads_with_the_same_logits_on_shared_tokens(pico, tmp_path, kind, tied, padding):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, target = pico(kind=kind, tied=tied, padding=padding)
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    out = tmp_path / "out"
    result = transplant_vocabulary(source, target, out, method="mean")
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # the source is never modified

    original = AutoModelForCausalLM.from_pretrained(source).eval()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    target_tok = load_tokenizer(target)
    rows = target_tok.vocab_size + padding
    assert model.config.vocab_size == rows and model.get_input_embeddings().weight.shape[0] == rows
    assert model.config.tie_word_embeddings == tied
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == tied
    specials = target_tok.specials
    assert (model.config.bos_token_id, model.config.eos_token_id) == (specials.bos, specials.eos)
    # generation reads bos, eos and pad from the generation config; what is written there survives a reload
    written = json.loads((out / "generation_config.json").read_text())
    assert (written.get("bos_token_id"), written.get("eos_token_id")) == (specials.bos, specials.eos)
    model.generation_config.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "generation_config.json").read_text()) == written

    target_ids, source_ids = shared_ids(result)
    for new, old in [(model.get_input_embeddings().weight, original.get_input_embeddings().weight),
                     (model.get_output_embeddings().weight, original.get_output_embeddings().weight)]:
        assert torch.equal(new[target_ids], old[source_ids])  # bit for bit
        if padding:
            assert torch.equal(new[-padding:], old[-padding:])

    assert_same_logits_on_shared_tokens(model, original, target_ids, source_ids)

    loaded = AutoTokenizer.from_pretrained(out)
    assert loaded("▁x zz hello")["input_ids"] == target_tok.encode("▁x zz hello")
    card = json.loads((out / "tokwork.json").read_text())
    assert card["method"] == "mean" and card["alignment"]["new"] == len(result.alignment.new_ids)
    listed = [i for start, stop in card["new_ids"] for i in range(start, stop)]
    assert listed == sorted(int(i) for i in result.alignment.new_ids)  # which rows were made up, not copied


def test_transplant_onto_gpt2_tokenizer_matches_the_reference(pico, tmp_path, reference_tokenizer):
    """Onto GPT-2's 50,257 tokens: the source's 26 byte tokens and its <|endoftext|> keep their rows bit for
    bit (and so their logits), and every other row is what subword mean (FVT) promises: the mean of the rows
    of the source tokens that spell it, worked out here by hand for a few."""
    from transformers import AutoModelForCausalLM

    source, _ = pico()
    gpt2 = reference_tokenizer("gpt2")
    out = tmp_path / "gpt2-out"
    result = transplant_vocabulary(source, gpt2.source, out, method="subword-mean")
    original = AutoModelForCausalLM.from_pretrained(source).eval()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.config.vocab_size == 50257 and model.config.eos_token_id == 50256
    assert (result.report.exact, result.report.bytes, result.report.special) == (26, 0, 1)
    assert result.report.new == 50257 - 26 - 1

    # both tokenizers spell tokens in GPT-2's byte alphabet: a source token is the GPT-2 token of that string
    source_tokenizer = load_tokenizer(source)
    pairs = {gpt2.token_to_id(bytes_to_byte_level(piece)): source_tokenizer.token_to_id(bytes_to_byte_level(piece))
             for piece in SOURCE_TOKENS}
    pairs[50256] = 0  # <|endoftext|> in both
    target_ids, source_ids = list(pairs), list(pairs.values())
    old, new = original.get_input_embeddings().weight, model.get_input_embeddings().weight
    assert torch.equal(new[target_ids], old[source_ids])  # bit for bit
    assert model.get_output_embeddings().weight is new  # the source is tied, and so is the transplant

    def row(*pieces: bytes):
        return old[[source_tokenizer.token_to_id(bytes_to_byte_level(p)) for p in pieces]].mean(dim=0)

    expected = {
        "Ġhello": row(b" ", b"h", b"e", b"l", b"l", b"o"),  # the source has no merges: " hello" is its bytes
        "world": row(b"w", b"o", b"r", b"l", b"d"),  # what the source encodes, not the fewer `w`, `or`, `ld`
        "Ġthe": row(b" ", b"he"),  # no source token holds `t`: the fewest pieces that spell the rest
        "ĠQ": row(b" "),
        "Q": old[:source_tokenizer.vocab_size].mean(dim=0),  # nothing spells it: the mean token row
    }
    for token, want in expected.items():
        assert torch.allclose(new[gpt2.token_to_id(token)], want, atol=1e-7), token

    assert_same_logits_on_shared_tokens(model, original, target_ids, source_ids)


def test_library_calls_draw_no_transformers_bars(pico, tmp_path, capfd):
    """Loading and writing a checkpoint from Python leaves stderr alone: transformers draws a bar for each
    by default, which the commands switched off and library callers saw."""
    from transformers.utils import logging as hf_logging

    from tokwork.transplant.checkpoint import load_checkpoint

    hf_logging.enable_progress_bar()
    source, target = pico()
    transplant_vocabulary(source, target, tmp_path / "out", method="mean")
    load_checkpoint(tmp_path / "out")
    assert capfd.readouterr().err == ""
    assert hf_logging.is_progress_bar_enabled()  # the caller's setting is left as it was


def test_a_chat_template_goes_along_where_the_target_has_its_tokens(pico, tmp_path, reference_tokenizer):
    """The source's chat template is carried onto a target with every special token it writes (an extended
    tokenizer keeps them all); onto another family's vocabulary it would name tokens that do not exist."""
    from transformers import AutoTokenizer

    source, _ = pico()
    gpt2 = reference_tokenizer("gpt2")
    template = "{% for m in messages %}{{ m['content'] }}<|endoftext|>{% endfor %}"
    (source / "chat_template.jinja").write_text(template, encoding="utf-8")
    transplant_vocabulary(source, gpt2.source, tmp_path / "carried", method="subword-mean")
    chat = AutoTokenizer.from_pretrained(tmp_path / "carried")
    assert chat.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "hi<|endoftext|>"
    (source / "chat_template.jinja").write_text(template.replace("<|endoftext|>", "<|im_end|>"), encoding="utf-8")
    transplant_vocabulary(source, gpt2.source, tmp_path / "left", method="subword-mean")
    assert not (tmp_path / "left" / "chat_template.jinja").exists()


def test_a_16_bit_source_is_written_in_16_bits_with_its_rows_exact(pico, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    source, target = pico()
    half = tmp_path / "bf16"
    AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16).save_pretrained(half)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (half / name).write_bytes((source / name).read_bytes())
    result = transplant_vocabulary(half, target, tmp_path / "out", method="mean")
    written = load_file(tmp_path / "out" / "model.safetensors")
    assert {t.dtype for t in written.values()} == {torch.bfloat16}
    card = json.loads((tmp_path / "out" / "tokwork.json").read_text())
    assert card["dtype"] == "bfloat16"
    original = load_file(half / "model.safetensors")
    name = next(k for k in written if "embed_tokens" in k)
    target_ids, source_ids = shared_ids(result)
    assert torch.equal(written[name][target_ids], original[name][source_ids])


def test_the_card_says_which_row_each_special_got_and_what_became_of_the_chat_template(pico, tmp_path):
    source, target = pico()
    (source / "chat_template.jinja").write_text("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}")
    transplant_vocabulary(source, target, tmp_path / "out", method="mean")
    card = json.loads((tmp_path / "out" / "tokwork.json").read_text())
    # <s> is the target's bos and </s> its eos: both get the row of the source's <|endoftext|> (bos and eos)
    assert card["specials"]["<s>"] == card["specials"]["</s>"] == "<|endoftext|>"
    assert card["chat_template"] == "dropped: the target tokenizer has no <|im_start|>"
    assert card["dtype"] == "float32"
    # the tokenizer's length limit is the model's context, not the target tokenizer's own
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 128
