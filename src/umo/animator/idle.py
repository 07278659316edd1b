"""Idle motion: what a standing speaker's body does when it is not gesturing.

Breathing (spine extension and a shoulder lift at ~0.25 Hz, a resting adult's 15 breaths per
minute), a slow sway of the spine, occasional weight shifts (the root stays put, so a shift shows as
a slow sideways lean of the spine), and micro-motion of the hands and fingers so that no arm is ever
frozen, even in long silences. Everything is a sum of smooth random sinusoids drawn from the rng, so
a seed gives the same motion and no frame has a velocity spike.

Dimension letters: T frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPINE_JOINTS = ("Spine", "Spine1", "Spine2", "Spine3")
# How a whole-spine bend is shared over the four spine joints (the thoracic joints bend most).
SPINE_SHARE = np.array([0.2, 0.25, 0.3, 0.25])


@dataclass
class IdleConfig:
    breath_hz: float = 0.25  # breaths per second (a resting adult: 12-20 per minute)
    breath_rate_jitter: float = 0.15  # relative spread of the breathing rate between seeds
    breath_spine_deg: float = 1.2  # whole-spine extension at the top of an inhale, degrees
    breath_shoulder_deg: float = 1.5  # clavicle elevation at the top of an inhale, degrees
    sway_deg: float = 1.2  # RMS of the slow spine sway (yaw and roll), degrees
    sway_band_hz: tuple[float, float] = (0.05, 0.25)  # frequencies of the sway
    weight_shift_deg: float = 1.5  # sideways lean of a weight shift, degrees
    weight_shift_interval_s: tuple[float, float] = (4.0, 10.0)  # time between weight shifts, seconds
    weight_shift_s: float = 1.5  # duration of one shift, seconds
    hand_drift_cm: float = 1.0  # RMS of each wrist's micro-motion per axis, cm
    hand_drift_band_hz: tuple[float, float] = (0.15, 0.6)  # frequencies of the hand micro-motion
    finger_drift_deg: float = 3.0  # RMS of the fingers' extra curl, degrees
    components: int = 6  # sinusoids summed per random signal

    def __post_init__(self) -> None:
        if self.breath_hz <= 0:
            raise ValueError(f"IdleConfig.breath_hz must be positive, got {self.breath_hz}")
        for name in ("sway_band_hz", "hand_drift_band_hz", "weight_shift_interval_s"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"IdleConfig.{name} must be (low, high) with 0 < low <= high, got {(lo, hi)}")


@dataclass
class IdleMotion:
    spine: np.ndarray  # (T, 4, 3) local rotations of Spine..Spine3, axis-angle radians
    clavicle_elevation_deg: np.ndarray  # (T, 2) right, left: shoulder lift from breathing
    hand_drift_cm: np.ndarray = field(repr=False)  # (T, 2, 3) right, left wrist offsets, body frame
    finger_curl_deg: np.ndarray = field(repr=False)  # (T, 2) right, left extra finger curl


def smooth_noise(rng: np.random.Generator, num_frames: int, fps: float, band_hz: tuple[float, float],
                 components: int = 6) -> np.ndarray:
    """(T,) a smooth random signal with unit RMS: random sinusoids with frequencies in ``band_hz``.

    Sinusoids (rather than filtered white noise) keep every derivative bounded, whatever the length.
    """
    t = np.arange(num_frames) / fps
    freqs = rng.uniform(band_hz[0], band_hz[1], components)
    phases = rng.uniform(0.0, 2 * np.pi, components)
    amps = rng.uniform(0.5, 1.0, components)
    x = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None])).sum(axis=0)
    return x / np.sqrt(0.5 * np.sum(amps**2))


def _smoothstep(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


def weight_shifts(rng: np.random.Generator, num_frames: int, fps: float, cfg: IdleConfig) -> np.ndarray:
    """(T,) sideways lean in [-1, 1]: holds a side, then shifts smoothly to the other now and then."""
    t = np.arange(num_frames) / fps
    level = rng.uniform(-1.0, 1.0)
    out = np.full(num_frames, level)
    when = rng.uniform(0.0, cfg.weight_shift_interval_s[1])
    end = num_frames / fps
    while when < end:
        new = -np.sign(level) * rng.uniform(0.4, 1.0)  # a shift goes to the other foot
        out += (new - level) * _smoothstep((t - when) / cfg.weight_shift_s)
        level = new
        when += cfg.weight_shift_s + rng.uniform(*cfg.weight_shift_interval_s)
    return out


def idle_motion(num_frames: int, fps: float, rng: np.random.Generator, cfg: IdleConfig = IdleConfig()) -> IdleMotion:
    """Breathing, sway, weight shifts and micro-motion for ``num_frames`` frames."""
    t = np.arange(num_frames) / fps
    rate = cfg.breath_hz * (1.0 + cfg.breath_rate_jitter * rng.uniform(-1.0, 1.0))
    # Breathing is not a pure sine: the rate wanders a little from breath to breath.
    phase = 2 * np.pi * rate * t + 0.6 * smooth_noise(rng, num_frames, fps, (0.02, 0.08), 3) + rng.uniform(0, 2 * np.pi)
    inhale = 0.5 * (1.0 - np.cos(phase))  # (T,) 0 exhaled .. 1 inhaled

    yaw = np.radians(cfg.sway_deg) * smooth_noise(rng, num_frames, fps, cfg.sway_band_hz, cfg.components)
    roll = np.radians(cfg.sway_deg) * smooth_noise(rng, num_frames, fps, cfg.sway_band_hz, cfg.components)
    roll = roll + np.radians(cfg.weight_shift_deg) * weight_shifts(rng, num_frames, fps, cfg)
    pitch = -np.radians(cfg.breath_spine_deg) * inhale  # extension (leaning back) is -X: +X bends forward

    spine = np.zeros((num_frames, 4, 3))
    spine[:, :, 0] = pitch[:, None] * SPINE_SHARE
    spine[:, :, 1] = yaw[:, None] * SPINE_SHARE
    spine[:, :, 2] = roll[:, None] * SPINE_SHARE

    clav = np.repeat((cfg.breath_shoulder_deg * inhale)[:, None], 2, axis=1)
    drift = np.stack(
        [
            np.stack([smooth_noise(rng, num_frames, fps, cfg.hand_drift_band_hz, cfg.components) for _ in range(3)], -1)
            for _ in range(2)
        ],
        axis=1,
    ) * cfg.hand_drift_cm  # (T, 2, 3)
    curl = np.stack(
        [smooth_noise(rng, num_frames, fps, cfg.hand_drift_band_hz, cfg.components) for _ in range(2)], axis=1
    ) * cfg.finger_drift_deg
    return IdleMotion(spine=spine, clavicle_elevation_deg=clav, hand_drift_cm=drift, finger_curl_deg=curl)
