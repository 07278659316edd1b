"""The rule-based face animator on real speech (ARCTIC a0009 + its phone labels, JFK) and synthetic input."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from umo.animation import num_frames_for
from umo.animator.calibration import calibration_table, detect_blinks
from umo.animator.face import FaceConfig, FaceTrack, animate_face, eyes_from_look
from umo.constants import ARKIT_INDEX as I
from umo.constants import SAMPLE_RATE, lip_aperture
from umo.formats.audio import load_audio
from umo.formats.lab import read_lab
from umo.speech.prosody import Prosody, compute_prosody
from umo.speech.units import Phone, Timing


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def arctic():
    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    timing = read_lab(FIXTURES / "arctic_a0009_phone.lab")
    return audio, timing


def _prosody(audio, fps):
    n = num_frames_for(len(audio) / SAMPLE_RATE, fps)
    return compute_prosody(audio, n, fps), n


def _flat_prosody(timing: Timing, fps: float, duration: float, level: float = 0.7) -> tuple[Prosody, int]:
    """Synthetic prosody: loudness `level` and voiced inside non-silent phones, 0 elsewhere."""
    n = num_frames_for(duration, fps)
    t = np.arange(n) / fps
    on = np.zeros(n, dtype=bool)
    for p in timing.phones:
        if p.symbol != "SIL":
            on |= (t >= p.start) & (t < p.end)
    loud = np.where(on, level, 0.0)
    return Prosody(fps, np.where(on, -20.0, -80.0), loud, np.where(on, 120.0, 0.0), on), n


def _timing(spec: list[tuple[str, float]]) -> Timing:
    """[(phone, duration s)] -> Timing laid end to end from 0."""
    t, phones = 0.0, []
    for sym, d in spec:
        phones.append(Phone(sym, t, t + d))
        t += d
    return Timing(phones)


def _value_at(track: FaceTrack, fps: float, time: float, name: str) -> float:
    return float(track.face[int(round(time * fps)), I[name]])


# --- mouth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [30, 60])
def test_bilabial_closure_on_real_timing(arctic, fps):
    audio, timing = arctic
    prosody, n = _prosody(audio, fps)
    # The real utterance, and the same real timing with its alveolars relabelled as bilabials, so
    # that closures fall between open vowels with real durations.
    swap = {"T": "P", "D": "B", "N": "M"}
    relabelled = Timing([Phone(swap.get(p.symbol, p.symbol), p.start, p.end) for p in timing.phones])
    for tm in (timing, relabelled):
        track = animate_face(tm, prosody, n, fps, np.random.default_rng(0))
        ap = lip_aperture(track.face)
        checked = 0
        for p in tm.phones:
            if p.symbol in ("P", "B", "M") and p.end - p.start > 0.04:
                k = int(round(0.5 * (p.start + p.end) * fps))
                assert ap[k] <= 0.02, (p, ap[k])
                assert track.face[k, I["MouthClose"]] >= 0.03
                assert track.face[k, I["MouthPressLeft"]] >= 0.25
                checked += 1
        assert checked >= (2 if tm is timing else 8)
    # ... and the vowels next to them are open.
    assert ap.max() > 0.3


def _pucker_lead(cfg: FaceConfig) -> tuple[float, np.ndarray, np.ndarray, float]:
    """'see stew' vs 'see stee' (real-like durations): how long before the UW onset the lips are a
    quarter of the way to their pucker peak, beyond the unrounded context. -> (lead s, UW, IY, onset)"""
    fps = 100
    rounded = _timing([("SIL", 0.3), ("S", 0.1), ("IY", 0.15), ("S", 0.09), ("T", 0.07), ("UW", 0.2), ("SIL", 0.3)])
    spread = _timing([("SIL", 0.3), ("S", 0.1), ("IY", 0.15), ("S", 0.09), ("T", 0.07), ("IY", 0.2), ("SIL", 0.3)])
    onset = rounded.phones[5].start
    out = {}
    for name, tm in (("UW", rounded), ("IY", spread)):
        pr, n = _flat_prosody(tm, fps, tm.end)
        out[name] = animate_face(tm, pr, n, fps, np.random.default_rng(0), cfg).face[:, I["MouthPucker"]]
    k_on = int(round(onset * fps))
    peak = out["UW"][k_on:k_on + 20].max()
    lead = 0
    while out["UW"][k_on - lead - 1] - out["IY"][k_on - lead - 1] > 0.25 * peak:
        lead += 1
    return lead / fps, out["UW"], out["IY"], onset


def test_anticipatory_rounding():
    lead, uw, iy, onset = _pucker_lead(FaceConfig())
    print(f"pucker a quarter up {lead * 1000:.0f} ms before the UW onset")
    assert 0.08 <= lead <= 0.2  # ahead by about rounding_anticipation_s, not a constant pout
    # Rounding is visible across two consonants: at 60 ms before onset, well above the spread context.
    k = int(round((onset - 0.06) * 100))
    assert uw[k] > iy[k] + 0.08
    # The lead comes from the anticipation constant: without it, the lips round later.
    assert _pucker_lead(FaceConfig(rounding_anticipation_s=0.02))[0] < lead - 0.02


def test_same_phone_differs_with_neighbours():
    fps = 100
    ctx = {}
    for v in ("IY", "UW", "AA"):
        tm = _timing([("SIL", 0.2), (v, 0.15), ("T", 0.07), (v, 0.15), ("SIL", 0.2)])
        pr, n = _flat_prosody(tm, fps, tm.end)
        tr = animate_face(tm, pr, n, fps, np.random.default_rng(0))
        c = 0.5 * (tm.phones[2].start + tm.phones[2].end)
        ctx[v] = {ch: _value_at(tr, fps, c, ch) for ch in ("MouthPucker", "JawOpen", "MouthStretchLeft")}
    assert ctx["UW"]["MouthPucker"] > ctx["IY"]["MouthPucker"] + 0.15
    assert ctx["AA"]["JawOpen"] > ctx["IY"]["JawOpen"] + 0.05
    assert ctx["IY"]["MouthStretchLeft"] > ctx["UW"]["MouthStretchLeft"] + 0.05


def test_aperture_follows_loudness_on_real_speech(arctic):
    audio, timing = arctic
    fps = 30
    prosody, n = _prosody(audio, fps)
    ap = lip_aperture(animate_face(timing, prosody, n, fps, np.random.default_rng(0)).face)
    r = np.corrcoef(ap, prosody.loudness)[0, 1]
    print(f"arctic_a0009 + .lab: r(lip aperture, loudness) = {r:.3f}")
    assert r > 0.45
    # Louder speech opens the jaw wider (same phones, loudness scaled down).
    quiet = Prosody(fps, prosody.energy_db, prosody.loudness * 0.4, prosody.f0, prosody.voiced)
    ap_quiet = lip_aperture(animate_face(timing, quiet, n, fps, np.random.default_rng(0)).face)
    assert ap.max() > ap_quiet.max() + 0.05
    # Silence relaxes to a lightly closed rest pose.
    k = int(round(0.05 * fps))
    assert -0.02 <= ap[k] <= 0.03


def test_audio_only_fallback(fixtures):
    audio = load_audio(fixtures / "jfk.flac")
    fps = 30
    prosody, n = _prosody(audio, fps)
    tr = animate_face(None, prosody, n, fps, np.random.default_rng(0))
    ap = lip_aperture(tr.face)
    r = np.corrcoef(ap, prosody.loudness)[0, 1]
    print(f"jfk audio-only: r(lip aperture, loudness) = {r:.3f}")
    assert r > 0.8
    assert tr.face[:, I["JawOpen"]].std() > 0.03
    quiet = prosody.loudness < 0.02
    assert quiet.any() and np.all(ap[quiet] < 0.05)
    assert np.isfinite(tr.face).all() and np.isfinite(tr.head).all()


# --- eyes, blinks, brows, head -----------------------------------------------------------------------


def _speechy_prosody(duration: float, fps: float, seed: int = 1) -> tuple[Prosody, int]:
    """60 s of synthetic 'speech': 1-4 s phrases separated by 0.3-1 s pauses, syllable-rate loudness."""
    rng = np.random.default_rng(seed)
    n = num_frames_for(duration, fps)
    t = np.arange(n) / fps
    on = np.zeros(n, dtype=bool)
    s = 0.5
    while s < duration:
        e = s + rng.uniform(1, 4)
        on |= (t >= s) & (t < e)
        s = e + rng.uniform(0.3, 1.0)
    loud = on * (0.5 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2)
    f0 = np.where(on, 120 * 2 ** (np.sin(2 * np.pi * 0.4 * t) * 4 / 12), 0.0)
    return Prosody(fps, np.where(on, -20.0, -80.0), loud, f0, on), n


@pytest.mark.parametrize("rate", [18.0, 30.0])
def test_blink_rate(rate):
    fps = 30
    prosody, n = _speechy_prosody(60.0, fps)
    cfg = FaceConfig(blink_rate_per_min=rate)
    counts = []
    for seed in range(4):
        tr = animate_face(None, prosody, n, fps, np.random.default_rng(seed), cfg)
        count, durs = detect_blinks(tr.face[:, I["EyeBlinkLeft"]], fps)
        counts.append(count)
        assert abs(count - rate) <= 0.4 * rate, (seed, count)
        # Both eyes blink together.
        assert np.corrcoef(tr.face[:, I["EyeBlinkLeft"]], tr.face[:, I["EyeBlinkRight"]])[0, 1] > 0.9
    print(f"configured {rate}/min, measured {counts}")


def test_blink_shape_and_phrase_boundaries():
    fps = 60
    prosody, n = _speechy_prosody(60.0, fps)
    cfg = FaceConfig()
    near, far, t_near = 0, 0, 0.0
    from umo.animator.face import phrases

    starts, ends, _ = phrases(None, prosody, n, fps, cfg)
    bounds = np.array(sorted(starts + ends))
    t = np.arange(n) / fps
    win = (np.abs(t[:, None] - bounds[None, :] - 0.25) <= 0.25).any(axis=1)  # 0..0.5 s after a boundary
    t_near = win.mean()
    for seed in range(8):
        b = animate_face(None, prosody, n, fps, np.random.default_rng(seed), cfg).face[:, I["EyeBlinkLeft"]]
        onsets = np.flatnonzero((b[1:] >= 0.5) & (b[:-1] < 0.5))
        near += win[onsets].sum()
        far += (~win[onsets]).sum()
        # Fast close, slower open: frames rising through 0.1..0.5 fewer than falling back.
        k = onsets[len(onsets) // 2]
        rise = np.flatnonzero(b[:k + 1] < 0.1)[-1]
        fall = k + np.flatnonzero(b[k:] < 0.1)[0]
        peak = k + int(np.argmax(b[k:fall]))
        assert peak - rise < fall - peak
        assert 0.05 < (fall - rise) / fps < 0.4
    # Blinks per second of window are clearly more frequent near phrase boundaries.
    assert near / t_near > 1.3 * far / (1 - t_near)


def test_saccades_and_eye_channels_consistent():
    fps = 60
    prosody, n = _speechy_prosody(30.0, fps)
    cfg = FaceConfig()
    tr = animate_face(None, prosody, n, fps, np.random.default_rng(3), cfg)
    yl, pl, yr, pr = tr.eyes[:, 0], tr.eyes[:, 1], tr.eyes[:, 3], tr.eyes[:, 4]
    rec = eyes_from_look(tr.face, cfg)
    np.testing.assert_allclose(rec, np.stack([yl, pl, yr, pr], axis=1), atol=1e-9)
    f = tr.face
    # Mirrored in/out: looking to the character's right turns the left eye in and the right eye out.
    right = yl > 0.02
    assert right.any() and (~right).any()
    assert np.all(f[right, I["EyeLookInLeft"]] > 0) and np.all(f[right, I["EyeLookOutRight"]] > 0)
    assert np.all(f[right, I["EyeLookOutLeft"]] == 0) and np.all(f[right, I["EyeLookInRight"]] == 0)
    assert np.all(f[:, I["EyeLookUpLeft"]] * f[:, I["EyeLookDownLeft"]] == 0)
    # Saccades: fast jumps (> 2 rad/s) separated by fixations of about 0.3-3 s.
    speed = np.hypot(np.diff(yl), np.diff(pl)) * fps
    jumps = np.flatnonzero((speed[1:] > 2.0) & (speed[:-1] <= 2.0)) / fps
    assert len(jumps) >= 30 / 3.0 - 2
    gaps = np.diff(jumps)
    assert gaps.min() >= 0.25 and np.median(gaps) <= 3.0
    assert np.abs(yl).max() <= cfg.gaze_max_yaw_rad + 0.02


def test_brows_rise_on_accents(arctic):
    audio, timing = arctic
    fps = 30
    prosody, n = _prosody(audio, fps)
    from umo.speech.prosody import find_accents

    accents = find_accents(prosody, None)
    assert accents
    brow = np.mean([animate_face(timing, prosody, n, fps, np.random.default_rng(s)).face[:, I["BrowInnerUp"]]
                    for s in range(6)], axis=0)
    at = np.array([brow[min(n - 1, int(round(a.time * fps)))] for a in accents])
    assert at.mean() > np.median(brow) + 0.03


def test_head_nods_and_ranges(arctic):
    audio, timing = arctic
    fps = 30
    prosody, n = _prosody(audio, fps)
    tr = animate_face(timing, prosody, n, fps, np.random.default_rng(0))
    deg = np.degrees(tr.head)
    assert np.abs(deg).max() < 12
    assert deg[:, 1].max() - deg[:, 1].min() > 1.0  # nods are visible
    # Over a minute of speech every axis moves by a few degrees, no more.
    prosody, n = _speechy_prosody(60.0, fps)
    sd = np.degrees(animate_face(None, prosody, n, fps, np.random.default_rng(0)).head).std(axis=0)
    print(f"head sd over 60 s (deg): yaw {sd[0]:.2f} pitch {sd[1]:.2f} roll {sd[2]:.2f}")
    assert np.all(sd > 0.3) and np.all(sd < 5.0)


def test_determinism_ranges_and_shapes(arctic):
    audio, timing = arctic
    fps = 30
    prosody, n = _prosody(audio, fps)
    a = animate_face(timing, prosody, n, fps, np.random.default_rng(7))
    b = animate_face(timing, prosody, n, fps, np.random.default_rng(7))
    c = animate_face(timing, prosody, n, fps, np.random.default_rng(8))
    for x, y in ((a.face, b.face), (a.head, b.head), (a.eyes, b.eyes)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.eyes, c.eyes)
    # Randomness never touches the mouth: it is fixed by the phones and the audio.
    mouth = [I[k] for k in ("JawOpen", "MouthClose", "MouthPucker")]
    np.testing.assert_array_equal(a.face[:, mouth], c.face[:, mouth])
    assert a.face.shape == (n, 52) and a.head.shape == (n, 3) and a.eyes.shape == (n, 6)
    for tr in (a, c):
        assert np.isfinite(tr.face).all() and tr.face.min() >= 0 and tr.face.max() <= 1
    anim = a.to_animation(fps)
    assert anim.num_frames == n and anim.body is None
    # A prosody shorter than the frames is padded; an empty clip works.
    short = Prosody(fps, prosody.energy_db[:10], prosody.loudness[:10], prosody.f0[:10], prosody.voiced[:10])
    assert animate_face(timing, short, n, fps, np.random.default_rng(0)).face.shape == (n, 52)
    empty = Prosody(fps, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
    assert animate_face(None, empty, 0, fps, np.random.default_rng(0)).face.shape == (0, 52)


def test_config_validation():
    with pytest.raises(ValueError, match="blink_close_s"):
        FaceConfig(blink_close_s=0)
    with pytest.raises(ValueError, match="refractory"):
        FaceConfig(blink_rate_per_min=120, blink_refractory_s=0.6)
    with pytest.raises(ValueError, match="fps"):
        p = Prosody(30, np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3, dtype=bool))
        animate_face(None, p, 3, 60, np.random.default_rng(0))
    assert replace(FaceConfig(), coarticulation_scale=2.0).coarticulation_scale == 2.0


# --- calibration against real captures ------------------------------------------------------------------


def test_calibration_against_real_captures(shared_data):
    rows = {r["quantity"]: r for r in calibration_table(shared_data, seeds=6, beat=False)}

    def ratio(q):
        r = rows[q]
        return r["ours_arctic"] / r["real"]

    # Blinks: rate and shape were calibrated on these captures.
    assert 1 / 1.5 < ratio("blink rate (/min)") < 1.5
    assert 1 / 1.5 < ratio("blink duration (ms >= 0.5)") < 1.5
    assert 1 / 1.5 < ratio("EyeBlink mean") < 1.5
    assert 1 / 2 < ratio("BrowInnerUp mean") < 2
    assert 1 / 2.5 < ratio("eye yaw sd (rad)") < 2.5
    # Mouth: the captures are emotion takes, not continuous speech, so only within a wider factor.
    for q in ("JawOpen mean", "MouthFunnel mean", "MouthLowerDown mean", "lip aperture mean"):
        assert 1 / 4 < ratio(q) < 4, (q, rows[q])
    assert 1 / 2 < rows["lip aperture p95"]["ours_arctic"] / rows["lip aperture p95"]["real"] < 2
