"""SMPL-X motion files: the real BEAT2 take, the shared rest frame, jaw -> JawOpen, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from umo.constants import ARKIT_INDEX
from umo.errors import UmoError
from umo.formats.smplx import (
    JAW,
    SMPLX_INDEX,
    SMPLX_JOINT_NAMES,
    SMPLX_TO_CANONICAL,
    SmplxMotion,
    animation_to_smplx,
    read_smplx,
    smplx_to_animation,
)
from umo.skeleton import rotvec_to_matrix


@pytest.fixture
def beat_npz(shared_data):
    return shared_data / "beat" / "2_scott_0_1_1.npz"


def _frame_db(path, fps: float) -> np.ndarray:
    """(T,) RMS level per frame of 1/fps seconds, dB."""
    x, sr = sf.read(path, dtype="float64")
    hop = int(sr / fps)
    n = len(x) // hop
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)
    return 20 * np.log10(rms)


def _best_corr(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Highest Pearson r of a[t + lag] with b[t] over |lag| <= max_lag; lag > 0: a lags b."""
    t = min(len(a), len(b))
    best = (-2.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, lag) : t + min(0, lag)]
        y = b[max(0, -lag) : t - max(0, lag)]
        n = min(len(x), len(y))
        best = max(best, (float(np.corrcoef(x[:n], y[:n])[0, 1]), lag))
    return best


def test_joint_table():
    assert len(SMPLX_JOINT_NAMES) == 55 and SMPLX_JOINT_NAMES[JAW] == "jaw"
    assert SMPLX_INDEX["left_index1"] == 25 and SMPLX_INDEX["right_thumb3"] == 54
    targets = [d for group in SMPLX_TO_CANONICAL.values() for d in group]
    assert len(targets) == len(set(targets))  # no canonical joint driven twice
    assert SMPLX_TO_CANONICAL["left_collar"] == ("LeftShoulder",)
    assert SMPLX_TO_CANONICAL["right_ring2"] == ("RightHandRing2",)


def test_read_beat_npz(beat_npz):
    m = read_smplx(beat_npz)
    assert m.num_frames == 1906 and m.fps == 30
    assert m.poses.shape == (1906, 55, 3) and m.expressions.shape == (1906, 100)
    assert m.trans.shape == (1906, 3) and m.betas.shape == (300,)
    anim = smplx_to_animation(m)
    assert anim.num_frames == 1906 and anim.fps == 30 and anim.body.shape == (1906, 75, 3)
    assert anim.skeleton.is_canonical()
    np.testing.assert_allclose(anim.body[:, anim.skeleton.index("LeftForeArm")], m.poses[:, SMPLX_INDEX["left_elbow"]])


def test_rest_frames_agree_arm_down():
    """SMPL-X's left arm lies along +X at rest; -90 deg about Z hangs it down. The same must hold here."""
    t = 1
    poses = np.zeros((t, 55, 3))
    poses[:, SMPLX_INDEX["left_shoulder"]] = [0.0, 0.0, -np.pi / 2]
    poses[:, SMPLX_INDEX["right_shoulder"]] = [0.0, 0.0, np.pi / 2]
    m = SmplxMotion(poses, np.zeros((t, 100)), np.zeros((t, 3)), np.zeros(10), 30.0)
    anim = smplx_to_animation(m)
    pos = anim.joint_positions()[0]
    sk = anim.skeleton
    for side in ("Left", "Right"):
        arm, hand = pos[sk.index(f"{side}Arm")], pos[sk.index(f"{side}Hand")]
        np.testing.assert_allclose(hand[[0, 2]], arm[[0, 2]], atol=1e-9)  # straight below
        assert hand[1] < arm[1] - 40
    rest = smplx_to_animation(SmplxMotion(np.zeros((t, 55, 3)), np.zeros((t, 100)), np.zeros((t, 3)), np.zeros(10), 30.0))
    p0 = rest.joint_positions()[0]
    assert p0[sk.index("LeftHand"), 0] > 50 and p0[sk.index("RightHand"), 0] < -50  # T-pose, left on +X


