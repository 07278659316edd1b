"""Targeted audio augmentation: each transform keeps lengths consistent and does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from umo.data.augment import (
    AugmentConfig,
    active_power,
    add_noise,
    augment,
    babble_noise,
    band_limit,
    change_gain,
    colored_noise,
    pitch_shift,
    reverberate,
    room_impulse,
    speed_perturb,
)
from umo.errors import UmoError
from umo.formats.audio import load_audio
from umo.speech.prosody import compute_prosody

SPF = 1600 / 3  # samples per frame


@pytest.fixture(scope="module")
def speech(request):
    from pathlib import Path

    fx = Path(request.config.rootpath) / "tests" / "fixtures"
    a = load_audio(fx / "arctic_a0009.wav")
    t = 90  # 3 s: T * 1600 / 3 samples exactly
    return a[: int(t * SPF)].astype(np.float32), t


def _regions(t):
    ramp = np.arange(t, dtype=np.float32)[:, None]
    return {"face": np.repeat(ramp, 61, 1), "body": np.repeat(ramp, 36, 1), "hands": np.repeat(ramp, 138, 1)}


def _median_f0(x):
    p = compute_prosody(x, int(len(x) / 16000 * 100), 100)
    return np.median(p.f0[p.voiced])


@pytest.mark.parametrize("factor", [0.85, 1.1, 1.15])
def test_speed_warps_audio_motion_and_phones_together(speech, factor):
    a, t = speech
    phones = np.arange(t) % 40
    y, reg, ph = speed_perturb(a, _regions(t), phones, factor)
    assert len(y) == round(len(a) / factor) and len(ph) == round(t / factor)
    assert all(v.shape == (len(ph), v.shape[1]) for v in reg.values())
    assert abs(len(y) - len(ph) * SPF) <= SPF  # T' frames <-> T' * 1600 / 3 samples
    # frame j of the result shows source frame j * factor (the ramp's value)
    j = np.arange(len(ph))
    assert np.allclose(reg["face"][:, 0], np.minimum(j * factor, t - 1), atol=1e-4)
    assert np.array_equal(ph, phones[np.clip(np.round(j * factor).astype(int), 0, t - 1)])
    # audio time-compressed: the loudest 20 ms block moves to time / factor
    blocks = lambda x: np.add.reduceat(x**2, np.arange(0, len(x), 320))
    assert abs(np.argmax(blocks(y)) - np.argmax(blocks(a)) / factor) <= 2


@pytest.mark.parametrize("semitones", [-3.0, -1.5, 2.0, 3.0])
def test_pitch_shift_moves_median_f0(speech, semitones):
    a, _ = speech
    y = pitch_shift(a, semitones)
    assert len(y) == len(a)
    moved = 12 * np.log2(_median_f0(y) / _median_f0(a))
    assert abs(moved - semitones) < 1.0
    # duration kept: the speech envelope stays where it was
    env = lambda x: np.sqrt(np.add.reduceat(x**2, np.arange(0, len(x), 800)))
    assert np.corrcoef(env(a), env(y))[0, 1] > 0.8


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble"])
@pytest.mark.parametrize("snr", [5.0, 20.0, 40.0])
def test_noise_at_the_asked_snr(speech, kind, snr):
    a, _ = speech
    rng = np.random.default_rng(0)
    if kind == "babble":
        talkers = [np.roll(a, 7000 * k) * (k + 1) for k in range(3)]
        noise = babble_noise(len(a), talkers, rng)
    else:
        noise = colored_noise(len(a), kind, rng)
    y = add_noise(a, noise, snr)
    measured = 10 * np.log10(active_power(a) / np.mean((y - a) ** 2))
    assert len(y) == len(a) and abs(measured - snr) < 0.5


def test_noise_colors_have_their_slopes():
    rng = np.random.default_rng(1)
    f = np.fft.rfftfreq(1 << 15, 1 / 16000)
    low, high = (f > 100) & (f < 400), (f > 3000) & (f < 6000)
    ratios = {}
    for kind in ("white", "pink", "brown"):
        p = np.abs(np.fft.rfft(colored_noise(1 << 15, kind, rng))) ** 2
        ratios[kind] = 10 * np.log10(p[low].mean() / p[high].mean())
    assert abs(ratios["white"]) < 2 and 7 < ratios["pink"] < 15 and ratios["brown"] > 20


def test_reverb_keeps_length_alignment_and_level(speech):
    a, _ = speech
    rng = np.random.default_rng(2)
    for rt60 in (0.1, 0.8):
        ir = room_impulse(rt60, 3.0, rng)
        assert ir[0] == 1.0 and np.argmax(np.abs(ir)) == 0  # direct path first: no delay
        # the tail decays by ~60 dB over rt60
        n = int(rt60 * 16000)
        early, late = np.mean(ir[40:40 + n // 10] ** 2), np.mean(ir[n - n // 10:n] ** 2)
        assert -68 < 10 * np.log10(late / early) < -50
        y = reverberate(a, ir)
        assert len(y) == len(a) and abs(10 * np.log10(active_power(y) / active_power(a))) < 0.5
        assert np.corrcoef(a, y)[0, 1] > 0.3 and not np.allclose(a, y)


def test_band_limits(speech):
    a, _ = speech
    rng = np.random.default_rng(3)
    x = colored_noise(16000, "white", rng) * 0.1
    f = np.fft.rfftfreq(len(x), 1 / 16000)

    def band_db(y, lo, hi):
        p = np.abs(np.fft.rfft(y)) ** 2
        return 10 * np.log10(p[(f >= lo) & (f < hi)].mean() / (np.abs(np.fft.rfft(x)) ** 2)[(f >= lo) & (f < hi)].mean())

    tel = band_limit(x, "telephone")
    assert band_db(tel, 1000, 2000) > -1 and band_db(tel, 50, 150) < -15 and band_db(tel, 5000, 8000) < -20
    lp = band_limit(x, "lowpass", 4000)
    assert band_db(lp, 500, 3000) > -1 and band_db(lp, 6000, 8000) < -30
    assert len(np.unique(band_limit(a, "8bit"))) <= 255
    mu = band_limit(a, "mulaw")
    assert len(np.unique(mu)) <= 256 and np.corrcoef(mu, a)[0, 1] > 0.99
    assert all(len(band_limit(a, k)) == len(a) for k in ("telephone", "lowpass", "mulaw", "8bit"))


def test_gain_and_clipping_protection(speech):
    a, _ = speech
    quiet = change_gain(a, -20)
    assert np.allclose(quiet, a * 0.1, atol=1e-6)
    loud = change_gain(a / np.abs(a).max() * 0.9, 6)
    assert np.abs(loud).max() <= 0.99 + 1e-6


def test_augment_end_to_end_is_consistent_and_seeded(speech):
    a, t = speech
    cfg = AugmentConfig(p_speed=1, p_pitch=1, p_reverb=1, p_noise=1, p_band=1, p_gain=1)
    phones = np.arange(t) % 40
    outs = []
    for _ in range(2):
        outs.append(augment(a, _regions(t), phones, np.random.default_rng(7), cfg, babble=[a[::-1], a]))
    (y, reg, ph), (y2, reg2, ph2) = outs
    assert np.array_equal(y, y2) and np.array_equal(reg["body"], reg2["body"]) and np.array_equal(ph, ph2)
    assert abs(len(y) - len(ph) * SPF) <= SPF and reg["face"].shape[0] == len(ph)
    assert np.abs(y).max() <= 1.0 and y.dtype == np.float32
    y3, _, _ = augment(a, _regions(t), phones, np.random.default_rng(8), cfg)
    assert len(y3) != len(y) or not np.allclose(y3, y)
    # off: nothing changes
    y0, reg0, ph0 = augment(a, _regions(t), phones, np.random.default_rng(0), AugmentConfig.off())
    assert np.array_equal(y0, a) and np.array_equal(ph0, phones) and np.array_equal(reg0["face"], _regions(t)["face"])
    # babble from a function, called only when drawn
    calls = []
    cfg_b = AugmentConfig.off()
    cfg_b.p_noise, cfg_b.noise_weights = 1.0, (0, 0, 0, 1)
    augment(a, _regions(t), phones, np.random.default_rng(0), cfg_b,
            babble=lambda n, g: calls.append(n) or [a] * n)
    assert calls and 2 <= calls[0] <= 5


def test_config_validation():
    with pytest.raises(UmoError, match="probability"):
        AugmentConfig(p_speed=1.5)
    with pytest.raises(UmoError, match="low end"):
        AugmentConfig(speed=(1.2, 0.9))
