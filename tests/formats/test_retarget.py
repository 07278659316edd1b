"""Retargeting: CMU capture onto the canonical skeleton, rest-pose differences, name maps."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from umo.animation import Animation
from umo.errors import UmoError
from umo.formats.bvh import read_animation_bvh
from umo.formats.retarget import MIXAMO_TO_CANONICAL, hip_height, map_joints, retarget
from umo.skeleton import Skeleton, canonical_skeleton, rotvec_to_matrix


@pytest.fixture(scope="module")
def cmu():
    # module scope (the retarget is reused), so the path is spelled out instead of the `fixtures` fixture
    return read_animation_bvh(Path(__file__).resolve().parents[1] / "fixtures" / "cmu_01_01.bvh")


@pytest.fixture(scope="module")
def cmu_on_canonical(cmu):
    return retarget(cmu)


def _pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def _direction_cosines(pos_a, a_from, a_to, pos_b, b_from, b_to):
    """(T,) cosine between bone a_from->a_to in pos_a and bone b_from->b_to in pos_b."""
    da = pos_a[:, a_to] - pos_a[:, a_from]
    db = pos_b[:, b_to] - pos_b[:, b_from]
    return (da * db).sum(-1) / np.linalg.norm(da, axis=-1) / np.linalg.norm(db, axis=-1)


def test_cmu_map_is_picked_and_reports_unmapped(cmu):
    m = map_joints(cmu.skeleton, canonical_skeleton())
    assert m.naming == "cmu"
    named = m.named_pairs()
    assert named["LowerBack"] == "Spine" and named["LeftFingerBase"] == "LeftHand"
    assert named["LThumb"] == "LeftHandThumb1" and named["RightForeArm"] == "RightForeArm"
    assert set(m.unused_source) == {"LHipJoint", "RHipJoint", "LeftHand", "RightHand"}
    assert "Spine2" in m.unmapped_target and "LeftHandPinky2" in m.unmapped_target
    assert len(m.pairs) + len(m.unmapped_target) == 75


def test_cmu_onto_canonical_follows_the_source(cmu, cmu_on_canonical):
    out = cmu_on_canonical
    assert out.skeleton.is_canonical() and out.num_frames == 2752 and out.fps == 120
    src, dst = cmu.joint_positions(), out.joint_positions()
    hs, ht = hip_height(cmu.skeleton), hip_height(out.skeleton)
    assert ht == 95.0 and 15 < hs < 17
    for s_name, t_name in [("LeftHand", "LeftHand"), ("RightHand", "RightHand"), ("Head", "Head"),
                           ("LeftFoot", "LeftFoot"), ("RightToeBase", "RightToeBase")]:
        a = src[:, cmu.skeleton.index(s_name)] / hs
        b = dst[:, out.skeleton.index(t_name)] / ht
        assert _pearson(a[:, 1], b[:, 1]) > 0.95, f"{t_name} vertical"
        if "Hand" in t_name:
            assert min(_pearson(a[:, i], b[:, i]) for i in range(3)) > 0.95, f"{t_name} all axes"
        assert np.abs(a - b).max() < 0.4  # same place relative to body size
    # every paired bone points the same way in every frame (CMU legs rest at 20 degrees, ours straight)
    s_ix, t_ix = cmu.skeleton.index, out.skeleton.index
    for s_from, s_to, t_from, t_to in [("LeftArm", "LeftForeArm", "LeftArm", "LeftForeArm"),
                                       ("RightForeArm", "RightHand", "RightForeArm", "RightHand"),
                                       ("LeftUpLeg", "LeftLeg", "LeftUpLeg", "LeftLeg"),
                                       ("RightLeg", "RightFoot", "RightLeg", "RightFoot"),
                                       ("Neck1", "Head", "Neck1", "Head")]:
        cos = _direction_cosines(src, s_ix(s_from), s_ix(s_to), dst, t_ix(t_from), t_ix(t_to))
        assert cos.min() > 0.9999, f"{t_from}->{t_to}"
    # root translation scaled by the hip-height ratio
    np.testing.assert_allclose(out.root_pos, cmu.root_pos * ht / hs)


def test_canonical_bone_lengths_preserved(cmu_on_canonical):
    sk = cmu_on_canonical.skeleton
    pos = cmu_on_canonical.joint_positions()
    parents = np.array(sk.parents[1:])
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, parents], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(sk.offsets[1:], axis=-1), lengths.shape),
                               atol=1e-9)
    unmapped = [sk.index(n) for n in ("Spine2", "LeftHandRing1", "RightHandPinky3")]
    assert not cmu_on_canonical.body[:, unmapped].any()  # unmapped joints stay at rest


def test_canonical_to_canonical_is_identity():
    rng = np.random.default_rng(3)
    anim = Animation.neutral(20)
    anim.body[:] = rng.normal(0, 0.5, anim.body.shape)
    anim.root_pos[:] += rng.normal(0, 5, (20, 3))
    out = retarget(anim)
    assert map_joints(anim.skeleton, canonical_skeleton()).naming == "identity"
    np.testing.assert_allclose(rotvec_to_matrix(out.body), rotvec_to_matrix(anim.body), atol=1e-10)
    np.testing.assert_allclose(out.root_pos, anim.root_pos)
    np.testing.assert_array_equal(out.face, anim.face)


def _renamed(skeleton: Skeleton, names) -> Skeleton:
    return Skeleton(tuple(names), skeleton.parents, skeleton.offsets.copy(), dict(skeleton.end_sites))


def test_mixamo_names_with_prefix():
    sk = canonical_skeleton()
    to_mixamo = {v: k for k, v in MIXAMO_TO_CANONICAL.items()}
    names = [f"mixamorig:{to_mixamo.get(n, n)}" if n != "Spine2" else "mixamorig:Chest_Extra" for n in sk.names]
    source = _renamed(sk, names)
    rng = np.random.default_rng(4)
    body = rng.normal(0, 0.4, (10, sk.num_joints, 3))
    body[:, sk.index("Spine2")] = 0.0  # the one canonical joint Mixamo lacks must not move here
    anim = Animation(fps=30, face=np.zeros((10, 52)), head=np.zeros((10, 3)), eyes=np.zeros((10, 6)),
                     body=body, skeleton=source)
    m = map_joints(source, sk)
    assert m.naming == "mixamo" and m.unmapped_target == ("Spine2",)
    assert m.named_pairs()["mixamorig:Spine2"] == "Spine3"
    out = retarget(anim)
    np.testing.assert_allclose(out.joint_positions(), anim.joint_positions(), atol=1e-9)


def test_a_pose_source_drives_t_pose_target():
    """Rest poses differ (source arms 45 degrees down): bones still point where the source's do."""
    sk = canonical_skeleton()
    down = Rotation.from_euler("z", -45, degrees=True).as_matrix()  # left arm (+X) tips down
    offsets = sk.offsets.copy()
    for n in sk.names:
        if n.startswith("LeftArm") or n.startswith(("LeftForeArm", "LeftHand")):
            offsets[sk.index(n)] = offsets[sk.index(n)] @ down.T
    source = Skeleton(tuple(f"rig:{n}" for n in sk.names), sk.parents, offsets, dict(sk.end_sites))
    rng = np.random.default_rng(5)
    body = rng.normal(0, 0.3, (15, sk.num_joints, 3))
    body[0] = 0.0  # frame 0: the source's rest (A-pose)
    anim = Animation(fps=30, face=np.zeros((15, 52)), head=np.zeros((15, 3)), eyes=np.zeros((15, 6)),
                     body=body, skeleton=source)
    out = retarget(anim)
    src, dst = anim.joint_positions(), out.joint_positions()
    ix = sk.index
    for a, b in [("LeftForeArm", "LeftHand"), ("LeftHand", "LeftHandMiddle1"), ("LeftArm", "LeftForeArm"),
                 ("RightArm", "RightForeArm")]:
        assert _direction_cosines(src, ix(a), ix(b), dst, ix(a), ix(b)).min() > 1 - 1e-9, f"{a}->{b}"
    fore = dst[0, ix("LeftHand")] - dst[0, ix("LeftForeArm")]
    np.testing.assert_allclose(fore / np.linalg.norm(fore), [np.sqrt(0.5), -np.sqrt(0.5), 0], atol=1e-9)


