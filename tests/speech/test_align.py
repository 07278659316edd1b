"""Forced alignment on real recordings with known transcripts and hand-checked labels."""

from __future__ import annotations

import difflib
import time

import numpy as np
import pytest
import soundfile as sf

from umo.errors import UmoError
from umo.speech.align import align_transcript, dtw_path
from umo.speech.units import PHONES, SILENCE

A0009_TEXT = "He turned sharply, and faced Gregson across the table."
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _mono(path):
    audio, sr = sf.read(path, dtype="float32")
    return (audio.mean(axis=1) if audio.ndim == 2 else audio), sr


def _lab(path):
    """ARCTIC HTS full-context labels -> [(ARPAbet, start s)]; 100 ns units, phone between - and +."""
    out = []
    for line in path.read_text().splitlines():
        start, _end, label = line.split()
        ph = label.split("-")[1].split("+")[0]
        out.append(({"ax": "AH", "pau": SILENCE, "sil": SILENCE}.get(ph, ph.upper()), int(start) / 1e7))
    return out


def _boundary_errors(ref, timing):
    """Absolute start-time errors of the phones both sequences share (in order), first one excluded."""
    hyp = [(p.symbol, p.start) for p in timing.phones]
    sm = difflib.SequenceMatcher(a=[r[0] for r in ref], b=[h[0] for h in hyp], autojunk=False)
    errs = [
        abs(ref[i + k][1] - hyp[j + k][1])
        for i, j, n in sm.get_matching_blocks()
        for k in range(n)
        if i + k > 0
    ]
    return np.array(errs), sm.ratio()


def _check_timing(timing, duration):
    starts = [p.start for p in timing.phones]
    assert starts == sorted(starts)
    assert all(p.symbol in PHONES for p in timing.phones)
    for a, b in zip(timing.phones, timing.phones[1:]):
        assert abs(a.end - b.start) < 1e-6
    assert timing.phones[-1].end <= duration + 0.02


@pytest.mark.parametrize("method, median_ms, mean_ms", [("pocketsphinx", 40, 50), ("dtw", 60, 90)])
def test_arctic_boundaries(fixtures, method, median_ms, mean_ms):
    audio, sr = _mono(fixtures / "arctic_a0009.wav")
    t0 = time.perf_counter()
    timing = align_transcript(audio, A0009_TEXT, sr, method=method)
    elapsed = time.perf_counter() - t0
    duration = len(audio) / sr
    errs, ratio = _boundary_errors(_lab(fixtures / "arctic_a0009_phone.lab"), timing)
    print(
        f"{method}: {len(errs)} boundaries, mean {errs.mean() * 1000:.1f} ms, median "
        f"{np.median(errs) * 1000:.1f} ms, phone match {ratio:.2f}, real-time factor {elapsed / duration:.3f}"
    )
    _check_timing(timing, duration)
    assert [w.text for w in timing.words] == A0009_TEXT.replace(",", "").replace(".", "").split()
    assert ratio > 0.85 and len(errs) >= 30
    assert np.median(errs) < median_ms / 1000 and errs.mean() < mean_ms / 1000
    assert elapsed < duration  # faster than real time (warm: the espeak/pocketsphinx start-up excluded)


def test_arctic_stress_and_words(fixtures):
    audio, sr = _mono(fixtures / "arctic_a0009.wav")
    timing = align_transcript(audio, A0009_TEXT, sr)
    stressed = {timing.words[p.word].text for p in timing.stressed_vowels()}
    assert {"turned", "sharply", "faced", "Gregson", "table"} <= stressed
    for i, w in enumerate(timing.words):
        ps = [p for p in timing.phones if p.word == i]
        assert ps and ps[0].start == pytest.approx(w.start) and ps[-1].end == pytest.approx(w.end)


@pytest.mark.parametrize("method", ["auto", "dtw"])
def test_jfk_americans(fixtures, method):
    audio, sr = _mono(fixtures / "jfk.flac")
    t0 = time.perf_counter()
    timing = align_transcript(audio, JFK_TEXT, sr, method=method)
    rtf = (time.perf_counter() - t0) / (len(audio) / sr)
    americans = [w for w in timing.words if w.text == "Americans"]
    print(f"{method}: 'Americans' at {americans[0].start:.2f} s, real-time factor {rtf:.3f}")
    assert len(americans) == 1 and abs(americans[0].start - 1.8) < 0.25
    assert len(timing.words) == 22
    _check_timing(timing, len(audio) / sr)
    assert rtf < 1.0


def test_out_of_vocabulary_words(fixtures):
    # "Gregsonian" and "42" are not in the CMU dictionary: espeak supplies their pronunciations.
    audio, sr = _mono(fixtures / "arctic_a0009.wav")
    timing = align_transcript(audio, "He turned sharply and faced Gregsonian across 42.", sr, method="pocketsphinx")
    assert [w.text for w in timing.words][-2:] == ["across", "42"]


def test_resamples_input(fixtures):
    import soxr

    audio, sr = _mono(fixtures / "arctic_a0009.wav")
    up = soxr.resample(audio, sr, 44100)
    a = align_transcript(audio, A0009_TEXT, sr)
    b = align_transcript(up, A0009_TEXT, 44100)
    assert abs(a.words[3].start - b.words[3].start) < 0.03


def test_errors(fixtures):
    audio, sr = _mono(fixtures / "arctic_a0009.wav")
    with pytest.raises(UmoError, match="empty"):
        align_transcript(audio, "   ", sr)
    with pytest.raises(UmoError, match="too short"):
        align_transcript(audio[: sr // 5], A0009_TEXT, sr)
    with pytest.raises(UmoError, match="method"):
        align_transcript(audio, A0009_TEXT, sr, method="magic")
    with pytest.raises(UmoError, match="channels"):
        align_transcript(np.zeros((10, 10, 2), np.float32), A0009_TEXT, sr)
    with pytest.raises(UmoError, match="English"):
        align_transcript(audio, A0009_TEXT, sr, language="es", method="pocketsphinx")


def test_dtw_path_recovers_a_known_warp():
    rng = np.random.default_rng(0)
    b = rng.normal(size=(80, 4))  # synthetic frames
    truth = np.repeat(np.arange(80), 2)[:150]  # real speech twice as slow...
    truth = np.concatenate([truth[:60], truth[60::3][:10], truth[90:]])  # ...then briefly faster
    a = b[truth] + 0.05 * rng.normal(size=(len(truth), 4))
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    path = dtw_path(cost)
    assert np.all(np.diff(path) >= 0) and np.all(np.diff(path) <= 3)
    assert np.mean(np.abs(path - truth)) < 0.5


def test_a_transcript_that_does_not_match_is_reported(fixtures, caplog):
    """Forced alignment always returns times; a transcript of other words must not pass silently."""
    audio, sr = _mono(fixtures / "jfk.flac")
    with caplog.at_level("WARNING", logger="umo"):
        align_transcript(audio, JFK_TEXT, sample_rate=sr)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="umo"):
        align_transcript(audio, A0009_TEXT, sample_rate=sr)
    assert any("does not seem to match" in r.getMessage() or "could not align" in r.getMessage()
               for r in caplog.records)
