"""espeak-ng phonemes -> umo's ARPAbet phones, per word and with timing.

espeak names its phonemes with its own ASCII mnemonics, per language (``@`` schwa, ``3:`` nurse,
``aI`` price, ``tS`` church, ``n^`` Spanish ñ, ``ts.h`` Mandarin ch). umo uses one inventory,
ARPAbet + SIL (:mod:`umo.speech.units`), so every mnemonic maps to the nearest ARPAbet phone or
short sequence (``A@`` -> AA R, ``n^`` -> N Y). What the tables miss maps by the phoneme's class
in espeak's own phoneme table (vowel -> AH, nasal -> N, ...) and is counted, never a crash.

Stress rides on the mnemonic: ``'`` primary and ``,`` secondary, given to the first vowel.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from umo.errors import UmoError
from umo.speech import espeak
from umo.speech.units import SILENCE, VOWELS, Phone, Timing, Word

# --- mnemonic tables ----------------------------------------------------------------------------
# English (espeak's en / en-us tables; American values where the two differ).
_EN: dict[str, tuple[str, ...]] = {
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@#": ("AH",), "@-": ("AH",), "@L": ("AH", "L"),
    "a": ("AE",), "a2": ("AE",), "aa": ("AE",), "a#": ("AH",), "a#2": ("AH",),
    "A:": ("AA",), "A#": ("AA",), "A@": ("AA", "R"), "A~": ("AA",),
    "E": ("EH",), "E#": ("EH",), "E2": ("EH",), "e#": ("EH",), "e:": ("EY",), "e@": ("EH", "R"),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "I2#": ("IH",), "IR": ("IH", "R"),
    "i": ("IY",), "i:": ("IY",), "i@": ("IH", "R"), "i@3": ("IH", "R"),
    "0": ("AA",), "0#": ("AA",), "02": ("AA",),
    "O": ("AO",), "O:": ("AO",), "O2": ("AO",), "O@": ("AO", "R"), "O~": ("AO",), "o@": ("AO", "R"),
    "o:": ("OW",), "oU": ("OW",), "oU#": ("OW",),
    "V": ("AH",), "VR": ("AH", "R"),
    "U": ("UH",), "U@": ("UH", "R"), "u:": ("UW",),
    "3": ("ER",), "3:": ("ER",),
    "aU": ("AW",), "aU@": ("AW", "ER"), "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"),
    "eI": ("EY",), "OI": ("OY",),
    "t#": ("T",), "t2": ("T",), "d#": ("D",), "z#": ("Z",), "z/2": ("Z",), "w#": ("W",),
    "r-": ("R",), "r/": ("R",), "?": ("T",),  # glottal stop: "button" is T in the CMU dictionary
    ";": ("Y",),  # espeak's linking glide after i-vowels ("see it")
}

# Every other language: espeak's base mnemonics are close to X-SAMPA.
_BASE: dict[str, tuple[str, ...]] = {
    # vowels
    "a": ("AA",), "A": ("AA",), "&": ("AE",), "e": ("EY",), "E": ("EH",), "i": ("IY",), "I": ("IH",),
    "o": ("OW",), "O": ("AO",), "u": ("UW",), "U": ("UH",), "@": ("AH",), "V": ("AH",), "3": ("ER",),
    "0": ("AA",), "y": ("UW",), "Y": ("UH",), "W": ("ER",), "@r": ("ER",),
    "ai": ("AY",), "aI": ("AY",), "au": ("AW",), "aU": ("AW",), "Au": ("AW",), "ei": ("EY",),
    "eI": ("EY",), "EI": ("EY",), "oi": ("OY",), "oI": ("OY",), "OI": ("OY",), "OY": ("OY",),
    "ou": ("OW",), "oU": ("OW",), "iR": ("IY", "R"), "UR": ("UH", "R"),
    "m-": ("M",), "n-": ("N",), "N-": ("NG",), "r-": ("R",), "l-": ("L",),
    # Mandarin finals
    "i[": ("IH",), "i.": ("ER",), "o-": ("OW",), "ong": ("UH", "NG"), "iA": ("Y", "AA"),
    "iAu": ("Y", "AW"), "iE": ("Y", "EH"), "io": ("Y", "OW"), "iou": ("Y", "OW"), "uA": ("W", "AA"),
    "ua": ("W", "AA"), "uai": ("W", "AY"), "u@": ("W", "AH"), "uei": ("W", "EY"), "uo": ("W", "AO"),
    "yu": ("UW",), "y&": ("Y", "AE"), "yE": ("Y", "EH"), "y@": ("Y", "AH"), "yi": ("IY",),
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",), "q": ("K",),
    "c": ("K",), "J": ("JH",), "f": ("F",), "v": ("V",), "B": ("B",), "T": ("TH",), "D": ("DH",),
    "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",), "x": ("HH",), "X": ("HH",), "C": ("HH",),
    "Q": ("G",), "h": ("HH",), "m": ("M",), "n": ("N",), "N": ("NG",), "n^": ("N", "Y"),
    "l": ("L",), "L": ("L",), "l^": ("L", "Y"), "r": ("R",), "R": ("R",), "j": ("Y",), "w": ("W",),
    "tS": ("CH",), "dZ": ("JH",), "ts": ("T", "S"), "dz": ("D", "Z"), "pF": ("P", "F"),
    "ph": ("P",), "th": ("T",), "kh": ("K",), "tsh": ("T", "S"), "ts.": ("CH",), "ts.h": ("CH",),
    "tS;": ("CH",), "tS;h": ("CH",), "dZ;": ("JH",), "s.": ("SH",), "z.": ("ZH",), "S;": ("SH",),
    "Z;": ("ZH",), "s;": ("S",), "z;": ("Z",), "g#": ("HH",), "?": ("T",),
}

_STRESS_MARKS = {"'": 1, ",": 2, "%": 0, "=": 0}
_MODIFIERS = set(':#/.;[^~-"!0123456789')  # trailing marks of espeak variants: n. l/ a# e: O~
_CLASS_FALLBACK = {3: ("L",), 4: ("T",), 5: ("D",), 6: ("S",), 7: ("Z",), 8: ("N",)}
_PAUSE, _STRESS_TYPE, _VOWEL_TYPE, _VIRTUAL = 0, 1, 2, 9  # phoneme types in espeak's phontab

# Typical durations (s) used to share an interval between phones: vowels longer than consonants,
# stressed vowels longer still (roughly the means of the ARCTIC/TIMIT phone labels).
_VOWEL_S = {"AH": 0.055, "IH": 0.060, "UH": 0.065, "ER": 0.090}
_VOWEL_DEFAULT_S = 0.090
_DIPHTHONG_S = 0.130
_DIPHTHONGS = {"AY", "AW", "OY", "EY", "OW"}
_STRESS_FACTOR = {0: 1.0, 1: 1.5, 2: 1.2}
_CONSONANT_S = {
    "P": 0.070, "B": 0.060, "T": 0.060, "D": 0.050, "K": 0.070, "G": 0.060, "CH": 0.090, "JH": 0.080,
    "F": 0.090, "V": 0.055, "TH": 0.080, "DH": 0.040, "S": 0.100, "Z": 0.075, "SH": 0.100, "ZH": 0.080,
    "HH": 0.060, "M": 0.060, "N": 0.055, "NG": 0.065, "L": 0.060, "R": 0.055, "W": 0.055, "Y": 0.050,
}


def typical_duration(symbol: str, stress: int = 0) -> float:
    """A phone's typical length in seconds, the weight used to split intervals between phones."""
    if symbol in VOWELS:
        base = _DIPHTHONG_S if symbol in _DIPHTHONGS else _VOWEL_S.get(symbol, _VOWEL_DEFAULT_S)
        return base * _STRESS_FACTOR.get(stress, 1.0)
    return _CONSONANT_S.get(symbol, 0.060)


