"""A full-body pose plan and its realisation on the canonical skeleton: root, legs (two-bone IK to
planted ankle targets), spine, head and arms (the rule animator's arm IK), then a floor pass.

The procedural generators (``umo.motion.actions``, ``umo.motion.dance``) write a :class:`Plan`:
world-space targets per frame (root path and heading, ankle positions, wrist positions in the chest
frame, spine and head angles). :func:`realize` turns it into local joint rotations and a root
trajectory:

1. the pelvis height is lowered where a leg could not reach its ankle target (the root-height
   correction that keeps planted feet planted);
2. each leg: analytic two-bone IK in the Hips frame, the knee bending towards the foot's heading;
   the Foot joint takes the target foot orientation;
3. spine and neck chain from whole-chain angles; arms from wrist targets by
   ``umo.animator.gestures``' IK, fingers from its hand shapes;
4. forward kinematics: wherever a foot joint would be below the floor (y = 0), the root is raised.

World frame (as the skeleton's): Y up, cm; heading 0 faces +Z; a positive heading turns towards
the character's left (+X). Dimension letters: T frames, S hand shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from umo.animator.gestures import GestureConfig, _clavicle, _solve_right_arm
from umo.animator.handshapes import NUM_SHAPES, hand_joint_names, mirror_rotvec, one_hot, right_hand_rotvecs
from umo.animator.idle import SPINE_JOINTS, SPINE_SHARE
from umo.constants import HIPS_REST_HEIGHT, JOINT_INDEX, NUM_JOINTS
from umo.skeleton import HEAD_CHAIN_SHARE, canonical_skeleton, forward_kinematics, head_to_rotvec, matrix_to_rotvec, rotvec_to_matrix

SIDES = ("Right", "Left")  # index 0 right, 1 left, in every (.., 2, ..) array
FOOT_JOINTS = ("Foot", "ForeFoot", "ToeBase", "ToeBaseEnd")  # per side: the joints that can touch the floor
_SK = canonical_skeleton()
HIP_OFFSET = _SK.offsets[JOINT_INDEX["RightUpLeg"]]  # (3,) right hip joint from the root, cm
THIGH = float(np.linalg.norm(_SK.offsets[JOINT_INDEX["RightLeg"]]))  # 43 cm
SHIN = float(np.linalg.norm(_SK.offsets[JOINT_INDEX["RightFoot"]]))  # 42 cm
ANKLE_HEIGHT = HIPS_REST_HEIGHT + HIP_OFFSET[1] - THIGH - SHIN  # 8 cm: the ankle of a flat foot at rest
STANCE_HALF_WIDTH = abs(float(HIP_OFFSET[0]))  # 9 cm: feet under the hip joints
MAX_REACH = 0.998 * (THIGH + SHIN)  # a leg never straightens fully (IK is singular there)
ARM_CFG = GestureConfig()
REST_WRIST = np.array(ARM_CFG.rest_wrist)  # lateral coords (lateral, up, forward) in the Spine3 frame


def ry(angle: np.ndarray) -> np.ndarray:
    """(...,) radians about +Y -> (..., 3, 3)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*a.shape, 3, 3)


def heading_vectors(heading: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) -> forward (T, 2) and left (T, 2) unit vectors in the (x, z) plane."""
    fwd = np.stack([np.sin(heading), np.cos(heading)], axis=-1)
    left = np.stack([np.cos(heading), -np.sin(heading)], axis=-1)
    return fwd, left


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """0..1 -> 0..1, zero velocity and acceleration at both ends (Flash & Hogan 1985)."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def key_track(times: np.ndarray, key_t: np.ndarray, key_v: np.ndarray) -> np.ndarray:
    """Keyframes joined by minimum-jerk segments (zero velocity at every key), held outside them.

    times: (T,) seconds; key_t: (K,) increasing; key_v: (K, ...) -> (T, ...).
    """
    key_t = np.asarray(key_t, dtype=np.float64)
    key_v = np.asarray(key_v, dtype=np.float64)
    seg = np.clip(np.searchsorted(key_t, times, side="right") - 1, 0, len(key_t) - 1)
    nxt = np.minimum(seg + 1, len(key_t) - 1)
    span = np.maximum(key_t[nxt] - key_t[seg], 1e-9)
    w = np.where(nxt > seg, minimum_jerk((times - key_t[seg]) / span), 0.0)
    w = w.reshape(-1, *([1] * (key_v.ndim - 1)))
    return key_v[seg] + w * (key_v[nxt] - key_v[seg])


