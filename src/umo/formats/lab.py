"""Phone label files (CMU ARCTIC, HTS, festival/xwaves) -> :class:`~umo.speech.units.Timing`.

Three layouts are read; :func:`read_lab` tells them apart by their content:

- **HTS full-context** (ARCTIC ``lab/*.lab`` from HTS demos): ``start end p1^p2-p3+p4=p5@...`` with
  times in 100 ns units; the current phone ``p3`` sits between ``-`` and ``+``. State-level files
  repeat a label once per HMM state (optionally with a ``[2]`` suffix); those lines are merged.
- **Plain**: ``start end phone``, in seconds or in 100 ns units (HTK). Times that are all integers
  and reach 10 000 or more are 100 ns units (10 000 units = 1 ms); anything else is seconds.
- **festival / xwaves** (ARCTIC ``lab/*.lab`` from festvox): header lines, a line ``#``, then
  ``end colour phone`` per line with end times in seconds; each phone starts where the last ended.

Symbols map onto umo's ARPAbet inventory (:mod:`umo.speech.units`): upper-cased, stress digits split
off, silences (``pau sil h# ssil sp``) -> ``SIL``, and the few TIMIT-style extras (``ax`` -> ``AH`` ...)
to their CMU dictionary phone. Consecutive silences are merged. These files carry no words, so
``Timing.words`` is empty.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from umo.errors import UmoError
from umo.speech.units import PHONES, SILENCE, Phone, Timing

HTK_UNITS_PER_SECOND = 10_000_000  # HTK/HTS label times are in 100 ns units
_HTK_MIN_END = 10_000  # integer times reaching this are 100 ns units (1 ms), not seconds

SILENCE_SYMBOLS = frozenset({"pau", "sil", "h#", "ssil", "sp", "spn", "#", "", "<sil>", "silence"})
# Symbols outside the CMU dictionary's 39 phones that label sets use, -> their nearest CMU phone.
EXTRA_SYMBOLS: dict[str, str] = {
    "ax": "AH",  # schwa: CMU writes AH0
    "axr": "ER",  # r-coloured schwa: CMU writes ER0
    "ix": "IH",  # reduced high vowel
    "ux": "UW",  # fronted u
    "el": "L",  # syllabic l
    "em": "M",  # syllabic m
    "en": "N",  # syllabic n
    "nx": "N",  # flapped n
    "hv": "HH",  # voiced h
    "dx": "D",  # flap, as in "butter"
}

_HTS_PHONE = re.compile(r"^[^\^]*\^[^-]*-([^+]+)\+")  # p1^p2-p3+...: group 1 is p3
_STATE_SUFFIX = re.compile(r"\[\d+\]$")
_STRESS = re.compile(r"^([A-Za-z]+)([0-2])$")


def arpabet_symbol(raw: str) -> tuple[str, int] | None:
    """One label symbol -> (ARPAbet phone or ``SIL``, stress 0-2); None when it is not a phone.

    ``AY1`` -> (``AY``, 1); ``ax`` -> (``AH``, 0); ``pau`` -> (``SIL``, 0).
    """
    s = raw.strip()
    if s.lower() in SILENCE_SYMBOLS:
        return SILENCE, 0
    stress = 0
    m = _STRESS.match(s)
    if m:
        s, stress = m.group(1), int(m.group(2))
    low = s.lower()
    if low in EXTRA_SYMBOLS:
        return EXTRA_SYMBOLS[low], stress
    up = s.upper()
    if up in PHONES and up != SILENCE:
        return up, stress
    return None


def _read_lines(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        raise UmoError(f"label file not found: {path} (check the path)")
    if path.is_dir():
        raise UmoError(f"{path} is a directory: pass one .lab file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UmoError(f"{path} is not a text label file (it is not UTF-8/ASCII text)") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _is_number(s: str) -> bool:
    """A finite number: "nan" and "inf" are no label times."""
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def _parse_festival(path: Path, lines: list[tuple[int, str]]) -> list[tuple[float, float, str, int]]:
    """Lines after the ``#`` separator: ``end colour phone`` -> (start, end, symbol, line)."""
    start_at = next(i for i, (_, l) in enumerate(lines) if l == "#") + 1
    rows, prev = [], 0.0
    for n, line in lines[start_at:]:
        parts = line.split()
        if len(parts) < 2 or not _is_number(parts[0]):
            raise UmoError(f"{path}, line {n}: expected 'end_time colour phone', found {line!r}")
        end = float(parts[0])
        symbol = parts[2] if len(parts) >= 3 else parts[1]
        rows.append((prev, end, symbol, n))
        prev = end
    return rows


def _parse_timed(path: Path, lines: list[tuple[int, str]]) -> list[tuple[float, float, str, int]]:
    """``start end label`` lines (HTS full-context or plain) -> (start, end, symbol, line)."""
    raw = []
    for n, line in lines:
        parts = line.split(maxsplit=2)
        if len(parts) < 3 or not (_is_number(parts[0]) and _is_number(parts[1])):
            raise UmoError(
                f"{path}, line {n}: expected 'start end phone' (or an HTS full-context label), found {line!r}"
            )
        raw.append((parts[0], parts[1], parts[2].strip(), n))
    integers = all(re.fullmatch(r"-?\d+", a) and re.fullmatch(r"-?\d+", b) for a, b, _, _ in raw)
    max_end = max(float(b) for _, b, _, _ in raw)
    scale = 1.0 / HTK_UNITS_PER_SECOND if integers and max_end >= _HTK_MIN_END else 1.0

    rows: list[tuple[float, float, str, int]] = []
    prev_label = None
    for a, b, label, n in raw:
        label = _STATE_SUFFIX.sub("", label)
        full = _HTS_PHONE.match(label)
        symbol = full.group(1) if full else label.split()[0]
        if full and label == prev_label:  # the next HMM state of the same phone instance
            rows[-1] = (rows[-1][0], float(b) * scale, symbol, rows[-1][3])
        else:
            rows.append((float(a) * scale, float(b) * scale, symbol, n))
        prev_label = label if full else None
    return rows


def read_lab(path: str | Path) -> Timing:
    """Phone timings of a label file; see the module docstring for the layouts read."""
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise UmoError(f"{path} is empty: a label file needs one line per phone")
    if any(l == "#" for _, l in lines):
        rows = _parse_festival(path, lines)
    else:
        rows = _parse_timed(path, lines)

    unknown = sorted({sym for _, _, sym, _ in rows if arpabet_symbol(sym) is None})
    if unknown:
        raise UmoError(
            f"{path}: unknown phone symbol(s) {', '.join(repr(u) for u in unknown)}; umo reads ARPAbet "
            "(the CMU dictionary's 39 phones, optional stress digit) and pau/sil/h#/ssil/sp for silence"
        )

    phones: list[Phone] = []
    prev_end = 0.0
    for start, end, sym, n in rows:
        if end < start or start < prev_end - 1e-6:
            raise UmoError(
                f"{path}, line {n}: times go backwards ({start:.4f}-{end:.4f} s after {prev_end:.4f} s); "
                "label times must increase"
            )
        prev_end = end
        symbol, stress = arpabet_symbol(sym)  # type: ignore[misc]  # unknowns were rejected above
        if symbol == SILENCE and phones and phones[-1].symbol == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, end)
        else:
            phones.append(Phone(symbol, start, end, stress if symbol != SILENCE else 0))
    return Timing(phones=phones, words=[])
