"""Quality metrics on animations already on one time axis (see umo.eval.align).

Face (ARKit-52 weights vs a capture, only the channels the capture holds):
    lve_bs          mean over frames of the max over jaw/mouth channels of the squared error
                    (the blendshape form of FaceFormer's lip vertex error)
    mouth_mae       mean absolute error over frames and jaw/mouth channels
    velocity_l1     mean |d pred/dt - d capture/dt| over frames and channels, weights per second
    upper_fdd       upper-face dynamics deviation: mean over eye/brow channels of
                    |std over time (pred) - std over time (capture)| (FaceFormer's FDD on weights)
    sync            Pearson r of the lip aperture (umo.constants.lip_aperture) at lag 0, and the
                    lag within +-300 ms that maximises it (positive: the prediction is late)

Body (after forward kinematics with the root held at rest, positions relative to the hips and
divided by the skeleton's shoulder width, so skeletons of different size compare):
    beat_align      BEAT/EMAGE beat consistency: motion beats are local minima of joint speed (over
                    +-BEAT_ORDER_S) where the joint still moves faster than BEAT_SPEED_FRACTION x the
                    capture's mean speed of that joint; for each audio onset a, score
                    exp(-min_b (b - a)^2 / (2 sigma^2)) with sigma = 0.3 s; mean over onsets, then
                    over BEAT_JOINTS (a joint without beats scores 0, as in EMAGE)
    l1_div          L1 diversity: mean |p - mean over time of p| over frames, BEAT_JOINTS, axes
    hand_speed      mean wrist speed, shoulder widths/s; hand_jerk: mean |d^3 p/dt^3| of the wrists
    fd_raw          Frechet distance between windowed hand-crafted features of prediction and capture
    fd_latent       the same in the latent space of umo.eval.motion_ae

Audio onsets (for beat_align) are spectral-flux onsets picked like librosa.onset.onset_detect's
defaults (local maximum over 30 ms before, above the mean over +-100 ms plus 0.07 of the normalised
envelope, at least 30 ms apart); librosa itself is not a dependency.

Dimension letters: T frames, C channels, J joints, N windows, D features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umo.constants import ARKIT_INDEX, JAW_MOUTH_NAMES, SAMPLE_RATE, UPPER_FACE_NAMES, lip_aperture
from umo.skeleton import Skeleton

MAX_LAG_S = 0.3  # sync search range, +-
BEAT_SIGMA_S = 0.3  # BEAT/EMAGE beat-consistency sigma
BEAT_ORDER_S = 7 / 30  # EMAGE: argrelextrema order 7 at 30 fps
BEAT_SPEED_FRACTION = 0.1  # a speed minimum is a beat only above this fraction of the capture's mean
BEAT_JOINTS: tuple[str, ...] = (  # EMAGE's 13 SMPL upper-body joints, on the canonical skeleton
    "Spine3", "Neck", "Head", "RightShoulder", "RightArm", "RightForeArm", "RightHand",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
)
FEATURE_JOINTS: tuple[str, ...] = ("Head", "RightArm", "RightForeArm", "RightHand", "LeftArm", "LeftForeArm",
                                   "LeftHand")
FEATURE_FPS = 15.0  # windows for the Frechet distances are cut at this rate (BEAT's capture rate)
WINDOW = 32  # frames per window: 2.1 s at FEATURE_FPS
WINDOW_STRIDE = 4  # frames between windows: 0.27 s
ONSET_HOP = 160  # samples between onset-envelope frames at SAMPLE_RATE: 100 Hz

JAW_MOUTH = frozenset(ARKIT_INDEX[n] for n in JAW_MOUTH_NAMES)
UPPER_FACE = frozenset(ARKIT_INDEX[n] for n in UPPER_FACE_NAMES)


# --- face ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lag:
    r0: float  # Pearson r at lag 0
    r_best: float  # the best r within the search range
    lag_ms: float  # its lag: positive when x is late (x(t) ~ y(t - lag))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN where either signal is constant (a still face has no correlation)."""
    x, y = x - x.mean(), y - y.mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 1e-12 else float("nan")


def lagged_correlation(x: np.ndarray, y: np.ndarray, fps: float, max_lag_s: float = MAX_LAG_S) -> Lag:
    """Correlation of two curves on one axis at lag 0 and the best lag within +-max_lag_s."""
    n = min(len(x), len(y))
    x, y = np.asarray(x[:n], float), np.asarray(y[:n], float)
    k_max = min(int(round(max_lag_s * fps)), n - 3)
    best, best_k = float("nan"), 0
    for k in range(-k_max, k_max + 1):
        a, b = (x[k:], y[: n - k]) if k >= 0 else (x[: n + k], y[-k:])
        r = pearson(a, b)
        if not np.isnan(r) and (np.isnan(best) or r > best):
            best, best_k = r, k
    return Lag(pearson(x, y), best, float("nan") if np.isnan(best) else 1000.0 * best_k / fps)


