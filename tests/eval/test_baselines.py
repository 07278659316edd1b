"""Animator registry and ground-truth baselines."""

from __future__ import annotations

import numpy as np
import pytest

from umo.animation import Animation
from umo.errors import UmoError
from umo.eval.baselines import OFFLINE_ONLY, get_animator, neutral_face, shifted_real, still_pose


def test_registry_names():
    r = get_animator("rules")
    assert r.fps == 30 and r.needs_transcript and r.latency == OFFLINE_ONLY
    assert get_animator("rules@60").fps == 60
    assert not get_animator("loudness").needs_transcript
    with pytest.raises(UmoError, match="unknown animator"):
        get_animator("magic")
    with pytest.raises(UmoError):
        get_animator("rules@fast")


def test_model_preset_plugs_in(fixtures):
    pytest.importorskip("umo.models")
    from umo.formats.audio import load_audio

    spec = get_animator("model:tiny")
    assert spec.stream is not None and spec.latency != OFFLINE_ONLY
    anim = spec.animate(load_audio(fixtures / "arctic_a0009.wav")[:16000], None)
    assert anim.fps == 30 and anim.num_frames == 30 and anim.body is not None
    with pytest.raises(UmoError, match="no checkpoint"):
        get_animator("model:/nonexistent.safetensors")


def test_model_with_phones_reads_the_transcript(fixtures):
    """model+phones: the same model reading the transcript's phone timing as its text tokens (it
    needs a transcript); plain model: audio alone, the transcript ignored."""
    pytest.importorskip("umo.models")
    from umo.formats.audio import load_audio
    from umo.pipeline import load_timing

    audio = load_audio(fixtures / "arctic_a0009.wav")[:32000]
    timing = load_timing(audio, transcript=fixtures / "arctic_a0009_phone.lab")
    plain, phones = get_animator("model"), get_animator("model+phones@60")
    assert not plain.needs_transcript and phones.needs_transcript and phones.fps == 60
    assert np.array_equal(plain.animate(audio, timing).face, plain.animate(audio, None).face)
    with_phones = get_animator("model+phones").animate(audio, timing).face
    assert np.abs(with_phones - plain.animate(audio, None).face).max() > 0.05


def test_loudness_and_rules_animate(fixtures):
    from umo.formats.audio import load_audio
    from umo.pipeline import load_timing

    audio = load_audio(fixtures / "arctic_a0009.wav")
    loud = get_animator("loudness").animate(audio, None)
    assert loud.num_frames > 0 and loud.face[:, 17].max() > 0.1  # the jaw moves
    with pytest.raises(UmoError, match="transcript"):
        get_animator("rules").animate(audio, None)
    timing = load_timing(audio, transcript=fixtures / "arctic_a0009_phone.lab")
    assert get_animator("rules@60").animate(audio, timing).fps == 60


def test_ground_truth_baselines():
    a = Animation.neutral(10, 30)
    a.face[:, 17] = np.arange(10) / 10
    a.body[:, 20, 0] = np.arange(10) / 10
    s = shifted_real(a)
    assert np.allclose(s.face[:, 17], np.roll(a.face[:, 17], 5)) and np.allclose(s.body[:, 20, 0], np.roll(a.body[:, 20, 0], 5))
    still = still_pose(a)
    assert np.allclose(still.body, a.body[5]) and not still.face.any()
    assert neutral_face(7, 60).num_frames == 7 and neutral_face(7, 60).body is None


def test_the_probe_baseline_fits_on_the_visible_facegood_takes_only(shared_data, fixtures):
    """The log-mel ridge probe: fitted on FACEGOOD 1114_2_01..04, it predicts the held-out take's
    lips well above chance (what a learned model has to beat), and moves only captured channels."""
    from umo.constants import ARKIT_NAMES, lip_aperture
    from umo.eval.metrics import pearson
    from umo.eval.probe import PROBE_TAKES
    from umo.formats.facegood import read_facegood

    assert "1114_3_16" not in PROBE_TAKES
    spec = get_animator("probe")
    gt = read_facegood(fixtures / "facegood" / "bs_value_1114_3_16.npy", fixtures / "facegood" / "1114_3_16.wav")
    pred = spec.animate(gt.audio, None)
    n = min(pred.num_frames, gt.num_frames)
    assert pred.body is None and np.all((pred.face >= 0) & (pred.face <= 1))
    assert pearson(lip_aperture(pred.face[:n]), lip_aperture(gt.face[:n])) > 0.6
    moved = np.flatnonzero(np.abs(pred.face - Animation.neutral(1, 30, with_body=False).face).max(axis=0) > 0)
    assert moved.size and all(ARKIT_NAMES[i].startswith(("Jaw", "Mouth")) for i in moved)  # what FACEGOOD captures