@lru_cache(maxsize=1)
def _phoneme_types() -> dict[str, set[int]]:
    """Every mnemonic in espeak's compiled phoneme tables (phontab) -> its phoneme types."""
    import espeakng_loader

    with open(os.path.join(espeakng_loader.get_data_path(), "phontab"), "rb") as f:
        data = f.read()
    types: dict[str, set[int]] = {}
    (n_tables,) = struct.unpack_from("<i", data, 0)
    off = 4
    for _ in range(n_tables):
        n_phonemes = data[off]
        off += 4 + 32  # count, includes, 2 padding bytes, table name
        for _ in range(n_phonemes):
            # PHONEME_TAB: mnemonic (4 chars packed in a uint), flags, program, code, type, ...
            mnemonic, _flags, _program, _code, ph_type = struct.unpack_from("<IIHBB", data, off)
            off += 16
            name = mnemonic.to_bytes(4, "little").split(b"\0")[0].decode("latin-1")
            if name:
                types.setdefault(name, set()).add(ph_type)
    return types


@dataclass(frozen=True)
class Mapped:
    phones: tuple[str, ...]  # ARPAbet (or SIL); empty for tones and other non-segments
    stress: int  # 0/1/2, for the first vowel of phones
    exact: bool  # False where the phoneme class fallback was used


