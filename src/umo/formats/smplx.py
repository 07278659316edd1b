"""SMPL-X motion ``.npz`` (BEAT2/EMAGE, AMASS-style) <-> :class:`~umo.animation.Animation`.

A file holds ``poses`` (T, 165): 55 joints x axis-angle in :data:`SMPLX_JOINT_NAMES` order (local
rotations, radians), ``expressions`` (T, 100) FLAME coefficients, ``trans`` (T, 3) metres, ``betas``
and optionally ``mocap_frame_rate`` (30 when absent), ``gender`` and ``model``.

**Why rotations carry over unchanged.** SMPL-X and umo's canonical skeleton share their rest frame:
Y up, facing +Z, the character's left on +X, arms straight out in a T-pose, fingers flat. A local
rotation therefore means the same thing on both, and the joints map by name
(:data:`SMPLX_TO_CANONICAL`). Where the canonical skeleton splits one SMPL-X joint in two (SMPL-X
``spine3`` ~ ``Spine2 + Spine3``, ``neck`` ~ ``Neck + Neck1``, ``left_foot`` ~ ``LeftForeFoot +
LeftToeBase``) the rotation goes on the first and the others stay at rest; writing back composes the
group's rotations, so every mapped joint's global orientation survives the round trip. The bone
lengths differ (umo's own proportions), so positions agree in shape, not in centimetres. Hand
rotations are taken as stored, i.e. relative to a flat hand (``flat_hand_mean=True``), as BEAT2
stores them.

Not carried over: the eyes (Live Link's eye angles have their own convention) and the 100 FLAME
expression coefficients (no linear map to ARKit exists without the FLAME model). The jaw becomes
``JawOpen`` = jaw rotation about X / :data:`JAW_OPEN_FULL_RAD`, clipped to [0, 1].

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, NUM_BLENDSHAPES
from umo.errors import UmoError
from umo.skeleton import canonical_skeleton, matrix_to_rotvec, rest_root_position, rotvec_to_matrix

SMPLX_FPS = 30  # the rate when a file has no mocap_frame_rate (BEAT2's rate)
NUM_EXPRESSIONS = 100  # FLAME expression coefficients in BEAT2 files
NUM_BETAS = 300  # shape coefficients in BEAT2 files
# Jaw rotation (about +X, opening positive) that counts as JawOpen = 1: a wide-open mouth is about
# 23 degrees of mandible rotation; speech uses 3-10 degrees. (BEAT2's fitted jaws are smaller still:
# 99 % of frames of 2_scott_0_1_1 stay below 0.05 rad, JawOpen 0.13.)
JAW_OPEN_FULL_RAD = 0.4

_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"left_{f}{k}" for f in _FINGERS for k in (1, 2, 3)),
    *(f"right_{f}{k}" for f in _FINGERS for k in (1, 2, 3)),
)
NUM_SMPLX_JOINTS = len(SMPLX_JOINT_NAMES)  # 55
SMPLX_INDEX: dict[str, int] = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}
JAW = SMPLX_INDEX["jaw"]  # 22: poses[:, 66:69]


def _side(side: str) -> dict[str, tuple[str, ...]]:
    s = side.capitalize()
    m: dict[str, tuple[str, ...]] = {
        f"{side}_hip": (f"{s}UpLeg",),
        f"{side}_knee": (f"{s}Leg",),
        f"{side}_ankle": (f"{s}Foot",),
        f"{side}_foot": (f"{s}ForeFoot", f"{s}ToeBase"),
        f"{side}_collar": (f"{s}Shoulder",),
        f"{side}_shoulder": (f"{s}Arm",),
        f"{side}_elbow": (f"{s}ForeArm",),
        f"{side}_wrist": (f"{s}Hand",),
    }
    for f in _FINGERS:
        for k in (1, 2, 3):
            m[f"{side}_{f}{k}"] = (f"{s}Hand{f.capitalize()}{k}",)
    return m


# SMPL-X joint -> the canonical joints it stands for (rotation goes on the first; see module doc).
SMPLX_TO_CANONICAL: dict[str, tuple[str, ...]] = {
    "pelvis": ("Hips",),
    "spine1": ("Spine",),
    "spine2": ("Spine1",),
    "spine3": ("Spine2", "Spine3"),
    "neck": ("Neck", "Neck1"),
    "head": ("Head",),
    **_side("left"),
    **_side("right"),
}


@dataclass
class SmplxMotion:
    poses: np.ndarray  # (T, 55, 3) local axis-angle, radians, SMPLX_JOINT_NAMES order
    expressions: np.ndarray  # (T, E) FLAME expression coefficients
    trans: np.ndarray  # (T, 3) root translation, metres
    betas: np.ndarray  # (B,) body shape
    fps: float
    gender: str = "neutral"
    model: str = "smplx2020"

    @property
    def num_frames(self) -> int:
        return self.poses.shape[0]

    @property
    def jaw(self) -> np.ndarray:
        """(T, 3) jaw axis-angle, radians."""
        return self.poses[:, JAW]


def read_smplx(path: str | Path) -> SmplxMotion:
    """Read an SMPL-X motion ``.npz`` (see the module docstring for its keys)."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"SMPL-X file not found: {path} (check the path)")
    try:
        z = np.load(path, allow_pickle=False)
        data = {k: z[k] for k in z.files}
    except Exception as e:
        raise UmoError(f"cannot read {path} as an .npz archive ({e}); expected an SMPL-X motion .npz") from None
    if "poses" not in data:
        raise UmoError(f"{path} has no 'poses' array (keys: {', '.join(data)}): not an SMPL-X motion file")
    poses = np.asarray(data["poses"], dtype=np.float64)
    if poses.ndim == 2 and poses.shape[1] == NUM_SMPLX_JOINTS * 3:
        poses = poses.reshape(-1, NUM_SMPLX_JOINTS, 3)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_SMPLX_JOINTS, 3):
        hint = {72: "SMPL", 156: "SMPL-H"}.get(poses.shape[-1] if poses.ndim == 2 else -1)
        raise UmoError(
            f"{path}: 'poses' has shape {poses.shape}; SMPL-X needs (T, 165) = 55 joints x 3"
            + (f" (this looks like {hint}, which umo does not import)" if hint else "")
        )
    t = poses.shape[0]
    if t == 0:
        raise UmoError(f"{path} holds no frames")
    if not np.all(np.isfinite(poses)):
        raise UmoError(f"{path}: 'poses' contains NaN or infinite values")
    expressions = np.asarray(data.get("expressions", np.zeros((t, NUM_EXPRESSIONS))), dtype=np.float64)
    trans = np.asarray(data.get("trans", np.zeros((t, 3))), dtype=np.float64)
    if expressions.shape[0] != t or trans.shape != (t, 3):
        raise UmoError(
            f"{path}: 'expressions' {expressions.shape} and 'trans' {trans.shape} must have the {t} frames of 'poses'"
        )
    fps = float(data["mocap_frame_rate"]) if "mocap_frame_rate" in data else float(SMPLX_FPS)
    if not fps > 0:
        raise UmoError(f"{path}: mocap_frame_rate is {fps}; it must be positive")
    return SmplxMotion(
        poses=poses,
        expressions=expressions,
        trans=trans,
        betas=np.asarray(data.get("betas", np.zeros(NUM_BETAS)), dtype=np.float64).ravel(),
        fps=fps,
        gender=str(data.get("gender", "neutral")),
        model=str(data.get("model", "smplx2020")),
    )