def step_track(times: np.ndarray, key_t: np.ndarray, key_pos: np.ndarray, lift_cm: float | np.ndarray) -> np.ndarray:
    """A foot stepping between planted positions: between two keys whose positions differ, the foot
    travels by minimum jerk horizontally and lifts on a sine arc (which rises faster than the
    horizontal motion starts, so the foot leaves the floor before it slides).

    key_pos: (K, 3) ankle positions (y is the planted ankle height); lift_cm: scalar or (K,) the
    arc height of the step that ends at each key -> (T, 3).
    """
    out = key_track(times, key_t, key_pos)
    lift = np.broadcast_to(np.asarray(lift_cm, dtype=np.float64), (len(key_t),))
    moved = np.linalg.norm(np.diff(key_pos[:, [0, 2]], axis=0), axis=1) > 0.5  # (K-1,)
    for k in np.flatnonzero(moved):
        a, b = key_t[k], key_t[k + 1]
        inside = (times > a) & (times < b)
        s = (times[inside] - a) / (b - a)
        out[inside, 1] += lift[k + 1] * np.sin(np.pi * s) ** 0.8
    return out


@dataclass
class Plan:
    """Per-frame targets of the whole body (T frames at ``fps``)."""

    fps: float
    root_xz: np.ndarray  # (T, 2) root (Hips) x, z, cm
    heading: np.ndarray  # (T,) facing direction, radians about +Y
    pelvis_y: np.ndarray  # (T,) root height offset from standing (HIPS_REST_HEIGHT), cm (lowered by IK reach)
    pelvis_rot: np.ndarray  # (T, 3) Hips rotation after the heading (axis-angle: x pitch forward, z roll)
    feet: np.ndarray  # (T, 2, 3) ankle targets, world cm, right then left
    foot_yaw: np.ndarray  # (T, 2) foot headings, radians
    foot_pitch: np.ndarray  # (T, 2) toes down (+) / up (-), radians
    spine: np.ndarray  # (T, 3) whole-spine rotation (axis-angle; +x bends forward), shared by SPINE_SHARE
    head: np.ndarray  # (T, 3) yaw, pitch (+ chin down), roll, radians: the neck chain
    wrist: np.ndarray  # (T, 2, 3) lateral coords (out, up, forward) in the Spine3 frame, cm
    twist: np.ndarray  # (T, 2) forearm twist, degrees (+ pronation: palm down)
    flex: np.ndarray  # (T, 2) wrist flexion, degrees
    shape: np.ndarray  # (T, 2, S) hand-shape weights (umo.animator.handshapes)
    shoulder_lift: np.ndarray  # (T, 2) extra clavicle elevation, degrees (shrugs)

    @property
    def num_frames(self) -> int:
        return len(self.heading)

    @classmethod
    def standing(cls, num_frames: int, fps: float, root_xz=(0.0, 0.0), heading: float = 0.0,
                 feet: np.ndarray | None = None, foot_yaw: np.ndarray | None = None) -> "Plan":
        """Standing still in the relaxed pose (arms down, feet under the hips) at a place and heading."""
        t = num_frames
        root = np.tile(np.asarray(root_xz, dtype=np.float64), (t, 1))
        if feet is None:
            feet = stance_feet(np.asarray(root_xz, dtype=np.float64), heading)
        if foot_yaw is None:
            foot_yaw = np.full(2, heading)
        shape = np.tile(one_hot("relaxed"), (t, 2, 1))
        return cls(
            fps=fps, root_xz=root, heading=np.full(t, float(heading)), pelvis_y=np.zeros(t),
            pelvis_rot=np.zeros((t, 3)), feet=np.tile(feet, (t, 1, 1)), foot_yaw=np.tile(foot_yaw, (t, 1)),
            foot_pitch=np.zeros((t, 2)), spine=np.zeros((t, 3)), head=np.zeros((t, 3)),
            wrist=np.tile(REST_WRIST, (t, 2, 1)), twist=np.full((t, 2), ARM_CFG.twist_rest), flex=np.zeros((t, 2)),
            shape=shape, shoulder_lift=np.zeros((t, 2)),
        )

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.num_frames) / self.fps

    def fields(self) -> tuple[str, ...]:
        return ("root_xz", "heading", "pelvis_y", "pelvis_rot", "feet", "foot_yaw", "foot_pitch", "spine", "head",
                "wrist", "twist", "flex", "shape", "shoulder_lift")

    @classmethod
    def concat(cls, plans: list["Plan"]) -> "Plan":
        first = plans[0]
        return cls(fps=first.fps, **{f: np.concatenate([getattr(p, f) for p in plans]) for f in first.fields()})


