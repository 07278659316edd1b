"""Rule-based co-speech gestures on the canonical skeleton: beats on accents, hand shapes, idle.

The body is animated in three layers:

1. **A gesture plan.** Speech is cut into phrases at pauses longer than ``pause_s``; each phrase gets
   a handedness (right, left, both), and the accents in it (stressed syllables / pitch accents) get
   beat strokes, kept where the hand has time to reach the stroke. A gesture unit is
   *preparation* (the hands rise from rest into gesture space in front of the torso), one or more
   *strokes* chained without retracting, each followed by a short *hold*, and a *retraction* to
   rest after the phrase (or to a lower "home" position when the next phrase starts too soon).
2. **Wrist targets and hand parameters** per hand, as keyframes joined by minimum-jerk segments
   (zero velocity at each key, bell-shaped speed between): wrist position in the chest (Spine3)
   frame, forearm twist (palm orientation), wrist flexion, and hand-shape weights.
3. **Joints**: an analytic two-bone IK for each arm (elbow swivel from a pole below, behind and
   outside the elbow), then every joint clamped to human ranges; spine and shoulders from the idle
   layer (breathing, sway, weight shifts) plus a small lean into the strokes. Neck and head stay at
   rest: the face animator owns head rotation, the integrator adds it to the Head joint.

**Stroke timing.** A stroke is one minimum-jerk segment of ``stroke_s`` seconds *centred on the
accent*: the hand's speed peaks at the accent time and the stroke ends ``stroke_s / 2`` after it.
Peak velocity is the point of a beat that speech prosody aligns with (Pouw et al. 2020, "Gesture-
speech physics": peaks in gesture velocity co-occur with peaks in the amplitude envelope / F0);
:func:`umo.speech.prosody.find_accents` puts an accent on a stressed vowel's loudest frame.

Arms are solved for the right side; the left side is the mirror image (the canonical skeleton is
exactly symmetric in X), see :func:`umo.animator.handshapes.mirror_rotvec`. Positions of a hand are
written in *lateral coordinates* ``(lateral, up, forward)`` cm in the Spine3 frame, where lateral
points away from the body's midline on that hand's side.

Dimension letters: T frames, J joints, S hand shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from umo.animator.handshapes import (
    NUM_SHAPES,
    SHAPE_NAMES,
    hand_joint_names,
    mirror_rotvec,
    one_hot,
    right_hand_rotvecs,
)
from umo.animator.idle import SPINE_JOINTS, SPINE_SHARE, IdleConfig, idle_motion
from umo.constants import JOINT_INDEX, NUM_JOINTS
from umo.skeleton import canonical_skeleton, matrix_to_rotvec, rest_root_position, rotvec_to_matrix
from umo.speech.prosody import Accent, Prosody, speech_spans
from umo.speech.units import Timing

HANDS = ("right", "left")
KINDS = ("down_beat", "sweep", "offer")  # stroke directions: down-beat, outward sweep, palm-up offer

# Right-arm rest frame (T-pose): the arm bones point -X; BEAT's right ForeArm flexes about +Y
# (its mean local rotation is ~64 deg about +Y), which brings the forearm forward (+Z).
_BONE = np.array([-1.0, 0.0, 0.0])  # bone direction of every right-arm segment at rest
_HINGE = np.array([0.0, 1.0, 0.0])  # elbow flexion axis at rest
_REST_FRAME = np.stack([_BONE, _HINGE, np.cross(_BONE, _HINGE)], axis=-1)  # (3, 3) columns


@dataclass
class GestureConfig:
    """Every tunable of the body animator. Distances cm, angles degrees, times seconds.

    Calibrated with ``python -m umo.animator.body_stats``. Two targets, kept apart (issue 14):

    - **placement** (``space_centre``, ``home_wrist``) against BEAT-wide statistics: the wrists of
      the mean pose of BEAT speaker 2's training set (``beatx_2_330_mean.npy``: 0.93 shoulder widths
      below the shoulders, 0.86 in front, 0.83 out from the midline), with the rules run on that
      speaker's *other* takes (2_scott_0_2_2, 0_3_3: speech and words, no motion). Ours: -0.98,
      0.81, 0.87 (ours/BEAT 1.05, 0.94, 1.04). The take we report on (2_scott_0_1_1) plays no part in placement.
    - **timing** (``stroke_cm``, ``stroke_s``, ``hand_probs``, ``beat_prob_base``, ``sympathy_*``,
      ``raised_drift_gain``) against the capture of BEAT take 2_scott_0_1_1 (figures, never its data;
      both at its 15 fps, speeds in shoulder widths/s): wrist speed p95 3.9, beats (speed peaks)
      170/min, median speed 1.15, 93 % of frames moving. The BEAT-wide statistics we have are pose
      means and standard deviations, with no time in them, so speeds, pauses and beat rate have no
      other real source here: **for timing that take is not held out** (``umo eval --suite real``
      says so under its tables).
    """

    idle: IdleConfig = field(default_factory=IdleConfig)

    # --- phrases and accent selection ---
    pause_s: float = 0.4  # a pause longer than this ends a phrase, seconds
    silence_loudness: float = 0.08  # prosody loudness (0..1) below which a frame is silence (no transcript)
    min_phrase_s: float = 0.15  # shorter speech runs (clicks, breaths) make no phrase, seconds
    min_stroke_gap_s: float = 0.5  # least time between two strokes of one hand, seconds
    beat_prob_base: float = 0.85  # probability of a stroke on an accent of strength 0
    beat_prob_strength: float = 0.6  # added probability per unit of accent strength
    hand_probs: tuple[float, float, float] = (0.2, 0.15, 0.65)  # right, left, both per phrase
    switch_prob: float = 0.25  # chance, at each accent, that the handedness is drawn again
    sympathy_raised: float = 0.35  # a raised hand echoes this fraction of the other hand's strokes
    sympathy_rest: float = 0.3  # ... and a hand at rest this fraction
    raised_drift_gain: float = 4.0  # a raised hand's micro-motion is this many times the idle one
    sympathy_smooth_s: float = 0.3  # motion slower than this window is not echoed, seconds
    kind_probs: tuple[float, float, float] = (0.5, 0.25, 0.25)  # down-beat, sweep, palm-up offer
    # Hand shapes per stroke kind, as probabilities over handshapes.SHAPE_NAMES
    # (relaxed, open, point, pinch, fist).
    beat_shape_probs: tuple[float, ...] = (0.35, 0.1, 0.15, 0.2, 0.2)
    sweep_shape_probs: tuple[float, ...] = (0.25, 0.75, 0.0, 0.0, 0.0)
    offer_shape_probs: tuple[float, ...] = (0.15, 0.85, 0.0, 0.0, 0.0)

    # --- timing of a gesture unit ---
    stroke_s: float = 0.26  # stroke duration; its speed peaks at the accent, the centre, seconds
    prep_s: float = 0.5  # preparation from rest into gesture space, seconds (at most)
    min_prep_s: float = 0.25  # a first stroke with less time to prepare is dropped, seconds
    hold_s: float = 0.12  # post-stroke hold, seconds
    min_recoil_s: float = 0.18  # least time to move back to the next stroke's start, seconds
    retract_delay_s: float = 0.15  # the hands stay up this long after the phrase ends, seconds
    retract_s: float = 0.6  # retraction to rest, seconds
    min_rest_s: float = 0.4  # a full retraction needs this long at rest before the next preparation
    home_s: float = 0.35  # a partial retraction (to home) needs this long at least, seconds

    # --- geometry, lateral coordinates (lateral, up, forward) in the Spine3 frame, cm ---
    # Spine3 sits 29 cm above the hips; the shoulder (Arm) joints at (17.5, 10.5, 2.0).
    rest_wrist: tuple[float, float, float] = (23.0, -41.5, 4.0)  # beside the hip, elbow bent ~20 deg
    home_wrist: tuple[float, float, float] = (19.0, -28.0, 22.0)  # partial retraction, low in front
    space_centre: tuple[float, float, float] = (27.0, -12.0, 33.0)  # centre of gesture space (BEAT-wide placement)
    space_jitter: tuple[float, float, float] = (6.0, 5.0, 4.0)  # spread of stroke centres
    stroke_cm: float = 22.0  # stroke length for an accent of strength 1
    min_amp_frac: float = 0.5  # stroke length at strength 0, as a fraction of stroke_cm
    hold_rebound: float = 0.15  # during the hold the hand springs back this fraction of the stroke
    sustain_sag_cm: float = 5.0  # a raised hand sinks this far while it waits for the phrase to end
    elbow_pole: tuple[float, float, float] = (0.5, -1.0, -0.35)  # elbow swivel direction (lateral coords)
    torso_half_width: float = 16.0  # hands are kept outside an ellipse of these semi-axes, cm
    torso_half_depth: float = 13.0

    # --- palm and wrist, degrees ---
    # Forearm twist from neutral (palm facing the midline when the elbow bends forward); positive
    # pronates (palm turns down), negative supinates (palm up).
    twist_rest: float = 5.0
    twist_beat: tuple[float, float] = (35.0, 70.0)  # down-beats: palm down and in
    twist_sweep: tuple[float, float] = (55.0, 80.0)  # sweeps: palm down
    twist_offer: tuple[float, float] = (-80.0, -60.0)  # offers: palm up
    wrist_flick: float = 14.0  # wrist extension before a down-beat, flexion after
    twist_smooth_s: float = 0.1  # Gaussian smoothing of forearm twist and wrist flexion, seconds
    shape_smooth_s: float = 0.08  # Gaussian smoothing of hand-shape changes, seconds
    clavicle_lift_per_cm: float = 0.2  # shoulder elevation per cm the wrist is above the rest, deg/cm
    clavicle_protract_per_cm: float = 0.15  # shoulder protraction per cm of forward reach, deg/cm
    torso_follow: float = 2.5  # spine lean/turn into the gesturing hands at full reach, deg

    # --- human limits, degrees ---
    elbow_range: tuple[float, float] = (8.0, 150.0)  # flexion; never hyperextended
    twist_range: tuple[float, float] = (-85.0, 85.0)  # supination .. pronation from neutral
    wrist_flex_limit: float = 70.0  # flexion/extension
    wrist_dev_limit: float = 30.0  # radial/ulnar deviation
    clavicle_elevation_range: tuple[float, float] = (-5.0, 20.0)
    clavicle_protraction_range: tuple[float, float] = (-10.0, 15.0)

    def __post_init__(self) -> None:
        for name in ("hand_probs", "kind_probs", "beat_shape_probs", "sweep_shape_probs", "offer_shape_probs"):
            p = np.asarray(getattr(self, name), dtype=float)
            if np.any(p < 0) or not np.isclose(p.sum(), 1.0):
                raise ValueError(f"GestureConfig.{name} must be non-negative and sum to 1, got {tuple(p)}")
        for name in ("beat_shape_probs", "sweep_shape_probs", "offer_shape_probs"):
            if len(getattr(self, name)) != NUM_SHAPES:
                raise ValueError(f"GestureConfig.{name} needs one probability per hand shape ({NUM_SHAPES})")
        if self.stroke_s <= 0 or self.prep_s < self.min_prep_s or self.min_prep_s <= 0:
            raise ValueError("GestureConfig: need stroke_s > 0 and prep_s >= min_prep_s > 0")
        if self.min_stroke_gap_s < self.stroke_s + self.min_recoil_s:
            raise ValueError(
                "GestureConfig.min_stroke_gap_s must be at least stroke_s + min_recoil_s "
                f"({self.stroke_s + self.min_recoil_s:.2f} s), got {self.min_stroke_gap_s}"
            )
        lo, hi = self.elbow_range
        if not 0 <= lo < hi <= 150:
            raise ValueError(f"GestureConfig.elbow_range must lie in [0, 150] degrees, got {self.elbow_range}")


@dataclass(frozen=True)
class Stroke:
    """One planned beat stroke (what the tests and benchmarks check against)."""

    time: float  # accent time = the stroke's peak speed, seconds
    hands: str  # "right", "left" or "both"
    kind: str  # one of KINDS
    shape: str  # hand shape during the stroke
    strength: float  # accent strength, 0..1
    amplitude_cm: float  # stroke length

    def uses(self, hand: str) -> bool:
        return self.hands in (hand, "both")


@dataclass
class BodyTrack:
    rotations: np.ndarray  # (T, 75, 3) local axis-angle, radians, on canonical_skeleton()
    root_pos: np.ndarray  # (T, 3) cm: the rest root position, constant
    fps: float
    strokes: list[Stroke] = field(default_factory=list)  # the beats, in time order
    phrases: list[tuple[float, float]] = field(default_factory=list)  # (start, end) seconds

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]


_REACH_SOFT_CM = 5.0  # the arm's reach saturates over its last 5 cm
_MIN_HOLD_S = 0.04  # a chained stroke's hold is never shorter than this, seconds


@dataclass
class _Key:
    """A keyframe of one hand: where the wrist is and how the hand is held at time ``t``."""

    t: float
    pos: np.ndarray  # (3,) lateral coordinates, cm
    twist: float  # deg
    flex: float  # wrist flexion, deg
    shape: np.ndarray  # (S,) hand-shape weights


# --- phrases ------------------------------------------------------------------------------------
def find_phrases(timing: Timing | None, prosody: Prosody, cfg: GestureConfig = GestureConfig()) -> list[tuple[float, float]]:
    """Gesture phrases: speech between pauses longer than ``cfg.pause_s`` (sorted (start, end) seconds)."""
    return speech_spans(timing, prosody, cfg.pause_s, cfg.silence_loudness, cfg.min_phrase_s)


# --- trajectories ---------------------------------------------------------------------------------
def _minimum_jerk(s: np.ndarray) -> np.ndarray:
    """0..1 -> 0..1 with zero velocity and acceleration at both ends (Flash & Hogan 1985)."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def _render(keys: list[_Key], times: np.ndarray) -> dict[str, np.ndarray]:
    """Keyframes -> per-frame values, minimum-jerk between consecutive keys, held outside them."""
    kt = np.array([k.t for k in keys])
    seg = np.clip(np.searchsorted(kt, times, side="right") - 1, 0, len(keys) - 1)  # (T,)
    nxt = np.minimum(seg + 1, len(keys) - 1)
    span = np.maximum(kt[nxt] - kt[seg], 1e-9)
    w = np.where(nxt > seg, _minimum_jerk((times - kt[seg]) / span), 0.0)[:, None]  # (T, 1)
    out = {}
    for name in ("pos", "twist", "flex", "shape"):
        vals = np.array([np.atleast_1d(getattr(k, name)) for k in keys], dtype=np.float64)  # (K, D)
        out[name] = vals[seg] + w * (vals[nxt] - vals[seg])
    return out


