"""Streamed text -> clauses -> speech on one timeline (umo.speech.clauses): the cuts do not depend on
how the text was split into pieces, marks that do not end a clause are passed over, and clauses
spoken apart and joined keep espeak's pauses and a contiguous phone timing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.clauses import (
    CLAUSE_PAUSE_S, ClauseConfig, ClauseSplitter, clause_pause_s, join_speech, speak_text, split_clauses,
    synthesize_clause,
)
from umo.speech.tts import synthesize
from umo.speech.units import SILENCE

REPLY = ('Hello there, this is a test of the live text session. How are you today? Dr. Smith said "Stop!" and '
         'left; e.g. the U.S. version costs 3.14 dollars: cheap. Well, ok.\nA line without a mark\nand then... '
         "more text here")


def test_clauses_end_at_marks_followed_by_space_and_keep_them():
    assert split_clauses(REPLY) == [
        "Hello there, this is a test of the live text session.",  # the comma came before 24 characters
        "How are you today?", 'Dr. Smith said "Stop!"', "and left;", "e.g. the U.S. version costs 3.14 dollars:",
        "cheap.", "Well, ok.", "A line without a mark", "and then...", "more text here"]


@pytest.mark.parametrize("seed", range(5))
def test_any_split_into_pieces_gives_the_same_clauses(seed):
    rng = random.Random(seed)
    sp, got, i = ClauseSplitter(), [], 0
    while i < len(REPLY):  # pieces of 1-7 characters: mid-word, mid-mark, a lone space
        n = rng.randint(1, 7)
        got += sp.feed(REPLY[i:i + n])
        i += n
    assert got + sp.flush() == split_clauses(REPLY)


def test_a_clause_is_handed_out_as_soon_as_what_follows_its_mark_arrives():
    sp = ClauseSplitter()
    assert sp.feed("It costs 3.") == []  # 3.14 or a sentence's end: the next character says
    assert sp.feed("14 dollars.") == []
    assert sp.feed(" And") == ["It costs 3.14 dollars."]
    assert sp.feed(" then?\n") == ["And then?"]
    assert sp.flush() == []


def test_commas_long_runs_and_unspeakable_clauses():
    cfg = ClauseConfig(min_comma_chars=10, max_chars=40)
    assert split_clauses("Yes, I think so, and more words follow here.", cfg) == [
        "Yes, I think so,", "and more words follow here."]
    long = split_clauses("word " * 30, cfg)
    assert all(len(c) <= 40 for c in long) and " ".join(long) == ("word " * 30).strip()
    assert split_clauses("** -- ...\n. Hi.") == ["Hi."]
    assert split_clauses("x" * 450, cfg) == ["x" * 40] * 11 + ["x" * 10]  # a giant word is cut too
    with pytest.raises(UmoError, match="min_comma_chars < max_chars"):
        ClauseConfig(min_comma_chars=50, max_chars=40)


def test_pauses_follow_the_last_mark():
    assert [clause_pause_s(c) for c in ("Hi,", "Hi.", "Really?", "Stop!\"", "so;", "this:", "no mark")] == [
        0.14, 0.29, 0.29, 0.33, 0.22, 0.22, 0.0]


def test_clauses_spoken_apart_last_as_long_as_the_text_spoken_at_once():
    """espeak's own pauses at the marks, measured: clauses spoken apart with them last as long as
    the whole text spoken at once, within 30 ms per clause."""
    text = "Hello there, how are you today? I am fine; thank you. Well: let us go!"
    whole = synthesize(text).duration
    parts = speak_text(text, config=ClauseConfig(min_comma_chars=5)).duration
    assert abs(parts - CLAUSE_PAUSE_S["!"] - whole) < 0.03 * 5, (parts, whole)


def test_joined_speech_is_one_timeline():
    clauses = ["Hello there.", "How are you?"]
    parts = [synthesize_clause(c) for c in clauses]
    first = parts[0]
    n0, pause = len(first.audio), round(0.29 * SAMPLE_RATE)
    assert not first.audio[-pause:].any() and first.audio[-pause - 100:-pause].any()
    last = first.timing.phones[-1]
    assert last.symbol == SILENCE and (last.start, last.end) == ((n0 - pause) / SAMPLE_RATE, n0 / SAMPLE_RATE)
    # espeak is not deterministic to the sample (its pitch flutter runs on across calls): lengths vary by a few
    assert abs(n0 - pause - len(synthesize("Hello there.").audio)) < 40
    joined = join_speech(parts)
    np.testing.assert_array_equal(joined.audio, np.concatenate([p.audio for p in parts]))
    starts = [p.start for p in joined.timing.phones]
    assert starts == sorted(starts)
    second = [p for p in joined.timing.phones if p.start >= n0 / SAMPLE_RATE]
    assert second[0].start == n0 / SAMPLE_RATE and len(second) == len(parts[1].timing.phones)
    words = [w.text for w in joined.timing.words]
    assert words == ["Hello", "there", "How", "are", "you"]
    assert all(joined.timing.words[p.word].start <= p.start for p in joined.timing.phones if p.word >= 0)
    again = speak_text("Hello there. How are you?")
    assert abs(len(again.audio) - len(joined.audio)) < 80 and again.text == joined.text
    with pytest.raises(UmoError, match="nothing to say"):
        speak_text("...")
