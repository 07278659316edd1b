"""Offline synthesis: plausible audio whose timing matches it, voices/rates/pitches that matter."""

from __future__ import annotations

import numpy as np
import pytest

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.prosody import compute_prosody
from umo.speech.tts import list_voices, synthesize
from umo.speech.units import PHONES, SILENCE, VOWELS

EN = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest."


def _db(audio, t0, t1):
    seg = audio[int(t0 * SAMPLE_RATE) : int(t1 * SAMPLE_RATE)]
    return 10 * np.log10(np.mean(seg.astype(np.float64) ** 2) + 1e-12)


def _check(speech, n_words, rate=175):
    t = speech.timing
    assert speech.sample_rate == SAMPLE_RATE and speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    # about n_words / (rate words per minute), with pauses and espeak's own pace: within a factor 2
    expected = n_words / rate * 60
    assert 0.5 * expected < speech.duration < 2.0 * expected
    starts = [p.start for p in t.phones]
    assert starts == sorted(starts) and all(p.end > p.start for p in t.phones)
    assert all(p.symbol in PHONES for p in t.phones)
    assert t.phones[0].start == 0 and abs(t.phones[-1].end - speech.duration) < 0.01
    assert len(t.words) == n_words
    # the timing describes this audio: vowels are loud, silences quiet
    vowel_db = np.median([_db(speech.audio, p.start, p.end) for p in t.phones if p.symbol in VOWELS])
    sil = [p for p in t.phones if p.symbol == SILENCE and p.end - p.start > 0.03]
    assert sil
    sil_db = np.median([_db(speech.audio, p.start + 0.01, p.end - 0.01) for p in sil])
    assert sil_db < vowel_db - 20


def test_english():
    s = synthesize(EN)
    _check(s, 17)
    assert not s.unmapped  # every English espeak phoneme has an ARPAbet entry
    assert [w.text for w in s.timing.words][:3] == ["The", "quick", "brown"]
    fox = s.timing.words[3]
    assert [p.symbol for p in s.timing.phones if p.word == 3] == ["F", "AA", "K", "S"]
    assert fox.text == "fox"
    stressed = {s.timing.words[p.word].text for p in s.timing.stressed_vowels()}
    assert {"quick", "brown", "fox", "lazy", "forest"} <= stressed


@pytest.mark.parametrize(
    "voice, text, n_words",
    [
        ("es", "El niño está aquí, y mañana vamos a la playa con nuestros amigos.", 13),
        ("de", "Guten Morgen, heute ist das Wetter schön und wir gehen spazieren.", 11),
        ("cmn", "你好，我是中国人。", None),
    ],
)
def test_other_languages(voice, text, n_words):
    s = synthesize(text, voice=voice)
    assert s.timing.language == voice
    if n_words is not None:
        _check(s, n_words)
    else:  # Mandarin: espeak's own word segmentation, no words-per-minute figure
        assert "".join(w.text for w in s.timing.words) == "你好我是中国人"
        assert 1.0 < s.duration < 4.0
    assert sum(s.unmapped.values()) <= 0.05 * len(s.timing.phones)


def test_rate_changes_duration():
    slow, fast = synthesize(EN, rate=120), synthesize(EN, rate=300)
    assert fast.duration < 0.6 * slow.duration
    assert [p.symbol for p in fast.timing.phones if p.symbol != SILENCE] == [
        p.symbol for p in slow.timing.phones if p.symbol != SILENCE
    ]


def _median_f0(speech):
    fps = 100
    pr = compute_prosody(speech.audio, int(speech.duration * fps), fps)
    return float(np.median(pr.f0[pr.voiced]))


def test_pitch_and_voice_change_f0():
    low, high = synthesize(EN, pitch=20), synthesize(EN, pitch=85)
    f_low, f_high = _median_f0(low), _median_f0(high)
    print(f"median f0: pitch 20 -> {f_low:.0f} Hz, pitch 85 -> {f_high:.0f} Hz")
    assert f_high > 1.25 * f_low
    female = synthesize(EN, voice="en-us+f3")
    assert _median_f0(female) > 1.2 * _median_f0(synthesize(EN))
    gb = synthesize(EN, voice="en-gb")
    assert len(gb.audio) != len(synthesize(EN).audio) or not np.allclose(gb.audio, synthesize(EN).audio)


def test_list_voices():
    voices = list_voices()
    langs = {v.language for v in voices}
    assert {"en-us", "en-gb", "es", "de", "cmn"} <= langs and len(voices) > 50


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"text": "  "}, "empty"),
        ({"text": "hello", "voice": "xx-nope"}, "unknown voice"),
        ({"text": "hello", "voice": "klingonx"}, "unknown voice"),  # espeak would speak it with its default
        ({"text": "hello", "voice": "en-us+nosuchvariant"}, "unknown voice variant"),
        ({"text": "hello", "rate": 10}, "rate"),
        ({"text": "hello", "pitch": 101}, "pitch"),
        ({"text": "hello", "pitch_range": -1}, "pitch_range"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(UmoError, match=match):
        synthesize(**kwargs)


def test_voice_names_resolve_to_the_voice_that_speaks():
    from umo.speech.espeak import find_voice, voices_for_language

    assert find_voice("en-us").language == "en-us" and find_voice("zh").language == "cmn"
    assert find_voice("en-gb+f3").language == "en-gb"
    assert find_voice("klingon").language == "piqd"  # espeak-ng has a Klingon voice, by name
    assert {v.language for v in voices_for_language("zh")} >= {"cmn"}
    assert all(any(x.startswith("en") for x in v.languages) for v in voices_for_language("en"))
    with pytest.raises(UmoError, match="no voice speaks"):
        voices_for_language("qq")
