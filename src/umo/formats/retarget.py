"""Retarget body motion from one skeleton onto another (by default umo's canonical skeleton).

Joints are paired by name: an explicit ``joint_map`` (source name -> target name), else the built-in
map that pairs the most joints: identity (names already canonical, e.g. BEAT/ZEGGS), the CMU
31-joint naming, or Mixamo's (``mixamorig:LeftArm``; any ``namespace:`` prefix is ignored).

Motion is transferred so each target bone points where its source bone points, whatever the two
rest poses (T-pose, A-pose): for each paired joint a constant **rest-alignment** rotation ``C_j``
takes the target's rest bone directions onto the source's (a least-squares fit over the directions
to the next paired joints below it, Wahba's problem), then per frame

    G_target_j = G_source_j @ C_j          (global rotations)
    R_target_j = G_target_parent(j)^T @ G_target_j   (back to local)

so ``G_target_j @ d_target = G_source_j @ d_source``: the bone turns with the source's. Target joints
without a partner keep their rest (local) rotation. The root translation is scaled by the ratio of
the two skeletons' hip heights; both skeletons are taken to be Y up.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np

from umo.animation import Animation
from umo.errors import UmoError
from umo.skeleton import (
    Skeleton,
    canonical_skeleton,
    forward_kinematics,
    matrix_to_rotvec,
    rest_root_position,
    rotvec_to_matrix,
)

log = logging.getLogger(__name__)

# CMU mocap (31 joints, e.g. tests/fixtures/cmu_01_01.bvh) -> canonical. CMU's LeftHand joint sits at
# the wrist with zero-length bones below it: the hand's visible orientation is that of
# LeftFingerBase (which carries the bone to the knuckles), so LeftFingerBase drives the canonical
# hand and CMU's LeftHand is left out (its rotation is inside LeftFingerBase's global one).
# LHipJoint/RHipJoint (zero offsets) have no canonical partner.
CMU_TO_CANONICAL: dict[str, str] = {
    "Hips": "Hips",
    "LowerBack": "Spine", "Spine": "Spine1", "Spine1": "Spine3",
    "Neck": "Neck", "Neck1": "Neck1", "Head": "Head",
    **{f"{s}{j}": f"{s}{j}" for s in ("Left", "Right") for j in ("Shoulder", "Arm", "ForeArm")},
    "LeftFingerBase": "LeftHand", "LFingers": "LeftHandMiddle1", "LThumb": "LeftHandThumb1",
    "RightFingerBase": "RightHand", "RFingers": "RightHandMiddle1", "RThumb": "RightHandThumb1",
    **{f"{s}{j}": f"{s}{j}" for s in ("Left", "Right") for j in ("UpLeg", "Leg", "Foot", "ToeBase")},
}

# Mixamo -> canonical, after the "mixamorig:" prefix is dropped; names not listed map to themselves
# (Mixamo's LeftArm, LeftHandIndex1..4, LeftUpLeg... are already canonical names). Mixamo has three
# spine joints to the canonical four.
MIXAMO_TO_CANONICAL: dict[str, str] = {
    "Spine": "Spine", "Spine1": "Spine1", "Spine2": "Spine3",
    "HeadTop_End": "HeadEnd",
    "LeftToe_End": "LeftToeBaseEnd", "RightToe_End": "RightToeBaseEnd",
}

_PREFIX = re.compile(r"^(?:.*:|mixamorig\d*_)", re.IGNORECASE)


def strip_prefix(name: str) -> str:
    """``mixamorig:LeftArm`` / ``mixamorig1_LeftArm`` / ``rig:LeftArm`` -> ``LeftArm``."""
    return _PREFIX.sub("", name)


@dataclass(frozen=True)
class JointMapping:
    """Which target joint takes its motion from which source joint."""

    source: Skeleton
    target: Skeleton
    pairs: dict[int, int]  # target joint index -> source joint index
    naming: str  # "explicit", "identity", "cmu" or "mixamo"

    @property
    def unmapped_target(self) -> tuple[str, ...]:
        """Target joints that stay at rest."""
        return tuple(n for j, n in enumerate(self.target.names) if j not in self.pairs)

    @property
    def unused_source(self) -> tuple[str, ...]:
        """Source joints whose motion is not transferred on its own (it may still reach the target
        through a paired joint's global rotation)."""
        used = set(self.pairs.values())
        return tuple(n for j, n in enumerate(self.source.names) if j not in used)

    def named_pairs(self) -> dict[str, str]:
        """source name -> target name."""
        return {self.source.names[s]: self.target.names[t] for t, s in self.pairs.items()}


def map_joints(source: Skeleton, target: Skeleton, joint_map: dict[str, str] | None = None) -> JointMapping:
    """Pair target joints with source joints by name (see the module docstring)."""
    if joint_map is not None:
        pairs: dict[int, int] = {}
        for s_name, t_name in joint_map.items():
            if s_name not in source.names:
                raise UmoError(f"joint_map names source joint {s_name!r}, which the source skeleton lacks "
                               f"(it has {', '.join(source.names[:6])}, ...)")
            if t_name not in target.names:
                raise UmoError(f"joint_map names target joint {t_name!r}, which the target skeleton lacks "
                               f"(it has {', '.join(target.names[:6])}, ...)")
            t = target.index(t_name)
            if t in pairs:
                raise UmoError(f"joint_map sends two source joints to target {t_name!r}; give each target one source")
            pairs[t] = source.index(s_name)
        return JointMapping(source, target, pairs, "explicit")

    plain = [strip_prefix(n) for n in source.names]
    candidates = {
        "identity": {n: n for n in plain},
        "cmu": {n: CMU_TO_CANONICAL[n] for n in plain if n in CMU_TO_CANONICAL},
        "mixamo": {n: MIXAMO_TO_CANONICAL.get(n, n) for n in plain},
    }
    best_name, best_pairs = "identity", {}
    for naming, renames in candidates.items():  # first wins ties: identity before the others
        found = {target.index(t): plain.index(s) for s, t in renames.items() if t in target.names}
        if len(found) > len(best_pairs):
            best_name, best_pairs = naming, found
    return JointMapping(source, target, best_pairs, best_name)


def retarget(anim: Animation, target: Skeleton | None = None, joint_map: dict[str, str] | None = None) -> Animation:
    """``anim``'s body motion on ``target`` (the canonical skeleton when None).

    joint_map: source joint name -> target joint name; None picks a built-in map (see
    :func:`map_joints`, which also tells which joints stay unmapped). Face, head, eyes and audio are
    kept; the result's skeleton is ``target``. Unmapped target joints are logged (INFO).
    """
    if anim.body is None:
        raise UmoError("this animation has no body motion to retarget")
    target = canonical_skeleton() if target is None else target
    mapping = map_joints(anim.skeleton, target, joint_map)
    if len(mapping.pairs) < 2:
        raise UmoError(f"only {len(mapping.pairs)} joint name(s) of the source skeleton match the target "
                       f"(source joints: {', '.join(anim.skeleton.names[:8])}, ...); pass joint_map="
                       "{source name: target name}")
    if 0 not in mapping.pairs:
        warnings.warn(f"the target root {target.names[0]!r} has no source joint: the body keeps its rest "
                      "orientation and position; add it to joint_map", stacklevel=2)
    if mapping.unmapped_target:
        log.info("retarget (%s names): %d target joints stay at rest: %s", mapping.naming,
                 len(mapping.unmapped_target), ", ".join(mapping.unmapped_target))

    corrections = rest_alignment(mapping)  # (Jt, 3, 3)
    _, g_src = forward_kinematics(anim.skeleton, anim.body, anim.root_pos)  # (T, Js, 3, 3)
    t, jt = anim.num_frames, target.num_joints
    g_tgt = np.empty((t, jt, 3, 3))
    local = np.broadcast_to(np.eye(3), (t, jt, 3, 3)).copy()
    for j in range(jt):
        p = target.parents[j]
        if j in mapping.pairs:
            g_tgt[:, j] = g_src[:, mapping.pairs[j]] @ corrections[j]
            local[:, j] = g_tgt[:, j] if p < 0 else np.swapaxes(g_tgt[:, p], -1, -2) @ g_tgt[:, j]
        else:
            g_tgt[:, j] = np.eye(3) if p < 0 else g_tgt[:, p]

    if 0 in mapping.pairs:
        root_pos = anim.root_pos * (hip_height(target) / hip_height(anim.skeleton))
    else:
        root_pos = np.tile(_rest_root(target), (t, 1))
    return anim.copy(body=matrix_to_rotvec(local), root_pos=root_pos, skeleton=target)


def rest_alignment(mapping: JointMapping) -> np.ndarray:
    """(Jt, 3, 3) per target joint, the rotation C taking its rest bone directions onto its source
    joint's: ``C @ d_target ≈ d_source``. A paired joint with no usable direction inherits its nearest
    paired ancestor's C (unpaired joints carry it down; retarget does not use theirs).
    """
    src, tgt = mapping.source, mapping.target
    rest_s, rest_t = _rest_positions(src), _rest_positions(tgt)
    out = np.broadcast_to(np.eye(3), (tgt.num_joints, 3, 3)).copy()
    for j in range(tgt.num_joints):  # parents first, so an inherited C is already known
        if j not in mapping.pairs:
            if tgt.parents[j] >= 0:
                out[j] = out[tgt.parents[j]]  # passes a correction down to paired descendants
            continue
        s = mapping.pairs[j]
        d_t, d_s = [], []
        todo = _nearest_paired_descendants(tgt, j, mapping.pairs)
        while todo:
            k = todo.pop()
            m = mapping.pairs[k]
            if not _is_ancestor(src, s, m):
                continue
            v_t, v_s = rest_t[k] - rest_t[j], rest_s[m] - rest_s[s]
            if min(np.linalg.norm(v_t), np.linalg.norm(v_s)) > 1e-9:
                d_t.append(v_t)
                d_s.append(v_s)
            else:  # a joint on top of this one (CMU's LowerBack on the Hips): look one pair further
                todo += _nearest_paired_descendants(tgt, k, mapping.pairs)
        if not _usable(d_t, d_s):
            # A chain end (a fingertip, the head): its own bone, to a child or an End Site.
            d_t, d_s = [_bone_vector(tgt, j)], [_bone_vector(src, s)]
        if _usable(d_t, d_s):
            out[j] = _fit_rotation(np.array(d_t), np.array(d_s))
        elif tgt.parents[j] >= 0:
            out[j] = out[tgt.parents[j]]
    return out


def hip_height(skeleton: Skeleton) -> float:
    """Rest height of the root above the lowest joint or End Site (Y up). Skeletons without legs
    (upper body only) use their total rest height instead, so the ratio still compares sizes."""
    rest = _rest_positions(skeleton)
    ends = [rest[j] + off for j, off in skeleton.end_sites.items()]
    ys = np.concatenate([rest[:, 1], np.array(ends).reshape(-1, 3)[:, 1]])
    height = rest[0, 1] - ys.min()
    extent = ys.max() - ys.min()
    if height > 0.2 * extent:
        return float(height)
    if extent > 0:
        return float(extent)
    raise UmoError("the skeleton has no height in its rest pose (all joints at one level): cannot scale "
                   "the root; is it Y up?")


def _rest_positions(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) joint positions of the rest pose with the root at the origin."""
    zeros = np.zeros((1, skeleton.num_joints, 3))
    return forward_kinematics(skeleton, zeros, np.zeros((1, 3)))[0][0]


def _rest_root(skeleton: Skeleton) -> np.ndarray:
    return rest_root_position() if skeleton.is_canonical() else skeleton.offsets[0]


def _nearest_paired_descendants(sk: Skeleton, j: int, pairs: dict[int, int]) -> list[int]:
    out, todo = [], sk.children(j)
    while todo:
        c = todo.pop()
        if c in pairs:
            out.append(c)
        else:
            todo += sk.children(c)
    return out


def _is_ancestor(sk: Skeleton, a: int, b: int) -> bool:
    while b >= 0:
        b = sk.parents[b]
        if b == a:
            return True
    return False


def _bone_vector(sk: Skeleton, j: int) -> np.ndarray:
    """Direction of joint j's own bone: the mean of its children's non-zero offsets, else its End
    Site; through zero-length children (CMU's FingerBase sits on the wrist) when that is all there is."""
    kids = sk.children(j)
    long = [sk.offsets[c] for c in kids if np.linalg.norm(sk.offsets[c]) > 1e-9]
    if long:
        return np.mean(long, axis=0)
    if j in sk.end_sites and np.linalg.norm(sk.end_sites[j]) > 1e-9:
        return np.asarray(sk.end_sites[j], dtype=np.float64)
    for c in kids:
        v = _bone_vector(sk, c)
        if np.linalg.norm(v) > 1e-9:
            return v
    return np.zeros(3)


def _usable(d_t: list[np.ndarray], d_s: list[np.ndarray]) -> bool:
    return any(np.linalg.norm(a) > 1e-9 and np.linalg.norm(b) > 1e-9 for a, b in zip(d_t, d_s))


def _fit_rotation(d_t: np.ndarray, d_s: np.ndarray) -> np.ndarray:
    """The rotation C minimising sum ||C a_i - b_i||^2 over unit directions (Wahba / Kabsch).

    d_t, d_s: (N, 3) matching target and source directions. With one direction (or parallel ones)
    the twist about it is free: the shortest arc is taken.
    """
    keep = (np.linalg.norm(d_t, axis=1) > 1e-9) & (np.linalg.norm(d_s, axis=1) > 1e-9)
    a = d_t[keep] / np.linalg.norm(d_t[keep], axis=1, keepdims=True)
    b = d_s[keep] / np.linalg.norm(d_s[keep], axis=1, keepdims=True)
    h = b.T @ a  # (3, 3) sum of b_i a_i^T
    u, sv, vt = np.linalg.svd(h)
    if len(a) >= 2 and sv[1] > 1e-6 * sv[0]:
        d = np.sign(np.linalg.det(u @ vt))
        return u @ np.diag([1.0, 1.0, d]) @ vt
    return _shortest_arc(a.mean(axis=0), b.mean(axis=0))


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation taking direction a onto direction b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # Opposite directions: half a turn about any axis perpendicular to a.
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    return rotvec_to_matrix(axis / s * np.arctan2(s, c))
