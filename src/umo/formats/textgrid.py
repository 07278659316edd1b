"""Praat TextGrid files: word and phone alignments (BEAT, Montreal Forced Aligner, WebMAUS, Praat).

Both text layouts Praat writes are read: the long one (``xmin = 0`` lines, ``item [1]:`` headers)
and the short one (bare values). They hold the same token stream — numbers, quoted strings (``""``
escapes a quote) and ``<exists>`` flags — in the same order; the long layout only adds labels. So
the reader tokenises the text, skips labels, bracketed indices and ``!`` comments, and reads the
values in order, keeping each token's line number for error messages. UTF-8 and UTF-16 (with BOM)
are decoded; other bytes are read as Latin-1, as Praat does. Point tiers (``TextTier``) are parsed
and skipped: umo only uses interval tiers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from umo.errors import UmoError
from umo.formats.lab import arpabet_symbol
from umo.speech.units import SILENCE, VOWELS, Phone, Timing, Word

# Interval texts that mark a pause, not a word (MFA writes "" or "sp"/"sil", WebMAUS "<p:>").
SILENCE_TEXTS = frozenset({"", "sil", "sp", "spn", "pau", "<sil>", "<p:>", "<p>", "#", "_", "<eps>"})
WORD_TIER_NAMES = ("words", "word", "ort", "orthography", "text")  # preferred, case-insensitive
PHONE_TIER_NAMES = ("phones", "phone", "phonemes", "mau", "segments")

_TOKEN = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"'  # quoted string, may span lines
    r"|(?P<flag><[A-Za-z]+>)"  # <exists> / <absent>
    r"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])"
    r"|(?P<skip>\[[^\]\n]*\]|![^\n]*|[A-Za-z_][\w?]*|[=:\s]+)"  # labels, [i] indices, comments
)


@dataclass(frozen=True)
class Interval:
    start: float  # seconds
    end: float  # seconds
    text: str


@dataclass(frozen=True)
class _Token:
    kind: str  # "str" | "flag" | "num"
    value: str
    line: int


def _decode(path: Path, data: bytes) -> str:
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8", errors="strict")
        if len(data) > 1 and data[1:2] == b"\x00" and data[0:1] != b"\x00":  # UTF-16 LE without BOM
            return data.decode("utf-16-le")
    except UnicodeDecodeError as e:  # a BOM (or the look of UTF-16) on bytes that are not that encoding
        raise UmoError(f"{path}: not a text TextGrid: its start says {e.encoding.upper()}, but byte {e.start} "
                       f"is not ({e.reason})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _tokens(path: Path, text: str) -> list[_Token]:
    out: list[_Token] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            snippet = text[pos : pos + 20].split("\n")[0]
            raise UmoError(f"{path}, line {line}: cannot parse {snippet!r} (this does not look like a Praat TextGrid text file)")
        kind = m.lastgroup
        if kind != "skip":
            value = m.group(kind)
            out.append(_Token(kind, value.replace('""', '"') if kind == "str" else value, line))
        line += text.count("\n", pos, m.end())
        pos = m.end()
    return out


class _Reader:
    def __init__(self, path: Path, tokens: list[_Token]):
        self.path, self.tokens, self.i = path, tokens, 0

    def _next(self, what: str) -> _Token:
        if self.i >= len(self.tokens):
            last = self.tokens[-1].line if self.tokens else 1
            raise UmoError(f"{self.path}, line {last}: the file ends early, while reading {what} (truncated?)")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def string(self, what: str) -> str:
        tok = self._next(what)
        if tok.kind != "str":
            raise UmoError(f"{self.path}, line {tok.line}: expected {what} (a quoted string), found {tok.value!r}")
        return tok.value

    def number(self, what: str) -> float:
        tok = self._next(what)
        if tok.kind != "num":
            raise UmoError(f"{self.path}, line {tok.line}: expected {what} (a number), found {tok.value!r}")
        value = float(tok.value)
        if not math.isfinite(value):  # 1e400
            raise UmoError(f"{self.path}, line {tok.line}: {what} is {tok.value}, too large to be a time or count")
        return value

    def count(self, what: str) -> int:
        line = self.peek().line if self.peek() else 0
        n = self.number(what)
        if n != int(n) or n < 0:
            raise UmoError(f"{self.path}, line {line}: {what} must be a whole number, found {n}")
        return int(n)


def _read_tiers(path: Path) -> dict[str, list[Interval] | None]:
    """Every tier by name: intervals for interval tiers, None for point tiers."""
    if not path.exists():
        raise UmoError(f"TextGrid not found: {path} (check the path)")
    if path.is_dir():
        raise UmoError(f"{path} is a directory: pass one .TextGrid file")
    data = path.read_bytes()
    if data.startswith(b"ooBinaryFile"):
        raise UmoError(f"{path} is a binary TextGrid: in Praat, save it as a text file ('Save as text file...')")
    r = _Reader(path, _tokens(path, _decode(path, data)))
    if r.string("the file type") not in ("ooTextFile", "ooTextFile short"):
        raise UmoError(f"{path}, line 1: not a Praat text file (it should start with File type = \"ooTextFile\")")
    if r.string("the object class") != "TextGrid":
        raise UmoError(f"{path}, line 2: the Praat object is not a TextGrid")
    r.number("the start time (xmin)")
    r.number("the end time (xmax)")
    tiers: dict[str, list[Interval] | None] = {}
    tok = r.peek()
    if tok is not None and tok.kind == "flag":
        r.i += 1
        if tok.value == "<absent>":
            return tiers
    n_tiers = r.count("the number of tiers")
    for k in range(n_tiers):
        line = r.peek().line if r.peek() else 0
        cls = r.string(f"the class of tier {k + 1}")
        name = r.string(f"the name of tier {k + 1}")
        r.number(f"xmin of tier {name!r}")
        r.number(f"xmax of tier {name!r}")
        n = r.count(f"the number of items in tier {name!r}")
        if cls == "IntervalTier":
            items = []
            for j in range(n):
                where = f"interval {j + 1} of tier {name!r}"
                start = r.number(f"xmin of {where}")
                end = r.number(f"xmax of {where}")
                text = r.string(f"the text of {where}")
                if end < start:
                    raise UmoError(f"{path}: {where} ends ({end}) before it starts ({start})")
                items.append(Interval(start, end, text))
            tiers[name] = items
        elif cls == "TextTier":
            for j in range(n):
                r.number(f"the time of point {j + 1} of tier {name!r}")
                r.string(f"the mark of point {j + 1} of tier {name!r}")
            tiers.setdefault(name, None)
        else:
            raise UmoError(f"{path}, line {line}: unknown tier class {cls!r} (expected IntervalTier or TextTier)")
    return tiers


def read_textgrid(path: str | Path) -> dict[str, list[Interval]]:
    """The interval tiers of a TextGrid, by tier name, each in file order (point tiers skipped)."""
    return {k: v for k, v in _read_tiers(Path(path)).items() if v is not None}


def _pick_tier(tiers: dict[str, list[Interval]], preferred: tuple[str, ...]) -> str | None:
    lower = {name.lower(): name for name in tiers}
    for want in preferred:
        if want in lower:
            return lower[want]
    for want in preferred:  # "ORT-MAU", "words (aligned)"
        for low, name in lower.items():
            if low.startswith(want):
                return name
    return None


def _is_silence(text: str) -> bool:
    return text.strip().lower() in SILENCE_TEXTS


def read_words(path: str | Path, tier: str | None = None) -> list[Word]:
    """Words with times: from ``tier``, else a tier named like words/word/ORT, else the first tier.

    Empty and pause intervals ("", sp, sil, <p:>) are dropped.
    """
    path = Path(path)
    tiers = read_textgrid(path)
    if not tiers:
        raise UmoError(f"{path} has no interval tier: a word alignment needs one")
    if tier is None:
        tier = _pick_tier(tiers, WORD_TIER_NAMES) or next(iter(tiers))
    elif tier not in tiers:
        raise UmoError(f"{path} has no interval tier named {tier!r}; its tiers are {', '.join(map(repr, tiers))}")
    return [Word(iv.text.strip(), iv.start, iv.end) for iv in tiers[tier] if not _is_silence(iv.text)]


def read_timing(path: str | Path, words_tier: str | None = None, phones_tier: str | None = None) -> Timing:
    """Words and phones of a TextGrid (MFA/BEAT layout: a words tier and an ARPAbet phones tier).

    Phones outside ARPAbet raise UmoError; a file without a phones tier gives words only. Each phone
    is attached to the word whose interval holds its midpoint.
    """
    path = Path(path)
    tiers = read_textgrid(path)
    words = read_words(path, words_tier)
    name = phones_tier or _pick_tier(tiers, PHONE_TIER_NAMES)
    if name is None:
        return Timing(phones=[], words=words)
    if name not in tiers:
        raise UmoError(f"{path} has no interval tier named {name!r}; its tiers are {', '.join(map(repr, tiers))}")
    unknown = sorted({iv.text for iv in tiers[name] if arpabet_symbol(iv.text) is None})
    if unknown:
        raise UmoError(
            f"{path}: tier {name!r} holds non-ARPAbet phone(s) {', '.join(map(repr, unknown[:10]))}; "
            "umo reads ARPAbet phones (as the Montreal Forced Aligner's English models write them)"
        )
    phones: list[Phone] = []
    w = 0
    for iv in tiers[name]:
        symbol, stress = arpabet_symbol(iv.text)  # type: ignore[misc]
        if symbol == SILENCE:
            if phones and phones[-1].symbol == SILENCE:
                phones[-1] = Phone(SILENCE, phones[-1].start, iv.end)
            else:
                phones.append(Phone(SILENCE, iv.start, iv.end))
            continue
        mid = 0.5 * (iv.start + iv.end)
        while w < len(words) and words[w].end <= mid:
            w += 1
        word = w if w < len(words) and words[w].start <= mid else -1
        phones.append(Phone(symbol, iv.start, iv.end, stress if symbol in VOWELS else 0, word))
    return Timing(phones=phones, words=words)


def _fill(items: list[tuple[float, float, str]], xmax: float) -> list[tuple[float, float, str]]:
    """Sorted labelled spans -> a gapless tier from 0 to xmax (Praat requires one), "" in the gaps."""
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for start, end, text in sorted(items):
        if start > t + 1e-9:
            out.append((t, start, ""))
        start = max(start, t)
        if end > start:
            out.append((start, end, text))
            t = end
    if xmax > t + 1e-9 or not out:
        out.append((t, max(xmax, t), ""))
    return out


def _num(x: float) -> str:
    return repr(float(x))  # shortest round-tripping form, also for numpy scalars


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def write_textgrid(path: str | Path, timing: Timing) -> None:
    """Write tiers "words" and "phones" in Praat's long text layout (UTF-8).

    Phones are written in ARPAbet with the stress digit on vowels (``AY1``), silences as empty
    intervals, as the Montreal Forced Aligner does; :func:`read_timing` reads them back.
    """
    xmax = max(timing.end, 0.0)
    words = _fill([(w.start, w.end, w.text) for w in timing.words], xmax)
    phones = _fill(
        [
            (p.start, p.end, p.symbol + (str(p.stress) if p.symbol in VOWELS else ""))
            for p in timing.phones
            if p.symbol != SILENCE
        ],
        xmax,
    )
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        f"xmax = {_num(xmax)} ",
        "tiers? <exists> ",
        "size = 2 ",
        "item []: ",
    ]
    for k, (name, items) in enumerate((("words", words), ("phones", phones)), start=1):
        lines += [
            f"    item [{k}]:",
            '        class = "IntervalTier" ',
            f"        name = {_quote(name)} ",
            "        xmin = 0 ",
            f"        xmax = {_num(xmax)} ",
            f"        intervals: size = {len(items)} ",
        ]
        for j, (start, end, text) in enumerate(items, start=1):
            lines += [
                f"        intervals [{j}]:",
                f"            xmin = {_num(start)} ",
                f"            xmax = {_num(end)} ",
                f"            text = {_quote(text)} ",
            ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
