"""Third-party-style files (made by tests/fixtures/thirdparty/make_corpus.py): every BVH naming and
layout converts onto the canonical skeleton with its motion arriving (the right joints paired, bones
pointing where the source's point, hands and head moving alike), not only parsing; every Live Link
variant reads to the values written."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from umo.convert import read_with_mapping
from umo.formats.livelink import read_livelink
from umo.formats.retarget import hip_height
from umo.skeleton import forward_kinematics

MAKE_CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "thirdparty" / "make_corpus.py"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("umo_thirdparty_corpus", MAKE_CORPUS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus_module()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return CORPUS.build(tmp_path_factory.mktemp("thirdparty"))


def _case(corpus, stem):
    return next(c for c in corpus[0] if c.rig.stem == stem)


def _rest_hip_height(case) -> float:
    """Height of the source's hips above its lowest joint or End Site at rest, template frame, cm:
    the measure the retargeter scales the root by."""
    sk = case.skeleton
    rest = forward_kinematics(sk, np.zeros((1, sk.num_joints, 3)), np.zeros((1, 3)))[0][0]
    points = np.vstack([rest] + [rest[j] + e for j, e in sk.end_sites.items()]) @ case.rig.turn / case.rig.scale
    hips = rest[sk.index(case.roles["Hips"])] @ case.rig.turn / case.rig.scale
    return float(hips[1] - points[:, 1].min())


@pytest.mark.parametrize("stem", [r.stem for r in CORPUS.rigs()])
def test_bvh_motion_arrives_on_the_canonical_skeleton(corpus, stem, caplog):
    case = _case(corpus, stem)
    with caplog.at_level(logging.WARNING, logger="umo.convert"):
        anim, parts, mapping = read_with_mapping(case.path)
    assert parts == {"body"} and anim.skeleton.is_canonical()
    assert anim.num_frames == CORPUS.FRAMES and anim.fps == 30
    assert mapping.complete, mapping.summary()
    named = mapping.named_pairs()
    for role, joint in case.roles.items():  # the right joint plays each role (LeftShoulder is the upper arm...)
        assert named.get(joint) == role, f"{joint} should drive {role}: {mapping.summary()}"
    if case.rig.header_frames:
        assert f"header says {case.rig.header_frames} frames" in caplog.text
    else:
        assert caplog.text == ""

    src, dst = case.positions(), anim.joint_positions()  # both Y up, facing +Z, cm
    s_ix = {role: case.skeleton.index(joint) for role, joint in case.roles.items()}
    t_ix = anim.skeleton.index
    for side in ("Left", "Right"):
        for a, b in ((f"{side}Arm", f"{side}ForeArm"), (f"{side}ForeArm", f"{side}Hand")):
            ds = src[:, s_ix[b]] - src[:, s_ix[a]]
            dt = dst[:, t_ix(b)] - dst[:, t_ix(a)]
            cos = (ds * dt).sum(-1) / np.linalg.norm(ds, axis=-1) / np.linalg.norm(dt, axis=-1)
            assert cos.min() > 0.999, f"{a}->{b} points elsewhere than the source's"
    height_s, height_t = _rest_hip_height(case), hip_height(anim.skeleton)
    for role in ("LeftHand", "RightHand", "LeftForeArm", "RightForeArm", "Head"):
        a = (src[:, s_ix[role]] - src[:, s_ix["Hips"]]) / height_s
        b = (dst[:, t_ix(role)] - dst[:, t_ix("Hips")]) / height_t
        assert b.std(axis=0).max() > 0.02, f"{role} does not move"
        for axis in range(3):
            if a[:, axis].std() > 0.01:
                r = np.corrcoef(a[:, axis], b[:, axis])[0, 1]
                assert r > (0.85 if role == "Head" else 0.95), f"{role} axis {axis}: r {r:.3f}"
    # the root walks where the source's hips walk (scaled to the canonical size)
    hips_s = (src[:, s_ix["Hips"]] - src[0, s_ix["Hips"]]) / height_s
    hips_t = (anim.root_pos - anim.root_pos[0]) / height_t
    np.testing.assert_allclose(hips_t, hips_s, atol=1e-6)


@pytest.mark.parametrize("stem", ["smpl", "smpl_fbx", "smplh"])
def test_smpl_namings_are_reported_as_smpl(corpus, stem):
    """left_hip (SMPL-X), m_avg_L_Hip (SMPL's FBX, its m_avg_root above), L_Hip with L_Index1.. (SMPL-H):
    the report names SMPL, and only the 24-joint model's hand ends (L_Hand) stay unused."""
    _, _, mapping = read_with_mapping(_case(corpus, stem).path)
    assert mapping.naming == "SMPL", mapping.summary()
    unused = {n.removeprefix("m_avg_") for n in mapping.unused_source}
    assert unused <= {"m_avg_root", "root", "L_Hand", "R_Hand", "jaw"}, mapping.summary()


def test_livelink_variants_read(corpus):
    cases = corpus[1]
    assert len(cases) == 4
    for case in cases:
        anim = read_livelink(case.path)
        assert anim.num_frames == len(case.face) and anim.fps == case.fps
        np.testing.assert_allclose(anim.face, case.face, atol=1e-9)
        if case.head is None:
            assert not anim.head.any() and not anim.eyes.any()
        else:
            np.testing.assert_allclose(anim.head, case.head, atol=1e-9)
