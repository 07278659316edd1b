"""Timed speech units: the scaffold every animator and model aligns motion to.

Phones use one inventory everywhere: **ARPAbet** (the 39 phones of the CMU dictionary, upper case,
no stress digits) plus ``SIL`` for silence/pause. Sources convert at their edge: espeak's phonemes
(any language) map to the nearest ARPAbet phone, ARCTIC ``.lab`` and pocketsphinx already use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from umo.errors import UmoError

ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
SILENCE = "SIL"
PHONES: tuple[str, ...] = (SILENCE,) + ARPABET  # 40 symbols; index 0 is silence
def phone_id(symbol: str) -> int | None:
    """A phone symbol as clients write it (any case, an ARPAbet stress digit allowed: ``ah0``) ->
    its index in ``PHONES``, or None when it is not ARPAbet or SIL."""
    sym = symbol.upper()
    if sym[-1:] in ("0", "1", "2") and sym[:-1] in ARPABET:
        sym = sym[:-1]
    return PHONES.index(sym) if sym in PHONES else None


def timed_phone_ids(rows, after: float = 0.0, max_s: float = math.inf) -> list[tuple[int, float, float]]:
    """Timed phones as a client gives them, (symbol, start s, end s) -> (``PHONES`` id, start, end),
    checked: a known symbol (``phone_id``), 0 <= start <= end <= max_s, and starts in order, none
    before ``after`` (the last start the stream already took). UmoError naming the offending phone."""
    out, last = [], after
    for n, (sym, start, end) in enumerate(rows):
        pid = phone_id(str(sym))
        if pid is None:
            raise UmoError(f"phone {n}: {sym!r} is not an ARPAbet phone or SIL (known: {' '.join(PHONES)})")
        start, end = float(start), float(end)
        if not (math.isfinite(start) and math.isfinite(end) and 0.0 <= start <= end <= max_s):
            raise UmoError(f"phone {n} ({sym}): needs 0 <= start <= end <= {max_s:g} s, got {start:g} to {end:g}")
        if start < last:
            raise UmoError(f"phone {n} ({sym}) starts at {start:g} s, before one at {last:g} s: send phones in time order")
        last = start
        out.append((pid, start, end))
    return out


VOWELS: frozenset[str] = frozenset(
    ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
)


@dataclass(frozen=True)
class Phone:
    symbol: str  # one of PHONES
    start: float  # seconds
    end: float  # seconds
    stress: int = 0  # 0 unstressed, 1 primary, 2 secondary (vowels only)
    word: int = -1  # index into Timing.words, -1 for silence

    def __post_init__(self) -> None:
        if self.symbol not in PHONES:
            raise ValueError(f"unknown phone {self.symbol!r}: expected one of umo.speech.units.PHONES")
        if self.end < self.start:
            raise ValueError(f"phone {self.symbol} ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds
    end: float  # seconds


@dataclass
class Timing:
    """Words and phones of an utterance with their times, sorted by start."""

    phones: list[Phone] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    language: str = "en"

    @property
    def end(self) -> float:
        ends = [p.end for p in self.phones] + [w.end for w in self.words]
        return max(ends, default=0.0)

    def shifted(self, dt: float) -> "Timing":
        return Timing(
            [Phone(p.symbol, p.start + dt, p.end + dt, p.stress, p.word) for p in self.phones],
            [Word(w.text, w.start + dt, w.end + dt) for w in self.words],
            self.language,
        )

    def stressed_vowels(self) -> list[Phone]:
        """Vowels carrying primary stress: the anchors of beat gestures and head nods."""
        return [p for p in self.phones if p.symbol in VOWELS and p.stress == 1]