def test_explicit_map_and_errors(cmu, caplog):
    sk = canonical_skeleton()
    with caplog.at_level(logging.INFO, logger="umo.formats.retarget"):
        out = retarget(cmu, joint_map={"Hips": "Hips", "LowerBack": "Spine", "LeftArm": "LeftArm"})
    assert "72 target joints stay at rest" in caplog.text
    assert not out.body[:, sk.index("RightArm")].any()
    with pytest.raises(UmoError, match="source skeleton lacks"):
        retarget(cmu, joint_map={"Hip": "Hips"})
    with pytest.raises(UmoError, match="target skeleton lacks"):
        retarget(cmu, joint_map={"Hips": "Pelvis"})
    with pytest.raises(UmoError, match="two source joints"):
        retarget(cmu, joint_map={"Hips": "Hips", "LowerBack": "Hips"})
    alien = _renamed(sk, [f"bone{i}" for i in range(sk.num_joints)])
    anim = Animation(fps=30, face=np.zeros((2, 52)), head=np.zeros((2, 3)), eyes=np.zeros((2, 6)),
                     body=np.zeros((2, 75, 3)), skeleton=alien)
    with pytest.raises(UmoError, match="pass joint_map"):
        retarget(anim)
    with pytest.raises(UmoError, match="no body"):
        retarget(Animation.neutral(3, with_body=False))
