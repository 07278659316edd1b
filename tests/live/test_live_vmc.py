"""VMC messages: python-osc parses what umo builds into the same messages python-osc would build; the
bundles stay under the datagram limit; the coordinate change keeps left and right; the VRM presets
follow the ARKit weights they are documented to follow."""

from __future__ import annotations

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message_builder import OscMessageBuilder
from scipy.spatial.transform import Rotation

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, ARKIT_NAMES, EYE_NAMES, NUM_BLENDSHAPES
from umo.live import vmc as V
from umo.skeleton import canonical_skeleton

FORWARD = np.array([0.0, 0.0, 1.0])  # the character faces +Z in umo's frame and in Unity's


def still(n: int = 1, **weights: float) -> Animation:
    anim = Animation.neutral(n)
    for name, w in weights.items():
        anim.face[:, ARKIT_INDEX[name]] = w
    return anim


def unity_matrix(q) -> np.ndarray:
    return Rotation.from_quat(q).as_matrix()


def test_messages_equal_python_oscs_own_and_bundles_parse_back():
    rng = np.random.default_rng(0)
    anim = still(3)
    anim.face[:] = rng.uniform(0, 1, anim.face.shape)
    anim.body[:, 1:40] = rng.normal(0, 0.2, (3, 39, 3))
    anim.eyes[:] = rng.normal(0, 0.1, (3, len(EYE_NAMES)))
    msgs = V.frame_messages(anim)
    pos, quat = V.bone_poses(anim)
    for i in (0, 2):
        # a Bone/Pos and a Blend/Val as python-osc builds them from the same values
        b = OscMessageBuilder("/VMC/Ext/Bone/Pos")
        b.add_arg("LeftUpperArm")
        k = V.BONE_NAMES.index("LeftUpperArm")
        for v in np.concatenate([pos[i, k], quat[i, k]]):
            b.add_arg(float(np.float32(v)), "f")
        assert msgs[i][1 + k] == b.build().dgram
        b = OscMessageBuilder("/VMC/Ext/Blend/Val")
        b.add_arg("JawOpen")
        b.add_arg(float(np.float32(anim.face[i, ARKIT_INDEX["JawOpen"]])), "f")
        assert msgs[i][1 + len(V.sent_bones(anim)) + ARKIT_INDEX["JawOpen"]] == b.build().dgram
        datagrams = V.bundles(V.status_messages(1.5) + msgs[i])
        assert len(datagrams) > 1 and all(len(d) <= V.MAX_DATAGRAM_BYTES for d in datagrams)
        parsed = [m for d in datagrams for m in OscBundle(d)]
        assert [m.dgram for m in parsed] == V.status_messages(1.5) + msgs[i]
        assert parsed[1].params == [1.5] and parsed[-1].address == "/VMC/Ext/Blend/Apply"


def test_every_bone_maps_to_a_canonical_joint_and_a_parent_sent_before_it():
    names = canonical_skeleton().names
    seen = set()
    for bone, joint, parent in V.VMC_BONES:
        assert joint is None or joint in names
        assert parent is None or parent in seen
        seen.add(bone)
    # trunk, eyes; shoulder to hand + 15 finger bones; upper leg to toes
    assert len(V.VMC_BONES) == len(seen) == 8 + 2 * (4 + 15) + 2 * 4
    assert V.BONE_NAMES[-len(V.LEG_BONES):] == V.LEG_BONES  # the legs go last: the rest keeps its places


def test_rest_pose_is_the_identity_and_positions_are_mirrored_metres():
    pos, quat = V.bone_poses(still())
    np.testing.assert_allclose(quat[0], np.tile([0, 0, 0, 1.0], (len(V.BONE_NAMES), 1)), atol=1e-12)
    k = V.BONE_NAMES.index("LeftUpperArm")  # the character's left: +X in umo, -X in Unity
    assert pos[0, k, 0] < 0 and pos[0, V.BONE_NAMES.index("RightUpperArm"), 0] > 0
    np.testing.assert_allclose(pos[0, 0], [0, 0.95, 0])  # the hips at the canonical rest height


