"""Chart labels shortened by what a reader sees as one character (a grapheme), never inside
one: Vega cuts an over-long label by UTF-16 code unit, which splits an emoji's surrogate
pair, and vl-convert then fails on the half ("unexpected end of hex escape")."""

from __future__ import annotations

import unicodedata
from functools import cache

MAX_LABEL = 32  # graphemes of a label drawn on an axis; tooltips and tables show it whole
ELLIPSIS = "…"
_ZWJ = "\u200d"
_REGIONAL = range(0x1F1E6, 0x1F200)  # flags are pairs of these
_JOINING = (range(0xFE00, 0xFE10), range(0x1F3FB, 0x1F400), range(0xE0020, 0xE0080))


def _extends(char: str) -> bool:
    """Whether ``char`` belongs to the grapheme before it: a combining mark, a variation
    selector, a skin tone, an emoji tag sequence's character, a joiner."""
    code = ord(char)
    return (
        char == _ZWJ
        or unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or any(code in r for r in _JOINING)
    )


def graphemes(text: str) -> list[str]:
    """``text`` split into graphemes: extended grapheme clusters for the cases a name meets
    (combining accents, emoji with modifiers, joined emoji sequences, flags)."""
    clusters: list[str] = []
    for char in text:
        if clusters and (
            _extends(char)
            or clusters[-1].endswith(_ZWJ)
            or (
                ord(char) in _REGIONAL
                and ord(clusters[-1][-1]) in _REGIONAL
                and sum(ord(c) in _REGIONAL for c in clusters[-1]) % 2 == 1
            )
        ):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


@cache  # a name recurs in every month and currency it sold in: segmented once
def short_label(text: str, limit: int = MAX_LABEL) -> str:
    """``text`` in at most ``limit`` graphemes: its start and its end (where a design's id is,
    "(#42)") around an ellipsis, so two long labels stay apart."""
    parts = graphemes(text)
    if len(parts) <= limit:
        return text
    tail = min(8, (limit - 1) // 3)
    return "".join(parts[: limit - 1 - tail]) + ELLIPSIS + "".join(parts[-tail:])
