"""Skeletons: joint names, hierarchy, rest offsets, and forward kinematics.

Rotation convention (used by every module): a joint's local rotation ``R_j`` (axis-angle vector,
radians) rotates its children's rest offsets in the parent's frame. Global rotation
``G_j = G_parent(j) @ R_j``; position ``p_j = p_parent(j) + G_parent(j) @ offset_j``; the root's
position is the animation's ``root_pos``. All-zero rotations give the rest pose (the T-pose for the
canonical skeleton).

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from umo.constants import CANONICAL_SKELETON_TABLE, HIPS_REST_HEIGHT, JOINT_INDEX


@dataclass(frozen=True)
class Skeleton:
    """A joint hierarchy. ``parents[j] < j`` for every joint but the root (``parents[0] == -1``)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3) rest offset of each joint from its parent, cm
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint -> (3,) End Site offset

    def __post_init__(self) -> None:
        if len(self.names) != len(self.parents) or self.offsets.shape != (len(self.names), 3):
            raise ValueError("names, parents and offsets must describe the same joints")
        for j, p in enumerate(self.parents):
            if (j == 0) != (p == -1) or p >= j:
                raise ValueError(f"joint {self.names[j]}: parents must precede children, root first")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def is_canonical(self) -> bool:
        return self.names == canonical_skeleton().names

    def __hash__(self) -> int:  # offsets are an array: hash by identity of structure
        return hash((self.names, self.parents))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Skeleton)
            and self.names == other.names
            and self.parents == other.parents
            and np.allclose(self.offsets, other.offsets)
        )


@lru_cache(maxsize=1)
def canonical_skeleton() -> Skeleton:
    """umo's 75-joint canonical skeleton (BEAT/ZEGGS joint names, umo's own proportions)."""
    names = tuple(r[0] for r in CANONICAL_SKELETON_TABLE)
    parents = tuple(-1 if r[1] is None else names.index(r[1]) for r in CANONICAL_SKELETON_TABLE)
    offsets = np.array([r[2] for r in CANONICAL_SKELETON_TABLE], dtype=np.float64)
    # Leaves get an End Site that continues the last bone by half its length.
    leaves = [j for j in range(len(names)) if j not in parents]
    end_sites = {j: offsets[j] * 0.5 if np.linalg.norm(offsets[j]) > 0 else np.array([0.0, 1.0, 0.0])
                 for j in leaves}
    return Skeleton(names, parents, offsets, end_sites)


def rest_root_position() -> np.ndarray:
    """(3,) the canonical root position of the rest pose, cm."""
    return np.array([0.0, HIPS_REST_HEIGHT, 0.0])


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula. rotvec: (..., 3) radians -> (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # (..., 1)
    small = theta < 1e-8
    axis = rotvec / np.where(small, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    k = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    out = eye + s * k + (1.0 - c) * (k @ k)
    return np.where(small[..., None], eye, out)


def matrix_to_rotvec(mat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, radians."""
    from scipy.spatial.transform import Rotation

    shape = mat.shape[:-2]
    return Rotation.from_matrix(mat.reshape(-1, 3, 3)).as_rotvec().reshape(*shape, 3)


# How a head rotation is shared along the neck chain: the three rest frames are aligned, so the
# fractions of one axis-angle compose exactly to the whole rotation.
HEAD_CHAIN_SHARE: tuple[tuple[str, float], ...] = (("Neck", 0.3), ("Neck1", 0.2), ("Head", 0.5))


def head_to_rotvec(head: np.ndarray) -> np.ndarray:
    """Head yaw/pitch/roll -> one axis-angle rotation in the skeleton's frame.

    Conventions (radians): yaw turns about +Y (positive: towards the character's left), pitch about
    +X (positive: chin down), roll about +Z (positive: tilt towards the character's right shoulder);
    applied as R = Ry(yaw) @ Rx(pitch) @ Rz(roll).
    head: (T, 3) -> (T, 3)
    """
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YXZ", head, degrees=False).as_rotvec()


def add_head_to_body(body: np.ndarray, head: np.ndarray) -> None:
    """Write the head rotation into the neck chain of a canonical-skeleton body, in place.

    body: (T, 75, 3) local axis-angle; head: (T, 3) yaw/pitch/roll radians.
    """
    from scipy.spatial.transform import Rotation

    w = head_to_rotvec(head)  # (T, 3)
    for name, share in HEAD_CHAIN_SHARE:
        j = JOINT_INDEX[name]
        body[:, j] = (Rotation.from_rotvec(body[:, j]) * Rotation.from_rotvec(share * w)).as_rotvec()


def forward_kinematics(
    skeleton: Skeleton, rotvec: np.ndarray, root_pos: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions and global rotations.

    rotvec: (T, J, 3) local axis-angle, radians; root_pos: (T, 3) cm (rest root if None)
    returns positions (T, J, 3) cm and global rotation matrices (T, J, 3, 3).
    """
    t, j, _ = rotvec.shape
    if j != skeleton.num_joints:
        raise ValueError(f"rotations have {j} joints, the skeleton {skeleton.num_joints}")
    local = rotvec_to_matrix(rotvec)  # (T, J, 3, 3)
    glob = np.empty_like(local)
    pos = np.empty((t, j, 3))
    pos[:, 0] = rest_root_position() if root_pos is None else root_pos
    glob[:, 0] = local[:, 0]
    for k in range(1, j):
        p = skeleton.parents[k]
        glob[:, k] = glob[:, p] @ local[:, k]
        pos[:, k] = pos[:, p] + glob[:, p] @ skeleton.offsets[k]
    return pos, glob