class _HandPlanner:
    """Keyframes of one hand, built stroke by stroke in time order."""

    def __init__(self, cfg: GestureConfig):
        self.cfg = cfg
        self.rest = _Key(0.0, np.array(cfg.rest_wrist), cfg.twist_rest, 0.0, one_hot("relaxed"))
        self.keys: list[_Key] = [self.rest]
        self.raised = False  # in a gesture unit (not at rest or home)
        self.phrase_end = 0.0  # end of the phrase of the hand's last stroke
        self.stroke_end = 0.0  # end of the hand's last stroke

    @property
    def free_from(self) -> float:
        return self.keys[-1].t

    def _add(self, key: _Key) -> None:
        if key.t > self.keys[-1].t + 1e-6:
            self.keys.append(key)

    def _lowered(self, key: _Key, t: float, target: np.ndarray, mix: float) -> _Key:
        relaxed = one_hot("relaxed")
        return _Key(t, target.copy(), key.twist * (1 - mix) + self.cfg.twist_rest * mix, 0.0,
                    key.shape * (1 - mix) + relaxed * mix)

    def can_stroke(self, t_start: float, same_phrase: bool) -> bool:
        """Is there time to reach a stroke starting at ``t_start``?"""
        cfg = self.cfg
        if self.raised and same_phrase:
            # A chained stroke shortens the previous hold if the recoil needs the time.
            return t_start - self.stroke_end >= cfg.min_recoil_s + _MIN_HOLD_S
        # A new unit: a raised hand holds until its phrase ends, then prepares.
        ready = max(self.free_from, self.phrase_end + cfg.retract_delay_s) if self.raised else self.free_from
        return t_start - ready >= cfg.min_prep_s

    def _retract_before(self, next_prep: float | None) -> None:
        """End the current unit: hold, sink, then retract to rest, or to home if time is short."""
        cfg = self.cfg
        last = self.keys[-1]
        sustain_end = max(last.t, self.phrase_end + cfg.retract_delay_s)
        sag = last.pos + np.array([0.0, -cfg.sustain_sag_cm, 0.0])
        if sustain_end > last.t + 0.05:
            self._add(_Key(sustain_end, sag, last.twist, 0.0, last.shape))
        start = self.keys[-1]
        gap = np.inf if next_prep is None else next_prep - start.t
        if gap >= cfg.retract_s + cfg.min_rest_s:
            self._add(self._lowered(start, start.t + cfg.retract_s, np.array(cfg.rest_wrist), 1.0))
        elif gap >= cfg.home_s:
            dur = min(cfg.retract_s, gap - 0.05)
            self._add(self._lowered(start, start.t + dur, np.array(cfg.home_wrist), 0.5))
        self.raised = False

    def stroke(self, t_acc: float, start: _Key, end: _Key, hold: _Key, phrase_end: float, same_phrase: bool) -> None:
        cfg = self.cfg
        t0 = t_acc - cfg.stroke_s / 2
        if not (self.raised and same_phrase):
            if self.raised:
                self._retract_before(t0 - cfg.prep_s)
            prep_start = max(self.free_from, t0 - cfg.prep_s)
            last = self.keys[-1]
            self._add(_Key(prep_start, last.pos, last.twist, last.flex, last.shape))
        else:
            prev_hold = self.keys[-1]  # a chained stroke shortens the previous hold if the recoil needs it
            prev_hold.t = max(self.stroke_end + _MIN_HOLD_S, min(prev_hold.t, t0 - cfg.min_recoil_s))
        self._add(start)
        self._add(end)
        self._add(hold)
        self.stroke_end = end.t
        self.raised = True
        self.phrase_end = phrase_end

    def drop(self) -> None:
        """End the unit early (handedness changed within the phrase): retract after the hold."""
        if self.raised:
            self.phrase_end = self.stroke_end

    def finish(self) -> list[_Key]:
        if self.raised:
            self._retract_before(None)
        return self.keys


