"""Hand-motion statistics, to compare the body animator with real captured gestures.

Speeds are wrist (``LeftHand``/``RightHand`` joint) speeds in **shoulder widths per second** (the
distance between the ``LeftArm`` and ``RightArm`` joints), so skeletons of different proportions
compare; positions are relative to the mid-point of the shoulders, also in shoulder widths.

``python -m umo.animator.body_stats`` animates BEAT take 2_scott_0_1_1 from its audio (and its
TextGrid words when a reader is available) and prints our statistics beside those of the real
capture of the same take. The BEAT files are non-commercial: they are read from ``../shared/data``
at run time (or ``$UMO_SHARED_DATA``), never copied.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.skeleton import Skeleton

MOVING_SW_PER_S = 0.25  # a wrist slower than this (about 9 cm/s) counts as still
BEAT_MIN_PEAK_SW_PER_S = 1.0  # a speed peak lower than this is no beat
BEAT_MIN_PROMINENCE_SW_PER_S = 0.5  # ... nor one that rises less than this above its surroundings
BEAT_MIN_GAP_S = 0.25  # two speed peaks of one wrist closer than this count once
BEAT_TAKE = "2_scott_0_1_1"  # the BEAT take with motion in ../shared/data/beat
BEAT_FPS = 15.0  # the take's true frame rate (its BVH header says 120)


def shoulder_width(positions: np.ndarray, skeleton: Skeleton) -> float:
    """Median distance between the LeftArm and RightArm joints, cm. positions: (T, J, 3)."""
    left, right = skeleton.index("LeftArm"), skeleton.index("RightArm")
    return float(np.median(np.linalg.norm(positions[:, left] - positions[:, right], axis=-1)))


def wrist_speeds(positions: np.ndarray, fps: float, skeleton: Skeleton) -> np.ndarray:
    """(T-1, 2) right and left wrist speed, shoulder widths per second."""
    sw = shoulder_width(positions, skeleton)
    idx = [skeleton.index("RightHand"), skeleton.index("LeftHand")]
    return np.linalg.norm(np.diff(positions[:, idx], axis=0), axis=-1) * fps / sw


def beat_count(speed: np.ndarray, fps: float) -> int:
    """Speed peaks of one wrist that look like gesture strokes. speed: (T,) shoulder widths/s."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(speed, height=BEAT_MIN_PEAK_SW_PER_S, prominence=BEAT_MIN_PROMINENCE_SW_PER_S,
                          distance=max(1, int(round(BEAT_MIN_GAP_S * fps))))
    return len(peaks)


def hand_speed_stats(positions: np.ndarray, fps: float, skeleton: Skeleton) -> dict[str, float]:
    """Wrist speed and placement statistics of both hands pooled.

    positions: (T, J, 3) joint positions, cm (after forward kinematics).
    Returns speeds in shoulder widths/s (mean, median, p95), the fraction of frames a wrist moves,
    beats (speed peaks of both wrists) per minute, and the median wrist position relative to the
    shoulders' mid-point in shoulder widths (height: up is positive; forward; lateral: out from the
    midline on the hand's side).
    """
    if positions.shape[0] < 3:
        raise ValueError("need at least 3 frames for speed statistics")
    sp = wrist_speeds(positions, fps, skeleton)  # (T-1, 2)
    sw = shoulder_width(positions, skeleton)
    ri, li = skeleton.index("RightHand"), skeleton.index("LeftHand")
    mid = 0.5 * (positions[:, skeleton.index("LeftArm")] + positions[:, skeleton.index("RightArm")])  # (T, 3)
    rel_r = (positions[:, ri] - mid) / sw
    rel_l = (positions[:, li] - mid) / sw
    minutes = (positions.shape[0] - 1) / fps / 60.0
    beats = beat_count(sp[:, 0], fps) + beat_count(sp[:, 1], fps)
    return {
        "speed_mean": float(sp.mean()),
        "speed_median": float(np.median(sp)),
        "speed_p95": float(np.percentile(sp, 95)),
        "moving_fraction": float((sp > MOVING_SW_PER_S).mean()),
        "beats_per_min": float(beats / minutes),
        "height": float(np.median(np.concatenate([rel_r[:, 1], rel_l[:, 1]]))),
        "forward": float(np.median(np.concatenate([rel_r[:, 2], rel_l[:, 2]]))),
        "lateral": float(np.median(np.concatenate([-rel_r[:, 0], rel_l[:, 0]]))),
    }


@dataclass(frozen=True)
class StatComparison:
    name: str
    ours: float
    real: float

    @property
    def ratio(self) -> float:
        """ours / real (inf where real is 0 and ours is not)."""
        if self.real == 0:
            return 1.0 if self.ours == 0 else float("inf")
        return self.ours / self.real