def test_a_head_turned_to_the_characters_left_looks_to_unitys_minus_x():
    anim = still()
    anim.head[0] = [0.4, 0.0, 0.0]  # yaw > 0: towards the character's left (umo.skeleton.head_to_rotvec)
    anim.body = None  # the neck chain from the head angles
    _, quat = V.bone_poses(anim)
    chain = np.eye(3)
    for bone in ("Neck", "Head"):
        chain = chain @ unity_matrix(quat[0, V.BONE_NAMES.index(bone)])
    gaze = chain @ FORWARD
    assert gaze[0] < -0.3 and gaze[2] > 0.8  # Unity: the character's left is -X


@pytest.mark.parametrize("yaw, pitch, x_sign, y_sign", [(0.3, 0.0, 1, 0), (-0.3, 0.0, -1, 0), (0.0, 0.3, 0, -1)])
def test_eye_bones_follow_livelink_eye_angles(yaw, pitch, x_sign, y_sign):
    """LeftEyeYaw > 0 goes with EyeLookInLeft in the iPhone's takes: both eyes look to the character's
    right (Unity +X); pitch > 0 looks down."""
    anim = still()
    anim.eyes[0] = [yaw, pitch, 0.0, yaw, pitch, 0.0]
    _, quat = V.bone_poses(anim)
    for bone in V.EYE_BONES:
        gaze = unity_matrix(quat[0, V.BONE_NAMES.index(bone)]) @ FORWARD
        assert np.sign(np.round(gaze[0], 6)) == x_sign and np.sign(np.round(gaze[1], 6)) == y_sign


@pytest.mark.parametrize("weights, high", [
    ({"JawOpen": 0.5}, {"A"}),
    ({"MouthPucker": 0.8}, {"U"}),
    ({"JawOpen": 0.5, "MouthFunnel": 0.9}, {"O"}),
    ({"MouthStretchLeft": 0.8, "MouthStretchRight": 0.8}, {"I"}),
    ({"JawOpen": 0.5, "MouthStretchLeft": 0.9, "MouthStretchRight": 0.9}, {"E"}),
    ({"EyeBlinkLeft": 1.0, "EyeBlinkRight": 1.0}, {"Blink"}),
    ({"EyeBlinkLeft": 1.0}, {"Blink_L"}),
    ({"EyeBlinkRight": 0.9}, {"Blink_R"}),
    ({"MouthSmileLeft": 0.9, "MouthSmileRight": 0.9, "CheekSquintLeft": 0.6, "CheekSquintRight": 0.6}, {"Joy", "I"}),
    ({"MouthSmileLeft": 0.9, "MouthSmileRight": 0.9}, {"Fun", "I"}),
    ({"BrowDownLeft": 0.9, "BrowDownRight": 0.9}, {"Angry"}),
    ({"MouthFrownLeft": 0.9, "MouthFrownRight": 0.9, "BrowInnerUp": 0.5}, {"Sorrow"}),
    ({}, set()),
])
def test_vrm_presets_follow_the_documented_arkit_evidence(weights, high):
    got = dict(zip(V.VRM_PRESETS, V.vrm_presets(still(**weights).face)[0]))
    assert {p for p, v in got.items() if v > 0.5} == high, got
    assert all(v < 0.2 for p, v in got.items() if p not in high), got


def test_speech_moves_no_emotion_and_blink_halves_add_up():
    face = np.zeros((4, NUM_BLENDSHAPES))
    face[:, ARKIT_INDEX["MouthSmileLeft"]] = face[:, ARKIT_INDEX["MouthSmileRight"]] = 0.13  # speech-sized
    face[:, ARKIT_INDEX["EyeBlinkLeft"]] = [0.2, 0.5, 1.0, 0.0]
    face[:, ARKIT_INDEX["EyeBlinkRight"]] = [0.2, 0.9, 0.4, 0.7]
    p = dict(zip(V.VRM_PRESETS, V.vrm_presets(face).T))
    assert np.all(p["Joy"] == 0) and np.all(p["Fun"] == 0)
    np.testing.assert_allclose(p["Blink"] + p["Blink_L"], face[:, ARKIT_INDEX["EyeBlinkLeft"]])
    np.testing.assert_allclose(p["Blink"] + p["Blink_R"], face[:, ARKIT_INDEX["EyeBlinkRight"]])
    assert V.BLEND_NAMES[:52] == ARKIT_NAMES


