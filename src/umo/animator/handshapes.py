"""Hand shapes on the canonical skeleton's finger joints, and smooth blends between them.

A shape is a set of anatomical angles (degrees): per finger the flexion of its three knuckles
(MCP, PIP, DIP: joints ``X1``, ``X2``, ``X3``) and its spread; for the thumb its opposition at
``Thumb1`` and the flexion of ``Thumb2``, ``Thumb3``. Shapes blend **in angle space** (a weighted
mean of the angles, then one conversion to axis-angle), so a blend of two plausible shapes is
plausible and every flexion stays in ``[0, FINGER_FLEX_MAX_DEG]``.

Axes (the right hand, in its T-pose rest frame: fingers point -X, palm faces -Y, thumb +Z; the
same convention as the BEAT captures, whose right ``Index1`` flexes about +Z):
flexion = +Z, spread towards the thumb = +Y, thumb opposition (under the palm) = +X, thumb flexion
about the axis across the thumb's first bone. The left hand mirrors the right (see :func:`mirror_rotvec`).

Dimension letters: T frames, S shapes, F finger joints of one hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FINGER_FLEX_MAX_DEG = 100.0  # human limit of one finger knuckle's flexion
FINGERS = ("Index", "Middle", "Ring", "Pinky")

# Axis of thumb flexion in the right hand's rest frame: perpendicular to the thumb's first bone
# (rest offset (-3.5, -0.5, 2.5)) within the palm plane, so flexion curls it towards the palm (-Y).
_THUMB_FLEX_AXIS = np.array([0.6, 0.0, 0.8]) / np.linalg.norm([0.6, 0.0, 0.8])


@dataclass(frozen=True)
class HandShape:
    name: str
    flex: tuple[tuple[float, float, float], ...]  # per finger in FINGERS: MCP, PIP, DIP flexion, deg
    spread: tuple[float, ...]  # per finger in FINGERS: abduction towards the thumb, deg
    thumb_opposition: float  # deg about +X: thumb swings under the palm
    thumb_flex: tuple[float, float]  # Thumb2, Thumb3 flexion, deg


# Angles from hand anatomy references (relaxed hand: index ~20 deg per knuckle, more curl towards the
# pinky, the "cascade"); BEAT's speaker holds his right Index1/Index2 at ~20/22 deg on average,
# which sets the relaxed index.
RELAXED = HandShape("relaxed", ((18, 22, 10), (22, 26, 12), (26, 30, 14), (30, 34, 16)),
                    (2, 0, -2, -5), 40.0, (8, 12))
OPEN = HandShape("open", ((3, 4, 2), (3, 4, 2), (4, 5, 3), (5, 6, 3)), (8, 0, -6, -12), 10.0, (0, 2))
POINT = HandShape("point", ((2, 3, 2), (80, 95, 55), (85, 95, 55), (88, 95, 55)), (2, 0, -2, -4), 55.0, (25, 30))
PINCH = HandShape("pinch", ((42, 50, 22), (30, 35, 15), (38, 42, 18), (45, 48, 20)), (4, 0, -3, -6), 60.0, (12, 22))
FIST = HandShape("fist", ((70, 88, 50), (74, 90, 52), (78, 92, 54), (82, 95, 55)), (0, 0, 0, 0), 50.0, (22, 35))

HAND_SHAPES: tuple[HandShape, ...] = (RELAXED, OPEN, POINT, PINCH, FIST)
SHAPE_NAMES: tuple[str, ...] = tuple(s.name for s in HAND_SHAPES)
SHAPE_INDEX: dict[str, int] = {n: i for i, n in enumerate(SHAPE_NAMES)}
NUM_SHAPES = len(HAND_SHAPES)


def hand_joint_names(side: str) -> tuple[str, ...]:
    """The finger joints of one hand that shapes drive, in a fixed order (``side``: Left or Right)."""
    names = []
    for f in FINGERS:
        names += [f"{side}Hand{f}1", f"{side}Hand{f}2", f"{side}Hand{f}3"]
    names += [f"{side}HandThumb1", f"{side}HandThumb2", f"{side}HandThumb3"]
    return tuple(names)


def one_hot(name: str) -> np.ndarray:
    """(S,) weights selecting one shape."""
    w = np.zeros(NUM_SHAPES)
    w[SHAPE_INDEX[name]] = 1.0
    return w


def shape_angles(weights: np.ndarray, curl_offset_deg: np.ndarray | float = 0.0) -> dict[str, np.ndarray]:
    """Blend shapes in angle space.

    weights: (T, S) non-negative (normalised here); curl_offset_deg: (T,) extra flexion of every
    finger knuckle (idle micro-motion) -> dict of (T, ...) angle arrays, degrees, clamped to limits.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)  # (T, S)
    flex = np.einsum("ts,sfk->tfk", w, np.array([s.flex for s in HAND_SHAPES], dtype=np.float64))  # (T, 4, 3)
    flex = flex + np.asarray(curl_offset_deg, dtype=np.float64).reshape(-1, 1, 1)
    spread = w @ np.array([s.spread for s in HAND_SHAPES], dtype=np.float64)  # (T, 4)
    opp = w @ np.array([s.thumb_opposition for s in HAND_SHAPES], dtype=np.float64)  # (T,)
    tflex = w @ np.array([s.thumb_flex for s in HAND_SHAPES], dtype=np.float64)  # (T, 2)
    return {
        "flex": np.clip(flex, 0.0, FINGER_FLEX_MAX_DEG),
        "spread": np.clip(spread, -20.0, 20.0),
        "thumb_opposition": np.clip(opp, 0.0, 70.0),
        "thumb_flex": np.clip(tflex, 0.0, 80.0),
    }


def right_hand_rotvecs(weights: np.ndarray, curl_offset_deg: np.ndarray | float = 0.0) -> np.ndarray:
    """Local axis-angle rotations of the right hand's finger joints.

    weights: (T, S) -> (T, F, 3) radians, F = len(hand_joint_names("Right")) = 15.
    """
    a = shape_angles(weights, curl_offset_deg)
    t = a["flex"].shape[0]
    out = np.zeros((t, 15, 3))
    flex = np.radians(a["flex"])  # (T, 4, 3)
    spread = np.radians(a["spread"])  # (T, 4)
    for f in range(4):
        # MCP: spread (about +Y) then flexion (about +Z); their small product is well approximated
        # by summing the axis-angle components (both angles < 100 deg, axes orthogonal).
        out[:, 3 * f, 1] = spread[:, f]
        out[:, 3 * f, 2] = flex[:, f, 0]
        out[:, 3 * f + 1, 2] = flex[:, f, 1]
        out[:, 3 * f + 2, 2] = flex[:, f, 2]
    out[:, 12, 0] = np.radians(a["thumb_opposition"])
    out[:, 13] = np.radians(a["thumb_flex"][:, 0])[:, None] * _THUMB_FLEX_AXIS
    out[:, 14] = np.radians(a["thumb_flex"][:, 1])[:, None] * _THUMB_FLEX_AXIS
    return out


def mirror_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """A right-side local rotation -> the mirrored left-side one.

    The canonical skeleton's left side is its right side with X negated; a rotation conjugated by
    that reflection keeps its X component and negates Y and Z. rotvec: (..., 3) -> (..., 3).
    """
    out = np.array(rotvec, dtype=np.float64, copy=True)
    out[..., 1:] *= -1.0
    return out