def _select_strokes(phrases: list[tuple[float, float]], accents: list[Accent], cfg: GestureConfig,
                    rng: np.random.Generator, duration: float) -> tuple[list[Stroke], dict[str, list[_Key]]]:
    """Choose the accents that get a stroke and build each hand's keyframes."""
    planners = {h: _HandPlanner(cfg) for h in HANDS}
    strokes: list[Stroke] = []
    half = cfg.stroke_s / 2
    centre = np.array(cfg.space_centre)
    jitter = np.array(cfg.space_jitter)
    for pi, (pa, pb) in enumerate(phrases):
        in_phrase = [a for a in accents if pa - 0.1 <= a.time <= pb + 0.1]
        if not in_phrase:
            continue
        hands = ("right", "left", "both")[rng.choice(3, p=cfg.hand_probs)]
        phrase_pos = centre + rng.uniform(-1, 1, 3) * jitter
        first = {h: True for h in HANDS}  # the hand's next stroke starts a new gesture unit
        for acc in in_phrase:
            if rng.random() < cfg.switch_prob:
                new = ("right", "left", "both")[rng.choice(3, p=cfg.hand_probs)]
                for h in HANDS:
                    if hands in (h, "both") and new not in (h, "both"):
                        planners[h].drop()  # this hand's unit ends after its hold
                        first[h] = True
                hands = new
            used = [h for h in HANDS if hands in (h, "both")]
            p = min(1.0, cfg.beat_prob_base + cfg.beat_prob_strength * acc.strength)
            go = rng.random() < p
            # Draw the stroke's look even when it is skipped, so one choice never shifts the others.
            kind = KINDS[rng.choice(3, p=cfg.kind_probs)]
            shape_p = {"down_beat": cfg.beat_shape_probs, "sweep": cfg.sweep_shape_probs,
                       "offer": cfg.offer_shape_probs}[kind]
            shape = SHAPE_NAMES[rng.choice(NUM_SHAPES, p=shape_p)]
            amp = cfg.stroke_cm * (cfg.min_amp_frac + (1 - cfg.min_amp_frac) * np.clip(acc.strength, 0, 1))
            amp *= rng.uniform(0.85, 1.15)
            c = 0.6 * phrase_pos + 0.4 * (centre + rng.uniform(-1, 1, 3) * jitter)
            twist_range = {"down_beat": cfg.twist_beat, "sweep": cfg.twist_sweep, "offer": cfg.twist_offer}[kind]
            twist = rng.uniform(*twist_range)
            if shape == "point":
                twist = max(twist, 55.0)  # a pointing beat is made palm down
            t0, t1 = acc.time - half, acc.time + half
            if not go or t0 < 0 or t1 > duration:
                continue
            if not all(planners[h].can_stroke(t0, same_phrase=not first[h]) for h in used):
                continue
            if strokes and any(strokes[-1].uses(h) and acc.time - strokes[-1].time < cfg.min_stroke_gap_s for h in used):
                continue
            start_pos, end_pos = _stroke_path(kind, c, amp)
            sh = one_hot(shape)
            flick = cfg.wrist_flick if kind == "down_beat" else 0.0
            wflex_offer = -10.0 if kind == "offer" else 0.0
            k_start = _Key(t0, start_pos, twist, -flick + wflex_offer, sh)
            k_end = _Key(t1, end_pos, twist, 0.5 * flick + wflex_offer, sh)
            hold_pos = end_pos + cfg.hold_rebound * (start_pos - end_pos)
            for h in used:
                k_hold = _Key(t1 + cfg.hold_s, hold_pos, twist, 0.0, sh)
                planners[h].stroke(acc.time, k_start, k_end, k_hold, pb, same_phrase=not first[h])
                first[h] = False
            strokes.append(Stroke(acc.time, hands, kind, shape, float(acc.strength), float(amp)))
    return strokes, {h: planners[h].finish() for h in HANDS}


