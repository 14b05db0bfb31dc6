"""The script a language is written in, as an ISO 15924 code, and the Latin / non-Latin pools of premiums.

A parallel corpus's `languages.tsv` names each language's script; a language it does not name gets the
script of its own text: the one most of its letters belong to, by the Unicode Script property (Unicode
Standard Annex #24, "Unicode Script Property"), read with fontTools. Letters shared by many scripts
(Common, such as the modifier-letter apostrophe of Navajo or Hawaiian) and marks (Inherited) say nothing
and are not counted. Writing systems that mix scripts get the code ISO 15924 has for the mix, as the shipped
table does: `Jpan` (Han with kana) and `Kore` (Hangul, with or without Han); Han alone is `Hani`, since
simplified and traditional Han share most characters. A text with no letters of any one script has script
`unknown`, which is no script at all: it is never pooled with the non-Latin scripts.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

LATIN = "Latn"
UNKNOWN_SCRIPT = "unknown"
# Script property values that belong to no one writing system: Common, Inherited, Unknown (unassigned).
SHARED_SCRIPTS = frozenset({"Zyyy", "Zinh", "Zzzz"})
KANA = frozenset({"Hira", "Kana"})
# The share of kana among a Han text's letters above which it is Japanese (Japanese prose has about half;
# a Chinese text quoting a Japanese name has far under a tenth).
KANA_SHARE_OF_JAPANESE = 0.1


def letter_scripts(text: str) -> Counter[str]:
    """How many letters of `text` each script has (ISO 15924 codes; shared letters left out)."""
    from fontTools.unicodedata import script as unicode_script  # only where no table names the script

    counts: Counter[str] = Counter()
    for char, count in Counter(text).items():
        if unicodedata.category(char).startswith("L"):
            code = unicode_script(char)
            if code not in SHARED_SCRIPTS:
                counts[code] += count
    return counts


def dominant_script(text: str) -> str:
    """ISO 15924 code of the script most letters of `text` are written in (`Jpan`, `Kore` and `Hani` for
    Japanese, Korean and Chinese writing), or `unknown` when it has no letters of any one script.

    One calls it for a language whose script no table gives, so that Latin-script languages pool with
    Latin and the rest with their own script.
    """
    counts = letter_scripts(text)
    if not counts:
        return UNKNOWN_SCRIPT
    top = counts.most_common(1)[0][0]
    if top == "Hang":
        return "Kore"
    if top in KANA | {"Hani"}:
        kana = sum(counts[code] for code in KANA)
        return "Jpan" if kana > KANA_SHARE_OF_JAPANESE * counts.total() else top
    return top


# ISO 15924 codes that name no Unicode Script property value (fontTools lists those): writing systems that
# mix scripts, variants of one, and the codes for symbols and unwritten text.
COMPOSITE_SCRIPTS = frozenset({"Jpan", "Kore", "Hans", "Hant", "Hanb", "Jamo", "Latf", "Latg", "Syre", "Syrj",
                               "Syrn", "Aran", "Cyrs", "Geok", "Zmth", "Zsye", "Zsym", "Zxxx"})


def is_script_code(code: str) -> bool:
    """Whether `code` is an ISO 15924 script code (or `unknown`), as a language table may name it."""
    from fontTools.unicodedata import Scripts

    return code in Scripts.NAMES or code in COMPOSITE_SCRIPTS or code == UNKNOWN_SCRIPT


def is_non_latin(script: str) -> bool:
    """True for a known script other than Latin: the languages the non-Latin premium pools. `unknown` is
    neither Latin nor non-Latin."""
    return script not in (LATIN, UNKNOWN_SCRIPT)
