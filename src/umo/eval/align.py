"""Time-axis reconciliation: two animations of one take, at any rates and lengths, on one clock.

Nothing here assumes equal frame counts. Frame ``i`` of an animation is at ``i / fps`` seconds
(umo.animation); the common axis is the reference's (the ground truth's) frame times that both
animations cover, i.e. ``[0, min(last frame time of either)]``. Blendshapes, head/eye angles and
the root position are interpolated linearly; joint rotations are interpolated by slerp (a rotation
is not a vector), by umo.animation.resample. The overlap used is returned so that every report can
state it.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umo.animation import Animation, interp_frames, resample
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
    return interp_frames(np.asarray(values, dtype=np.float64), fps, times)