def smplx_to_animation(motion: SmplxMotion, jaw_open_full_rad: float = JAW_OPEN_FULL_RAD) -> Animation:
    """SMPL-X motion -> Animation on the canonical skeleton, with JawOpen from the jaw.

    root_pos is the canonical rest root plus the motion's translation since its first frame (cm).
    """
    sk = canonical_skeleton()
    t = motion.num_frames
    body = np.zeros((t, sk.num_joints, 3))
    for src, dst in SMPLX_TO_CANONICAL.items():
        body[:, sk.index(dst[0])] = motion.poses[:, SMPLX_INDEX[src]]
    face = np.zeros((t, NUM_BLENDSHAPES))
    face[:, ARKIT_INDEX["JawOpen"]] = np.clip(motion.jaw[:, 0] / jaw_open_full_rad, 0.0, 1.0)
    root_pos = rest_root_position() + 100.0 * (motion.trans - motion.trans[:1])
    return Animation(
        fps=motion.fps, face=face, head=np.zeros((t, 3)), eyes=np.zeros((t, 6)),
        body=body, root_pos=root_pos, skeleton=sk,
    )


def animation_to_smplx(
    anim: Animation, path: str | Path, jaw_open_full_rad: float = JAW_OPEN_FULL_RAD
) -> SmplxMotion:
    """Write an Animation on the canonical skeleton as an SMPL-X ``.npz`` (BEAT2's keys); returns it.

    Mapped joints get the composed rotation of their canonical group, the jaw opens about X by
    JawOpen x ``jaw_open_full_rad``, everything else (eyes, expressions, betas) is zero.
    """
    t = anim.num_frames
    poses = np.zeros((t, NUM_SMPLX_JOINTS, 3))
    if anim.body is not None:
        if not anim.skeleton.is_canonical():
            raise UmoError(
                "SMPL-X export needs an animation on umo's canonical skeleton; retarget it first "
                "(umo.formats.retarget)"
            )
        sk = anim.skeleton
        for src, dst in SMPLX_TO_CANONICAL.items():
            idx = [sk.index(d) for d in dst]
            if len(idx) == 1:
                poses[:, SMPLX_INDEX[src]] = anim.body[:, idx[0]]
            else:
                mats = rotvec_to_matrix(anim.body[:, idx])  # (T, G, 3, 3), parent first
                total = mats[:, 0]
                for g in range(1, len(idx)):
                    total = total @ mats[:, g]
                poses[:, SMPLX_INDEX[src]] = matrix_to_rotvec(total)
    poses[:, JAW, 0] = anim.face[:, ARKIT_INDEX["JawOpen"]] * jaw_open_full_rad
    root = anim.root_pos if anim.root_pos is not None else np.tile(rest_root_position(), (t, 1))
    motion = SmplxMotion(
        poses=poses,
        expressions=np.zeros((t, NUM_EXPRESSIONS)),
        trans=(root - rest_root_position()) / 100.0,
        betas=np.zeros(NUM_BETAS),
        fps=anim.fps,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        poses=motion.poses.reshape(t, -1).astype(np.float32),
        expressions=motion.expressions,
        trans=motion.trans,
        betas=motion.betas.astype(np.float32),
        model=np.array(motion.model),
        gender=np.array(motion.gender),
        mocap_frame_rate=np.array(int(round(anim.fps)) if float(anim.fps).is_integer() else anim.fps),
    )
    return motion
