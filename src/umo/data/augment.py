"""Targeted audio augmentation (UMo): the same motion under many acoustic conditions.

Applied on the fly to each training window, in this order, each with its own probability:

1. speed perturbation 0.85-1.15 (audio resampled, so the pitch moves with it, as Kaldi does);
   the motion and phones are time-warped to match, so lips stay in sync;
2. pitch shift of +-3 semitones at constant duration (phase-vocoder time stretch, then resampling);
3. reverberation: a synthetic exponentially decaying impulse response, RT60 0.1-0.8 s, with the
   direct path at lag 0 (no delay: alignment is kept);
4. additive noise at a random SNR of 5-40 dB: white, pink, brown, or babble made of other speech;
5. band-limiting / codec-like damage: telephone band 300-3400 Hz, low-pass at 4-8 kHz, mu-law or
   8-bit quantisation (filters are zero-phase: alignment is kept);
6. loudness change of -20..+6 dB, scaled down where it would clip.

Only speed perturbation changes lengths: S samples and T frames become round(S / f) and
round(T / f) (T frames <-> T * 1600 / 3 samples at 16 kHz and 30 fps, to within one frame).
Everything random comes from the ``rng`` passed in, so a seed gives the same result.

Dimension letters: S samples, T frames, D channels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError

NOISE_KINDS = ("white", "pink", "brown", "babble")
BAND_KINDS = ("telephone", "lowpass", "mulaw", "8bit")

Babble = Sequence[np.ndarray] | Callable[[int, np.random.Generator], Sequence[np.ndarray]]


@dataclass
class AugmentConfig:
    # speed perturbation: audio played faster/slower (pitch follows); motion and phones warped to match
    p_speed: float = 0.5
    speed: tuple[float, float] = (0.85, 1.15)  # factor; 1.1 shortens everything by 1/1.1
    # pitch shift at constant duration
    p_pitch: float = 0.3
    semitones: tuple[float, float] = (-3.0, 3.0)
    # reverberation (synthetic room impulse response)
    p_reverb: float = 0.25
    rt60_s: tuple[float, float] = (0.1, 0.8)  # time for the tail to decay by 60 dB
    drr_db: tuple[float, float] = (0.0, 12.0)  # direct-to-reverberant energy ratio
    # additive noise
    p_noise: float = 0.4
    snr_db: tuple[float, float] = (5.0, 40.0)  # against the active speech level (see active_power)
    noise_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # white, pink, brown, babble
    babble_talkers: tuple[int, int] = (2, 5)  # other voices summed into babble (inclusive)
    # band-limiting / codec-like quantisation
    p_band: float = 0.25
    band_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # telephone, lowpass, mulaw, 8bit
    lowpass_hz: tuple[float, float] = (4000.0, 7500.0)
    # loudness
    p_gain: float = 0.5
    gain_db: tuple[float, float] = (-20.0, 6.0)
    peak: float = 0.99  # clipping protection: the result is scaled down to this peak if louder

    def __post_init__(self) -> None:
        for name in ("p_speed", "p_pitch", "p_reverb", "p_noise", "p_band", "p_gain"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise UmoError(f"AugmentConfig.{name} is a probability: give a value in [0, 1], not {p}")
        for name in ("speed", "semitones", "rt60_s", "drr_db", "snr_db", "babble_talkers", "lowpass_hz", "gain_db"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise UmoError(f"AugmentConfig.{name} = ({lo}, {hi}): the low end must not exceed the high end")
        if self.speed[0] <= 0:
            raise UmoError(f"AugmentConfig.speed must be positive, got {self.speed}")
        if self.rt60_s[0] <= 0:
            raise UmoError(f"AugmentConfig.rt60_s must be positive, got {self.rt60_s}")
        if not (0 < self.lowpass_hz[0] and self.lowpass_hz[1] < SAMPLE_RATE / 2):
            raise UmoError(f"AugmentConfig.lowpass_hz must lie in (0, {SAMPLE_RATE // 2}) Hz, got {self.lowpass_hz}")
        if len(self.noise_weights) != len(NOISE_KINDS) or len(self.band_weights) != len(BAND_KINDS):
            raise UmoError(f"noise_weights needs {len(NOISE_KINDS)} values ({NOISE_KINDS}), "
                           f"band_weights {len(BAND_KINDS)} ({BAND_KINDS})")

    @classmethod
    def off(cls) -> AugmentConfig:
        """Every transform disabled."""
        return cls(p_speed=0, p_pitch=0, p_reverb=0, p_noise=0, p_band=0, p_gain=0)


# --- the transforms -----------------------------------------------------------------------------
def _resample(audio: np.ndarray, in_rate: float, out_rate: float) -> np.ndarray:
    import soxr

    return soxr.resample(audio.astype(np.float32), in_rate, out_rate).astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad the first axis to n."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], x.dtype)])


def speed_perturb(
    audio: np.ndarray, regions: dict[str, np.ndarray], phones: np.ndarray, factor: float
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Play everything ``factor`` times as fast: S -> round(S / factor), T -> round(T / factor).

    audio: (S,); regions: name -> (T, D), linearly interpolated; phones: (T,), nearest frame.
    """
    s, t = len(audio), len(phones)
    s_out = max(1, int(round(s / factor)))
    out = _fit(_resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE), s_out)
    t_out = max(1, int(round(t / factor)))
    src = np.arange(t_out) * factor  # (T',) position of each new frame on the old frame axis
    i0 = np.clip(np.floor(src).astype(np.int64), 0, t - 1)
    i1 = np.clip(i0 + 1, 0, t - 1)
    w = np.clip(src - i0, 0.0, 1.0)[:, None].astype(np.float32)
    warped = {k: (v[i0] * (1 - w) + v[i1] * w).astype(v.dtype) for k, v in regions.items()}
    ph = phones[np.clip(np.round(src).astype(np.int64), 0, t - 1)]
    return out, warped, ph


