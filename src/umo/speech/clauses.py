"""Streamed text -> speakable clauses -> speech on one timeline: the cascade behind live text sessions.

A chat model streams its reply in pieces cut anywhere (mid-word included). :class:`ClauseSplitter`
collects them and hands out each clause as soon as it is complete, so speech can start before the
reply ends; the cuts depend only on the text, never on how it was split into pieces. Each clause is
synthesised on its own (:func:`synthesize_clause`) with the pause espeak itself makes at its
punctuation, and the clauses' speech is laid end to end (:func:`join_speech`): the offline
equivalent of what ``umo serve`` streams for a text session. Dimension letters: S samples.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.tts import Speech, synthesize
from umo.speech.units import SILENCE, Phone, Timing

ENDS = ".!?;:"  # always end a clause (when followed by a space or a newline)
COMMA = ","  # ends one once the clause has reached ClauseConfig.min_comma_chars
CLOSERS = "\"')]}\u201d\u2019\u00bb"  # may follow the punctuation before the space: `"Stop!" she said`
# The pause espeak-ng makes after each mark inside one utterance at its default 175 words per
# minute: the duration of "Hello there<mark> how are you." less those of its two halves spoken
# apart (espeak-ng 1.51, en-us; the same for en-gb and es within 10 ms).
CLAUSE_PAUSE_S = {",": 0.14, ";": 0.22, ":": 0.22, ".": 0.29, "?": 0.29, "!": 0.33}
# a "." after these is not a sentence end: titles (case-insensitive), and initials / dotted
# abbreviations (J. R. R. Tolkien, e.g., U.S.) by their shape
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "mt"})
_DOTTED = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")


@dataclass(frozen=True)
class ClauseConfig:
    """Where streamed text is cut into clauses (each synthesised as it completes)."""

    min_comma_chars: int = 24  # a comma ends a clause of at least this many characters: shorter ones
    # ("Well, ...", "Yes, ...") wait for more, so the first audio is not a lone word
    max_chars: int = 200  # a run without punctuation is cut at the last space before this many

    def __post_init__(self) -> None:
        if not 0 <= self.min_comma_chars < self.max_chars:
            raise UmoError(f"need 0 <= min_comma_chars < max_chars, got {self.min_comma_chars} and {self.max_chars}")


def speakable(clause: str) -> bool:
    """Whether a clause has anything to say (a letter or a digit): "**", "--" or "..." alone do not."""
    return any(ch.isalnum() for ch in clause)


class ClauseSplitter:
    """Text pieces in, complete clauses out: ``feed(piece) -> [clause, ...]``, then ``flush()`` at
    the end of the text for the rest. A clause ends at ``.!?;:`` (and ``,`` after
    ``min_comma_chars``) followed by white space, or at a line break; a mark at the very end of what
    has arrived waits for the next piece (``3.`` may become ``3.14``). Clauses come out stripped,
    punctuation kept (espeak's intonation reads it), those with nothing to say dropped."""

    def __init__(self, config: ClauseConfig | None = None) -> None:
        self.config = config or ClauseConfig()
        self.buffer = ""

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out = []
        while (cut := self._next_cut()) is not None:
            out.append(self.buffer[:cut].strip())
            self.buffer = self.buffer[cut:]
        return [c for c in out if speakable(c)]

    def flush(self) -> list[str]:
        """The clauses still held (the text has ended): what ``feed`` would give, then the rest."""
        out = self.feed("")
        rest, self.buffer = self.buffer.strip(), ""
        return out + ([rest] if speakable(rest) else [])

    def _next_cut(self) -> int | None:
        """The end (exclusive) of the first complete clause in the buffer, or None."""
        buf, cfg = self.buffer, self.config
        for i, ch in enumerate(buf):
            if ch == "\n":
                if buf[:i].strip():
                    return i + 1
                continue
            if ch not in ENDS and ch != COMMA:
                continue
            j = i + 1
            while j < len(buf) and buf[j] in CLOSERS:
                j += 1
            if j == len(buf):
                break  # undecided until the next piece shows what follows
            if not buf[j].isspace():
                continue
            if ch == COMMA and len(buf[:j].strip()) < cfg.min_comma_chars:
                continue
            if ch == "." and _abbreviation(buf[:i]):
                continue
            return j
        if len(buf) > cfg.max_chars:  # no mark in sight: cut at a space, or inside a giant word
            space = max(buf.rfind(" ", 0, cfg.max_chars + 1), buf.rfind("\t", 0, cfg.max_chars + 1))
            return space if buf[:max(space, 0)].strip() else cfg.max_chars
        return None


def _abbreviation(before: str) -> bool:
    """Whether the word ending ``before`` (the text up to a ".") is a title or initials, not a sentence's end."""
    word = before.rsplit(None, 1)[-1] if before.strip() else ""
    word = word.lstrip("\"'([{\u201c\u2018\u00ab")
    return word.lower() in ABBREVIATIONS or bool(_DOTTED.fullmatch(word))


def split_clauses(text: str, config: ClauseConfig | None = None) -> list[str]:
    """A whole text's clauses, as a stream of it in any pieces would give them."""
    sp = ClauseSplitter(config)
    return sp.feed(text) + sp.flush()


def clause_pause_s(clause: str) -> float:
    """The pause after a clause: espeak's after its last mark (closing quotes skipped), else none."""
    end = clause.rstrip().rstrip(CLOSERS)
    return CLAUSE_PAUSE_S.get(end[-1:], 0.0)


def synthesize_clause(clause: str, voice: str = "en-us") -> Speech:
    """One clause with an espeak voice, followed by the pause its punctuation makes (silence, timed
    as SIL): clauses spoken one after another sound as the whole text spoken at once does."""
    speech = synthesize(clause, voice=voice)
    n_pause = round(clause_pause_s(clause) * SAMPLE_RATE)
    if n_pause == 0:
        return speech
    end = len(speech.audio) / SAMPLE_RATE
    audio = np.concatenate([speech.audio, np.zeros(n_pause, np.float32)])  # (S,)
    phones = [*speech.timing.phones, Phone(SILENCE, end, len(audio) / SAMPLE_RATE)]
    timing = Timing(phones, list(speech.timing.words), speech.timing.language)
    return Speech(audio, SAMPLE_RATE, timing, speech.voice, speech.text, speech.unmapped)


def join_speech(parts: list[Speech]) -> Speech:
    """Clauses' speech end to end on one timeline: each starts at the sample after the previous one's
    last (its timing shifted by that many samples / SAMPLE_RATE, as a live text session does)."""
    if not parts:
        raise UmoError("no speech to join")
    audio, phones, words, unmapped, at = [], [], [], Counter(), 0
    for sp in parts:
        shifted = sp.timing.shifted(at / SAMPLE_RATE)
        audio.append(sp.audio)
        phones += [dataclasses.replace(p, word=p.word + len(words)) if p.word >= 0 else p for p in shifted.phones]
        words += shifted.words
        unmapped += sp.unmapped
        at += len(sp.audio)
    first = parts[0]
    return Speech(np.concatenate(audio), SAMPLE_RATE, Timing(phones, words, first.timing.language), first.voice,
                  " ".join(sp.text for sp in parts), unmapped)


def speak_text(text: str, voice: str = "en-us", config: ClauseConfig | None = None) -> Speech:
    """A whole text spoken clause by clause, as a live text session speaks it (the same audio,
    sample for sample, and the same phone timing)."""
    clauses = split_clauses(text, config)
    if not clauses:
        raise UmoError(f"nothing to say in {text[:40]!r}: give at least one word")
    return join_speech([synthesize_clause(c, voice) for c in clauses])
