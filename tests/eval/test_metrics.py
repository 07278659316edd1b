"""Metrics on constructed signals with known answers, and rate reconciliation."""

from __future__ import annotations

import numpy as np
import pytest

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, JAW_MOUTH_INDICES, NUM_BLENDSHAPES
from umo.eval import metrics as M
from umo.eval.align import align, common_times
from umo.skeleton import canonical_skeleton

ALL = list(range(NUM_BLENDSHAPES))


def smooth_face(t: np.ndarray) -> np.ndarray:
    """(T, 52) smooth, distinct curves in [0, 1] as functions of time (seconds)."""
    k = np.arange(NUM_BLENDSHAPES)
    return 0.5 + 0.4 * np.sin(2 * np.pi * (0.7 + 0.05 * k)[None, :] * t[:, None] + k[None, :])


def smooth_body(t: np.ndarray) -> np.ndarray:
    """(T, 75, 3) smooth upper-body rotations (radians) as functions of time."""
    sk = canonical_skeleton()
    rot = np.zeros((len(t), sk.num_joints, 3))
    for j, name in enumerate(sk.names):
        if name in M.BEAT_JOINTS or "Arm" in name:
            rot[:, j] = 0.3 * np.sin(2 * np.pi * 0.8 * t[:, None] + j + np.arange(3)[None, :])
    return rot


def anim_at(fps: float, seconds: float) -> Animation:
    t = np.arange(int(seconds * fps)) / fps
    return Animation(fps=fps, face=smooth_face(t), head=np.zeros((len(t), 3)), eyes=np.zeros((len(t), 6)),
                     body=smooth_body(t))


def test_a_copy_scores_perfect():
    x = anim_at(30, 6).face
    m = M.face_metrics(x, x.copy(), 30, ALL)
    assert m["lve_bs"] == 0 and m["mouth_mae"] == 0 and m["velocity_l1"] == 0 and m["upper_fdd"] == 0
    assert m["sync_r0"] == pytest.approx(1.0) and m["sync_lag_ms"] == 0


def test_a_shifted_copy_gives_the_lag():
    rng = np.random.default_rng(0)
    y = np.convolve(rng.standard_normal(400), np.hanning(9), "same")
    late = np.concatenate([np.zeros(5), y[:-5]])  # 5 frames late at 30 fps
    lag = M.lagged_correlation(late, y, 30)
    assert lag.lag_ms == pytest.approx(1000 * 5 / 30)
    assert lag.r_best > 0.99 and lag.r0 < lag.r_best
    assert M.lagged_correlation(y, late, 30).lag_ms == pytest.approx(-1000 * 5 / 30)


def test_lve_on_known_errors():
    gt = np.zeros((4, NUM_BLENDSHAPES))
    pred = gt.copy()
    jaw, funnel = ARKIT_INDEX["JawOpen"], ARKIT_INDEX["MouthFunnel"]
    pred[0, jaw], pred[0, funnel] = 0.1, 0.2  # frame 0: max squared error 0.04
    pred[1, jaw] = 0.3  # frame 1: 0.09
    pred[2, ARKIT_INDEX["BrowInnerUp"]] = 0.5  # upper face: not in LVE
    m = M.face_metrics(pred, gt, 30, ALL)
    assert m["lve_bs"] == pytest.approx((0.04 + 0.09) / 4)
    assert m["mouth_mae"] == pytest.approx((0.1 + 0.2 + 0.3) / (4 * len(JAW_MOUTH_INDICES)))


def test_only_valid_channels_count():
    gt = np.zeros((10, NUM_BLENDSHAPES))
    pred = gt.copy()
    pred[:, ARKIT_INDEX["MouthSmileLeft"]] = 1.0  # wrong, but the capture does not hold it
    m = M.face_metrics(pred, gt, 30, [ARKIT_INDEX["JawOpen"]])
    assert m["lve_bs"] == 0 and m["upper_fdd"] is None


def test_frechet_distance():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((500, 4))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert M.frechet_distance(a, a + np.array([3.0, 0, 0, 0])) == pytest.approx(9.0, rel=1e-6)


def test_beat_alignment_known_answers():
    onsets = np.array([1.0, 2.0, 3.0])
    assert M.beat_alignment([np.array([30, 60, 90])], 30, onsets) == pytest.approx(1.0)
    assert M.beat_alignment([np.array([], int)], 30, onsets) == 0.0
    off = M.beat_alignment([np.array([39, 69, 99])], 30, onsets)  # 0.3 s late: exp(-0.5)
    assert off == pytest.approx(np.exp(-0.5))


def test_audio_onsets_find_clicks():
    sr = 16000
    audio = 0.001 * np.random.default_rng(2).standard_normal(3 * sr)
    clicks = [0.5, 1.2, 2.0, 2.6]
    for c in clicks:
        i = int(c * sr)
        audio[i:i + 800] += 0.5 * np.sin(2 * np.pi * 800 * np.arange(800) / sr)
    found = M.audio_onsets(audio, sr)
    for c in clicks:
        assert np.min(np.abs(found - c)) < 0.03


def test_motion_beats_need_motion():
    speed = np.zeros((50, 1))
    assert len(M.motion_beats(speed, 30, 0.1)[0]) == 0  # a still joint has no beats


def test_rates_and_lengths_reconcile():
    """The same motion at 30 and 60 fps, of different lengths, scores ~perfectly on the GT's axis."""
    gt, pred = anim_at(30, 8), anim_at(60, 9)
    p, g, ov = align(pred, gt)
    assert ov.fps == 30 and ov.frames == gt.num_frames and ov.pred_frames == pred.num_frames
    m = M.face_metrics(p.face, g.face, p.fps, ALL)
    assert m["lve_bs"] < 1e-9 and m["sync_r0"] > 0.9999 and m["sync_lag_ms"] == 0
    sk = canonical_skeleton()
    pp, gp = M.normalised_positions(p.body, sk), M.normalised_positions(g.body, sk)
    assert np.abs(pp - gp).max() < 1e-6  # slerp at the same instants reproduces the rotations
    b = M.body_metrics(pp, gp, p.fps, sk, sk, np.array([1.0, 2.0]))
    assert b["fd_raw"] < 1e-3 and b["fd_latent"] < 1e-3


def test_overlap_is_the_shorter_span():
    gt, pred = anim_at(30, 10), anim_at(25, 4)
    t = common_times(pred, gt)
    assert t[-1] <= (pred.num_frames - 1) / 25 + 1e-9 and len(t) == int(np.floor(t[-1] * 30 + 1e-6)) + 1


def test_motion_ae_weights_are_versioned_and_encode():
    from umo.eval import motion_ae

    assert motion_ae.read_metadata()["version"] == motion_ae.VERSION
    z = motion_ae.encode_windows(np.zeros((3, M.WINDOW, len(M.FEATURE_JOINTS), 3)))
    assert z.shape == (3, motion_ae.LATENT_DIM) and np.isfinite(z).all()


def test_motion_ae_training_is_deterministic(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from umo.eval import motion_ae

    data = np.random.default_rng(0).standard_normal((40, M.WINDOW, len(M.FEATURE_JOINTS), 3)).astype(np.float32)
    monkeypatch.setattr(motion_ae, "training_windows", lambda: data)
    a = load_file(str(motion_ae.train(tmp_path / "a.safetensors", steps=3, log=lambda _: None)))
    b = load_file(str(motion_ae.train(tmp_path / "b.safetensors", steps=3, log=lambda _: None)))
    assert all(bool((a[k] == b[k]).all()) for k in a)
