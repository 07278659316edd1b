"""Emotion and style control: an expression layer over any animation (rules, learned model, live).

    anim = apply_emotion(anim, EmotionSetting("happy", 0.8))            # a whole clip, offline
    layer = EmotionLayer(EmotionSetting("sad"), fps=30)                  # live, causal
    frames = layer.apply(frames)                                         # each batch as it is made
    layer.set(EmotionSetting("surprised", 0.5))                          # ramps from the next frame

One emotion (``umo.constants.EMOTIONS``) at an intensity in [0, 1] sets, per frame:

- **face offsets**: weights added to brows, lids, cheeks, nose and mouth corners (``OFFSET_GROUPS``;
  left and right alike), then the face is clipped to [0, 1];
- **jaw energy**: a gain on the lip aperture channels (``APERTURE_NAMES``: JawOpen, MouthClose and
  MouthLowerDown). All are scaled together, so the aperture (``lip_aperture``) scales by the gain and
  lips shut on a P/B/M stay shut;
- **head**: a gain on the head's motion (yaw, pitch, roll about 0) and a pitch offset (positive: chin
  down); the neck chain of the body follows the new head;
- **gesture energy**: a gain on the body's rotations about the relaxed standing pose
  (``umo.animator.gestures.rest_pose``), per joint, neck chain excepted (a gain above 1 stops at
  ``GESTURE_MAX_RAD`` from that pose).

Intensity x blends linearly from neutral: offsets times x, gains 1 + x (gain - 1). Intensity 0 and
"neutral" leave an animation exactly as it was. A clip or stream starts in its emotion; each change
ramps from the expression of the last frame to the new one over ``RAMP_S`` (smoothstep), from the
first frame made after the change: causal, no lookahead.

For the learned model the layer is an **overlay** on its output: the model has not learned emotion.
In the rule animator it is the last stage.

Where the numbers come from (``scripts/emotion_calibration.py`` recomputes the derived ones):

- ``DERIVED_OFFSETS``: per emotion, the mean ARKit weights of its real iPhone Live Link takes
  (../shared/data/livelink_noaudio, 60 fps, one actor; origin AnimaVR/NeuroSync_Player, one folder
  per emotion) minus the mean of the neutral idle take ``default.csv``. sad: takes 167, 168, 169;
  angry: 165; afraid ("Fearful"): 161, 162, 163; disgusted: 164, 166. Only these derived means are
  kept here; the takes are not copied.
- ``OVERRIDES``: MouthSmile in the angry and disgusted takes reads +0.27 / +0.38. With CheekSquint,
  NoseSneer and MouthUpperUp high it is the snarl's cheek and upper-lip raise, which the iPhone's
  solver reports partly as smile; on a rig MouthSmile lifts the mouth corners and reads as a smile,
  the opposite of the take's expression, so those two are set to 0 (no change from neutral).
- ``HAND_SET_OFFSETS``: no take for happy (the origin's Happy.csv is not in the shared data) or
  surprised (none recorded). Set by hand from the facial action units (happy: cheek raiser and lip
  corner puller, AU6 + AU12; surprised: brow raisers and upper lid raiser, AU1 + AU2 + AU5), at the
  magnitudes the takes show for the same channels (the snarls' smile-region reading +0.27..0.38,
  the fear takes' EyeWide +0.30).
- ``MOTION`` (jaw energy, head pitch, head energy, gesture energy): hand-set for every emotion. The
  takes hold no head (their head columns are 0) and no body, and they are posed expressions without
  speech (the sad takes hold the jaw still: JawOpen sd 0.000-0.003, against 0.020-0.071 in the fear
  takes), so they cannot calibrate a gain on speech movements. Directions: sad lower and slower,
  angry and happy larger, fear withdrawn.
- Not used: the takes' eye pitch, 0.04-0.16 rad above the neutral take's in every emotion alike,
  moves with where the phone was held rather than with the emotion.

Dimension letters: T frames, J joints; P = NUM_PARAMS parameters per frame (the 52 face offsets,
then jaw gain, head pitch offset, head energy, gesture energy).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from umo.constants import ARKIT_INDEX, EMOTIONS, JOINT_INDEX, MODEL_FPS, NUM_BLENDSHAPES, UPPER_BODY_JOINTS
from umo.errors import UmoError
from umo.skeleton import HEAD_CHAIN_SHARE

NEUTRAL = EMOTIONS[0]
DEFAULT_INTENSITY = 1.0
RAMP_S = 0.3  # seconds from one expression to the next (smoothstep: the steepest step is 1.5x the mean)
HEAD_MAX_RAD = 0.35  # clip of each head angle after the layer (~20 deg)
# A gesture gain above 1 bends no joint further than this from the relaxed pose (or than it was):
# the rule animator's elbows reach 124 deg from it, which x1.35 would carry past the joint's range.
GESTURE_MAX_RAD = 2.2  # ~126 deg

# Face channel groups the offsets act on (left and right move together).
OFFSET_GROUPS: dict[str, tuple[str, ...]] = {
    "BrowInnerUp": ("BrowInnerUp",),
    "BrowDown": ("BrowDownLeft", "BrowDownRight"),
    "BrowOuterUp": ("BrowOuterUpLeft", "BrowOuterUpRight"),
    "EyeSquint": ("EyeSquintLeft", "EyeSquintRight"),
    "EyeWide": ("EyeWideLeft", "EyeWideRight"),
    "CheekSquint": ("CheekSquintLeft", "CheekSquintRight"),
    "NoseSneer": ("NoseSneerLeft", "NoseSneerRight"),
    "MouthSmile": ("MouthSmileLeft", "MouthSmileRight"),
    "MouthFrown": ("MouthFrownLeft", "MouthFrownRight"),
    "MouthDimple": ("MouthDimpleLeft", "MouthDimpleRight"),
    "MouthStretch": ("MouthStretchLeft", "MouthStretchRight"),
    "MouthPress": ("MouthPressLeft", "MouthPressRight"),
    "MouthUpperUp": ("MouthUpperUpLeft", "MouthUpperUpRight"),
    "MouthShrugLower": ("MouthShrugLower",),
    "MouthRollLower": ("MouthRollLower",),
}
APERTURE_NAMES: tuple[str, ...] = ("JawOpen", "MouthClose", "MouthLowerDownLeft", "MouthLowerDownRight")

# Derived by scripts/emotion_calibration.py from the Live Link takes (see the module's docstring):
# mean weight of the emotion's takes minus the neutral take's, at intensity 1.
DERIVED_OFFSETS: dict[str, dict[str, float]] = {
    "sad": {"BrowInnerUp": 0.206, "BrowDown": 0.168, "BrowOuterUp": -0.004, "EyeSquint": 0.203,
            "EyeWide": 0.082, "CheekSquint": 0.036, "NoseSneer": 0.014, "MouthSmile": -0.057,
            "MouthFrown": 0.086, "MouthDimple": -0.004, "MouthStretch": 0.035, "MouthPress": 0.003,
            "MouthUpperUp": -0.004, "MouthShrugLower": 0.109, "MouthRollLower": 0.104},
    "angry": {"BrowInnerUp": 0.053, "BrowDown": 0.172, "BrowOuterUp": -0.004, "EyeSquint": 0.370,
              "EyeWide": 0.014, "CheekSquint": 0.189, "NoseSneer": 0.082, "MouthSmile": 0.272,
              "MouthFrown": -0.002, "MouthDimple": 0.052, "MouthStretch": 0.081, "MouthPress": 0.019,
              "MouthUpperUp": 0.057, "MouthShrugLower": 0.098, "MouthRollLower": 0.105},
    "afraid": {"BrowInnerUp": 0.130, "BrowDown": 0.134, "BrowOuterUp": 0.080, "EyeSquint": 0.150,
               "EyeWide": 0.298, "CheekSquint": -0.004, "NoseSneer": -0.043, "MouthSmile": -0.062,
               "MouthFrown": 0.093, "MouthDimple": 0.003, "MouthStretch": 0.075, "MouthPress": -0.006,
               "MouthUpperUp": -0.001, "MouthShrugLower": -0.028, "MouthRollLower": -0.015},
    "disgusted": {"BrowInnerUp": 0.087, "BrowDown": 0.161, "BrowOuterUp": 0.093, "EyeSquint": 0.304,
                  "EyeWide": 0.036, "CheekSquint": 0.233, "NoseSneer": 0.106, "MouthSmile": 0.382,
                  "MouthFrown": -0.002, "MouthDimple": 0.074, "MouthStretch": 0.097, "MouthPress": 0.015,
                  "MouthUpperUp": 0.120, "MouthShrugLower": 0.088, "MouthRollLower": 0.078},
}
# Derived values replaced, each for the reason given in the module's docstring.
OVERRIDES: dict[tuple[str, str], float] = {("angry", "MouthSmile"): 0.0, ("disgusted", "MouthSmile"): 0.0}
# Emotions without a take: set by hand (module docstring).
HAND_SET_OFFSETS: dict[str, dict[str, float]] = {
    "happy": {"MouthSmile": 0.40, "CheekSquint": 0.22, "EyeSquint": 0.15, "MouthDimple": 0.05,
              "BrowOuterUp": 0.04, "MouthFrown": -0.05},
    "surprised": {"BrowInnerUp": 0.40, "BrowOuterUp": 0.40, "EyeWide": 0.35, "BrowDown": -0.10,
                  "EyeSquint": -0.05},
}
# Hand-set for every emotion (module docstring): (jaw gain, head pitch offset rad (+ chin down),
# head energy, gesture energy), at intensity 1.
MOTION: dict[str, tuple[float, float, float, float]] = {
    "neutral": (1.00, 0.00, 1.00, 1.00),
    "happy": (1.15, -0.03, 1.20, 1.25),
    "sad": (0.75, 0.12, 0.60, 0.50),
    "angry": (1.25, 0.04, 1.30, 1.35),
    "surprised": (1.20, -0.06, 1.15, 1.20),
    "afraid": (1.05, 0.03, 0.80, 0.70),
    "disgusted": (0.90, -0.03, 0.90, 0.85),
}

JAW, PITCH, HEAD_ENERGY, GESTURE_ENERGY = range(NUM_BLENDSHAPES, NUM_BLENDSHAPES + 4)  # parameter indices
NUM_PARAMS = NUM_BLENDSHAPES + 4
_APERTURE = [ARKIT_INDEX[n] for n in APERTURE_NAMES]
_NECK = {name for name, _ in HEAD_CHAIN_SHARE} | {"HeadEnd"}
# Joints whose motion the gesture energy scales: the upper body and fingers, the neck chain excepted
# (it carries the head, which has its own gain).
GESTURE_JOINTS: tuple[str, ...] = tuple(j for j in UPPER_BODY_JOINTS if j not in _NECK)
_GESTURE_IDX = np.array([JOINT_INDEX[j] for j in GESTURE_JOINTS])


@dataclass(frozen=True)
class EmotionProfile:
    """What one emotion does at intensity 1."""

    offsets: dict[str, float]  # OFFSET_GROUPS name -> weight added to each of its channels
    jaw_gain: float  # gain on the lip aperture channels (speech's mouth movements)
    head_pitch_rad: float  # added to the head's pitch (positive: chin down)
    head_energy: float  # gain on the head's rotation about 0
    gesture_energy: float  # gain on the body's rotations about the relaxed standing pose


def _profiles() -> dict[str, EmotionProfile]:
    out = {}
    for e in EMOTIONS:
        offsets = dict(DERIVED_OFFSETS.get(e, HAND_SET_OFFSETS.get(e, {})))
        offsets.update({g: v for (emotion, g), v in OVERRIDES.items() if emotion == e})
        out[e] = EmotionProfile(offsets, *MOTION[e])
    return out


PROFILES: dict[str, EmotionProfile] = _profiles()


@dataclass(frozen=True)
class EmotionSetting:
    """An emotion and its intensity, validated (UmoError says what is wrong and what is accepted)."""

    emotion: str = NEUTRAL  # one of umo.constants.EMOTIONS (any case)
    intensity: float = DEFAULT_INTENSITY  # 0 (neutral) .. 1 (the profile in full)

    def __post_init__(self) -> None:
        name = self.emotion.strip().lower() if isinstance(self.emotion, str) else None
        if name not in EMOTIONS:
            raise UmoError(f"unknown emotion {_shown(self.emotion)}: choose one of {', '.join(EMOTIONS)}")
        x = self.intensity
        try:  # a bool is no number here; an int too large for a float is out of range anyway
            ok = not isinstance(x, bool) and isinstance(x, (int, float)) and 0.0 <= float(x) <= 1.0
        except OverflowError:
            ok = False
        if not ok:
            raise UmoError(f"emotion intensity must be a number from 0 to 1, got {_shown(x)}")
        object.__setattr__(self, "emotion", name)
        object.__setattr__(self, "intensity", float(x))

    @property
    def is_neutral(self) -> bool:
        return self.emotion == NEUTRAL or self.intensity == 0.0

    def __str__(self) -> str:
        return self.emotion if self.emotion == NEUTRAL else f"{self.emotion} {self.intensity:g}"


def _shown(value, limit: int = 60) -> str:
    """A user's value as an error message repeats it: its repr, cut short."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit] + "..."