def test_beat_motion_is_upright_and_speaker_like(beat_npz):
    """Carried-over rotations give a plausible standing speaker: a wrong axis convention would not."""
    anim = smplx_to_animation(read_smplx(beat_npz))
    pos = anim.joint_positions().mean(axis=0)  # (J, 3) average pose
    sk = anim.skeleton
    y = {n: pos[sk.index(n), 1] for n in ("Hips", "Spine3", "Neck", "Head", "HeadEnd", "LeftFoot")}
    assert y["LeftFoot"] < y["Hips"] < y["Spine3"] < y["Neck"] < y["Head"] < y["HeadEnd"]
    assert y["LeftFoot"] < 30  # feet near the floor
    for side in ("Left", "Right"):
        arm, hand = pos[sk.index(f"{side}Arm")], pos[sk.index(f"{side}Hand")]
        assert hand[1] < arm[1] - 20  # arms hang, not T-pose
        assert hand[2] > pos[sk.index("Hips"), 2]  # hands in front of the body (+Z)
    assert pos[sk.index("LeftHand"), 0] > pos[sk.index("RightHand"), 0] + 20  # left stays on +X


def test_jaw_open_follows_loudness(beat_npz, shared_data):
    anim = smplx_to_animation(read_smplx(beat_npz))
    jaw = anim.face[:, ARKIT_INDEX["JawOpen"]]
    assert 0 <= jaw.min() and jaw.max() <= 1 and jaw.std() > 0.01
    db = _frame_db(shared_data / "beat" / "2_scott_0_1_1.wav", anim.fps)
    r, lag = _best_corr(jaw, db, max_lag=6)
    assert r > 0.2 and abs(lag) <= 2, (r, lag)  # measured: r = 0.29 at lag 0


def test_round_trip_of_mapped_joints(beat_npz, tmp_path):
    m = read_smplx(beat_npz)
    anim = smplx_to_animation(m)
    out = tmp_path / "rt.npz"
    animation_to_smplx(anim, out)
    back = read_smplx(out)
    assert back.num_frames == m.num_frames and back.fps == m.fps
    for name in SMPLX_TO_CANONICAL:
        i = SMPLX_INDEX[name]
        np.testing.assert_allclose(back.poses[:, i], m.poses[:, i], atol=1e-5, err_msg=name)
    # jaw opening survives where it is in JawOpen's range
    opening = (m.jaw[:, 0] > 0) & (m.jaw[:, 0] < 0.4)
    np.testing.assert_allclose(back.jaw[opening, 0], m.jaw[opening, 0], atol=1e-6)
    np.testing.assert_allclose(back.trans - back.trans[0], m.trans - m.trans[0], atol=1e-9)
    assert set(np.load(out).files) >= {"poses", "expressions", "trans", "betas", "mocap_frame_rate"}


def test_split_joints_compose(tmp_path):
    """Rotations on Spine2 and Spine3 both reach SMPL-X spine3 as their product."""
    from umo.animation import Animation

    anim = Animation.neutral(2, fps=30)
    sk = anim.skeleton
    anim.body[:, sk.index("Spine2")] = [0.2, 0.0, 0.0]
    anim.body[:, sk.index("Spine3")] = [0.0, 0.3, 0.0]
    motion = animation_to_smplx(anim, tmp_path / "c.npz")
    got = rotvec_to_matrix(motion.poses[0, SMPLX_INDEX["spine3"]])
    want = rotvec_to_matrix(np.array([0.2, 0, 0])) @ rotvec_to_matrix(np.array([0, 0.3, 0]))
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_errors(tmp_path):
    with pytest.raises(UmoError, match="not found"):
        read_smplx(tmp_path / "none.npz")
    np.savez(tmp_path / "smplh.npz", poses=np.zeros((5, 156)))
    with pytest.raises(UmoError, match="SMPL-H"):
        read_smplx(tmp_path / "smplh.npz")
    np.savez(tmp_path / "other.npz", motion=np.zeros((5, 3)))
    with pytest.raises(UmoError, match="no 'poses'"):
        read_smplx(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(UmoError, match="cannot read"):
        read_smplx(tmp_path / "text.npz")