@lru_cache(maxsize=4096)
def to_arpabet(mnemonic: str, language: str = "en") -> Mapped:
    """One espeak mnemonic (with an optional stress mark) -> ARPAbet phones.

    ``"'3:"`` -> (ER,) stress 1; ``"A@"`` -> (AA, R); ``"_:"`` -> (SIL,); tones -> ().
    """
    stress = 0
    name = mnemonic
    while name and name[0] in _STRESS_MARKS:
        stress = max(stress, _STRESS_MARKS[name[0]])
        name = name[1:]
    if not name:
        return Mapped((), 0, True)
    if name.startswith("("):
        return Mapped((), 0, True)  # "(en)": espeak switching language for a foreign word
    if name.startswith("_") or name == "||":
        return Mapped((SILENCE,), 0, True)
    tables = (_EN, _BASE) if language.startswith("en") else (_BASE,)
    candidate = name
    while candidate:
        for table in tables:
            if candidate in table:
                return Mapped(table[candidate], stress, True)
        if len(candidate) > 1 and candidate[-1] in _MODIFIERS:
            candidate = candidate[:-1]
        else:
            break
    types = _phoneme_types().get(name, set())
    if types and types <= {_STRESS_TYPE, _VIRTUAL}:
        return Mapped((), 0, True)  # tones (Mandarin 214, 51...) and virtual phonemes: not segments
    if _PAUSE in types:
        return Mapped((SILENCE,), 0, True)
    if _VOWEL_TYPE in types or (not types and name[0].lower() in "aeiouy@369&"):
        return Mapped(("AH",), stress, False)
    for t in sorted(types):
        if t in _CLASS_FALLBACK:
            return Mapped(_CLASS_FALLBACK[t], 0, False)
    first = _BASE.get(name[0])
    return Mapped(first if first else ("T",), stress if first and first[0] in VOWELS else 0, False)


def _weights(phones: tuple[str, ...], stress: int) -> list[float]:
    return [typical_duration(p, stress if i == 0 else 0) for i, p in enumerate(phones)]


# --- events -> timing ---------------------------------------------------------------------------
def _is_word_char(ch: str) -> bool:
    return not (ch.isspace() or unicodedata.category(ch)[0] in "PZS")


def _word_text(text: str, start: int, end: int) -> str:
    """The input text of a word span, without surrounding spaces and punctuation."""
    s = text[start:end]
    i, j = 0, len(s)
    while i < j and not _is_word_char(s[i]):
        i += 1
    while j > i and not _is_word_char(s[j - 1]):
        j -= 1
    return s[i:j] if i < j else s.strip()