def _stroke_path(kind: str, c: np.ndarray, amp: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of a stroke around centre ``c`` (lateral coordinates), cm."""
    if kind == "down_beat":
        d0, d1 = (0.0, 0.55, -0.1), (0.0, -0.45, 0.1)
    elif kind == "sweep":
        d0, d1 = (-0.35, 0.1, 0.05), (0.65, -0.1, 0.1)
    else:  # offer: from near the body forward and a little out, palm up
        d0, d1 = (-0.15, 0.15, -0.45), (0.2, -0.05, 0.45)
    return c + amp * np.array(d0), c + amp * np.array(d1)


# --- arms -----------------------------------------------------------------------------------------
def _smooth_hand(tr: dict[str, np.ndarray], fps: float, cfg: GestureConfig) -> dict[str, np.ndarray]:
    """Soften palm turns and hand-shape changes, which keyframes may ask for in a short recoil.

    The wrist path is left alone: the stroke timing lives there.
    """
    from scipy.ndimage import gaussian_filter1d

    out = dict(tr)
    for name, sigma_s in (("twist", cfg.twist_smooth_s), ("flex", cfg.twist_smooth_s), ("shape", cfg.shape_smooth_s)):
        if sigma_s > 0 and len(tr[name]) > 1:
            out[name] = gaussian_filter1d(tr[name], sigma_s * fps, axis=0, mode="nearest")
    return out


def _raised(pos: np.ndarray, cfg: GestureConfig) -> np.ndarray:
    """(T, 1) how far a hand is lifted into gesture space: 0 at rest .. 1 from 15 cm above it."""
    return np.clip((pos[:, 1] - cfg.rest_wrist[1]) / 15.0, 0.0, 1.0)[:, None]


def _sympathetic(pos: dict[str, np.ndarray], fps: float, cfg: GestureConfig) -> dict[str, np.ndarray]:
    """Each hand echoes the other's fast motion, scaled: speakers' hands are rarely independent.

    pos: hand -> (T, 3) wrist targets, lateral coordinates (so the echo is a mirror image). The echo
    is the other hand's motion minus its ~0.3 s moving average: strokes and recoils, not placement.
    A hand at rest echoes less than a raised one (``sympathy_rest`` .. ``sympathy_raised``).
    """
    from scipy.ndimage import gaussian_filter1d

    sigma = max(cfg.sympathy_smooth_s * fps, 1e-3)
    fast = {h: p - gaussian_filter1d(p, sigma, axis=0, mode="nearest") for h, p in pos.items()}
    out = {}
    for h, other in (("right", "left"), ("left", "right")):
        k = cfg.sympathy_rest + (cfg.sympathy_raised - cfg.sympathy_rest) * _raised(pos[h], cfg)
        out[h] = pos[h] + k * fast[other]
    return out


def _keep_out_of_torso(pos: np.ndarray, cfg: GestureConfig) -> np.ndarray:
    """Push wrist targets (T, 3 lateral coords) out of the torso's elliptic cross-section."""
    lat, fwd = pos[:, 0], pos[:, 2]
    r = np.sqrt((lat / cfg.torso_half_width) ** 2 + (fwd / cfg.torso_half_depth) ** 2)  # (T,)
    scale = np.where(r < 1.0, 1.0 / np.maximum(r, 1e-6), 1.0)
    out = pos.copy()
    out[:, 0] = lat * scale
    out[:, 2] = fwd * scale
    return out


def _arm_geometry():
    sk = canonical_skeleton()
    off = {n: sk.offsets[JOINT_INDEX[f"Right{n}"]] for n in ("Shoulder", "Arm", "ForeArm", "Hand")}
    return off["Shoulder"], off["Arm"], float(np.linalg.norm(off["ForeArm"])), float(np.linalg.norm(off["Hand"]))


def _solve_right_arm(wrist: np.ndarray, clavicle: np.ndarray, twist_deg: np.ndarray, flex_deg: np.ndarray,
                     cfg: GestureConfig) -> dict[str, np.ndarray]:
    """Analytic two-bone IK of the right arm.

    wrist: (T, 3) target in the Spine3 frame (right-arm space: x = -lateral), cm;
    clavicle: (T, 3) Shoulder local rotation; twist_deg, flex_deg: (T,) forearm twist and wrist flexion
    -> local rotations (T, 3) for Shoulder, Arm, ForeArm, Hand and the elbow flexion (T,) degrees.
    """
    off_sh, off_arm, l1, l2 = _arm_geometry()
    rc = rotvec_to_matrix(clavicle)  # (T, 3, 3)
    root = off_sh + rc @ off_arm  # (T, 3) arm root in the Spine3 frame
    v = np.einsum("tji,tj->ti", rc, wrist - root)  # (T, 3) target in the clavicle frame
    pole_lat = np.array(cfg.elbow_pole, dtype=float)
    pole = np.einsum("tji,j->ti", rc, pole_lat * np.array([-1.0, 1.0, 1.0]))  # (T, 3)

    lo, hi = np.radians(cfg.elbow_range)
    d_min = np.sqrt(l1**2 + l2**2 + 2 * l1 * l2 * np.cos(hi))
    d_max = np.sqrt(l1**2 + l2**2 + 2 * l1 * l2 * np.cos(lo))
    dist = np.linalg.norm(v, axis=1)
    n = v / np.maximum(dist, 1e-9)[:, None]
    # Reach saturates smoothly (tanh) over the last stretch, so the elbow slows into its limit
    # instead of stopping dead at it (a velocity jump).
    knee = d_max - _REACH_SOFT_CM
    d = np.where(dist > knee, knee + _REACH_SOFT_CM * np.tanh((dist - knee) / _REACH_SOFT_CM), dist)
    d = np.clip(d, d_min, d_max)
    elbow = np.arccos(np.clip((d**2 - l1**2 - l2**2) / (2 * l1 * l2), -1.0, 1.0))  # (T,) flexion from straight
    alpha = np.arccos(np.clip((l1**2 + d**2 - l2**2) / (2 * l1 * d), -1.0, 1.0))  # shoulder-to-upper-arm angle
    m = pole - np.sum(pole * n, axis=1, keepdims=True) * n
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)
    u = np.cos(alpha)[:, None] * n + np.sin(alpha)[:, None] * m  # upper-arm direction
    f = (d[:, None] * n - l1 * u) / l2  # forearm direction
    h = np.cross(u, f)
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-9)  # elbow hinge axis
    frame = np.stack([u, h, np.cross(u, h)], axis=-1)  # (T, 3, 3) columns
    arm = frame @ _REST_FRAME.T  # maps the rest bone/hinge to the solved ones

    twist = np.radians(np.clip(twist_deg, *cfg.twist_range))
    # Pronation turns the palm down; about the bone axis (-X) it is a negative angle (checked by FK
    # in the tests: twist > 0 gives a downward palm with the forearm forward).
    fore = rotvec_to_matrix(_HINGE * elbow[:, None]) @ rotvec_to_matrix(-_BONE * twist[:, None])
    flex = np.radians(np.clip(flex_deg, -cfg.wrist_flex_limit, cfg.wrist_flex_limit))
    hand = np.zeros((len(flex), 3))
    hand[:, 2] = flex  # wrist flexion about +Z, like the fingers
    return {
        "Shoulder": clavicle,
        "Arm": matrix_to_rotvec(arm),
        "ForeArm": matrix_to_rotvec(fore),
        "Hand": hand,
        "elbow_deg": np.degrees(elbow),
    }