def face_metrics(pred: np.ndarray, gt: np.ndarray, fps: float, channels: list[int] | tuple[int, ...]) -> dict:
    """pred, gt: (T, 52) on one axis; channels: indices valid in the capture."""
    mouth = [c for c in channels if c in JAW_MOUTH]
    upper = [c for c in channels if c in UPPER_FACE]
    out: dict[str, float | None] = {}
    if mouth:
        err = pred[:, mouth] - gt[:, mouth]  # (T, C)
        out["lve_bs"] = float(np.mean(np.max(err**2, axis=1)))
        out["mouth_mae"] = float(np.mean(np.abs(err)))
    else:
        out["lve_bs"] = out["mouth_mae"] = None
    ch = list(channels)
    out["velocity_l1"] = float(np.mean(np.abs(np.diff(pred[:, ch], axis=0) - np.diff(gt[:, ch], axis=0))) * fps)
    out["upper_fdd"] = float(np.mean(np.abs(pred[:, upper].std(0) - gt[:, upper].std(0)))) if upper else None
    lag = lagged_correlation(lip_aperture(pred), _aperture(gt, channels), fps)
    out.update(sync_r0=lag.r0, sync_r_best=lag.r_best, sync_lag_ms=lag.lag_ms)
    return out


def _aperture(face: np.ndarray, channels) -> np.ndarray:
    """Lip aperture of a capture from the channels it holds (absent ones are zero anyway)."""
    masked = np.zeros_like(face)
    masked[:, list(channels)] = face[:, list(channels)]
    return lip_aperture(masked)


def envelope_sync(pred: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int = SAMPLE_RATE) -> dict:
    """Sanity check without a capture: lip aperture vs the audio's loudness envelope (same frames)."""
    from umo.speech.prosody import compute_prosody

    env = compute_prosody(audio, pred.shape[0], fps, sample_rate).loudness
    lag = lagged_correlation(lip_aperture(pred), env, fps)
    return {"env_r0": lag.r0, "env_r_best": lag.r_best, "env_lag_ms": lag.lag_ms}


# --- audio onsets ------------------------------------------------------------------------------------
def onset_envelope(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """Spectral flux of the log magnitude spectrum: (F,) envelope in [0, 1] and its frame rate."""
    n_fft = 1024
    hop = int(round(ONSET_HOP * sample_rate / SAMPLE_RATE))
    x = np.pad(np.asarray(audio, dtype=np.float64), (n_fft // 2, n_fft // 2))
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]  # (F, n_fft)
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1))
    logmag = np.log1p(1000.0 * spec)
    flux = np.maximum(0.0, np.diff(logmag, axis=0)).mean(axis=1)
    flux = np.concatenate([[0.0], flux])
    flux = (flux - flux.min()) / max(flux.max() - flux.min(), 1e-12)
    return flux, sample_rate / hop


def audio_onsets(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Onset times in seconds (see the module docstring for the picking rule)."""
    env, rate = onset_envelope(audio, sample_rate)
    pre_max, avg, wait, delta = int(0.03 * rate), int(0.10 * rate), int(0.03 * rate), 0.07
    onsets: list[int] = []
    for i in range(1, len(env)):
        lo = max(0, i - pre_max)
        if env[i] < env[lo:i + 1].max() or (i + 1 < len(env) and env[i] < env[i + 1]):
            continue
        if env[i] < env[max(0, i - avg):i + avg + 1].mean() + delta:
            continue
        if onsets and i - onsets[-1] <= wait:
            continue
        onsets.append(i)
    return np.asarray(onsets, dtype=np.float64) / rate


# --- body ---------------------------------------------------------------------------------------------
def normalised_positions(body: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Local rotations (T, J, 3) -> positions (T, J, 3) relative to the hips, in shoulder widths.

    The root is held at rest (its rotation and translation dropped): co-speech motion is the upper
    body's own motion, and BEAT's root rotation is junk after frame 0.
    """
    from umo.animator.body_stats import shoulder_width
    from umo.skeleton import forward_kinematics

    rot = np.array(body, dtype=np.float64)
    rot[:, 0] = 0.0
    pos = forward_kinematics(skeleton, rot, None)[0]
    pos = pos - pos[:, :1]
    return pos / shoulder_width(pos, skeleton)


def joint_speed(pos: np.ndarray, fps: float) -> np.ndarray:
    """(T, J, 3) -> (T, J) speed; central differences inside, one-sided at the ends (as EMAGE)."""
    if pos.shape[0] < 2:
        return np.zeros(pos.shape[:2])
    return np.linalg.norm(np.gradient(pos, 1.0 / fps, axis=0), axis=-1)


def motion_beats(speed: np.ndarray, fps: float, threshold: np.ndarray | float) -> list[np.ndarray]:
    """Per joint, frames that are local minima of speed within +-BEAT_ORDER_S, above threshold."""
    from scipy.signal import argrelextrema

    order = max(1, int(round(BEAT_ORDER_S * fps)))
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (speed.shape[1],))
    out = []
    for j in range(speed.shape[1]):
        m = argrelextrema(speed[:, j], np.less, order=order)[0]
        out.append(m[speed[m, j] > thr[j]])
    return out


