"""Linear probes: ridge regressions from audio features to the face, fitted on real captures.

The "probe" baseline of ``umo eval`` (issue 13): the model's own causal log-mel + prosody features
(``umo.models.features``), read at each motion frame's time and +-40, +-80 ms, mapped by one ridge
regression to every face channel FACEGOOD captures, fitted on the visible FACEGOOD training takes
(``PROBE_TAKES``, Mandarin, one speaker; never the held-out 1114_3_16). A learned model that cannot
beat this line has not learned what the real data teach. It reads 80 ms of future audio (the model
reads 67 ms) and runs offline only.

``scripts/whisper_probe.py`` fits the same kind of probe on Whisper's layers.

Dimension letters: T motion frames, F feature frames, C features, K targets, N takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE, lip_aperture
from umo.errors import UmoError
from umo.eval.metrics import pearson

PROBE_TAKES = ("1114_2_01", "1114_2_02", "1114_2_03", "1114_2_04")  # FACEGOOD takes the probe fits on
CONTEXT_S = (-0.08, -0.04, 0.0, 0.04, 0.08)  # feature read times around each motion frame
LAMBDAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def sampler(values: np.ndarray, rate: float, t0: float) -> Callable[[np.ndarray], np.ndarray]:
    """(F, C) frames at t0 + j / rate -> linear interpolation at any times (N,) -> (N, C), held at the ends."""
    def at(times: np.ndarray) -> np.ndarray:
        x = np.clip((times - t0) * rate, 0, len(values) - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, len(values) - 1)
        w = (x - lo)[:, None]
        return values[lo] * (1 - w) + values[hi] * w
    return at


def stacked(at: Callable[[np.ndarray], np.ndarray], times: np.ndarray) -> np.ndarray:
    """(T,) motion frame times -> (T, C * len(CONTEXT_S)) features around each."""
    return np.concatenate([at(times + c) for c in CONTEXT_S], axis=1).astype(np.float32)


def mel_context(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """The model's log-mel + prosody around each of num_frames motion frames -> (T, 83 * 5)."""
    import torch

    from umo.models.features import WIN_LENGTH, LogMelProsody

    with torch.no_grad():
        mel = LogMelProsody()(torch.from_numpy(np.asarray(audio, np.float32))[None])[0].numpy()  # (F, 83)
    # frame j is the window ending at sample (j + 1) * 160: its centre is 200 samples earlier
    t0 = (HOP_LENGTH - WIN_LENGTH / 2) / SAMPLE_RATE
    return stacked(sampler(mel, SAMPLE_RATE / HOP_LENGTH, t0), np.arange(num_frames) / MODEL_FPS)


@dataclass
class Ridge:
    """y = standardise(x) @ w + b, several targets at once; ``lam`` chosen by leave-one-take-out."""

    weights: np.ndarray  # (C + 1, K), or (C + 1,) for one target given as (T,): the last row is the bias
    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    lam: float
    cv_r: float  # leave-one-take-out mean Pearson r of the score the strength was chosen on

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.weights[:-1] + self.weights[-1]


def fit_ridge(xs: list[np.ndarray], ys: list[np.ndarray],
              score: Callable[[np.ndarray], np.ndarray] = lambda y: y) -> Ridge:
    """Ridge on standardised features over N takes (xs (T_n, C), ys (T_n, K) or (T_n,)); the
    strength maximises the mean r of ``score(prediction)`` vs ``score(truth)`` leaving one take out."""
    x_all = np.concatenate(xs)
    mean, std = x_all.mean(0), x_all.std(0) + 1e-6
    zs = [np.hstack([(x - mean) / std, np.ones((len(x), 1))]).astype(np.float64) for x in xs]
    ys2 = [y.reshape(len(y), -1).astype(np.float64) for y in ys]
    grams = [z.T @ z for z in zs]  # per take, so each fold is a sum
    moments = [z.T @ y for z, y in zip(zs, ys2)]
    reg = np.eye(zs[0].shape[1])
    reg[-1, -1] = 0.0  # the bias is not shrunk

    def solve(keep: list[int], lam: float) -> np.ndarray:
        return np.linalg.solve(sum(grams[i] for i in keep) + lam * reg, sum(moments[i] for i in keep))

    def squeeze(y: np.ndarray, like: np.ndarray) -> np.ndarray:
        return y.reshape(like.shape)

    best = None
    for lam in LAMBDAS:
        rs = [pearson(score(squeeze(zs[k] @ solve([i for i in range(len(zs)) if i != k], lam), ys[k])), score(ys[k]))
              for k in range(len(zs))]
        r = float(np.mean(rs))
        if best is None or r > best[0]:
            best = (r, lam)
    w = solve(list(range(len(zs))), best[1])
    return Ridge(w[:, 0] if ys[0].ndim == 1 else w, mean, std, best[1], best[0])


@dataclass
class FaceProbe:
    """The fitted log-mel -> face probe: ``animate(audio)`` -> a face-only Animation at 30 fps."""

    ridge: Ridge
    channels: np.ndarray  # (K,) ARKit indices it predicts (those FACEGOOD captures)

    def animate(self, audio: np.ndarray) -> Animation:
        n = max(1, int(np.ceil(len(audio) / SAMPLE_RATE * MODEL_FPS - 1e-6)))
        anim = Animation.neutral(n, MODEL_FPS, with_body=False)
        anim.face[:, self.channels] = np.clip(self.ridge.predict(mel_context(audio, n)), 0.0, 1.0)
        return anim.copy(audio=np.asarray(audio, np.float32))


_PROBES: dict[Path, FaceProbe] = {}


def facegood_face_probe(folder: Path) -> FaceProbe:
    """The probe fitted on ``PROBE_TAKES`` of a FACEGOOD folder (wav/, bs_value/); cached per folder."""
    from umo.formats.facegood import read_facegood

    folder = Path(folder)
    if folder in _PROBES:
        return _PROBES[folder]
    missing = [n for n in PROBE_TAKES if not (folder / "bs_value" / f"bs_value_{n}.npy").is_file()]
    if missing:
        raise UmoError(f"the probe fits on FACEGOOD takes {', '.join(PROBE_TAKES)}; {folder} lacks {', '.join(missing)}")
    takes = [read_facegood(folder / "bs_value" / f"bs_value_{n}.npy", folder / "wav" / f"{n}.wav") for n in PROBE_TAKES]
    # the channels the captures move (FACEGOOD's mapping reaches the mouth and jaw)
    used = np.flatnonzero(np.max([np.abs(a.face).max(axis=0) for a in takes], axis=0) > 0)
    xs, ys = [], []
    for anim in takes:
        n = min(anim.num_frames, int(len(anim.audio) / SAMPLE_RATE * MODEL_FPS))
        xs.append(mel_context(anim.audio, n))
        ys.append(anim.face[:n, used])
    full = np.zeros((1, 52))

    def aperture(y: np.ndarray) -> np.ndarray:
        face = np.repeat(full, len(y), axis=0)
        face[:, used] = y
        return lip_aperture(face)

    _PROBES[folder] = FaceProbe(fit_ridge(xs, ys, aperture), used)
    return _PROBES[folder]
