"""A second parallel dev set for parity-aware BPE: MediaWiki's interface messages translated into every
language of the parity benchmark (software text, nearer the documentation corpora than the UDHR is).

MediaWiki ships its core messages as one JSON file per language (`languages/i18n/<tag>.json`) in the
Debian package `mediawiki`, which `corpora/build_multilingual.py` keeps in the cache (it reads the
same package for Arabic, Persian, Hindi and Tamil training text). Kept: messages that every language has
and whose English is plain prose of six words or more (no templates, links, tags or `$1` parameters), in
the English file's order, NFC, each on one line.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from tokwork.cache import cache_root

# the parity benchmark's language codes (corpora/udhr file names) -> MediaWiki's language tags
TAGS = {"eng": "en", "deu_1996": "de", "fra": "fr", "spa": "es", "ita": "it", "por_BR": "pt-br", "nld": "nl",
        "pol": "pl", "tur": "tr", "vie": "vi", "ind": "id", "ces": "cs", "hun": "hu", "fin": "fi", "swe": "sv",
        "cat": "ca", "dan": "da", "rus": "ru", "ukr": "uk", "ell_monotonic": "el", "arb": "ar", "pes_1": "fa",
        "hin": "hi", "tam": "ta", "khm": "km", "cmn_hans": "zh-hans", "cmn_hant": "zh-hant", "jpn": "ja",
        "kor": "ko"}
MIN_WORDS = 6
MARKUP = ("{{", "[[", "<", "$", "''")


def _package() -> Path:
    found = sorted((cache_root() / "debian").glob("mediawiki_*.deb"))
    if not found:
        raise SystemExit("the mediawiki package is not in the cache: run corpora/build_multilingual.py first")
    return found[-1]


def mediawiki_messages(codes: list[str]) -> dict[str, list[str]]:
    """The kept messages of each of `codes`, parallel (the same message at the same index)."""
    missing = [code for code in codes if code not in TAGS]
    if missing:
        raise SystemExit(f"no MediaWiki language tag known for {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="tokwork-mediawiki-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(_package()), tmp], check=True)
        folder = Path(tmp) / "usr" / "share" / "mediawiki" / "languages" / "i18n"
        catalogues = {code: json.loads((folder / f"{TAGS[code]}.json").read_text(encoding="utf-8"))
                      for code in {"eng", *codes}}
    english = catalogues["eng"]
    keys = [key for key, text in english.items()
            if not key.startswith("@") and len(text.split()) >= MIN_WORDS and not any(m in text for m in MARKUP)
            and all(isinstance(catalogues[c].get(key), str) for c in codes)]
    return {code: [unicodedata.normalize("NFC", " ".join(catalogues[code][key].split())) for key in keys]
            for code in codes}
