"""Time-axis reconciliation: two animations of one take, at any rates and lengths, on one clock.

Nothing here assumes equal frame counts. Frame ``i`` of an animation is at ``i / fps`` seconds
(umo.animation); the common axis is the reference's (the ground truth's) frame times that both
animations cover, i.e. ``[0, min(last frame time of either)]``. Blendshapes, head/eye angles and
the root position are interpolated linearly; joint rotations are interpolated by slerp (a rotation
is not a vector). The overlap used is returned so that every report can state it.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umo.animation import Animation
from umo.errors import UmoError


@dataclass(frozen=True)
class Overlap:
    """What was compared: rates and lengths of both inputs and the common axis."""

    pred_fps: float
    pred_frames: int
    ref_fps: float
    ref_frames: int
    fps: float  # rate of the common axis (the reference's unless asked otherwise)
    frames: int  # frames on the common axis
    seconds: float  # time spanned by the common axis, (frames - 1) / fps

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def common_times(pred: Animation, ref: Animation, fps: float | None = None) -> np.ndarray:
    """(T,) times, seconds: the reference's frame times (or a grid at ``fps``) covered by both."""
    end = min((pred.num_frames - 1) / pred.fps, (ref.num_frames - 1) / ref.fps)
    rate = ref.fps if fps is None else fps
    if end < 0:
        raise UmoError("an animation without frames cannot be compared")
    n = int(np.floor(end * rate + 1e-6)) + 1
    return np.arange(n) / rate


def _interp(values: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Linear interpolation in time. values: (T, ...) -> (len(times), ...)."""
    src = np.arange(values.shape[0]) / fps
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((len(times), flat.shape[1]))
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(times, src, flat[:, c])
    return out.reshape(len(times), *values.shape[1:])


def _slerp(rotvec: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Per-joint slerp of local rotations. rotvec: (T, J, 3) axis-angle -> (len(times), J, 3)."""
    from scipy.spatial.transform import Rotation, Slerp

    t, j, _ = rotvec.shape
    if t == 1:
        return np.repeat(rotvec, len(times), axis=0)
    src = np.arange(t) / fps
    q = np.clip(times, src[0], src[-1])
    out = np.empty((len(times), j, 3))
    for k in range(j):
        out[:, k] = Slerp(src, Rotation.from_rotvec(rotvec[:, k]))(q).as_rotvec()
    return out


def resample(anim: Animation, times: np.ndarray) -> Animation:
    """The animation at the given times (seconds), frames at ``1 / (times[1] - times[0])`` fps.

    times must be a uniform grid starting at 0 (as :func:`common_times` gives).
    """
    fps = 1.0 / (times[1] - times[0]) if len(times) > 1 else anim.fps
    same = np.isclose(fps, anim.fps) and len(times) <= anim.num_frames
    if same:  # identical frame times: slice, never interpolate (keeps a copy scoring exactly 0)
        n = len(times)
        return anim.copy(fps=anim.fps, face=anim.face[:n], head=anim.head[:n], eyes=anim.eyes[:n],
                         body=None if anim.body is None else anim.body[:n],
                         root_pos=None if anim.root_pos is None else anim.root_pos[:n], timecodes=None)
    return anim.copy(
        fps=fps,
        face=_interp(anim.face, anim.fps, times),
        head=_interp(anim.head, anim.fps, times),
        eyes=_interp(anim.eyes, anim.fps, times),
        body=None if anim.body is None else _slerp(anim.body, anim.fps, times),
        root_pos=None if anim.root_pos is None else _interp(anim.root_pos, anim.fps, times),
        timecodes=None,
    )


def align(pred: Animation, ref: Animation, fps: float | None = None) -> tuple[Animation, Animation, Overlap]:
    """Both animations on the common axis (the reference's frame times by default) and the overlap."""
    times = common_times(pred, ref, fps)
    if len(times) < 2:
        raise UmoError(f"the animations overlap for {len(times)} frame(s): nothing to compare")
    a, b = resample(pred, times), resample(ref, times)
    ov = Overlap(pred.fps, pred.num_frames, ref.fps, ref.num_frames, float(a.fps), len(times),
                 float(times[-1]))
    return a, b, ov


def resample_curve(values: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """A per-frame signal (T, ...) at ``fps`` -> its values at ``times`` (linear)."""
    return _interp(np.asarray(values, dtype=np.float64), fps, times)