def _walk() -> Animation:
    """umo generate's walk (root motion, legs stepping) with a turn, on the canonical skeleton."""
    from umo.motion.actions import synthesize
    from umo.motion.captions import parse_caption

    return synthesize(parse_caption("walks forward 2 meters then turns left then walks forward").specs, 30.0).animation


def _decode(msgs: list[bytes]) -> list:
    """The messages as python-osc's parser reads them, from the bundles umo sends."""
    return [m for d in V.bundles(msgs) for m in OscBundle(d)]


def test_root_travel_goes_to_root_pos_and_the_hips_height_to_the_hips():
    """Root/Pos + the Hips' local position = the BVH root (mirrored, in metres) in every frame, the
    travel (x, z) in Root/Pos where EVMC4U's default RootPositionSynchronize moves the avatar."""
    anim = _walk()
    assert np.ptp(anim.root_pos[:, [0, 2]], axis=0).min() > 90  # it walks 2 m forward and 2 m to its left
    frames = V.frame_messages(anim)
    for i in range(0, anim.num_frames, 9):
        parsed = _decode(frames[i])
        root = next(m.params for m in parsed if m.address == "/VMC/Ext/Root/Pos")
        hips = next(m.params for m in parsed if m.address == "/VMC/Ext/Bone/Pos" and m.params[0] == "Hips")
        assert root[0] == "root" and root[2] == 0.0 and root[4:] == [0, 0, 0, 1]
        assert hips[1] == 0.0 and hips[3] == 0.0
        world = np.array(root[1:4]) + np.array(hips[1:4])
        np.testing.assert_allclose(world, np.diag([-1, 1, 1]) @ anim.root_pos[i] / 100, atol=1e-6)


def test_legs_are_sent_when_the_take_moves_them():
    """A walk sends the legs, and their local rotations compose (Hips, UpperLeg, LowerLeg, Foot) to the
    foot's global rotation in Unity's frame; a talking take (legs at rest) leaves them out."""
    from umo.skeleton import forward_kinematics

    anim = _walk()
    _, glob = forward_kinematics(anim.skeleton, anim.body, anim.root_pos)
    mirror = np.diag([-1.0, 1.0, 1.0])
    frames = V.frame_messages(anim)
    for i in range(0, anim.num_frames, 11):
        pose = {m.params[0]: m.params[1:] for m in _decode(frames[i]) if m.address == "/VMC/Ext/Bone/Pos"}
        assert list(pose) == list(V.BONE_NAMES)
        for side in ("Left", "Right"):
            chain = np.eye(3)
            for bone in ("Hips", f"{side}UpperLeg", f"{side}LowerLeg", f"{side}Foot", f"{side}Toes"):
                chain = chain @ unity_matrix(pose[bone][3:])
                joint = V.VMC_BONES[V.BONE_NAMES.index(bone)][1]
                np.testing.assert_allclose(chain, mirror @ glob[i, anim.skeleton.index(joint)] @ mirror, atol=2e-5)
    knee = [V.BONE_NAMES.index("LeftLowerLeg")]
    _, quat = V.bone_poses(anim)
    assert np.degrees(2 * np.arccos(np.clip(quat[:, knee, 3], -1, 1))).max() > 20  # the knee really bends

    talk = still(4)
    talk.body[:, 1:40] = 0.1  # the spine and arms move, the legs stay at rest
    sent = [m.params[0] for m in _decode(V.frame_messages(talk)[0]) if m.address == "/VMC/Ext/Bone/Pos"]
    assert sent == [b for b in V.BONE_NAMES if b not in V.LEG_BONES]