def _clavicle(pos: np.ndarray, breath_deg: np.ndarray, cfg: GestureConfig) -> np.ndarray:
    """(T, 3) right Shoulder local rotation: lift with the hand's height and breathing, protract
    with forward reach. Elevation of the right clavicle is about -Z, protraction about +Y."""
    rest = np.array(cfg.rest_wrist)
    elev = cfg.clavicle_lift_per_cm * np.maximum(pos[:, 1] - rest[1] - 15.0, 0.0) + breath_deg
    prot = cfg.clavicle_protract_per_cm * (pos[:, 2] - rest[2])
    elev = np.clip(elev, *cfg.clavicle_elevation_range)
    prot = np.clip(prot, *cfg.clavicle_protraction_range)
    out = np.zeros((len(pos), 3))
    out[:, 2] = -np.radians(elev)
    out[:, 1] = np.radians(prot)
    return out


def rest_pose(cfg: GestureConfig = GestureConfig()) -> np.ndarray:
    """(75, 3) the relaxed standing pose: arms down by the sides, palms to the thighs, fingers curled."""
    rot = np.zeros((NUM_JOINTS, 3))
    pos = np.array([cfg.rest_wrist])
    arm = _solve_right_arm(pos * np.array([-1.0, 1.0, 1.0]), np.zeros((1, 3)), np.array([cfg.twist_rest]),
                           np.zeros(1), cfg)
    fingers = right_hand_rotvecs(one_hot("relaxed")[None])[0]
    for side, conv in (("Right", lambda x: x), ("Left", mirror_rotvec)):
        for seg in ("Shoulder", "Arm", "ForeArm", "Hand"):
            rot[JOINT_INDEX[side + seg]] = conv(arm[seg][0])
        for name, r in zip(hand_joint_names(side), fingers):
            rot[JOINT_INDEX[name]] = conv(r)
    return rot


