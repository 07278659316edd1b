"""espeak phonemes -> ARPAbet, per word, and TextGrid words -> phone timing."""

from __future__ import annotations

import pytest

from umo.errors import UmoError
from umo.speech.phonemes import phonemize, timing_from_words, to_arpabet
from umo.speech.units import PHONES, SILENCE, VOWELS, Word


def test_mapping_table():
    assert to_arpabet("@").phones == ("AH",)
    assert to_arpabet("'3:").phones == ("ER",) and to_arpabet("'3:").stress == 1
    assert to_arpabet(",aI").phones == ("AY",) and to_arpabet(",aI").stress == 2
    assert to_arpabet("tS").phones == ("CH",)
    assert to_arpabet("A@").phones == ("AA", "R")
    assert to_arpabet("_:").phones == (SILENCE,)
    assert to_arpabet("n^", "es").phones == ("N", "Y")
    assert to_arpabet("214", "cmn").phones == ()  # a Mandarin tone, not a segment
    odd = to_arpabet("ee~~", "xx")  # not in any table: mapped by its class, flagged
    assert not odd.exact and odd.phones == ("AH",)


def test_phonemize_english_matches_cmudict():
    got = phonemize("Hello world, she faced Gregson.")
    assert [w for w, _ in got] == ["Hello", "world", "she", "faced", "Gregson"]
    plain = {w: [p for p, _ in ps] for w, ps in got}
    assert plain["world"] == ["W", "ER", "L", "D"]
    assert plain["she"] == ["SH", "IY"]
    assert plain["Gregson"] == ["G", "R", "EH", "G", "S", "AH", "N"]
    assert dict(got)["Hello"][-1] == ("OW", 1)
    assert all(p in PHONES for _, ps in got for p, _ in ps)


def test_phonemize_numbers_stay_one_word():
    got = phonemize("I have 42 cats")
    assert [w for w, _ in got] == ["I", "have", "42", "cats"]
    assert [p for p, _ in got[2][1]] == ["F", "AO", "R", "T", "IY", "T", "UW"]


def test_phonemize_other_languages():
    es = phonemize("El niño está aquí", "es")
    assert [w for w, _ in es] == ["El", "niño", "está", "aquí"]
    assert ("N", 0) in es[1][1] and ("Y", 0) in es[1][1]  # ñ
    zh = phonemize("你好 世界", "zh")
    # espeak segments Mandarin into its own words; together they cover the text
    assert "".join(w for w, _ in zh) == "你好世界" and all(ps for _, ps in zh)


def test_timing_from_words():
    words = [Word("hello", 0.5, 0.9), Word("beautiful", 1.0, 1.7), Word("world", 1.7, 2.1)]
    t = timing_from_words(words)
    assert t.phones[0].symbol == SILENCE and t.phones[0].end == pytest.approx(0.5)
    for a, b in zip(t.phones, t.phones[1:]):
        assert a.end == pytest.approx(b.start)
    assert t.phones[-1].end == pytest.approx(2.1)
    gap = [p for p in t.phones if p.start == pytest.approx(0.9)]
    assert gap[0].symbol == SILENCE
    for i, w in enumerate(words):
        ps = [p for p in t.phones if p.word == i]
        assert ps[0].start == pytest.approx(w.start) and ps[-1].end == pytest.approx(w.end)
    beautiful = [p for p in t.phones if p.word == 1]
    stressed = [p for p in beautiful if p.symbol in VOWELS and p.stress == 1][0]
    others = [p for p in beautiful if p.symbol not in VOWELS]
    assert stressed.end - stressed.start > max(p.end - p.start for p in others)


def test_timing_from_words_errors():
    with pytest.raises(UmoError):
        timing_from_words([])
    with pytest.raises(UmoError):
        timing_from_words([Word("x", 1.0, 0.5)])
    with pytest.raises(UmoError):
        phonemize("")