def beat_alignment(beats: list[np.ndarray], fps: float, onsets: np.ndarray, sigma: float = BEAT_SIGMA_S) -> float:
    """BEAT/EMAGE beat consistency (see the module docstring); onsets in seconds."""
    if len(onsets) == 0:
        return float("nan")
    scores = []
    for b in beats:
        if len(b) == 0:
            scores.append(0.0)
            continue
        t = b / fps
        d2 = np.min((t[None, :] - onsets[:, None]) ** 2, axis=1)  # (onsets,)
        scores.append(float(np.mean(np.exp(-d2 / (2 * sigma**2)))))
    return float(np.mean(scores))


def l1_diversity(pos: np.ndarray) -> float:
    """Mean absolute deviation of positions (T, J, 3) from their mean over time."""
    return float(np.mean(np.abs(pos - pos.mean(axis=0, keepdims=True))))


def wrist_stats(pos: np.ndarray, fps: float, skeleton: Skeleton) -> tuple[float, float]:
    """(mean wrist speed, mean wrist jerk) of normalised positions (T, J, 3): sw/s and sw/s^3."""
    w = pos[:, [skeleton.index("RightHand"), skeleton.index("LeftHand")]]  # (T, 2, 3)
    speed = np.linalg.norm(np.diff(w, axis=0), axis=-1) * fps
    jerk = np.linalg.norm(np.diff(w, n=3, axis=0), axis=-1) * fps**3 if len(w) > 3 else np.zeros(1)
    return float(speed.mean()), float(jerk.mean())


def feature_track(pos: np.ndarray, fps: float, skeleton: Skeleton) -> np.ndarray:
    """Normalised positions (T, J, 3) at fps -> FEATURE_JOINTS at FEATURE_FPS, (T', len(FEATURE_JOINTS), 3)."""
    from umo.animator.body_stats import resample_positions

    idx = [skeleton.index(n) for n in FEATURE_JOINTS]
    return resample_positions(pos[:, idx], fps, FEATURE_FPS)


def windows(track: np.ndarray, window: int = WINDOW, stride: int = WINDOW_STRIDE) -> np.ndarray:
    """(T, K, 3) -> (N, window, K, 3) overlapping windows (none if T < window)."""
    starts = range(0, track.shape[0] - window + 1, stride)
    return np.stack([track[s:s + window] for s in starts]) if len(starts) else np.zeros((0, window, *track.shape[1:]))


def raw_window_features(win: np.ndarray) -> np.ndarray:
    """(N, W, K, 3) -> (N, 8K): per joint mean and std of position, mean and max speed."""
    speed = np.linalg.norm(np.diff(win, axis=1), axis=-1) * FEATURE_FPS  # (N, W-1, K)
    n = win.shape[0]
    return np.concatenate([win.mean(1).reshape(n, -1), win.std(1).reshape(n, -1),
                           speed.mean(1), speed.max(1)], axis=1)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    from scipy.linalg import sqrtm

    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)
    off = np.eye(s1.shape[0]) * eps
    covmean = sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    return float(max(0.0, np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2.0 * covmean)))


def body_metrics(pred_pos: np.ndarray, gt_pos: np.ndarray, fps: float, skeleton_pred: Skeleton,
                 skeleton_gt: Skeleton, onsets: np.ndarray | None, latent: bool = True) -> dict:
    """Normalised positions of prediction and capture on one axis (T, J, 3) -> the body metrics."""
    bj_p = [skeleton_pred.index(n) for n in BEAT_JOINTS]
    bj_g = [skeleton_gt.index(n) for n in BEAT_JOINTS]
    sp_p, sp_g = joint_speed(pred_pos[:, bj_p], fps), joint_speed(gt_pos[:, bj_g], fps)
    thr = BEAT_SPEED_FRACTION * sp_g.mean(axis=0)  # per joint, from the capture
    out: dict[str, float | None] = {}
    if onsets is not None:
        out["beat_align"] = beat_alignment(motion_beats(sp_p, fps, thr), fps, onsets)
    out["l1_div"] = l1_diversity(pred_pos[:, bj_p])
    hs, hj = wrist_stats(pred_pos, fps, skeleton_pred)
    out["hand_speed"], out["hand_jerk"] = hs, hj
    wp = windows(feature_track(pred_pos, fps, skeleton_pred))
    wg = windows(feature_track(gt_pos, fps, skeleton_gt))
    out["fd_raw"] = frechet_distance(raw_window_features(wp), raw_window_features(wg))
    if latent:
        from umo.eval.motion_ae import encode_windows

        out["fd_latent"] = frechet_distance(encode_windows(wp), encode_windows(wg))
    return out


def capture_body_stats(gt_pos: np.ndarray, fps: float, skeleton: Skeleton, onsets: np.ndarray | None) -> dict:
    """The capture's own beat alignment, diversity, hand speed and jerk: the row to compare with."""
    return body_metrics(gt_pos, gt_pos, fps, skeleton, skeleton, onsets, latent=False) | {"fd_raw": 0.0}
