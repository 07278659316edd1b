"""The one data model of umo: an :class:`Animation` of face, head, eyes and body at a frame rate.

Frame ``i`` is at time ``i / fps``. Every array has the same number of frames ``T``; an audio track
(optional) lasts ``ceil(T / fps)`` seconds or less. Conversions to and from files live in
``umo.formats``; the methods here are the short way to call them. :func:`resample` puts an animation
on another clock (another rate or length).

Dimension letters: T frames, J joints, S audio samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from umo.constants import EYE_NAMES, HEAD_NAMES, NUM_BLENDSHAPES, SAMPLE_RATE
from umo.errors import UmoError
from umo.skeleton import Skeleton, canonical_skeleton, rest_root_position


def num_frames_for(duration_s: float, fps: float) -> int:
    """Frames that cover ``duration_s`` seconds of audio: ``ceil(duration * fps)``.

    A hair of tolerance keeps float error (e.g. 2.0000000001 s) from adding a frame.
    """
    return max(0, math.ceil(duration_s * fps - 1e-6))


@dataclass
class Animation:
    fps: float
    face: np.ndarray  # (T, 52) ARKit weights in [0, 1], Live Link order (umo.constants.ARKIT_NAMES)
    head: np.ndarray  # (T, 3) HeadYaw, HeadPitch, HeadRoll, radians
    eyes: np.ndarray  # (T, 6) Left/Right eye yaw, pitch, roll, radians (umo.constants.EYE_NAMES)
    body: np.ndarray | None = None  # (T, J, 3) local joint rotations, axis-angle radians
    root_pos: np.ndarray | None = None  # (T, 3) root position, cm
    skeleton: Skeleton = field(default_factory=canonical_skeleton)
    audio: np.ndarray | None = None  # (S,) float32 mono at `sample_rate`
    sample_rate: int = SAMPLE_RATE
    timecodes: tuple[str, ...] | None = None  # Live Link timecodes as read, kept for round trips

    def __post_init__(self) -> None:
        self.face = np.asarray(self.face, dtype=np.float64)
        t = self.face.shape[0]
        if self.face.ndim != 2 or self.face.shape[1] != NUM_BLENDSHAPES:
            raise ValueError(f"face must be (T, {NUM_BLENDSHAPES}), got {self.face.shape}")
        self.head = np.asarray(self.head, dtype=np.float64)
        self.eyes = np.asarray(self.eyes, dtype=np.float64)
        if self.head.shape != (t, len(HEAD_NAMES)) or self.eyes.shape != (t, len(EYE_NAMES)):
            raise ValueError(f"head must be (T, 3) and eyes (T, 6) with T={t}")
        if self.body is not None:
            self.body = np.asarray(self.body, dtype=np.float64)
            if self.body.shape != (t, self.skeleton.num_joints, 3):
                raise ValueError(f"body must be (T, {self.skeleton.num_joints}, 3), got {self.body.shape}")
            if self.root_pos is None:
                self.root_pos = np.tile(rest_root_position(), (t, 1))
        if self.root_pos is not None:
            self.root_pos = np.asarray(self.root_pos, dtype=np.float64)
            if self.root_pos.shape != (t, 3):
                raise ValueError(f"root_pos must be (T, 3), got {self.root_pos.shape}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.timecodes is not None and len(self.timecodes) != t:
            raise ValueError("one timecode per frame")

    # --- basics ------------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return self.face.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered by the frames."""
        return self.num_frames / self.fps

    @property
    def times(self) -> np.ndarray:
        """(T,) time of each frame, seconds."""
        return np.arange(self.num_frames) / self.fps

    @classmethod
    def neutral(cls, num_frames: int, fps: float = 30, with_body: bool = True) -> "Animation":
        """A still neutral face and the skeleton's rest pose."""
        sk = canonical_skeleton()
        return cls(
            fps=fps,
            face=np.zeros((num_frames, NUM_BLENDSHAPES)),
            head=np.zeros((num_frames, 3)),
            eyes=np.zeros((num_frames, 6)),
            body=np.zeros((num_frames, sk.num_joints, 3)) if with_body else None,
            skeleton=sk,
        )

    def copy(self, **changes) -> "Animation":
        return replace(self, **changes)

    def joint_positions(self) -> np.ndarray:
        """(T, J, 3) positions after forward kinematics, cm."""
        from umo.skeleton import forward_kinematics

        if self.body is None:
            raise UmoError("this animation has no body motion")
        return forward_kinematics(self.skeleton, self.body, self.root_pos)[0]

    # --- files -------------------------------------------------------------------------------
    def save_livelink(self, path: str | Path) -> None:
        from umo.formats.livelink import write_livelink

        write_livelink(self, path)

    def save_bvh(self, path: str | Path) -> None:
        from umo.formats.bvh import write_animation_bvh

        write_animation_bvh(self, path)

    @classmethod
    def load_livelink(cls, path: str | Path) -> "Animation":
        from umo.formats.livelink import read_livelink

        return read_livelink(path)

    @classmethod
    def load_bvh(cls, path: str | Path, fps: float | None = None, duration: float | None = None) -> "Animation":
        from umo.formats.bvh import read_animation_bvh

        return read_animation_bvh(path, fps=fps, duration=duration)


# --- the time axis --------------------------------------------------------------------------
def interp_frames(values: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Linear interpolation in time. values: (T, ...) -> (len(times), ...)."""
    src = np.arange(values.shape[0]) / fps
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((len(times), flat.shape[1]))
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(times, src, flat[:, c])
    return out.reshape(len(times), *values.shape[1:])


def slerp_frames(rotvec: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
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

    times must be a uniform grid starting at 0 (as ``umo.eval.align.common_times`` gives). Blendshapes,
    head/eye angles and the root position are interpolated linearly, joint rotations by slerp.
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
        face=interp_frames(anim.face, anim.fps, times),
        head=interp_frames(anim.head, anim.fps, times),
        eyes=interp_frames(anim.eyes, anim.fps, times),
        body=None if anim.body is None else slerp_frames(anim.body, anim.fps, times),
        root_pos=None if anim.root_pos is None else interp_frames(anim.root_pos, anim.fps, times),
        timecodes=None,
    )