def stance_feet(root_xz: np.ndarray, heading: float, half_width: float = STANCE_HALF_WIDTH) -> np.ndarray:
    """(2, 3) the ankles of a relaxed stance under the hips: right, left."""
    _, left = heading_vectors(np.array([heading]))
    out = np.zeros((2, 3))
    for i, side in enumerate((-1.0, 1.0)):
        out[i, [0, 2]] = root_xz + side * half_width * left[0]
        out[i, 1] = ANKLE_HEIGHT
    return out


# --- realisation ---------------------------------------------------------------------------------
def _hips_rotation(plan: Plan) -> np.ndarray:
    """(T, 3, 3) global rotation of the Hips."""
    return ry(plan.heading) @ rotvec_to_matrix(plan.pelvis_rot)


def _reachable_pelvis(plan: Plan, hips: np.ndarray) -> np.ndarray:
    """(T,) the pelvis height offset lowered wherever a leg could not reach its ankle target."""
    y = plan.pelvis_y.copy()
    limit = np.full_like(y, np.inf)
    for i, sign in enumerate((1.0, -1.0)):  # right hip offset is -X; left mirrored
        off = HIP_OFFSET * np.array([sign, 1.0, 1.0])
        hip_rel = hips @ off  # (T, 3)
        dx = plan.feet[:, i, 0] - (plan.root_xz[:, 0] + hip_rel[:, 0])
        dz = plan.feet[:, i, 2] - (plan.root_xz[:, 1] + hip_rel[:, 2])
        r2 = dx**2 + dz**2
        vertical = np.sqrt(np.maximum(MAX_REACH**2 - r2, 1.0))
        # hip joint height must be <= ankle + vertical
        limit = np.minimum(limit, plan.feet[:, i, 1] + vertical - hip_rel[:, 1] - HIPS_REST_HEIGHT)
    deficit = np.maximum(y - limit, 0.0)
    if deficit.any():
        win = max(3, int(round(0.2 * plan.fps)) | 1)
        deficit = gaussian_filter1d(maximum_filter1d(deficit, win), 0.05 * plan.fps) if len(y) > 1 else deficit
        y = np.minimum(y - deficit, limit)
    return y