def _neutral_params() -> np.ndarray:
    p = np.zeros(NUM_PARAMS)
    p[[JAW, HEAD_ENERGY, GESTURE_ENERGY]] = 1.0
    return p


NEUTRAL_PARAMS = _neutral_params()  # (P,): the identity


def params_for(setting: EmotionSetting) -> np.ndarray:
    """(P,) the layer's parameters for one setting: neutral + intensity x (profile - neutral)."""
    prof = PROFILES[setting.emotion]
    full = NEUTRAL_PARAMS.copy()
    for group, value in prof.offsets.items():
        full[[ARKIT_INDEX[n] for n in OFFSET_GROUPS[group]]] = value
    full[[JAW, PITCH, HEAD_ENERGY, GESTURE_ENERGY]] = (prof.jaw_gain, prof.head_pitch_rad, prof.head_energy,
                                                       prof.gesture_energy)
    if setting.is_neutral:
        return NEUTRAL_PARAMS.copy()
    return NEUTRAL_PARAMS + setting.intensity * (full - NEUTRAL_PARAMS)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class EmotionLayer:
    """The expression of a stream, frame after frame: explicit state, ``set`` / ``params`` / ``apply``.

    Causal: the parameters of a frame depend only on the settings given before it was asked for."""

    def __init__(self, setting: EmotionSetting | None = None, fps: float = MODEL_FPS, ramp_s: float = RAMP_S) -> None:
        if fps <= 0 or ramp_s < 0:
            raise ValueError(f"need fps > 0 and ramp_s >= 0, got {fps}, {ramp_s}")
        start = params_for(setting or EmotionSetting())
        self._from, self._to = start, start
        self._ramp = max(1, round(ramp_s * fps))  # frames of a ramp
        self._done = self._ramp  # frames of the current ramp made so far (a clip starts in its emotion)
        self.setting = setting or EmotionSetting()

    @property
    def is_identity(self) -> bool:
        """True while the layer changes nothing (neutral, or intensity 0, and no ramp under way)."""
        return self._done >= self._ramp and np.array_equal(self._to, NEUTRAL_PARAMS)

    def _at(self, done: np.ndarray) -> np.ndarray:
        w = _smoothstep(done / self._ramp)  # (n,)
        return self._from[None, :] + w[:, None] * (self._to - self._from)[None, :]

    def set(self, setting: EmotionSetting) -> None:
        """From the next frame on, ramp from the last frame's expression to ``setting``'s."""
        current = self._at(np.array([self._done]))[0]
        self._from, self._to, self._done = current, params_for(setting), 0
        self.setting = setting

    def params(self, n: int) -> np.ndarray:
        """(n, P) the parameters of the next n frames; the layer moves on by n frames."""
        done = self._done + 1 + np.arange(n)
        out = self._at(done)
        self._done = min(self._ramp, self._done + n)
        return out

    def apply(self, frames):
        """The next frames of the stream (an Animation, or umo.inference.Frames) with the expression
        applied: a new object (the input unchanged when the layer is the identity)."""
        n = frames.face.shape[0]
        if self.is_identity:
            self._done = min(self._ramp, self._done + n)
            return frames
        face, head, body = apply_params(frames.face, frames.head, frames.body, self.params(n))
        return dataclasses.replace(frames, face=face, head=head, body=body)


