"""Retargeting: CMU capture onto the canonical skeleton, rest-pose differences, roles from names and
structure, the mapping report and the refusal of partial maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from umo.animation import Animation
from umo.errors import UmoError
from umo.formats.bvh import read_animation_bvh
from umo.formats.retarget import (
    JointMapping,
    hip_height,
    infer_roles,
    map_joints,
    parse_name,
    retarget,
    world_alignment,
)
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
    assert m.naming == "CMU" and m.complete
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
    assert map_joints(anim.skeleton, canonical_skeleton()).naming == "canonical"
    np.testing.assert_allclose(rotvec_to_matrix(out.body), rotvec_to_matrix(anim.body), atol=1e-10)
    np.testing.assert_allclose(out.root_pos, anim.root_pos)
    np.testing.assert_array_equal(out.face, anim.face)


def _renamed(skeleton: Skeleton, names) -> Skeleton:
    return Skeleton(tuple(names), skeleton.parents, skeleton.offsets.copy(), dict(skeleton.end_sites))


def test_mixamo_names_with_prefix():
    sk = canonical_skeleton()
    # Mixamo spells three spine joints Spine, Spine1, Spine2 (the last is the chest, canonical Spine3)
    to_mixamo = {"Spine3": "Spine2", "Spine2": "Chest_Extra", "HeadEnd": "HeadTop_End",
                 "LeftToeBaseEnd": "LeftToe_End", "RightToeBaseEnd": "RightToe_End"}
    source = _renamed(sk, [f"mixamorig:{to_mixamo.get(n, n)}" for n in sk.names])
    rng = np.random.default_rng(4)
    body = rng.normal(0, 0.4, (10, sk.num_joints, 3))
    anim = Animation(fps=30, face=np.zeros((10, 52)), head=np.zeros((10, 3)), eyes=np.zeros((10, 6)),
                     body=body, skeleton=source)
    m = map_joints(source, sk)
    assert m.naming == "Mixamo" and m.unmapped_target == () and m.complete
    named = m.named_pairs()
    assert named["mixamorig:Spine2"] == "Spine3" and named["mixamorig:HeadTop_End"] == "HeadEnd"
    assert named["mixamorig:Chest_Extra"] == "Spine2"  # an unknown name between spine joints is spine
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


def test_explicit_map_partial_is_refused_unless_allowed(cmu):
    sk = canonical_skeleton()
    three = {"Hips": "Hips", "LowerBack": "Spine", "LeftArm": "LeftArm"}
    with pytest.raises(UmoError, match=r"no source joint for the head \(Head\), left arm \(LeftForeArm, "
                                       r"LeftHand\), right arm \(RightArm, RightForeArm, RightHand\).*allow_partial"):
        retarget(cmu, joint_map=three)
    with pytest.warns(UserWarning, match="partial retarget.*stay at rest"):
        out = retarget(cmu, joint_map=three, allow_partial=True)
    m = map_joints(cmu.skeleton, sk, three)
    assert m.naming == "explicit" and len(m.unmapped_target) == 72 and not m.complete
    assert "72 of 75" not in m.summary() and "3 of 31 source joints drive 3 of 75" in m.summary()
    assert not out.body[:, sk.index("RightArm")].any()


def test_explicit_map_errors(cmu):
    sk = canonical_skeleton()
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


# --- names and roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, side, key", [
    ("mixamorig:LeftForeArm", "Left", "forearm"),
    ("mixamorig1_LeftArm", "Left", "arm"),
    ("Bip01 L UpperArm", "Left", "upperarm"),
    ("Bip001 R Forearm", "Right", "forearm"),
    ("lowerarm_l", "Left", "lowerarm"),
    ("leftLowerArm", "Left", "lowerarm"),
    ("left_elbow", "Left", "elbow"),
    ("Forearm.R", "Right", "forearm"),
    ("J_Bip_L_UpperArm", "Left", "upperarm"),
    ("LThumb", "Left", "thumb"),
    ("lhumerus", "Left", "humerus"),
    ("rfoot", "Right", "foot"),
    ("LowerBack", "", "lowerback"),
    ("radius_bone", "", "radiusbone"),
    ("spine_01", "", "spine01"),
    ("Bip01", "", ""),
])
def test_names_are_normalised(name, side, key):
    parsed = parse_name(name)
    assert (parsed.side, parsed.key) == (side, key)


def test_kinds_and_fingers():
    assert parse_name("LeftHip").kind == "thigh" and parse_name("Hip").kind == "hips"
    assert parse_name("Bip01 L Finger12").finger == "Index" and parse_name("Bip01 L Finger0Nub").finger == "Thumb"
    assert parse_name("leftLittleProximal").finger == "Pinky" and parse_name("LFingers").finger == "Middle"
    assert parse_name("upperarm_twist_01_l").kind is None and parse_name("upperarm_twist_01_l").helper
    assert parse_name("HeadTop_End").kind == "headend" and parse_name("LeftToe_End").kind == "toeend"


def test_canonical_roles_are_the_names():
    sk = canonical_skeleton()
    assert infer_roles(sk) == dict(enumerate(sk.names))


def _skeleton(rows):
    names = tuple(r[0] for r in rows)
    parents = tuple(-1 if r[1] is None else names.index(r[1]) for r in rows)
    offsets = np.array([r[2] for r in rows], dtype=np.float64)
    return Skeleton(names, parents, offsets, {j: offsets[j] * 0.5 for j in range(len(names)) if j not in parents})


def _arms(collar, shoulder, elbow, wrist, parent):
    rows = []
    for side, sign in (("Left", 1), ("Right", -1)):
        chain = [(f"{side}{collar}", parent, (sign * 3, 15, 0)), (f"{side}{shoulder}", f"{side}{collar}", (sign * 12, 0, 0)),
                 (f"{side}{elbow}", f"{side}{shoulder}", (sign * 28, 0, 0)), (f"{side}{wrist}", f"{side}{elbow}", (sign * 25, 0, 0))]
        rows += chain
    return rows


def test_shoulder_is_the_upper_arm_under_a_collar_and_the_clavicle_above_an_arm():
    trunk = [("Hips", None, (0, 0, 0)), ("Chest", "Hips", (0, 20, 0)), ("Neck", "Chest", (0, 20, 0)),
             ("Head", "Neck", (0, 8, 0))]
    collar = _skeleton(trunk + _arms("Collar", "Shoulder", "Elbow", "Wrist", "Chest"))
    roles = {collar.names[j]: r for j, r in infer_roles(collar).items()}
    assert roles["LeftCollar"] == "LeftShoulder" and roles["LeftShoulder"] == "LeftArm"
    assert roles["RightElbow"] == "RightForeArm" and roles["RightWrist"] == "RightHand"
    assert roles["Chest"] == "Spine" and roles["Neck"] == "Neck"
    beat = _skeleton(trunk + _arms("Shoulder", "Arm", "ForeArm", "Hand", "Chest"))
    roles = {beat.names[j]: r for j, r in infer_roles(beat).items()}
    assert roles["LeftShoulder"] == "LeftShoulder" and roles["LeftArm"] == "LeftArm"
    # no clavicle at all: the joint above the elbow is the upper arm, whatever it is called
    bare = _skeleton(trunk + [(r[0], "Chest" if "X" in (r[1] or "") else r[1], r[2])
                              for r in _arms("X", "Shoulder", "Elbow", "Wrist", "Chest") if "X" not in r[0]])
    roles = {bare.names[j]: r for j, r in infer_roles(bare).items()}
    assert roles["LeftShoulder"] == "LeftArm" and "LeftShoulder" not in roles.values()


def test_unknown_hand_name_is_placed_by_structure_and_missing_hands_are_refused():
    trunk = [("Hips", None, (0, 0, 0)), ("Spine", "Hips", (0, 20, 0)), ("Neck", "Spine", (0, 20, 0)),
             ("Head", "Neck", (0, 8, 0))]
    paws = _skeleton(trunk + _arms("Collar", "Shoulder", "Elbow", "Paw", "Spine"))  # "Paw": a name we do not know
    roles = {paws.names[j]: r for j, r in infer_roles(paws).items()}
    assert roles["LeftPaw"] == "LeftHand" and roles["RightShoulder"] == "RightArm"  # the elbow's lone child
    cut = _skeleton(trunk + [r for r in _arms("Collar", "Shoulder", "Elbow", "Wrist", "Spine") if "Wrist" not in r[0]])
    anim = Animation(fps=30, face=np.zeros((4, 52)), head=np.zeros((4, 3)), eyes=np.zeros((4, 6)),
                     body=np.zeros((4, cut.num_joints, 3)), skeleton=cut)
    m = map_joints(cut, canonical_skeleton())
    assert m.missing_essential == {"left arm": ("LeftHand",), "right arm": ("RightHand",)}
    assert m.named_pairs()["LeftElbow"] == "LeftForeArm" and m.named_pairs()["LeftCollar"] == "LeftShoulder"
    assert "MISSING left arm (LeftHand), right arm (RightHand)" in m.summary()
    with pytest.raises(UmoError, match=r"no source joint for the left arm \(LeftHand\), right arm \(RightHand\)"):
        retarget(anim)
    with pytest.warns(UserWarning, match="partial retarget"):
        assert retarget(anim, allow_partial=True).skeleton.is_canonical()


def test_z_up_source_facing_minus_y_is_turned_upright():
    """A 3ds Max-style source: Z up, facing -Y. The canonical result stands Y up, facing +Z."""
    sk = canonical_skeleton()
    to_z_up = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    source = Skeleton(tuple(f"rig:{n}" for n in sk.names), sk.parents, sk.offsets @ to_z_up.T,
                      {j: to_z_up @ e for j, e in sk.end_sites.items()})
    rng = np.random.default_rng(8)
    body = rng.normal(0, 0.3, (12, sk.num_joints, 3))
    root = np.tile([0.0, 95.0, 0.0], (12, 1)) + rng.normal(0, 3, (12, 3))
    upright = Animation(fps=30, face=np.zeros((12, 52)), head=np.zeros((12, 3)), eyes=np.zeros((12, 6)),
                        body=body, root_pos=root)
    lying = upright.copy(body=body @ to_z_up.T, root_pos=root @ to_z_up.T, skeleton=source)
    np.testing.assert_allclose(world_alignment(map_joints(source, sk)), to_z_up.T, atol=1e-12)
    out = retarget(lying)
    np.testing.assert_allclose(out.joint_positions(), upright.joint_positions(), atol=1e-9)


def test_root_follows_the_hips_when_the_root_is_on_the_floor():
    """Unreal-style: a root joint on the floor, the pelvis 96 cm above it."""
    sk = canonical_skeleton()
    names = ("root",) + tuple(f"{n}" for n in sk.names)
    parents = (-1,) + tuple(p + 1 for p in sk.parents)
    offsets = np.vstack([[0, 0, 0], [0, 95.0, 0], sk.offsets[1:]])
    source = Skeleton(names, parents, offsets, {j + 1: e for j, e in sk.end_sites.items()})
    rng = np.random.default_rng(9)
    body = np.concatenate([np.zeros((6, 1, 3)), rng.normal(0, 0.3, (6, sk.num_joints, 3))], axis=1)
    walk = np.stack([np.linspace(0, 50, 6), np.zeros(6), np.zeros(6)], axis=1)
    anim = Animation(fps=30, face=np.zeros((6, 52)), head=np.zeros((6, 3)), eyes=np.zeros((6, 6)),
                     body=body, root_pos=walk, skeleton=source)
    m = map_joints(source, sk)
    assert m.named_pairs()["Hips"] == "Hips" and m.unused_source == ("root",)
    out = retarget(anim)
    np.testing.assert_allclose(out.root_pos, walk + [0, 95.0, 0], atol=1e-9)
    np.testing.assert_allclose(out.joint_positions(), anim.joint_positions()[:, 1:], atol=1e-9)


def test_onto_a_non_canonical_target():
    """Roles are read on both sides: canonical motion onto a Mixamo-named target."""
    sk = canonical_skeleton()
    mixamo = _renamed(sk, [f"mixamorig:{ {'Spine3': 'Spine2', 'Spine2': 'Chest'}.get(n, n)}" for n in sk.names])
    rng = np.random.default_rng(10)
    anim = Animation.neutral(5)
    anim.body[:] = rng.normal(0, 0.3, anim.body.shape)
    m = map_joints(sk, mixamo)
    assert isinstance(m, JointMapping) and len(m.pairs) == 75 and m.complete
    out = retarget(anim, target=mixamo)
    np.testing.assert_allclose(out.joint_positions(), anim.joint_positions(), atol=1e-9)


def test_real_pymo_walk_maps_completely(shared_data):
    """A real third-party capture (pymo's walk: one spine joint, no neck, hand end joints)."""
    walk = read_animation_bvh(shared_data / "mocap_bvh" / "AV_8Walk_Meredith_HVHA_Rep1.bvh")
    m = map_joints(walk.skeleton, canonical_skeleton())
    assert m.complete and m.naming == "BEAT/ZEGGS-like"
    assert m.unused_source == ("LeftHand_End", "RightHand_End")
    assert m.named_pairs()["Spine"] == "Spine" and m.named_pairs()["LeftShoulder"] == "LeftShoulder"
    out = retarget(walk)
    src, dst = walk.joint_positions(), out.joint_positions()
    for name in ("LeftHand", "RightFoot", "Head"):
        a = src[:, walk.skeleton.index(name)] - src[:, 0]
        b = dst[:, out.skeleton.index(name)] - dst[:, 0]
        # the head's height above the hips barely moves and the two spines differ in length and joints
        assert min(_pearson(a[:, i], b[:, i]) for i in range(3)) > (0.8 if name == "Head" else 0.95), name
