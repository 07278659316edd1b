"""The whole rule-based animator and the Python API, on real audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from umo import Animation, Animator
from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
from umo.constants import JOINT_INDEX, lip_aperture
from umo.errors import UmoError
from umo.formats.lab import read_lab
from umo.skeleton import HEAD_CHAIN_SHARE, forward_kinematics, head_to_rotvec, rotvec_to_matrix


@pytest.fixture
def arctic(fixtures):
    audio, sr = sf.read(fixtures / "arctic_a0009.wav", dtype="float32")
    return audio, sr, read_lab(fixtures / "arctic_a0009_phone.lab")


def test_frame_count_and_ranges(arctic):
    audio, sr, timing = arctic
    for fps in (30, 60):
        anim = RuleAnimator(RuleAnimatorConfig(fps=fps)).animate(audio, timing, sr)
        assert anim.num_frames == math.ceil(len(audio) / sr * fps)
        assert anim.body.shape == (anim.num_frames, 75, 3)
        assert np.isfinite(anim.face).all() and anim.face.min() >= 0 and anim.face.max() <= 1
        assert np.isfinite(anim.body).all()


def test_deterministic_for_a_seed_and_varies_across_seeds(arctic):
    audio, sr, timing = arctic
    a = RuleAnimator(RuleAnimatorConfig(seed=3)).animate(audio, timing, sr)
    b = RuleAnimator(RuleAnimatorConfig(seed=3)).animate(audio, timing, sr)
    c = RuleAnimator(RuleAnimatorConfig(seed=4)).animate(audio, timing, sr)
    np.testing.assert_array_equal(a.face, b.face)
    np.testing.assert_array_equal(a.body, b.body)
    assert not np.array_equal(a.body, c.body)


def test_head_rotation_reaches_the_head_joint(arctic):
    """The BVH alone carries the head motion: the Head joint's global rotation (relative to the
    chest) equals the face track's yaw/pitch/roll."""
    audio, sr, timing = arctic
    anim = RuleAnimator().animate(audio, timing, sr)
    assert np.abs(anim.head).max() > 0.01  # the head does move
    _, glob = forward_kinematics(anim.skeleton, anim.body, anim.root_pos)
    chest = glob[:, JOINT_INDEX["Spine3"]]
    rel = np.swapaxes(chest, -1, -2) @ glob[:, JOINT_INDEX["Head"]]  # (T, 3, 3)
    np.testing.assert_allclose(rel, rotvec_to_matrix(head_to_rotvec(anim.head)), atol=1e-6)
    assert abs(sum(s for _, s in HEAD_CHAIN_SHARE) - 1.0) < 1e-9


def test_python_api_with_text_aligns_and_opens_the_mouth(fixtures):
    audio, sr = sf.read(fixtures / "arctic_a0009.wav", dtype="int16")
    anim = Animator().animate(audio, sr, text="He turned sharply, and faced Gregson across the table.")
    assert isinstance(anim, Animation)
    ap = lip_aperture(anim.face)
    assert ap.max() > 0.3 and ap.min() < 0.05  # opens on vowels, closes (P, B, M; silence)


def test_bad_config_and_audio():
    with pytest.raises(UmoError, match="fps"):
        RuleAnimatorConfig(fps=33)
    with pytest.raises(UmoError):
        RuleAnimator().animate(np.zeros(0, np.float32), None)
