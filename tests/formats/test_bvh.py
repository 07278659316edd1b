"""BVH: real files from three sources parse, survive a write/read round trip, and bad files say why."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from umo.animation import Animation
from umo.constants import JOINT_NAMES
from umo.errors import UmoError
from umo.formats.bvh import BvhMotion, read_animation_bvh, read_bvh, write_animation_bvh, write_bvh
from umo.skeleton import canonical_skeleton, forward_kinematics


def _positions(motion: BvhMotion) -> np.ndarray:
    return forward_kinematics(motion.skeleton, motion.rotations, motion.root_pos)[0]


def _bone_lengths(skeleton, pos):
    """(T, J-1) distance of every joint from its parent."""
    parents = np.array(skeleton.parents[1:])
    return np.linalg.norm(pos[:, 1:] - pos[:, parents], axis=-1)


@pytest.fixture
def beat_bvh(shared_data):
    return shared_data / "beat" / "2_scott_0_1_1.bvh"


def test_beat_header_lies_rows_win(beat_bvh):
    with pytest.warns(UserWarning, match="7669 frames.*holds 957"):
        m = read_bvh(beat_bvh)
    assert m.num_frames == 957
    assert m.fps == 120  # 1 / Frame Time 0.008333, snapped

    with pytest.warns(UserWarning) as caught:
        m15 = read_bvh(beat_bvh, duration=64.10)  # the audio's length
    assert m15.fps == 15
    assert any("make 15 fps" in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match="holds 957"):
        assert read_bvh(beat_bvh, fps=30, duration=64.10).fps == 30  # an explicit fps wins


def test_beat_skeleton_and_fk(beat_bvh):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = read_bvh(beat_bvh, duration=64.10)
    assert m.skeleton.names == JOINT_NAMES
    assert m.skeleton.parents == canonical_skeleton().parents  # same hierarchy, BEAT's own proportions
    assert m.channels[0] == ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
    assert m.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    assert len(m.skeleton.end_sites) == 13
    pos = _positions(m)
    lengths = _bone_lengths(m.skeleton, pos)
    expected = np.linalg.norm(m.skeleton.offsets[1:], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(expected, lengths.shape), atol=1e-9)
    # the arms really move (SOURCES.md: only the upper body and fingers do)
    hand = pos[:, m.skeleton.index("RightHand")]
    assert np.ptp(hand, axis=0).max() > 10.0
    # the rotations are the file's XYZ Euler angles: check one value by hand
    k = m.skeleton.index("RightForeArm")
    start = sum(len(c) for c in m.channels[:k])
    expected_rot = Rotation.from_euler("XYZ", m.frames[100, start:start + 3], degrees=True).as_rotvec()
    np.testing.assert_allclose(m.rotations[100, k], expected_rot, atol=1e-12)


def test_beat_animation_round_trip(beat_bvh, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anim = read_animation_bvh(beat_bvh, duration=64.10)
    assert anim.fps == 15 and anim.num_frames == 957 and anim.skeleton.names == JOINT_NAMES
    assert not anim.face.any() and not anim.head.any() and not anim.eyes.any()
    out = tmp_path / "body.bvh"
    write_animation_bvh(anim, out)
    text = out.read_text()
    assert "Frames: 957\nFrame Time: 0.06666666667\n" in text
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    back = read_animation_bvh(out)  # no warning: our header tells the truth
    assert back.fps == 15 and back.skeleton == anim.skeleton
    np.testing.assert_allclose(back.joint_positions(), anim.joint_positions(), atol=1e-4)


def test_cmu_parse_round_trip(fixtures, tmp_path):
    path = fixtures / "cmu_01_01.bvh"
    t0 = time.perf_counter()
    m = read_bvh(path)
    rotations = m.rotations
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"reading the 2 MB CMU file took {elapsed:.2f} s"
    assert m.skeleton.num_joints == 31 and m.num_frames == 2752 and m.fps == 120
    assert m.channels[0][3:] == ("Zrotation", "Yrotation", "Xrotation")
    assert m.channels[5] == ("Zrotation", "Yrotation", "Xrotation")
    assert m.skeleton.names[:3] == ("Hips", "LHipJoint", "LeftUpLeg")
    np.testing.assert_allclose(m.root_pos[0], [9.3722, 17.8693, -17.3198])
    k = m.skeleton.index("LeftArm")
    start = sum(len(c) for c in m.channels[:k])
    np.testing.assert_allclose(
        rotations[500, k], Rotation.from_euler("ZYX", m.frames[500, start:start + 3], degrees=True).as_rotvec(),
        atol=1e-12)

    # BvhMotion round trip keeps its own layout
    write_bvh(m, tmp_path / "same.bvh")
    m2 = read_bvh(tmp_path / "same.bvh")
    assert m2.channels == m.channels and m2.skeleton == m.skeleton and m2.fps == m.fps
    assert m2.skeleton.end_sites.keys() == m.skeleton.end_sites.keys()
    np.testing.assert_allclose(m2.frames, m.frames, atol=5e-7)

    # the Animation route rewrites in umo's ZXY layout: FK positions survive
    anim = read_animation_bvh(path)
    write_animation_bvh(anim, tmp_path / "zxy.bvh")
    back = read_bvh(tmp_path / "zxy.bvh")
    assert back.channels[1] == ("Zrotation", "Xrotation", "Yrotation")
    np.testing.assert_allclose(_positions(back), _positions(m), atol=1e-4)
    lengths = _bone_lengths(m.skeleton, _positions(m))
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(m.skeleton.offsets[1:], axis=-1),
                                                        lengths.shape), atol=1e-9)


def test_pymo_walk_parses(shared_data):
    m = read_bvh(shared_data / "mocap_bvh" / "AV_8Walk_Meredith_HVHA_Rep1.bvh")
    assert m.skeleton.num_joints == 23 and m.num_frames == 1064 and m.fps == 120
    # position channels replace the root OFFSET (11.27, 35.42, -54.33): the walk travels a figure 8
    np.testing.assert_allclose(m.root_pos[0], [-6.5115, 35.5548, -163.0160])
    assert np.ptp(m.root_pos[:, [0, 2]], axis=0).min() > 50
    assert np.ptp(m.root_pos[:, 1]) < 10
    pos = _positions(m)
    feet = pos[:, [m.skeleton.index("LeftToeBase"), m.skeleton.index("RightToeBase")], 1]
    assert feet.min() > -5 and feet.min() < 10  # toes reach the floor near y = 0, hips at ~35


def test_canonical_animation_writes_and_reads(tmp_path):
    rng = np.random.default_rng(1)
    anim = Animation.neutral(12, fps=30)
    anim.body[:] = rng.normal(0, 0.4, anim.body.shape)
    anim.root_pos[:] += rng.normal(0, 3, (12, 3))
    anim.save_bvh(tmp_path / "a.bvh")
    back = Animation.load_bvh(tmp_path / "a.bvh")
    assert back.fps == 30 and back.skeleton == anim.skeleton
    assert back.skeleton.end_sites.keys() == anim.skeleton.end_sites.keys()
    np.testing.assert_allclose(back.joint_positions(), anim.joint_positions(), atol=1e-4)
    # a face-only animation still gives a valid body file: the rest pose
    write_animation_bvh(Animation.neutral(5, with_body=False), tmp_path / "rest.bvh")
    rest = read_bvh(tmp_path / "rest.bvh")
    assert rest.num_frames == 5 and not rest.rotations.any()


def test_non_root_position_channels(tmp_path):
    path = tmp_path / "pos.bvh"
    path.write_text(
        "HIERARCHY\nROOT Hips {\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
        " JOINT Arm { OFFSET 1 0 0\n  CHANNELS 4 Yposition Yrotation Xrotation Zrotation\n"
        "  End Site { OFFSET 2 0 0 }\n }\n}\n"
        "MOTION\nFrames: 2\nFrame Time: 0.04\n0 90 0 0 90 0 0\n0 90 0 3 90 0 0\n")
    m = read_bvh(path)
    assert m.fps == 25 and m.skeleton.names == ("Hips", "Arm")
    np.testing.assert_allclose(m.rotations[0, 1], [0, np.pi / 2, 0])
    np.testing.assert_allclose(m.translations[1, 1], [1, 3, 0])
    assert m.moving_offsets() == ["Arm"]
    with pytest.warns(UserWarning, match="move Arm"):
        read_animation_bvh(path)


_GOOD = ("HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 0 0\n\tCHANNELS 6 Xposition Yposition Zposition "
         "Zrotation Xrotation Yrotation\n\tJOINT Spine\n\t{\n\t\tOFFSET 0 10 0\n\t\tCHANNELS 3 Zrotation "
         "Xrotation Yrotation\n\t\tEnd Site\n\t\t{\n\t\t\tOFFSET 0 5 0\n\t\t}\n\t}\n}\n"
         "MOTION\nFrames: 2\nFrame Time: 0.0333333\n0 90 0 0 0 0 10 0 0\n0 91 0 0 0 0 20 0 0\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "HIERARCHY"),
        (_GOOD.replace("HIERARCHY\n", ""), "HIERARCHY"),
        (_GOOD.split("MOTION")[0], "no MOTION"),
        (_GOOD.replace("0 91 0 0 0 0 20 0 0", "0 91 0 0 0 0 20 0"), "line 20: 8 values.*9 channels"),
        (_GOOD.replace("0 91 0 0 0 0 20 0 0", "0 91 0 0 x 0 20 0 0"), "line 20: 'x' is not a number"),
        (_GOOD.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "line 8: OFFSET values"),
        (_GOOD.replace("Xrotation Yrotation\n\t\tEnd", "Xrotation Wrotation\n\t\tEnd"), "line 9: unknown channel"),
        (_GOOD.replace("\t}\n}\nMOTION", "\t}\nMOTION"), "unclosed braces"),
        (_GOOD.replace("Frame Time: 0.0333333\n", ""), "Frame Time"),
        (_GOOD.split("Frame Time: 0.0333333\n")[0] + "Frame Time: 0.0333333\n", "no frames"),
    ],
)
def test_malformed_bvh_is_a_user_error(tmp_path, text, message):
    path = tmp_path / "bad.bvh"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UmoError, match=message):
            read_bvh(path)


def test_good_minimal_file_and_missing_file(tmp_path):
    path = tmp_path / "good.bvh"
    path.write_text(_GOOD)
    m = read_bvh(path)
    assert m.fps == 30 and m.num_frames == 2
    np.testing.assert_allclose(np.degrees(m.rotations[1, 1]), [0, 0, 20])
    with pytest.raises(UmoError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("0 91 0 0 0 0 20 0 0", "0 1e308 0 0 0 0 20 0 0", r"line 20, Hips Yposition: 1e\+308 is not a plausible value"),
        ("0 91 0 0 0 0 20 0 0", "0 91 0 0 0 0 -2e6 0 0", r"line 20, Spine Zrotation: -2e\+06 is not a plausible"),
        ("0 91 0 0 0 0 20 0 0", "0 91 0 0 0 0 nan 0 0", r"line 20, Spine Zrotation: NaN or inf"),
        ("0 91 0 0 0 0 20 0 0", "0 91 0 0 0 0 -inf 0 0", r"line 20, Spine Zrotation: NaN or inf"),
        ("OFFSET 0 10 0", "OFFSET 0 1e308 0", "line 8: OFFSET values '0 1e308 0' are not plausible"),
        ("OFFSET 0 10 0", "OFFSET 0 nan 0", "line 8: OFFSET values '0 nan 0' are not plausible"),
        ("Frame Time: 0.0333333", "Frame Time: 1e-300", "Frame Time is 1e-300 s, not a capture period"),
        ("Frame Time: 0.0333333", "Frame Time: 0", "Frame Time is 0 s, not a capture period"),
        ("Frame Time: 0.0333333", "Frame Time: -0.04", "Frame Time is -0.04 s, not a capture period"),
        ("Frame Time: 0.0333333", "Frame Time: nan", "Frame Time is nan s, not a capture period"),
        ("Frame Time: 0.0333333", "Frame Time: inf", "Frame Time is inf s, not a capture period"),
        ("Frame Time: 0.0333333", "Frame Time: 1e300", "Frame Time is 1e\\+300 s, not a capture period"),
        ("CHANNELS 3 Zrotation", "CHANNELS ³ Zrotation", "CHANNELS count '³' is not a number"),
    ],
)
def test_absurd_values_and_frame_times_are_errors(tmp_path, old, new, message):
    path = tmp_path / "bad.bvh"
    assert old in _GOOD
    path.write_text(_GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(UmoError, match=message):
        read_bvh(path)


def test_absurd_frame_time_is_only_a_warning_when_the_audio_gives_the_rate(tmp_path):
    path = tmp_path / "t.bvh"
    path.write_text(_GOOD.replace("Frame Time: 0.0333333", "Frame Time: 0"))
    with pytest.warns(UserWarning, match="Frame Time 0 is no capture period; using 30 fps"):
        assert read_bvh(path, duration=2 / 30).fps == 30
    with pytest.raises(UmoError, match="not a capture rate"):
        read_bvh(path, duration=1e-9)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(UmoError, match="fps must be a positive number"):
            read_bvh(path, fps=bad)
        with pytest.raises(UmoError, match="duration must be a positive number"):
            read_bvh(path, duration=bad)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("Frame Time: 0.0333333", "Frame Time: 0.5", "2 frames per second is an unusual capture rate"),
        ("Frame Time: 0.0333333", "Frame Time: 0.0002", "5000 frames per second is an unusual capture rate"),
        ("0 91 0 0 0 0 20 0 0", "0 91 0 0 0 0 7200 0 0", "Spine Zrotation reaches 7200 degrees, past ten turns"),
        ("0 91 0 0 0 0 20 0 0", "0 91 90000 0 0 0 20 0 0", "Hips Zposition reaches 90000, 9000 times the length"),
        ("Frames: 2", "Frames: 1e400", "header says 1000000000000000000 frames, the file holds 2"),
    ],
)
def test_suspicious_values_are_warned_about(tmp_path, old, new, message):
    path = tmp_path / "odd.bvh"
    assert old in _GOOD
    path.write_text(_GOOD.replace(old, new))
    with pytest.warns(UserWarning, match=message):
        read_bvh(path)
