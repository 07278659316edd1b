"""The rule-based face animator: mouth, eyes, brows and head from timed phones and prosody.

It is the teacher of the synthetic training corpus and the fallback when a transcript is known, so
it aims for the motion a viewer expects, in the value ranges real ARKit captures show:

- **mouth**: phones -> visemes (``umo.animator.visemes``) blended with Cohen–Massaro dominance
  functions on a fine time grid, so each phone's shape depends on its neighbours; lips round ahead
  of rounded vowels; the jaw opens wider when the voice is louder; a hard constraint closes the lips
  on every P/B/M; silence relaxes to a lightly closed rest pose. Without a transcript, the jaw
  follows loudness and voicing (the loudness-driven baseline);
- **blinks**: a renewal process with a refractory period, more likely at phrase boundaries and
  just after accents; fast close, slower open; the lids also follow downward gaze;
- **saccades**: gaze alternates between the listener and look-aways, fixations of 0.5-3 s, moves
  of 30-60 ms; the EyeLook* channels are derived from the eye rotations with the sign convention
  and scale of real Live Link captures;
- **brows**: raised on pitch accents and high pitch, lowered on low-pitch emphasis;
- **head**: nods on accents through a damped second-order response, slow drift, small yaw/roll
  shifts at phrase starts, and a share of each gaze shift.

Figures marked "calibrated" were set from the real-vs-ours table that ``python -m
umo.animator.calibration`` prints (10 Live Link captures, 60 fps); the value given is the real figure.

Dimension letters: T output frames, F fine-grid samples (``fps * k`` Hz, k >= 1), C = 52 channels.
Angles: radians. Pitch positive = looking / tilting down, as the eye pitch of the Live Link captures
(it rises with EyeLookDown); yaw positive = towards the character's right (it rises with
EyeLookInLeft and EyeLookOutRight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from umo.animation import Animation
from umo.animator.visemes import JAW_CHANNEL_NAMES, REST, viseme_segments
from umo.constants import ARKIT_INDEX, EYE_NAMES, NUM_BLENDSHAPES
from umo.speech.prosody import Accent, Prosody, find_accents, speech_spans
from umo.speech.units import VOWELS, Timing

_I = ARKIT_INDEX


@dataclass
class FaceConfig:
    # --- mouth: coarticulation ------------------------------------------------------------------
    fine_rate_hz: float = 100.0  # Hz: at least this rate for blending (rounded up to a multiple of fps)
    coarticulation_scale: float = 1.0  # multiplies every viseme time constant: >1 blends more
    core_fraction: float = 0.5  # share of each segment, around its centre, at full dominance
    rounding_anticipation_s: float = 0.10  # s: lip onset constant of rounded visemes (lips round ~0.1 s ahead)
    rest_dominance: float = 0.005  # background pull towards the rest pose where no phone is near
    mouth_smooth_s: float = 0.010  # s: zero-phase smoothing of the blended mouth (muscle low-pass)
    stressed_jaw_gain: float = 1.10  # jaw scale on vowels with primary stress (when stress is known)
    unstressed_jaw_gain: float = 0.85  # jaw scale on unstressed vowels
    # --- mouth: loudness ---------------------------------------------------------------------------
    jaw_loudness_floor: float = 0.55  # jaw scale at loudness 0
    jaw_loudness_gain: float = 0.60  # added jaw scale at loudness 1 (louder -> wider)
    loudness_smooth_s: float = 0.040  # s: zero-phase smoothing of loudness before it scales the jaw
    # --- mouth: bilabial closure (hard constraint) ---------------------------------------------------
    closure_hold_fraction: float = 0.6  # share of a P/B/M, around its centre, with the lips fully shut
    closure_min_hold_frames: float = 0.6  # the shut span is at least +-this many output frames
    closure_ramp_s: float = 0.030  # s: cosine ramp into and out of the shut span
    closure_jaw_max: float = 0.12  # JawOpen cap while the lips are shut
    closure_press: float = 0.30  # MouthPress floor while the lips are shut
    # --- mouth: audio-only fallback ------------------------------------------------------------------
    audio_jaw_max: float = 0.42  # JawOpen added at loudness 1 (about an open vowel)
    audio_jaw_gamma: float = 1.5  # loudness exponent: quiet frames open the jaw little
    audio_unvoiced_scale: float = 0.6  # jaw scale on unvoiced frames (fricatives and bursts)
    audio_smooth_s: float = 0.035  # s: zero-phase smoothing of the loudness envelope
    # --- blinks -----------------------------------------------------------------------------------------
    blink_rate_per_min: float = 18.0  # calibrated: real 18.5 /min (EyeBlinkLeft crossing 0.5)
    blink_refractory_s: float = 0.6  # s: no second blink this soon after one
    blink_close_s: float = 0.070  # s: lid closing time (fast)
    blink_hold_s: float = 0.020  # s: fully closed
    blink_open_s: float = 0.130  # s: lid opening time (slower; calibrated: real 83 ms above 0.5)
    blink_peak_min: float = 0.80  # peak EyeBlink of a blink, drawn uniformly in [min, max]
    blink_peak_max: float = 1.00
    blink_eye_lag_s: float = 0.010  # s: at most this lag between the two eyes
    blink_phrase_boost: float = 2.0  # extra hazard (x base) in the window around a phrase boundary
    blink_phrase_window_s: float = 0.5  # s: window after a phrase boundary
    blink_accent_boost: float = 1.0  # extra hazard (x base) shortly after an accent
    blink_accent_delay_s: tuple[float, float] = (0.1, 0.5)  # s: window after an accent
    lid_follow_gain: float = 2.5  # EyeBlink per radian of downward gaze beyond lid_follow_start_rad
    lid_follow_start_rad: float = 0.03  # (real: EyeBlink ~0.33 at 0.1-0.2 rad down)
    squint_rest: float = 0.05  # EyeSquint at rest (real captures rest near 0.2: a tracking offset)
    squint_smile_gain: float = 0.35  # EyeSquint per unit MouthSmile (a smile narrows the eyes)
    cheek_squint_smile_gain: float = 0.25  # CheekSquint per unit MouthSmile
    # --- saccades -----------------------------------------------------------------------------------------
    fixation_median_s: float = 1.2  # s: median fixation (log-normal), clipped to [min, max]
    fixation_sigma: float = 0.5  # log-normal shape
    fixation_min_s: float = 0.5
    fixation_max_s: float = 3.0
    gaze_away_prob: float = 0.5  # from the listener: chance the next fixation looks away
    gaze_return_prob: float = 0.7  # from a look-away: chance the next fixation is the listener
    phrase_look_away_prob: float = 0.5  # chance of looking away as a phrase starts
    gaze_yaw_sd_rad: float = 0.15  # look-away yaw spread (calibrated: real yaw sd 0.11, p5..p95 -0.19..0.26)
    gaze_pitch_sd_rad: float = 0.07  # look-away pitch spread (real pitch sd 0.09)
    gaze_pitch_mean_rad: float = -0.02  # look-aways tend slightly up (real pitch median -0.085: up)
    gaze_home_jitter_rad: float = 0.02  # spread of fixations on the listener
    gaze_max_yaw_rad: float = 0.35
    gaze_max_pitch_rad: float = 0.25
    saccade_base_s: float = 0.021  # s: saccade duration = base + per_rad * amplitude (main sequence,
    saccade_s_per_rad: float = 0.126  # 21 ms + 2.2 ms/deg)
    fixation_drift_rad: float = 0.004  # sd of slow drift during fixations
    eye_roll_per_yaw: float = -0.10  # eye roll follows yaw (fit on the captures: roll sd 0.02, r~-0.7)
    # EyeLook* weight 1 corresponds to this rotation (slopes fitted on the captures):
    eye_look_in_rad: float = 0.57
    eye_look_out_rad: float = 0.80
    eye_look_down_rad: float = 0.66
    eye_look_up_rad: float = 0.42
    # --- brows ------------------------------------------------------------------------------------------
    brow_rest: float = 0.04  # BrowInnerUp at rest
    brow_accent_prob: float = 0.7  # chance an accent raises the brows
    brow_accent_gain: float = 0.35  # BrowInnerUp per unit accent strength (calibrated: real p95 0.32)
    brow_outer_ratio: float = 0.7  # BrowOuterUp / BrowInnerUp on a raise
    brow_rise_s: float = 0.12  # s: rise before the accent
    brow_decay_s: float = 0.35  # s: decay constant after it
    brow_pitch_gain: float = 0.03  # BrowInnerUp per semitone above brow_pitch_threshold_st
    brow_pitch_threshold_st: float = 2.0  # semitones above the median pitch
    brow_down_semitones: float = -1.5  # an accent this far below the median pitch lowers the brows
    brow_down_gain: float = 0.25  # BrowDown per unit accent strength
    # --- head -------------------------------------------------------------------------------------------
    nod_gain_rad: float = 0.05  # peak nod per unit accent strength (~3 deg)
    nod_freq_hz: float = 2.0  # natural frequency of the nod response
    nod_damping: float = 0.55  # damping ratio: < 1 gives the small rebound of a real nod
    nod_lead_s: float = 0.12  # s: the nod impulse starts this long before the accent
    nod_pulse_s: float = 0.12  # s: length of the impulse
    drift_sd_rad: tuple[float, float, float] = (0.030, 0.020, 0.010)  # yaw, pitch, roll slow drift
    drift_time_s: float = 1.0  # s: correlation time of the drift (Gaussian smoothing sigma)
    phrase_yaw_sd_rad: float = 0.04  # new yaw offset at each phrase start
    phrase_roll_sd_rad: float = 0.018  # new roll offset at each phrase start
    phrase_freq_hz: float = 0.8  # natural frequency of the phrase-shift response
    head_gaze_follow: float = 0.15  # share of each gaze shift the head takes (slowly)
    head_idle_scale: float = 0.5  # head motion scale while silent (vs 1 while speaking)
    head_max_rad: float = 0.20  # clip of each head angle (~11 deg)
    # --- phrasing ----------------------------------------------------------------------------------------
    phrase_pause_s: float = 0.15  # s: a pause at least this long separates phrases
    activity_loudness: float = 0.08  # audio-only: loudness above this is speech

    def __post_init__(self) -> None:
        positive = ("fine_rate_hz", "coarticulation_scale", "rounding_anticipation_s", "blink_close_s",
                    "blink_open_s", "fixation_min_s", "fixation_median_s", "nod_freq_hz", "phrase_freq_hz",
                    "eye_look_in_rad", "eye_look_out_rad", "eye_look_down_rad", "eye_look_up_rad",
                    "brow_rise_s", "brow_decay_s", "drift_time_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"FaceConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.core_fraction <= 1.0:
            raise ValueError(f"FaceConfig.core_fraction must be in [0, 1], got {self.core_fraction}")
        if self.blink_rate_per_min < 0:
            raise ValueError("FaceConfig.blink_rate_per_min must be >= 0 (0 disables blinks)")
        if self.blink_rate_per_min / 60.0 * self.blink_refractory_s >= 1.0:
            raise ValueError("blink_rate_per_min * blink_refractory_s / 60 must be < 1: lower one of them")
        if self.fixation_max_s < self.fixation_min_s:
            raise ValueError("FaceConfig.fixation_max_s must be >= fixation_min_s")
        if not self.blink_peak_min <= self.blink_peak_max <= 1.0:
            raise ValueError("need blink_peak_min <= blink_peak_max <= 1")


@dataclass
class FaceTrack:
    face: np.ndarray  # (T, 52) ARKit weights in [0, 1], ARKIT_NAMES order
    head: np.ndarray  # (T, 3) yaw, pitch, roll, radians (HEAD_NAMES)
    eyes: np.ndarray  # (T, 6) radians (EYE_NAMES)

    def to_animation(self, fps: float) -> Animation:
        """A face-only Animation (no body) at fps."""
        return Animation(fps=fps, face=self.face, head=self.head, eyes=self.eyes)


# --- public entry point ----------------------------------------------------------------------------------


def animate_face(timing: Timing | None, prosody: Prosody, num_frames: int, fps: float,
                 rng: np.random.Generator, cfg: FaceConfig | None = None,
                 accents: list[Accent] | None = None) -> FaceTrack:
    """Face, head and eyes for one utterance.

    timing: phones with times (None: audio-only, the jaw follows loudness and voicing).
    prosody: at `fps` (``compute_prosody(audio, num_frames, fps)``); its frames are padded or cut
        to num_frames.
    rng: the only source of randomness: the same seed gives the same track.
    accents: prominent syllables (``find_accents``); computed here when not given, so that a caller
        animating the body too can share one list.
    -> FaceTrack with face (T, 52) in [0, 1], head (T, 3), eyes (T, 6).
    """
    cfg = cfg or FaceConfig()
    if num_frames < 0 or fps <= 0:
        raise ValueError(f"need num_frames >= 0 and fps > 0, got {num_frames}, {fps}")
    prosody = _fit_prosody(prosody, num_frames, fps)
    # Independent streams per part: changing one part's draws leaves the others unchanged.
    r_blink, r_gaze, r_brow, r_head = (np.random.default_rng(s) for s in rng.integers(0, 2**63, size=4))

    if timing is not None and timing.phones:
        face = mouth_from_timing(timing, prosody, num_frames, fps, cfg)
    else:
        face = mouth_from_audio(prosody, num_frames, fps, cfg)
    timing = timing if timing is not None and timing.phones else None

    starts, ends, active = phrases(timing, prosody, num_frames, fps, cfg)
    if accents is None:
        accents = find_accents(prosody, timing) if num_frames else []

    gaze = _gaze(num_frames, fps, starts, r_gaze, cfg)  # (T, 2) yaw, pitch
    eyes = np.zeros((num_frames, len(EYE_NAMES)))
    eyes[:, 0] = eyes[:, 3] = gaze[:, 0]
    eyes[:, 1] = eyes[:, 4] = gaze[:, 1]
    eyes[:, 2] = eyes[:, 5] = cfg.eye_roll_per_yaw * gaze[:, 0]
    set_eye_look(face, eyes, cfg)

    blink = _blinks(num_frames, fps, sorted(starts + ends), accents, r_blink, cfg)  # (T, 2)
    lid = np.clip(cfg.lid_follow_gain * (gaze[:, 1] - cfg.lid_follow_start_rad), 0.0, 1.0)
    face[:, _I["EyeBlinkLeft"]] = blink[:, 0] + (1.0 - blink[:, 0]) * lid
    face[:, _I["EyeBlinkRight"]] = blink[:, 1] + (1.0 - blink[:, 1]) * lid
    for side in ("Left", "Right"):
        smile = face[:, _I[f"MouthSmile{side}"]]
        face[:, _I[f"EyeSquint{side}"]] = cfg.squint_rest + cfg.squint_smile_gain * smile
        face[:, _I[f"CheekSquint{side}"]] = cfg.cheek_squint_smile_gain * smile

    _brows(face, prosody, accents, r_brow, cfg)
    head = _head(num_frames, fps, accents, starts, active, gaze, r_head, cfg)

    face = np.clip(np.nan_to_num(face), 0.0, 1.0)
    return FaceTrack(face=face, head=head, eyes=eyes)


# --- mouth -----------------------------------------------------------------------------------------------


def mouth_from_timing(timing: Timing, prosody: Prosody, num_frames: int, fps: float,
                      cfg: FaceConfig) -> np.ndarray:
    """Coarticulated visemes -> (T, 52), nonzero on the jaw/mouth channels only.

    Cohen–Massaro blending: at every fine-grid time, each segment's target is weighted by its
    dominance, which is full over the segment's core and decays exponentially before (onset
    constant) and after (offset constant); the mouth is the weighted average. Lips and jaw have
    separate dominances. Then loudness scales the jaw, and the bilabial closure constraint runs last
    so that nothing after it can reopen the lips.
    """
    k = max(1, math.ceil(cfg.fine_rate_hz / fps))
    rate = fps * k
    n_fine = num_frames * k
    t = np.arange(n_fine) / rate  # (F,)
    jaw_mask = np.zeros(NUM_BLENDSHAPES, dtype=bool)
    jaw_mask[[_I[n] for n in JAW_CHANNEL_NAMES]] = True

    num = np.tile(REST.target() * cfg.rest_dominance, (n_fine, 1))  # (F, C)
    den = np.full((n_fine, NUM_BLENDSHAPES), cfg.rest_dominance)  # (F, C)
    segs = viseme_segments(timing.phones)
    opening = [_I["JawOpen"], _I["MouthLowerDownLeft"], _I["MouthLowerDownRight"]]
    for s in segs:
        v = s.viseme
        target = v.target()
        if s.phone in VOWELS and s.stress >= 0:
            target[opening] *= cfg.stressed_jaw_gain if s.stress == 1 else cfg.unstressed_jaw_gain
        on = v.onset_s * cfg.coarticulation_scale
        off = v.offset_s * cfg.coarticulation_scale
        lip_on = max(on, cfg.rounding_anticipation_s) if v.rounded else on
        core = cfg.core_fraction * 0.5 * (s.end - s.start)
        c = s.centre
        # Beyond 8 time constants the weight is < 4e-4 of its peak: skip those samples.
        a = max(0, int(math.floor((c - core - 8 * max(on, lip_on)) * rate)))
        b = min(n_fine, int(math.ceil((c + core + 8 * off) * rate)) + 1)
        if a >= b:
            continue
        tau = t[a:b] - c  # (n,)
        before = np.clip(-tau - core, 0.0, None)
        after = np.clip(tau - core, 0.0, None)
        d_jaw = v.jaw_dominance * np.exp(-before / on - after / off)  # (n,)
        d_lip = v.lip_dominance * np.exp(-before / lip_on - after / off)
        dom = np.where(jaw_mask[None, :], d_jaw[:, None], d_lip[:, None])  # (n, C)
        num[a:b] += dom * target[None, :]
        den[a:b] += dom
    face = num / den  # (F, C)

    # Louder -> wider: scale what opens the mouth (MouthClose too, which compensates the jaw).
    loud = np.interp(t, np.arange(prosody.num_frames) / fps, prosody.loudness) if num_frames else t
    loud = _smooth(loud, cfg.loudness_smooth_s * rate)
    scale = cfg.jaw_loudness_floor + cfg.jaw_loudness_gain * loud  # (F,)
    face[:, opening + [_I["MouthClose"]]] *= scale[:, None]
    face = _smooth(face, cfg.mouth_smooth_s * rate)

    _close_lips(face, segs, t, fps, cfg)
    face = np.clip(face, 0.0, 1.0)
    return face[::k][:num_frames].copy()


def _close_lips(face: np.ndarray, segs, t: np.ndarray, fps: float, cfg: FaceConfig) -> None:
    """Hard constraint: lips shut (lip_aperture <= 0) over the core of every P/B/M, in place.

    face: (F, C) on the fine grid t: (F,). Blending alone cannot guarantee closure (a short M between
    open vowels never reaches its target), so the shut pose is imposed with weight 1 over the core
    and a cosine ramp on each side.
    """
    w = np.zeros(len(t))
    for s in segs:
        if not s.viseme.closure:
            continue
        half = max(cfg.closure_hold_fraction * 0.5 * (s.end - s.start), cfg.closure_min_hold_frames / fps)
        d = np.abs(t - s.centre) - half
        ramp = np.where(d <= 0, 1.0, np.where(d < cfg.closure_ramp_s,
                                              0.5 * (1 + np.cos(np.pi * np.clip(d, 0, None) / cfg.closure_ramp_s)),
                                              0.0))
        w = np.maximum(w, ramp)
    if not w.any():
        return
    shut = face.copy()
    jaw = np.minimum(shut[:, _I["JawOpen"]], cfg.closure_jaw_max)
    shut[:, _I["JawOpen"]] = jaw
    shut[:, _I["MouthClose"]] = jaw  # lips meet although the jaw is slightly dropped
    for side in ("Left", "Right"):
        shut[:, _I[f"MouthLowerDown{side}"]] = 0.0
        shut[:, _I[f"MouthUpperUp{side}"]] = np.minimum(shut[:, _I[f"MouthUpperUp{side}"]], 0.05)
        shut[:, _I[f"MouthPress{side}"]] = np.maximum(shut[:, _I[f"MouthPress{side}"]], cfg.closure_press)
    shut[:, _I["MouthFunnel"]] = np.minimum(shut[:, _I["MouthFunnel"]], 0.15)  # a funnel parts the lips
    shut[:, _I["TongueOut"]] = 0.0
    face += w[:, None] * (shut - face)


def mouth_from_audio(prosody: Prosody, num_frames: int, fps: float, cfg: FaceConfig) -> np.ndarray:
    """The loudness-driven jaw: (T, 52) from loudness and voicing alone (no transcript).

    Also the baseline the benchmarks compare with.
    """
    face = np.tile(REST.target(), (num_frames, 1))  # (T, C)
    if num_frames == 0:
        return face
    env = _smooth(prosody.loudness.astype(np.float64), cfg.audio_smooth_s * fps)
    voiced = _smooth(prosody.voiced.astype(np.float64), cfg.audio_smooth_s * fps)
    open_ = cfg.audio_jaw_max * np.clip(env, 0, 1) ** cfg.audio_jaw_gamma
    open_ *= cfg.audio_unvoiced_scale + (1.0 - cfg.audio_unvoiced_scale) * np.clip(voiced, 0, 1)
    face[:, _I["JawOpen"]] += open_
    face[:, _I["MouthClose"]] *= np.clip(1.0 - 4.0 * env, 0.0, 1.0)  # lips part as soon as sound starts
    for side in ("Left", "Right"):
        face[:, _I[f"MouthLowerDown{side}"]] = 0.45 * open_
        face[:, _I[f"MouthStretch{side}"]] = 0.08 * env
        face[:, _I[f"MouthPress{side}"]] *= np.clip(1.0 - 4.0 * env, 0.0, 1.0)
    return np.clip(face, 0.0, 1.0)


# --- eyes --------------------------------------------------------------------------------------------------

_LOOK = ("EyeLookInLeft", "EyeLookOutLeft", "EyeLookInRight", "EyeLookOutRight",
         "EyeLookUpLeft", "EyeLookDownLeft", "EyeLookUpRight", "EyeLookDownRight")


def set_eye_look(face: np.ndarray, eyes: np.ndarray, cfg: FaceConfig) -> None:
    """Write the 8 EyeLook* channels of face (T, 52) from eye rotations eyes (T, 6), in place.

    Yaw > 0 looks to the character's right: the left eye turns in (towards the nose) and the right
    eye out, so In/Out are mirrored between the eyes. Pitch > 0 looks down.
    """
    yl, pl, yr, pr = eyes[:, 0], eyes[:, 1], eyes[:, 3], eyes[:, 4]
    face[:, _I["EyeLookInLeft"]] = np.clip(yl / cfg.eye_look_in_rad, 0, 1)
    face[:, _I["EyeLookOutLeft"]] = np.clip(-yl / cfg.eye_look_out_rad, 0, 1)
    face[:, _I["EyeLookOutRight"]] = np.clip(yr / cfg.eye_look_out_rad, 0, 1)
    face[:, _I["EyeLookInRight"]] = np.clip(-yr / cfg.eye_look_in_rad, 0, 1)
    for side, p in (("Left", pl), ("Right", pr)):
        face[:, _I[f"EyeLookDown{side}"]] = np.clip(p / cfg.eye_look_down_rad, 0, 1)
        face[:, _I[f"EyeLookUp{side}"]] = np.clip(-p / cfg.eye_look_up_rad, 0, 1)


def eyes_from_look(face: np.ndarray, cfg: FaceConfig) -> np.ndarray:
    """The inverse of set_eye_look: (T, 52) -> (T, 4) left yaw, left pitch, right yaw, right pitch."""
    f = lambda n: face[:, _I[n]]  # noqa: E731
    return np.stack([
        f("EyeLookInLeft") * cfg.eye_look_in_rad - f("EyeLookOutLeft") * cfg.eye_look_out_rad,
        f("EyeLookDownLeft") * cfg.eye_look_down_rad - f("EyeLookUpLeft") * cfg.eye_look_up_rad,
        f("EyeLookOutRight") * cfg.eye_look_out_rad - f("EyeLookInRight") * cfg.eye_look_in_rad,
        f("EyeLookDownRight") * cfg.eye_look_down_rad - f("EyeLookUpRight") * cfg.eye_look_up_rad,
    ], axis=1)


def _gaze(num_frames: int, fps: float, phrase_starts: list[float], rng: np.random.Generator,
          cfg: FaceConfig) -> np.ndarray:
    """(T, 2) conjugate gaze yaw, pitch: fixations joined by minimum-jerk saccades."""
    dur = num_frames / fps
    t = np.arange(num_frames) / fps
    out = np.zeros((num_frames, 2))
    home = lambda: np.array([rng.normal(0, cfg.gaze_home_jitter_rad),  # noqa: E731
                             rng.normal(0, cfg.gaze_home_jitter_rad)])

    def away() -> np.ndarray:
        y = rng.normal(0, cfg.gaze_yaw_sd_rad)
        p = rng.normal(cfg.gaze_pitch_mean_rad, cfg.gaze_pitch_sd_rad)
        return np.array([np.clip(y, -cfg.gaze_max_yaw_rad, cfg.gaze_max_yaw_rad),
                         np.clip(p, -cfg.gaze_max_pitch_rad, cfg.gaze_max_pitch_rad)])

    cur, is_away, now = home(), False, 0.0
    out[:] = cur
    pending = sorted(phrase_starts)
    while True:
        fix = float(np.clip(cfg.fixation_median_s * math.exp(cfg.fixation_sigma * rng.standard_normal()),
                            cfg.fixation_min_s, cfg.fixation_max_s))
        nxt = now + fix
        forced = [s for s in pending if now + 0.3 < s < nxt]
        go_away = None
        if forced and rng.random() < cfg.phrase_look_away_prob:
            nxt, go_away = forced[0], True  # speakers often look away as they start a phrase
        pending = [s for s in pending if s > nxt]
        if nxt >= dur:
            break
        if go_away is None:
            go_away = rng.random() < (1 - cfg.gaze_return_prob if is_away else cfg.gaze_away_prob)
        new = away() if go_away else home()
        amp = float(np.hypot(*(new - cur)))
        sd = cfg.saccade_base_s + cfg.saccade_s_per_rad * amp
        x = np.clip((t - nxt) / sd, 0.0, 1.0)
        m = x**3 * (10 - 15 * x + 6 * x**2)  # minimum jerk
        sel = t >= nxt
        out[sel] = cur + m[sel, None] * (new - cur)
        cur, is_away, now = new, go_away, nxt
    if num_frames:
        drift = gaussian_filter1d(rng.standard_normal((num_frames, 2)), 0.3 * fps, axis=0)
        out += drift * cfg.fixation_drift_rad / max(drift.std(), 1e-9)
    return out


def _blinks(num_frames: int, fps: float, boundaries: list[float], accents: list[Accent],
            rng: np.random.Generator, cfg: FaceConfig) -> np.ndarray:
    """(T, 2) EyeBlink left, right.

    A renewal process: hazard lam0 * m(t), zero during the refractory period after each blink; m is
    1 plus boosts near phrase boundaries and after accents, normalised to mean 1 so the long-run rate
    stays at blink_rate_per_min. With dead time r, a hazard lam gives the rate lam / (1 + lam r), so
    lam0 = R / (1 - R r).
    """
    out = np.zeros((num_frames, 2))
    if num_frames == 0 or cfg.blink_rate_per_min == 0:
        return out
    t = np.arange(num_frames) / fps
    m = np.ones(num_frames)
    for b in boundaries:
        m += cfg.blink_phrase_boost * ((t >= b) & (t < b + cfg.blink_phrase_window_s))
    d0, d1 = cfg.blink_accent_delay_s
    for a in accents:
        m += cfg.blink_accent_boost * a.strength * ((t >= a.time + d0) & (t < a.time + d1))
    m /= m.mean()
    rate = cfg.blink_rate_per_min / 60.0
    lam0 = rate / (1.0 - rate * cfg.blink_refractory_s)
    p = 1.0 - np.exp(-lam0 * m / fps)  # (T,) chance of a blink starting in each frame
    u = rng.random(num_frames)
    # Start mid-cycle: the time since the last blink before the clip is unknown.
    last = -rng.uniform(0, cfg.blink_refractory_s + 1.0 / lam0)
    starts = []
    for i in range(num_frames):
        if t[i] - last >= cfg.blink_refractory_s and u[i] < p[i]:
            starts.append(t[i] + rng.uniform(0, 1.0 / fps))  # sub-frame onset
            last = t[i]
    for s in starts:
        peak = rng.uniform(cfg.blink_peak_min, cfg.blink_peak_max)
        lag = rng.uniform(-cfg.blink_eye_lag_s, cfg.blink_eye_lag_s)
        for eye, (t0, a) in enumerate(((s, peak), (s + lag, peak * rng.uniform(0.95, 1.0)))):
            out[:, eye] = np.maximum(out[:, eye], a * _blink_shape(t - t0, cfg))
    return out


def _blink_shape(tau: np.ndarray, cfg: FaceConfig) -> np.ndarray:
    """(n,) lid closure in [0, 1] at times tau after blink onset: smooth close, hold, ease-out open."""
    x = np.clip(tau / cfg.blink_close_s, 0, 1)
    close = x * x * (3 - 2 * x)
    y = np.clip((tau - cfg.blink_close_s - cfg.blink_hold_s) / cfg.blink_open_s, 0, 1)
    opening = (1 - y) ** 2  # the lid leaves fast, then settles slowly
    return np.where(tau < 0, 0.0, np.where(tau < cfg.blink_close_s + cfg.blink_hold_s, close, opening))


# --- brows ---------------------------------------------------------------------------------------------------


def _brows(face: np.ndarray, prosody: Prosody, accents: list[Accent], rng: np.random.Generator,
           cfg: FaceConfig) -> None:
    """Brow channels of face (T, 52), in place: raises on accents and high pitch, lowers on low emphasis."""
    n = face.shape[0]
    fps = prosody.fps
    t = np.arange(n) / fps
    inner = np.full(n, cfg.brow_rest)
    outer = np.zeros((n, 2))
    down = np.zeros(n)
    semis = prosody.f0_semitones()
    for a in accents:
        if rng.random() >= cfg.brow_accent_prob:
            continue
        bump = _bump(t - a.time, cfg.brow_rise_s, cfg.brow_decay_s)
        k = min(n - 1, int(round(a.time * fps)))
        if semis[k] < cfg.brow_down_semitones:
            down += cfg.brow_down_gain * a.strength * bump
        else:
            amp = cfg.brow_accent_gain * a.strength * rng.uniform(0.7, 1.3)
            inner += amp * bump
            outer += (amp * cfg.brow_outer_ratio * rng.uniform(0.85, 1.15, size=2))[None, :] * bump[:, None]
    # Continuous pitch excursion, smoothed so brows do not follow every pitch wiggle.
    high = np.clip(semis - cfg.brow_pitch_threshold_st, 0, None) * prosody.voiced
    high = _smooth(high, 0.08 * fps) * cfg.brow_pitch_gain if n else high
    inner += high
    outer += cfg.brow_outer_ratio * high[:, None]
    face[:, _I["BrowInnerUp"]] = inner
    face[:, _I["BrowOuterUpLeft"]] = outer[:, 0]
    face[:, _I["BrowOuterUpRight"]] = outer[:, 1]
    face[:, _I["BrowDownLeft"]] = down
    face[:, _I["BrowDownRight"]] = down


def _bump(tau: np.ndarray, rise: float, decay: float) -> np.ndarray:
    """(n,) 0 -> 1 smoothly over `rise` s before tau = 0, then exponential decay."""
    x = np.clip((tau + rise) / rise, 0, 1)
    return np.where(tau < 0, x * x * (3 - 2 * x), np.exp(-np.clip(tau, 0, None) / decay))


# --- head ------------------------------------------------------------------------------------------------------


def _second_order(u: np.ndarray, rate: float, freq_hz: float, damping: float) -> np.ndarray:
    """(n,) or (n, d) u through x'' + 2 z w x' + w^2 x = w^2 u (unit DC gain), causal, along axis 0.

    The filter is scipy.signal's ``lfilter(*bilinear(...))`` written out, to the last bit: importing
    scipy.signal takes about a second, most of ``umo say``'s start-up, for this one biquad. The
    coefficients follow bilinear's own arithmetic (its polynomials in z, then normalised) and the
    loop is lfilter's (direct form II transposed), on Python floats: ~0.3 s per column per hour
    of frames at 240 Hz."""
    from numpy.polynomial import Polynomial

    w = 2 * np.pi * freq_hz
    num, den = (w * w,), (1.0, 2 * damping * w, w * w)  # in s, highest power first
    fac = np.sqrt(rate * 2)
    zp1, zm1 = Polynomial((1, 1)) / fac, Polynomial((-1, 1)) * fac  # (z + 1) / fac, (z - 1) * fac
    b = sum(c * zp1 ** (2 - q) * zm1 ** q for q, c in enumerate(num[::-1])).coef[::-1]
    a = sum(c * zp1 ** (2 - q) * zm1 ** q for q, c in enumerate(den[::-1])).coef[::-1]
    (b0, b1, b2), (a1, a2) = b / a[0], a[1:] / a[0]
    x = np.asarray(u, dtype=np.float64)
    cols = x.reshape(x.shape[0], -1) if x.ndim > 1 else x[:, None]
    out = np.empty_like(cols)
    for c in range(cols.shape[1]):
        z0 = z1 = 0.0
        ys = []
        for xn in cols[:, c].tolist():
            y = z0 + b0 * xn
            z0 = z1 + xn * b1 - y * a1
            z1 = xn * b2 - y * a2
            ys.append(y)
        out[:, c] = ys
    return out.reshape(x.shape)


def _head(num_frames: int, fps: float, accents: list[Accent], phrase_starts: list[float],
          active: np.ndarray, gaze: np.ndarray, rng: np.random.Generator, cfg: FaceConfig) -> np.ndarray:
    """(T, 3) head yaw, pitch, roll: nods + drift + phrase shifts + a share of gaze."""
    head = np.zeros((num_frames, 3))
    if num_frames == 0:
        return head
    k = max(1, math.ceil(200.0 / fps))  # the filters run at >= 200 Hz so short pulses are resolved
    rate = fps * k
    tf = np.arange(num_frames * k) / rate
    pulse = np.zeros(len(tf))
    for a in accents:
        t0 = a.time - cfg.nod_lead_s
        pulse += a.strength * rng.uniform(0.6, 1.2) * ((tf >= t0) & (tf < t0 + cfg.nod_pulse_s))
    # A pulse of length L through a unit-DC-gain filter peaks near L * w / 2 for short L: normalise.
    peak = _second_order(np.r_[np.ones(int(cfg.nod_pulse_s * rate)), np.zeros(int(rate))], rate,
                         cfg.nod_freq_hz, cfg.nod_damping).max()
    nod = _second_order(pulse, rate, cfg.nod_freq_hz, cfg.nod_damping) * cfg.nod_gain_rad / max(peak, 1e-9)

    steps = np.zeros((len(tf), 2))
    for s in phrase_starts:
        steps[tf >= s] = [rng.normal(0, cfg.phrase_yaw_sd_rad), rng.normal(0, cfg.phrase_roll_sd_rad)]
    shifts = _second_order(steps, rate, cfg.phrase_freq_hz, 0.9)

    head[:, 1] = nod[::k]
    head[:, 0] = shifts[::k, 0]
    head[:, 2] = shifts[::k, 1]
    sigma = cfg.drift_time_s * fps
    drift = gaussian_filter1d(rng.standard_normal((num_frames, 3)), sigma, axis=0, mode="reflect")
    # Smoothed unit white noise has sd 1 / sqrt(2 sqrt(pi) sigma): rescale to the configured sd.
    drift *= math.sqrt(2 * math.sqrt(math.pi) * sigma) * np.asarray(cfg.drift_sd_rad)[None, :]
    speaking = _smooth(active.astype(np.float64), 0.3 * fps)
    head += drift * (cfg.head_idle_scale + (1 - cfg.head_idle_scale) * speaking)[:, None]
    follow = _second_order(np.repeat(gaze, k, axis=0), rate, 1.0, 1.0)[::k]
    head[:, :2] += cfg.head_gaze_follow * follow
    return np.clip(head, -cfg.head_max_rad, cfg.head_max_rad)


# --- phrasing and helpers -------------------------------------------------------------------------------------


def phrases(timing: Timing | None, prosody: Prosody, num_frames: int, fps: float,
            cfg: FaceConfig) -> tuple[list[float], list[float], np.ndarray]:
    """Phrase starts, phrase ends (s), and a (T,) speech-activity mask.

    From the phones when known (pauses >= phrase_pause_s split phrases), else from loudness.
    """
    t = np.arange(num_frames) / fps
    spans = speech_spans(timing, prosody, cfg.phrase_pause_s, cfg.activity_loudness, min_len_s=0.1)
    active = np.zeros(num_frames, dtype=bool)
    for s, e in spans:
        active |= (t >= s) & (t < e)
    return [s for s, _ in spans], [e for _, e in spans], active


def _smooth(x: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 (no lag: offline animation must stay in sync)."""
    if sigma_samples < 0.3 or len(x) == 0:
        return x
    return gaussian_filter1d(x, sigma_samples, axis=0, mode="nearest")


def _fit_prosody(prosody: Prosody, num_frames: int, fps: float) -> Prosody:
    """Pad (edge values, unvoiced) or cut prosody to num_frames; its fps must match."""
    if abs(prosody.fps - fps) > 1e-6:
        raise ValueError(f"prosody is at {prosody.fps} fps but the face is asked at {fps}: "
                         "compute_prosody(audio, num_frames, fps) at the face's fps")
    n = prosody.num_frames
    if n == num_frames:
        return prosody
    if n == 0:
        z = np.zeros(num_frames)
        return Prosody(fps, z - 100.0, z, z, z.astype(bool))
    idx = np.minimum(np.arange(num_frames), n - 1)
    pad = np.arange(num_frames) >= n
    return Prosody(fps, prosody.energy_db[idx], np.where(pad, 0.0, prosody.loudness[idx]),
                   np.where(pad, 0.0, prosody.f0[idx]), np.where(pad, False, prosody.voiced[idx]))


__all__ = ["FaceConfig", "FaceTrack", "animate_face", "mouth_from_timing", "mouth_from_audio",
           "set_eye_look", "eyes_from_look", "phrases"]
