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
# BEAT-wide calibration target (issue 14): speaker 2's training-set mean pose, 55 SMPL-X joints x 6-D
# (pytorch3d's convention: the first two *rows* of each rotation matrix), from BEATX. Non-commercial:
# read from ../shared/data/beat at run time, never copied.
BEAT_WIDE_MEAN_POSE = "beatx_2_330_mean.npy"
# Calibration inputs with speech and words but no motion: the same speaker's other takes. The rules
# are placed on these, so the take with motion (BEAT_TAKE) stays held out for placement.
CALIBRATION_TAKES = ("2_scott_0_2_2", "2_scott_0_3_3")


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


def animate_take(wav_path: Path, textgrid_path: Path | None, fps: float = 30.0, seed: int = 0, cfg=None):
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
    track = animate_body(timing, prosody, accents, n, fps, np.random.default_rng(seed),
                         *(() if cfg is None else (cfg,)))
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


# --- BEAT-wide placement (the calibration target that is not the take we report on) -------------------
def _sixd_rows_to_matrix(d6: np.ndarray) -> np.ndarray:
    """(..., 6) pytorch3d 6-D (first two rows) -> (..., 3, 3) by Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    b2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = b2 / np.linalg.norm(b2, axis=-1, keepdims=True)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-2)


def mean_pose_placement(rotations: np.ndarray) -> dict[str, float]:
    """Wrist placement of the *mean pose* of canonical-skeleton local rotations (T, J, 3) axis-angle:
    each joint's rotation averaged as 6-D then re-orthonormalised, put through forward kinematics.
    Returns height/forward/lateral as :func:`hand_speed_stats` (shoulder widths from the shoulders)."""
    from umo.skeleton import canonical_skeleton, forward_kinematics, matrix_to_rotvec, rotvec_to_matrix

    mats = rotvec_to_matrix(rotations)  # (T, J, 3, 3)
    mean6 = np.concatenate([mats[..., 0, :], mats[..., 1, :]], axis=-1).mean(0)  # (J, 6), rows
    pose = matrix_to_rotvec(_sixd_rows_to_matrix(mean6))[None].repeat(3, axis=0)  # (3, J, 3)
    sk = canonical_skeleton()
    stats = hand_speed_stats(forward_kinematics(sk, pose, None)[0], 30.0, sk)
    return {k: stats[k] for k in ("height", "forward", "lateral")}


def beat_wide_placement(data_dir: Path) -> dict[str, float]:
    """Placement of BEAT speaker 2's training-set mean pose (BEAT_WIDE_MEAN_POSE) on the canonical skeleton."""
    from umo.formats.smplx import SmplxMotion, smplx_to_animation
    from umo.skeleton import matrix_to_rotvec

    mean = np.load(data_dir / "beat" / BEAT_WIDE_MEAN_POSE).reshape(-1, 6)  # (55, 6)
    rv = matrix_to_rotvec(_sixd_rows_to_matrix(mean))[None]  # (1, 55, 3)
    anim = smplx_to_animation(SmplxMotion(poses=rv, expressions=np.zeros((1, 100)), trans=np.zeros((1, 3)),
                                          betas=np.zeros(300), fps=30.0))
    return mean_pose_placement(anim.body)


def placement_comparison(data_dir: Path, fps: float = 30.0, seeds: int = 2, cfg=None) -> list[StatComparison]:
    """The rules' mean-pose placement on CALIBRATION_TAKES (speech + words, no motion) vs BEAT-wide."""
    beat = data_dir / "beat"
    ours: dict[str, list[float]] = {}
    for take in CALIBRATION_TAKES:
        for seed in range(seeds):
            track, _, _ = animate_take(beat / f"{take}.wav", beat / f"{take}.TextGrid", fps, seed, cfg)
            for k, v in mean_pose_placement(track.rotations).items():
                ours.setdefault(k, []).append(v)
    return compare_to_real({k: float(np.mean(v)) for k, v in ours.items()}, beat_wide_placement(data_dir))


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
    print(f"\nplacement of the mean pose: ours on {', '.join(CALIBRATION_TAKES)} (speech + words, no motion) "
          f"vs BEAT speaker 2's training-set mean pose ({BEAT_WIDE_MEAN_POSE}); the calibration target")
    print(format_table(placement_comparison(data)).replace(" real", "BEAT"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