def _solve_leg(hip: np.ndarray, ankle: np.ndarray, hips: np.ndarray, yaw: np.ndarray, pitch: np.ndarray,
               side: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-bone IK of one leg.

    hip, ankle: (T, 3) world; hips: (T, 3, 3) Hips global rotation; yaw, pitch: (T,) foot target;
    side: -1 right, +1 left -> local rotations of UpLeg, Leg, Foot, each (T, 3).
    """
    v = np.einsum("tji,tj->ti", hips, ankle - hip)  # target in the Hips frame
    dist = np.linalg.norm(v, axis=1)
    n = v / np.maximum(dist, 1e-9)[:, None]
    foot_rot = ry(yaw) @ rotvec_to_matrix(np.stack([pitch, np.zeros_like(pitch), np.zeros_like(pitch)], -1))
    pole_w = foot_rot @ np.array([0.12 * side, 0.0, 1.0])  # knee forward over the toes, a little outward
    pole = np.einsum("tji,tj->ti", hips, pole_w)
    d = np.clip(dist, abs(THIGH - SHIN) + 5.0, MAX_REACH)
    knee = np.arccos(np.clip((d**2 - THIGH**2 - SHIN**2) / (2 * THIGH * SHIN), -1.0, 1.0))  # flexion from straight
    alpha = np.arccos(np.clip((THIGH**2 + d**2 - SHIN**2) / (2 * THIGH * d), -1.0, 1.0))
    m = pole - np.sum(pole * n, axis=1, keepdims=True) * n
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)
    u = np.cos(alpha)[:, None] * n + np.sin(alpha)[:, None] * m  # thigh direction (towards the pole)
    h = np.cross(m, n)  # knee hinge (+X at rest): the shin swings backwards
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-9)
    frame = np.stack([u, h, np.cross(u, h)], axis=-1)  # (T, 3, 3) columns
    rest = np.stack([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], axis=-1)  # columns: bone, hinge, bone x hinge
    thigh = frame @ rest.T
    knee_rv = np.zeros((len(d), 3))
    knee_rv[:, 0] = knee
    leg_global = hips @ thigh @ rotvec_to_matrix(knee_rv)
    foot = np.einsum("tji,tjk->tik", leg_global, foot_rot)
    return matrix_to_rotvec(thigh), knee_rv, matrix_to_rotvec(foot)


def realize(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """A plan -> local rotations (T, 75, 3) and root positions (T, 3) on the canonical skeleton."""
    t = plan.num_frames
    rot = np.zeros((t, NUM_JOINTS, 3))
    hips = _hips_rotation(plan)
    pelvis_y = _reachable_pelvis(plan, hips)
    root = np.stack([plan.root_xz[:, 0], HIPS_REST_HEIGHT + pelvis_y, plan.root_xz[:, 1]], axis=-1)
    rot[:, 0] = matrix_to_rotvec(hips)
    for i, (side, sign) in enumerate(zip(SIDES, (-1.0, 1.0))):
        hip = root + hips @ (HIP_OFFSET * np.array([-sign, 1.0, 1.0]))
        up, knee, foot = _solve_leg(hip, plan.feet[:, i], hips, plan.foot_yaw[:, i], plan.foot_pitch[:, i], sign)
        rot[:, JOINT_INDEX[f"{side}UpLeg"]] = up
        rot[:, JOINT_INDEX[f"{side}Leg"]] = knee
        rot[:, JOINT_INDEX[f"{side}Foot"]] = foot
    for k, name in enumerate(SPINE_JOINTS):
        rot[:, JOINT_INDEX[name]] = plan.spine * SPINE_SHARE[k]
    neck = head_to_rotvec(plan.head)
    for name, share in HEAD_CHAIN_SHARE:
        rot[:, JOINT_INDEX[name]] = share * neck
    for i, side in enumerate(SIDES):
        conv = (lambda x: x) if side == "Right" else mirror_rotvec
        p = plan.wrist[:, i]
        clav = _clavicle(p, plan.shoulder_lift[:, i], ARM_CFG)
        arm = _solve_right_arm(p * np.array([-1.0, 1.0, 1.0]), clav, plan.twist[:, i], plan.flex[:, i], ARM_CFG)
        for seg in ("Shoulder", "Arm", "ForeArm", "Hand"):
            rot[:, JOINT_INDEX[side + seg]] = conv(arm[seg])
        fingers = right_hand_rotvecs(plan.shape[:, i].reshape(t, NUM_SHAPES))
        for f, name in enumerate(hand_joint_names(side)):
            rot[:, JOINT_INDEX[name]] = conv(fingers[:, f])
    root[:, 1] += floor_lift(rot, root, plan.fps)
    return rot, root


def foot_joint_indices() -> np.ndarray:
    """(2, 4) joint indices of each foot's floor-touching joints, right then left."""
    return np.array([[JOINT_INDEX[f"{s}{j}"] for j in FOOT_JOINTS] for s in SIDES])


def floor_lift(rot: np.ndarray, root: np.ndarray, fps: float) -> np.ndarray:
    """(T,) how far to raise the root so that no foot joint is below the floor (y = 0), smoothed so
    that the correction has no corners."""
    pos, _ = forward_kinematics(_SK, rot, root)
    low = pos[:, foot_joint_indices().reshape(-1), 1].min(axis=1)
    lift = np.maximum(-low, 0.0)
    if not lift.any():
        return lift
    win = max(3, int(round(0.15 * fps)) | 1)
    smooth = gaussian_filter1d(maximum_filter1d(lift, win), 0.04 * fps) if len(lift) > 1 else lift
    return np.maximum(smooth, lift)
