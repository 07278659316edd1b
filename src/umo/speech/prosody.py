"""Prosody at the animation frame rate: loudness, pitch, voicing, and accents.

These drive the rule-based animator's brows, head and gestures. Each value at frame ``i`` uses the
audio in a window centred on ``i / fps`` (offline; the streaming model has its own causal features).

Dimension letters: T frames, S samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umo.constants import SAMPLE_RATE
from umo.speech.units import SILENCE, Timing

F0_MIN = 60.0  # Hz: lowest pitch searched (deep male voice)
F0_MAX = 400.0  # Hz: highest pitch searched
WINDOW_S = 0.040  # analysis window: two periods of F0_MIN at least
SILENCE_DB = -50.0  # frames quieter than this (dBFS RMS) count as silence


@dataclass
class Prosody:
    fps: float
    energy_db: np.ndarray  # (T,) RMS level, dBFS
    loudness: np.ndarray  # (T,) energy mapped to [0, 1] relative to the utterance (robust max)
    f0: np.ndarray  # (T,) Hz, 0 where unvoiced
    voiced: np.ndarray  # (T,) bool

    @property
    def num_frames(self) -> int:
        return len(self.energy_db)

    def f0_semitones(self) -> np.ndarray:
        """(T,) pitch in semitones relative to the utterance's median voiced pitch, 0 where unvoiced."""
        out = np.zeros(self.num_frames)
        if self.voiced.any():
            ref = np.median(self.f0[self.voiced])
            out[self.voiced] = 12.0 * np.log2(self.f0[self.voiced] / ref)
        return out


def _frames(audio: np.ndarray, centres: np.ndarray, win: int) -> np.ndarray:
    """(T, win) windows of audio centred on sample positions, zero padded at the edges."""
    half = win // 2
    padded = np.pad(audio, (half, half + win))
    idx = centres[:, None] + np.arange(win)[None, :]  # (T, win), offset by the padding
    return padded[np.clip(idx, 0, len(padded) - 1)]


def compute_prosody(audio: np.ndarray, num_frames: int, fps: float, sample_rate: int = SAMPLE_RATE) -> Prosody:
    """audio: (S,) float mono at sample_rate -> Prosody with num_frames frames at fps."""
    audio = np.asarray(audio, dtype=np.float64)
    win = int(round(WINDOW_S * sample_rate))
    centres = np.round(np.arange(num_frames) / fps * sample_rate).astype(np.int64)
    fr = _frames(audio, centres, win)  # (T, win)
    rms = np.sqrt(np.mean(fr**2, axis=1) + 1e-12)
    energy_db = 20.0 * np.log10(rms + 1e-9)

    # Loudness in [0, 1]: silence floor -> 0, 98th percentile of speech -> 1.
    speech = energy_db[energy_db > SILENCE_DB]
    top = np.percentile(speech, 98) if speech.size else 0.0
    loudness = np.clip((energy_db - SILENCE_DB) / max(top - SILENCE_DB, 1e-6), 0.0, 1.0)

    # Pitch: normalised autocorrelation of each windowed frame, peak in the F0 search range.
    x = fr - fr.mean(axis=1, keepdims=True)
    x = x * np.hanning(win)[None, :]
    n_fft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(x, n_fft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n_fft, axis=1)[:, :win]  # (T, win)
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lag_min = int(sample_rate / F0_MAX)
    lag_max = min(int(sample_rate / F0_MIN), win - 1)
    seg = ac[:, lag_min:lag_max]
    best = np.argmax(seg, axis=1)
    peak = seg[np.arange(len(seg)), best]
    lag = best + lag_min
    # Parabolic interpolation of the peak for sub-sample lag.
    i = np.clip(lag, 1, win - 2)
    a, b, c = ac[np.arange(len(ac)), i - 1], ac[np.arange(len(ac)), i], ac[np.arange(len(ac)), i + 1]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (a - c) / np.where(np.abs(denom) > 1e-9, denom, 1.0), 0.0)
    f0 = sample_rate / np.maximum(lag + np.clip(shift, -0.5, 0.5), 1.0)
    voiced = (peak > 0.45) & (energy_db > SILENCE_DB + 10.0)
    voiced = _remove_short_runs(voiced, min_len=max(2, int(round(0.03 * fps))))
    f0 = np.where(voiced, f0, 0.0)
    return Prosody(fps=fps, energy_db=energy_db, loudness=loudness, f0=f0, voiced=voiced)


def _remove_short_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """Drop True runs shorter than min_len frames (octave-error blips)."""
    out = mask.copy()
    n = len(mask)
    i = 0
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            if j - i < min_len:
                out[i:j] = False
            i = j
        else:
            i += 1
    return out


@dataclass(frozen=True)
class Accent:
    time: float  # seconds
    strength: float  # 0..1


def find_accents(prosody: Prosody, timing: Timing | None = None, min_gap_s: float = 0.3) -> list[Accent]:
    """Prominent syllables: where gestures strike and the head nods.

    With a transcript that marks lexical stress, candidates are the stressed vowels (their loudest
    frame); otherwise (no transcript, or one without stress such as ARCTIC labels), local maxima of
    loudness in voiced speech. Strength mixes loudness and pitch excursion; candidates closer than
    ``min_gap_s`` keep only the stronger one.
    """
    fps = prosody.fps
    semis = prosody.f0_semitones()
    score = 0.7 * prosody.loudness + 0.3 * np.clip(semis / 6.0, 0.0, 1.0)  # (T,)
    cands: list[Accent] = []
    stressed = timing.stressed_vowels() if timing is not None else []
    if stressed:
        for p in stressed:
            a, b = int(p.start * fps), max(int(p.start * fps) + 1, int(np.ceil(p.end * fps)))
            a, b = min(a, prosody.num_frames - 1), min(b, prosody.num_frames)
            if a < 0 or a >= b:
                continue
            k = a + int(np.argmax(score[a:b]))
            cands.append(Accent(k / fps, float(score[k])))
    else:
        voiced = prosody.voiced
        for k in range(1, prosody.num_frames - 1):
            if voiced[k] and score[k] >= score[k - 1] and score[k] > score[k + 1] and score[k] > 0.45:
                cands.append(Accent(k / fps, float(score[k])))
    # Non-maximum suppression in time.
    cands.sort(key=lambda a: -a.strength)
    kept: list[Accent] = []
    for c in cands:
        if all(abs(c.time - k.time) >= min_gap_s for k in kept):
            kept.append(c)
    return sorted(kept, key=lambda a: a.time)


def speech_spans(
    timing: Timing | None, prosody: Prosody, pause_s: float, silence_loudness: float = 0.08, min_len_s: float = 0.1
) -> list[tuple[float, float]]:
    """Phrases: runs of speech separated by pauses longer than ``pause_s``; sorted (start, end) seconds.

    From the transcript when there is one (its words, else its non-silent phones), else from the
    audio: frames whose loudness exceeds ``silence_loudness``. Runs shorter than ``min_len_s``
    (clicks, breaths) are dropped. The face (blinks, gaze) and the body (gesture units) each call
    this with their own pause length.
    """
    if timing is not None and (timing.words or timing.phones):
        if timing.words:
            spans = [(w.start, w.end) for w in timing.words if w.text.strip()]
        else:
            spans = [(p.start, p.end) for p in timing.phones if p.symbol != SILENCE]
    else:
        speech = np.concatenate([[False], prosody.loudness > silence_loudness, [False]])
        edges = np.flatnonzero(np.diff(speech.astype(np.int8)))  # starts and ends alternate
        spans = [(a / prosody.fps, b / prosody.fps) for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] <= pause_s:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= min_len_s]