@dataclass
class EventTiming:
    """Timing made from espeak's events, with each word's character span in the input."""

    timing: Timing
    spans: list[tuple[int, int]]  # (start, end) characters of each Timing.words entry
    unmapped: Counter = field(default_factory=Counter)  # mnemonics mapped by class fallback


def timing_from_events(raw: espeak.RawSynthesis, text: str, language: str) -> EventTiming:
    """espeak's word and phoneme events -> Timing (seconds) for its synthesised audio.

    A phoneme event marks the start of that phoneme; it ends where the next one starts. A word
    starts at its word event where that precedes its first phoneme (the closure of an initial stop).
    """
    rate = raw.sample_rate
    total = len(raw.audio) / rate
    # 1) group events into words, merging word events that start inside the previous word's span
    #    (espeak splits "42" into "forty" + "two", both pointing into the same characters).
    starts: list[int] = []
    word_of_event: list[int] = []
    word_time: list[float] = []
    cur = -1
    prev_end = -1
    for ev in raw.events:
        if ev.kind == "word":
            if cur >= 0 and ev.text_position < prev_end:
                prev_end = max(prev_end, ev.text_position + ev.length)
            else:
                starts.append(ev.text_position)
                word_time.append(ev.sample / rate)
                cur = len(starts) - 1
                prev_end = ev.text_position + ev.length
        word_of_event.append(cur)
    ends = starts[1:] + [len(text)]

    # 2) phones with start times; multi-phone mappings share their event's interval by weight.
    unmapped: Counter = Counter()
    seq: list[tuple[float, str, int, int]] = []  # (start, symbol, stress, word)
    events = [(ev, w) for ev, w in zip(raw.events, word_of_event) if ev.kind == "phoneme"]
    first_seen: set[int] = set()
    for k, (ev, w) in enumerate(events):
        m = to_arpabet(ev.phoneme, language)
        if not m.exact:
            unmapped[ev.phoneme.lstrip("',%=")] += 1
        if not m.phones:
            continue
        t0 = ev.sample / rate
        is_sil = m.phones[0] == SILENCE
        if not is_sil and w >= 0 and w not in first_seen:
            first_seen.add(w)
            t0 = min(t0, word_time[w])
        t1 = events[k + 1][0].sample / rate if k + 1 < len(events) else total
        t1 = max(t1, t0)
        wts = _weights(m.phones, m.stress)
        acc = t0
        for i, (p, wt) in enumerate(zip(m.phones, wts)):
            seq.append((acc, p, m.stress if i == 0 and p in VOWELS else 0, -1 if is_sil else w))
            acc += (t1 - t0) * wt / sum(wts)

    # 3) phones end where the next starts; leading silence; merge SIL runs; drop empty phones.
    phones: list[Phone] = []
    if seq and seq[0][0] > 0:
        seq.insert(0, (0.0, SILENCE, 0, -1))
    for i, (t0, sym, st, w) in enumerate(seq):
        t1 = seq[i + 1][0] if i + 1 < len(seq) else total
        if t1 <= t0:
            continue
        if sym == SILENCE and phones and phones[-1].symbol == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, t1)
            continue
        phones.append(Phone(sym, t0, t1, st, w))

    # 4) words that kept phones, re-indexed.
    used = sorted({p.word for p in phones if p.word >= 0})
    remap = {w: i for i, w in enumerate(used)}
    words, spans = [], []
    for w in used:
        ps = [p for p in phones if p.word == w]
        words.append(Word(_word_text(text, starts[w], ends[w]), ps[0].start, ps[-1].end))
        spans.append((starts[w], ends[w]))
    phones = [Phone(p.symbol, p.start, p.end, p.stress, remap.get(p.word, -1)) for p in phones]
    return EventTiming(Timing(phones, words, language_of(language)), spans, unmapped)


def language_of(voice: str) -> str:
    """"en-us+f3" -> "en-us": the language part of a voice name."""
    return espeak.canonical_voice(voice).split("+")[0].lower()


