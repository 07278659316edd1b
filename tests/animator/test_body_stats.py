"""Hand-speed statistics and the comparison of our body animation with a real BEAT capture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from umo.animator.body_stats import (
    BEAT_FPS,
    beat_comparison,
    compare_to_real,
    format_table,
    hand_speed_stats,
    resample_positions,
    shoulder_width,
)
from umo.constants import JOINT_INDEX, NUM_JOINTS
from umo.skeleton import canonical_skeleton, forward_kinematics

SK = canonical_skeleton()


def _rest_positions(n: int) -> np.ndarray:
    return np.repeat(forward_kinematics(SK, np.zeros((1, NUM_JOINTS, 3)))[0], n, axis=0)  # (T, J, 3)


def test_speeds_in_shoulder_widths():
    fps, n = 30.0, 91
    pos = _rest_positions(n)
    sw = shoulder_width(pos, SK)
    assert sw == pytest.approx(35.0)  # the canonical arms start 17.5 cm either side of the midline
    # The right wrist moves forward at 2 shoulder widths per second; the left stays still.
    pos[:, JOINT_INDEX["RightHand"], 2] += 2.0 * sw * np.arange(n) / fps
    st = hand_speed_stats(pos, fps, SK)
    assert st["speed_mean"] == pytest.approx(1.0)  # both wrists pooled
    assert st["speed_p95"] == pytest.approx(2.0)
    assert st["moving_fraction"] == pytest.approx(0.5)
    assert st["beats_per_min"] == 0.0  # constant speed has no peaks
    assert st["height"] == pytest.approx(0.0, abs=1e-9)  # T-pose: wrists at shoulder height
    assert st["lateral"] == pytest.approx((17.5 + 28 + 25) / 35.0)  # T-pose: arm + forearm out


def test_beats_count_speed_peaks():
    fps, n = 30.0, 300
    pos = _rest_positions(n)
    t = np.arange(n) / fps
    # Three quick 20 cm strokes of the right wrist at 2, 5 and 8 s (smooth steps).
    for c in (2.0, 5.0, 8.0):
        pos[:, JOINT_INDEX["RightHand"], 1] -= 20.0 / (1.0 + np.exp(-(t - c) / 0.04))
    st = hand_speed_stats(pos, fps, SK)
    assert st["beats_per_min"] == pytest.approx(3 / ((n - 1) / fps / 60.0))


def test_compare_and_table():
    rows = compare_to_real({"speed_mean": 1.0, "beats_per_min": 100.0}, {"speed_mean": 2.0, "beats_per_min": 100.0})
    assert [(r.name, r.ratio) for r in rows] == [("speed_mean", 0.5), ("beats_per_min", 1.0)]
    text = format_table(rows)
    assert "speed_mean" in text and "0.50" in text


def test_resample_keeps_linear_motion():
    pos = np.zeros((31, 2, 3))
    pos[:, 0, 0] = np.arange(31) * 2.0  # 60 cm/s at 30 fps
    out = resample_positions(pos, 30.0, 15.0)
    assert out.shape == (16, 2, 3)
    np.testing.assert_allclose(np.diff(out[:, 0, 0]) * 15.0, 60.0)


def test_our_hand_speeds_near_the_real_take(shared_data):
    """Our animation of the BEAT take's audio moves the hands like the real speaker: speed
    statistics within a factor 2 of the capture's (both at the capture's 15 fps)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BEAT header's frame count is known to be wrong
        rows, info = beat_comparison(shared_data)
    ratios = {r.name: r.ratio for r in rows}
    assert info["strokes"] > 30
    for name in ("speed_mean", "speed_median", "speed_p95", "moving_fraction", "beats_per_min"):
        assert 0.5 <= ratios[name] <= 2.0, (name, ratios[name], format_table(rows))
    # Hands work in the same space: height, reach and spread within 35 % of the real speaker's.
    for name in ("height", "forward", "lateral"):
        assert 0.65 <= ratios[name] <= 1.35, (name, ratios[name])
    assert BEAT_FPS == 15.0