def time_stretch(audio: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase vocoder: audio played ``rate`` times as fast, pitch unchanged: (S,) -> (round(S / rate),)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    s = x.shape[0]
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)  # (F, N)
    n_freq, n_frames = spec.shape
    steps = torch.arange(0, n_frames, rate, dtype=torch.float64)  # (N',) read positions
    alpha = (steps % 1.0).to(torch.float32)
    spec = torch.nn.functional.pad(spec, (0, 2))
    i0 = steps.floor().long()
    s0, s1 = spec[:, i0], spec[:, i0 + 1]  # (F, N')
    advance = torch.linspace(0, np.pi * hop, n_freq)[:, None]  # expected phase advance per hop
    dphi = s1.angle() - s0.angle() - advance
    dphi = dphi - 2 * np.pi * torch.round(dphi / (2 * np.pi)) + advance
    phase = torch.cat([spec[:, :1].angle(), dphi[:, :-1]], dim=1).cumsum(dim=1)
    mag = (1 - alpha) * s0.abs() + alpha * s1.abs()
    out_len = max(1, int(round(s / rate)))
    y = torch.istft(torch.polar(mag, phase), n_fft, hop, window=window, center=True, length=out_len)
    return y.numpy().astype(np.float32)


def pitch_shift(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Shift the pitch by ``semitones`` at constant length: (S,) -> (S,)."""
    if semitones == 0:
        return audio.astype(np.float32)
    a = 2.0 ** (semitones / 12.0)
    stretched = time_stretch(audio, 1.0 / a)  # a times as long, same pitch
    return _fit(_resample(stretched, SAMPLE_RATE * a, SAMPLE_RATE), len(audio))  # a times as fast


def active_power(audio: np.ndarray, block_s: float = 0.02, range_db: float = 30.0) -> float:
    """Mean power of the blocks within ``range_db`` of the loudest one: the active speech level.

    SNRs are measured against this, so a window that is half silence gets the same noise as a full one.
    """
    n = max(1, int(block_s * SAMPLE_RATE))
    x = np.asarray(audio, dtype=np.float64)
    m = len(x) // n
    if m == 0:
        return float(np.mean(x**2)) if len(x) else 0.0
    p = np.mean(x[: m * n].reshape(m, n) ** 2, axis=1)
    top = p.max()
    if top <= 0:
        return 0.0
    return float(p[p >= top * 10 ** (-range_db / 10)].mean())


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) unit-power noise: white (flat), pink (1/f power) or brown (1/f^2 power)."""
    white = rng.standard_normal(n)
    if kind != "white":
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        f[0] = f[1] if n > 1 else 1.0
        spec /= np.sqrt(f) if kind == "pink" else f
        white = np.fft.irfft(spec, n)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def babble_noise(n: int, talkers: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(n,) unit-power babble: the talkers, each at a random offset (looped) and unit level, summed."""
    out = np.zeros(n, np.float64)
    for v in talkers:
        v = np.asarray(v, dtype=np.float64)
        p = active_power(v)
        if len(v) == 0 or p <= 0:
            continue
        start = int(rng.integers(len(v)))
        out += np.resize(np.roll(v, -start), n) / np.sqrt(p)
    rms = np.sqrt(np.mean(out**2))
    return (out / rms).astype(np.float32) if rms > 0 else colored_noise(n, "pink", rng)


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """audio + noise scaled to ``snr_db`` below the active speech level (a -60 dBFS floor for silence)."""
    p_sig = max(active_power(audio), 1e-6)
    p_noise = float(np.mean(np.asarray(noise, np.float64) ** 2)) + 1e-20
    gain = np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return (audio + gain * noise).astype(np.float32)


def room_impulse(rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room response: a unit direct path at lag 0, then exponentially decaying noise.

    The tail starts after 2.5 ms (early reflections) and decays by 60 dB in ``rt60_s``.
    """
    n = int(min(1.2 * rt60_s, 1.0) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078: -60 dB at rt60
    tail[: int(0.0025 * SAMPLE_RATE)] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """Convolve with ``impulse`` (direct path at lag 0), keep the length and the active level."""
    from scipy.signal import fftconvolve

    if len(audio) == 0:
        return audio
    wet = fftconvolve(audio, impulse)[: len(audio)]
    p_in, p_out = active_power(audio), active_power(wet)
    if p_out > 0:
        wet *= np.sqrt(p_in / p_out)
    return wet.astype(np.float32)


@lru_cache(maxsize=64)
def _sos(kind: str, cutoff: float) -> np.ndarray:
    from scipy.signal import butter

    if kind == "telephone":
        return butter(4, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return butter(8, cutoff, btype="lowpass", fs=SAMPLE_RATE, output="sos")


def band_limit(audio: np.ndarray, kind: str, cutoff_hz: float = 4000.0) -> np.ndarray:
    """Codec-like damage of one ``kind`` (BAND_KINDS); filters are zero-phase (no delay)."""
    x = np.asarray(audio, dtype=np.float64)
    if kind in ("telephone", "lowpass"):
        from scipy.signal import sosfiltfilt

        if len(x) < 64:
            return audio.astype(np.float32)
        return sosfiltfilt(_sos(kind, round(float(cutoff_hz))), x).astype(np.float32)
    if kind == "mulaw":
        mu = 255.0
        y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
        y = np.round((y + 1) / 2 * mu) / mu * 2 - 1  # 256 levels
        return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)
    if kind == "8bit":
        return (np.round(np.clip(x, -1, 1) * 127.0) / 127.0).astype(np.float32)
    raise ValueError(f"unknown band kind {kind!r}: expected one of {BAND_KINDS}")


def change_gain(audio: np.ndarray, gain_db: float, peak: float = 0.99) -> np.ndarray:
    """Scale by ``gain_db``; if the result would peak above ``peak``, scale it down to ``peak``."""
    y = audio * np.float32(10 ** (gain_db / 20))
    return limit_peak(y, peak)


def limit_peak(audio: np.ndarray, peak: float = 0.99) -> np.ndarray:
    m = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return (audio * (peak / m) if m > peak else audio).astype(np.float32)


# --- all of them --------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, names: tuple[str, ...], weights: tuple[float, ...]) -> str:
    w = np.asarray(weights, dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def augment(
    audio: np.ndarray,
    regions: dict[str, np.ndarray],
    phones: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig | None = None,
    babble: Babble | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Randomly augment one clip or window.

    audio: (S,) float32 at 16 kHz; regions: name -> (T, D) at 30 fps; phones: (T,) int;
    babble: other speech for babble noise, a sequence of (S_k,) arrays or a function
    ``(count, rng) -> arrays`` called only when babble is drawn (pink noise if None).
    Returns new arrays (the inputs are not modified); lengths change only by speed perturbation.
    """
    cfg = cfg or AugmentConfig()
    audio = np.asarray(audio, dtype=np.float32)
    phones = np.asarray(phones)
    if rng.random() < cfg.p_speed:
        audio, regions, phones = speed_perturb(audio, regions, phones, float(rng.uniform(*cfg.speed)))
    if rng.random() < cfg.p_pitch:
        audio = pitch_shift(audio, float(rng.uniform(*cfg.semitones)))
    if rng.random() < cfg.p_reverb:
        ir = room_impulse(float(rng.uniform(*cfg.rt60_s)), float(rng.uniform(*cfg.drr_db)), rng)
        audio = reverberate(audio, ir)
    if rng.random() < cfg.p_noise:
        kind = _pick(rng, NOISE_KINDS, cfg.noise_weights)
        snr = float(rng.uniform(*cfg.snr_db))
        if kind == "babble" and babble is not None:
            count = int(rng.integers(cfg.babble_talkers[0], cfg.babble_talkers[1] + 1))
            talkers = babble(count, rng) if callable(babble) else [
                babble[int(i)] for i in rng.choice(len(babble), size=min(count, len(babble)), replace=False)
            ]
            noise = babble_noise(len(audio), talkers, rng)
        else:
            noise = colored_noise(len(audio), "pink" if kind == "babble" else kind, rng)
        audio = add_noise(audio, noise, snr)
    if rng.random() < cfg.p_band:
        kind = _pick(rng, BAND_KINDS, cfg.band_weights)
        audio = band_limit(audio, kind, float(rng.uniform(*cfg.lowpass_hz)))
    if rng.random() < cfg.p_gain:
        audio = change_gain(audio, float(rng.uniform(*cfg.gain_db)), cfg.peak)
    return limit_peak(audio, 1.0), dict(regions), phones