# --- the animator ---------------------------------------------------------------------------------
def animate_body(timing: Timing | None, prosody: Prosody, accents: list[Accent], num_frames: int, fps: float,
                 rng: np.random.Generator, cfg: GestureConfig = GestureConfig()) -> BodyTrack:
    """Beat gestures, hand shapes and idle motion for an utterance.

    timing: words/phones (optional; phrases come from prosody without it); prosody: at ``fps``;
    accents: where strokes may land -> BodyTrack with (T, 75, 3) rotations, T = num_frames.
    Deterministic for a given rng state.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    times = np.arange(num_frames) / fps
    duration = num_frames / fps
    phrases = find_phrases(timing, prosody, cfg)
    strokes, keys = _select_strokes(phrases, accents, cfg, rng, duration)
    idle = idle_motion(num_frames, fps, rng, cfg.idle)

    rendered = {h: _smooth_hand(_render(keys[h], times), fps, cfg) for h in HANDS}
    pos = _sympathetic({h: rendered[h]["pos"] for h in HANDS}, fps, cfg)
    rot = np.zeros((num_frames, NUM_JOINTS, 3))
    forward = {}
    for hi, hand in enumerate(HANDS):
        side = "Right" if hand == "right" else "Left"
        conv = (lambda x: x) if hand == "right" else mirror_rotvec
        tr = rendered[hand]
        # Micro-motion; a raised hand wanders more than one hanging at rest.
        drift = idle.hand_drift_cm[:, hi] * (1.0 + (cfg.raised_drift_gain - 1.0) * _raised(pos[hand], cfg))
        p = _keep_out_of_torso(pos[hand] + drift, cfg)  # (T, 3) lateral coords
        forward[hand] = p[:, 2] - cfg.rest_wrist[2]
        clav = _clavicle(p, idle.clavicle_elevation_deg[:, hi], cfg)
        arm = _solve_right_arm(p * np.array([-1.0, 1.0, 1.0]), clav, tr["twist"][:, 0], tr["flex"][:, 0], cfg)
        for seg in ("Shoulder", "Arm", "ForeArm", "Hand"):
            rot[:, JOINT_INDEX[side + seg]] = conv(arm[seg])
        fingers = right_hand_rotvecs(tr["shape"], idle.finger_curl_deg[:, hi])  # (T, 15, 3)
        for f, name in enumerate(hand_joint_names(side)):
            rot[:, JOINT_INDEX[name]] = conv(fingers[:, f])

    # The torso leans into forward reaches and turns away from the reaching hand's shoulder.
    reach = np.clip((forward["right"] + forward["left"]) / 50.0, 0.0, 1.5)
    turn = np.clip((forward["right"] - forward["left"]) / 25.0, -1.0, 1.0)
    spine = idle.spine.copy()  # (T, 4, 3)
    spine[:, :, 0] += np.radians(cfg.torso_follow) * reach[:, None] * SPINE_SHARE
    spine[:, :, 1] += np.radians(cfg.torso_follow) * turn[:, None] * SPINE_SHARE
    for k, name in enumerate(SPINE_JOINTS):
        rot[:, JOINT_INDEX[name]] = spine[:, k]
    root = np.tile(rest_root_position(), (num_frames, 1))
    return BodyTrack(rotations=rot, root_pos=root, fps=fps, strokes=strokes, phrases=phrases)