def apply_emotion(anim, setting: EmotionSetting | None = None,
                  changes: list[tuple[float, EmotionSetting]] = ()):
    """An Animation with an emotion: ``setting`` from the first frame, then each of ``changes``
    ((time s, setting), in time order) ramping in from the first frame at or after its time.
    Neutral throughout: the same animation, unchanged."""
    layer = EmotionLayer(setting, fps=anim.fps)
    if layer.is_identity and not changes:
        return anim
    n = anim.num_frames
    parts, at = [], 0
    for time_s, s in sorted(changes, key=lambda c: c[0]):
        k = min(n, max(at, math.ceil(time_s * anim.fps - 1e-9)))
        parts.append(layer.params(k - at))
        layer.set(s)
        at = k
    parts.append(layer.params(n - at))
    params = np.concatenate(parts)
    face, head, body = apply_params(anim.face, anim.head, anim.body, params)
    return anim.copy(face=face, head=head, body=body)


@lru_cache(maxsize=1)
def _rest_quats() -> np.ndarray:
    """(len(GESTURE_JOINTS), 4) the relaxed standing pose of the gesture joints, quaternions."""
    from umo.animator.gestures import rest_pose

    return _quat(rest_pose()[_GESTURE_IDX])


def apply_params(face: np.ndarray, head: np.ndarray, body: np.ndarray | None,
                 params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The layer's maths on one block of frames -> new (face, head, body); inputs are not changed.

    face: (T, 52) in [0, 1]; head: (T, 3) yaw, pitch, roll rad; body: (T, 75, 3) local axis-angle on
    the canonical skeleton with the head already in its neck chain (or None); params: (T, P).
    Frames whose parameters are neutral come back exactly as they were.
    """
    face, head = np.array(face, dtype=np.float64), np.array(head, dtype=np.float64)
    body = None if body is None else np.array(body, dtype=np.float64)
    rows = np.flatnonzero(np.any(params != NEUTRAL_PARAMS[None, :], axis=1))
    if rows.size == 0:
        return face, head, body
    p = params[rows]  # (R, P)
    f = face[rows]
    f[:, _APERTURE] *= p[:, JAW, None]
    face[rows] = np.clip(f + p[:, :NUM_BLENDSHAPES], 0.0, 1.0)
    old_head = head[rows]
    new_head = old_head * p[:, HEAD_ENERGY, None]
    new_head[:, 1] += p[:, PITCH]
    new_head = np.clip(new_head, -HEAD_MAX_RAD, HEAD_MAX_RAD)
    head[rows] = new_head
    if body is not None:
        # numpy quaternions, not scipy's Rotation: a live batch is a few frames, where the per-call
        # overhead is the cost (on the server's event loop, per 3-frame batch on the 2-core machine:
        # ~2.5 ms with scipy's Rotation, ~1 ms this way)
        b = body[rows]  # (R, 75, 3)
        g = p[:, GESTURE_ENERGY]
        moved = g != 1.0
        if moved.any():  # about the rest pose: R' = R_rest exp(g log(R_rest^-1 R))
            rest = _rest_quats()[None]  # (1, J, 4)
            rel = _rotvec(_qmul(_qconj(rest), _quat(b[moved][:, _GESTURE_IDX])))  # (m, J, 3)
            angle = np.linalg.norm(rel, axis=-1)
            scaled = np.minimum(angle * g[moved, None], np.maximum(angle, GESTURE_MAX_RAD))
            rel *= (scaled / np.maximum(angle, 1e-12))[..., None]
            sub = b[moved]
            sub[:, _GESTURE_IDX] = _rotvec(_qmul(rest, _quat(rel)))
            b[moved] = sub
        turned = np.any(new_head != old_head, axis=1)
        if turned.any():  # the neck chain holds share x the head (add_head_to_body): swap old for new
            k = int(turned.sum())
            shares = _head_shares(np.concatenate([old_head[turned], new_head[turned]]))  # (2k, 3, 4)
            idx = [JOINT_INDEX[n] for n, _ in HEAD_CHAIN_SHARE]
            sub = b[turned]
            sub[:, idx] = _rotvec(_qmul(_qmul(_quat(sub[:, idx]), _qconj(shares[:k])), shares[k:]))
            b[turned] = sub
        body[rows] = b
    return face, head, body


# --- rotations as unit quaternions (w, x, y, z), batched over any leading dimensions -----------------
def _quat(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4)."""
    theta = np.sqrt(np.einsum("...i,...i->...", rotvec, rotvec))[..., None]
    tiny = theta < 1e-6
    # sin(theta/2)/theta, with its series where theta is tiny
    k = np.where(tiny, 0.5 - theta * theta / 48.0, np.sin(0.5 * theta) / np.where(tiny, 1.0, theta))
    out = np.empty(rotvec.shape[:-1] + (4,))
    out[..., :1] = np.cos(0.5 * theta)
    out[..., 1:] = k * rotvec
    return out


def _rotvec(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 3) axis-angle with angle in [0, pi] (as scipy's as_rotvec)."""
    w = np.abs(q[..., :1])  # q and -q are the same rotation: take w >= 0
    v = np.where(q[..., :1] < 0, -q[..., 1:], q[..., 1:])
    n = np.sqrt(np.einsum("...i,...i->...", v, v))[..., None]
    small = n < 1e-9
    k = np.where(small, 2.0 / np.maximum(w, 1e-12), 2.0 * np.arctan2(n, w) / np.where(small, 1.0, n))
    return k * v


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a b (apply b, then a), broadcast: (a_j) (M_jk(b)) with M = _HAMILTON b."""
    return np.einsum("...j,...jk->...k", a, np.einsum("ijk,...k->...ji", _HAMILTON, b))


def _hamilton() -> np.ndarray:
    """(4, 4, 4) T with (a b)_i = sum_jk T_ijk a_j b_k, (w, x, y, z) order."""
    t = np.zeros((4, 4, 4))
    for i, j, k, sign in ((0, 0, 0, 1), (0, 1, 1, -1), (0, 2, 2, -1), (0, 3, 3, -1),
                          (1, 0, 1, 1), (1, 1, 0, 1), (1, 2, 3, 1), (1, 3, 2, -1),
                          (2, 0, 2, 1), (2, 1, 3, -1), (2, 2, 0, 1), (2, 3, 1, 1),
                          (3, 0, 3, 1), (3, 1, 2, 1), (3, 2, 1, -1), (3, 3, 0, 1)):
        t[i, j, k] = sign
    return t


_HAMILTON = _hamilton()


_CONJ = np.array([1.0, -1.0, -1.0, -1.0])


def _qconj(q: np.ndarray) -> np.ndarray:
    """The inverse of a unit quaternion."""
    return q * _CONJ


_SHARES = np.array([share for _, share in HEAD_CHAIN_SHARE])  # (3,) Neck, Neck1, Head


def _head_shares(head: np.ndarray) -> np.ndarray:
    """(n, 3) yaw, pitch, roll -> (n, 3, 4): per neck-chain joint the quaternion of its share of the
    head rotation, as add_head_to_body puts it there (R = Ry(yaw) Rx(pitch) Rz(roll), then share x
    its axis-angle)."""
    c, s = np.cos(0.5 * head).T, np.sin(0.5 * head).T  # (3, n): yaw (Y), pitch (X), roll (Z)
    w1, x1, y1, z1 = c[0] * c[1], c[0] * s[1], s[0] * c[1], -s[0] * s[1]  # Ry Rx
    w = w1 * c[2] - z1 * s[2]  # (Ry Rx) Rz
    v = np.stack([x1 * c[2] + y1 * s[2], y1 * c[2] - x1 * s[2], w1 * s[2] + z1 * c[2]], axis=-1)  # (n, 3)
    sign = np.where(w < 0, -1.0, 1.0)[:, None]  # the short way round, as the axis-angle takes it
    n = np.sqrt(np.einsum("ni,ni->n", v, v))[:, None]
    half = np.arctan2(n, np.abs(w)[:, None]) * _SHARES[None, :]  # (n, 3): share x half-angle
    axis = sign * v / np.where(n > 0, n, 1.0)
    out = np.empty((len(head), len(_SHARES), 4))
    out[..., 0] = np.cos(half)
    out[..., 1:] = np.sin(half)[..., None] * axis[:, None, :]
    return out


__all__ = ["EMOTIONS", "EmotionSetting", "EmotionProfile", "EmotionLayer", "PROFILES", "apply_emotion",
           "apply_params", "params_for", "RAMP_S"]