def require_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise UmoError("text is empty: give at least one word to speak or align")


def phonemize_spans(text: str, voice: str = "en-us") -> tuple[list[tuple[int, int, str, list[tuple[str, int]]]], Counter]:
    """Like :func:`phonemize` but with each word's (start, end) character span in ``text``."""
    require_text(text)
    raw = espeak.synth(text, voice, 175, 50, 50)
    et = timing_from_events(raw, text, language_of(voice))
    groups = []
    for i, (w, (s, e)) in enumerate(zip(et.timing.words, et.spans)):
        phones = [(p.symbol, p.stress) for p in et.timing.phones if p.word == i]
        groups.append((s, e, w.text, phones))
    return groups, et.unmapped


def phonemize(text: str, voice: str = "en-us") -> list[tuple[str, list[tuple[str, int]]]]:
    """Per word of ``text``: its ARPAbet phones with stress (0/1/2), in espeak's pronunciation.

    Uses synthesis events rather than espeak_TextToPhonemes because word events point back into
    the input, so every group is tied to the input word it came from (numbers and abbreviations
    expand inside one group: "42" -> F AO R T IY T UW).
    """
    groups, _ = phonemize_spans(text, voice)
    return [(w, phones) for _, _, w, phones in groups]


def phonemize_words(words: list[str], voice: str = "en-us") -> list[list[tuple[str, int]]]:
    """One list of (ARPAbet phone, stress) per given word, silences left out.

    The words are phonemized together (espeak uses the context) and each espeak word goes to the
    input word whose characters it starts in, so the result always has len(words) entries.
    """
    offsets, pos = [], 0
    for w in words:
        offsets.append(pos)
        pos += len(w) + 1
    joined = " ".join(words)
    per_word: list[list[tuple[str, int]]] = [[] for _ in words]
    if not joined.strip():
        return per_word
    groups, _ = phonemize_spans(joined, voice)
    k = 0
    for s, _, _, phones in groups:
        while k + 1 < len(words) and s >= offsets[k + 1]:
            k += 1
        per_word[k].extend(p for p in phones if p[0] != SILENCE)
    return per_word


def timing_from_words(words: list[Word], voice: str = "en-us") -> Timing:
    """Timed words (e.g. from a TextGrid) -> Timing with phones from espeak's phonemizer.

    Each word's phones share its interval in proportion to typical phone durations; gaps between
    words (and before the first) become SIL. A word espeak gives no phones for is left silent.
    """
    if not words:
        raise UmoError("no words to time: the transcript has no timed words")
    for w in words:
        if w.end < w.start:
            raise UmoError(f"word {w.text!r} ends ({w.end}) before it starts ({w.start}): fix the TextGrid")
    words = sorted(words, key=lambda w: w.start)
    per_word = phonemize_words([w.text for w in words], voice)
    phones: list[Phone] = []
    t = 0.0
    for i, (w, ps) in enumerate(zip(words, per_word)):
        if w.start > t:
            _append_silence(phones, t, w.start)
        t = max(t, w.start)
        end = max(w.end, t)
        if not ps:
            _append_silence(phones, t, end)
            t = end
            continue
        wts = [typical_duration(sym, st) for sym, st in ps]
        total = sum(wts)
        acc = t
        for j, ((sym, st), wt) in enumerate(zip(ps, wts)):
            nxt = end if j == len(ps) - 1 else acc + (end - t) * wt / total
            phones.append(Phone(sym, acc, nxt, st, i))
            acc = nxt
        t = end
    return Timing(phones, list(words), language_of(voice))


def _append_silence(phones: list[Phone], start: float, end: float) -> None:
    """Append SIL over [start, end), extending a SIL that ends there instead of adding a second."""
    if end <= start:
        return
    if phones and phones[-1].symbol == SILENCE and phones[-1].end >= start:
        phones[-1] = Phone(SILENCE, phones[-1].start, end)
    else:
        phones.append(Phone(SILENCE, start, end))