def compare_to_real(ours: dict[str, float], real: dict[str, float]) -> list[StatComparison]:
    """One row per statistic present in both (same order as ``ours``)."""
    return [StatComparison(k, ours[k], real[k]) for k in ours if k in real]


def format_table(rows: list[StatComparison]) -> str:
    lines = [f"{'statistic':<16} {'ours':>9} {'real':>9} {'ours/real':>10}"]
    for r in rows:
        lines.append(f"{r.name:<16} {r.ours:>9.3f} {r.real:>9.3f} {r.ratio:>10.2f}")
    return "\n".join(lines)


def resample_positions(positions: np.ndarray, fps_from: float, fps_to: float) -> np.ndarray:
    """Linear resampling in time, so that speeds at different frame rates compare. (T, J, 3) -> (T', J, 3)."""
    if fps_from == fps_to:
        return positions
    t_from = np.arange(positions.shape[0]) / fps_from
    t_to = np.arange(int(np.floor(t_from[-1] * fps_to)) + 1) / fps_to
    flat = positions.reshape(positions.shape[0], -1)
    out = np.stack([np.interp(t_to, t_from, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape(len(t_to), *positions.shape[1:])


# --- the BEAT comparison ----------------------------------------------------------------------------
def real_positions(bvh_path: Path, fps: float = BEAT_FPS) -> tuple[np.ndarray, Skeleton]:
    """(T, J, 3) positions of a captured take with the root held still (only the body's own motion)."""
    from umo.skeleton import forward_kinematics

    from umo.formats.bvh import read_animation_bvh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BEAT's header frame count and rate are known to be wrong
        anim = read_animation_bvh(bvh_path, fps=fps)
    skeleton, rot = anim.skeleton, np.array(anim.body)
    rot[:, 0] = 0.0  # root rotation: BEAT's is junk after frame 0
    return forward_kinematics(skeleton, rot, None)[0], skeleton


def animate_take(wav_path: Path, textgrid_path: Path | None, fps: float = 30.0, seed: int = 0):
    """Our body animation of a recorded take: (BodyTrack, words or None, accents)."""
    from umo.animation import num_frames_for
    from umo.animator.gestures import animate_body
    from umo.constants import SAMPLE_RATE
    from umo.formats.audio import load_audio
    from umo.speech.prosody import compute_prosody, find_accents
    from umo.formats.textgrid import read_words
    from umo.speech.phonemes import timing_from_words

    audio = load_audio(wav_path)
    n = num_frames_for(len(audio) / SAMPLE_RATE, fps)
    prosody = compute_prosody(audio, n, fps)
    words = read_words(textgrid_path) if textgrid_path is not None and textgrid_path.exists() else None
    # The words' phones (with lexical stress) come from espeak's phonemizer, as in `umo animate`.
    timing = timing_from_words(words) if words else None
    accents = find_accents(prosody, timing)
    track = animate_body(timing, prosody, accents, n, fps, np.random.default_rng(seed))
    return track, words, accents


def beat_comparison(data_dir: Path, fps: float = 30.0, seed: int = 0) -> tuple[list[StatComparison], dict]:
    """Statistics of our animation of the BEAT take vs the real capture, both at the capture's rate."""
    from umo.skeleton import canonical_skeleton, forward_kinematics

    beat = data_dir / "beat"
    real_pos, real_sk = real_positions(beat / f"{BEAT_TAKE}.bvh")
    real = hand_speed_stats(real_pos, BEAT_FPS, real_sk)
    track, words, accents = animate_take(beat / f"{BEAT_TAKE}.wav", beat / f"{BEAT_TAKE}.TextGrid", fps, seed)
    sk = canonical_skeleton()
    pos = forward_kinematics(sk, track.rotations, track.root_pos)[0]
    ours = hand_speed_stats(resample_positions(pos, fps, BEAT_FPS), BEAT_FPS, sk)
    info = {"words": None if words is None else len(words), "accents": len(accents), "strokes": len(track.strokes),
            "phrases": len(track.phrases), "seconds": track.num_frames / fps}
    return compare_to_real(ours, real), info


def _data_dir() -> Path | None:
    env = os.environ.get("UMO_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return path if path.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    data = _data_dir()
    if data is None or not (data / "beat" / f"{BEAT_TAKE}.bvh").exists():
        print("BEAT take not found: set UMO_SHARED_DATA to the folder holding beat/ (non-commercial, not in the repo)")
        return 1
    rows, info = beat_comparison(data)
    print(f"BEAT {BEAT_TAKE}: {info['seconds']:.1f} s, words {info['words']}, accents {info['accents']}, "
          f"phrases {info['phrases']}, strokes {info['strokes']} (compared at {BEAT_FPS:g} fps)")
    print("wrist speeds in shoulder widths/s, positions in shoulder widths from the shoulders' mid-point")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
