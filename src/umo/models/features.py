"""Causal audio front end: log-mel + prosody at 100 Hz, and the causal conv audio encoder.

Feature frame j is the 25 ms window that *ends* at sample (j + 1) * 160: the signal is left-padded
by 400 - 160 = 240 zeros and framed with ``torch.stft(center=False)``, so a frame never uses a
sample after its own time. Normalisation uses fixed constants (measured once on speech at a normal
level), never per-utterance statistics, which would look at the future.

Motion frame i (time i / 30 s) reads the audio encoder at feature frame ``feature_index(i + L)``
(L = lookahead_frames): the newest feature frame at the time of motion frame i + L.

Dimension letters: B batch, S samples, F feature frames (100 Hz), C feature channels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from umo.constants import FEATURE_RATE, HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from umo.models.layers import CausalConvStack, RMSNorm

WIN_LENGTH = 400  # 25 ms at 16 kHz
N_FFT = WIN_LENGTH  # no zero padding: 201 frequency bins of 40 Hz
LEFT_PAD = WIN_LENGTH - HOP_LENGTH  # 240 zeros: frame j covers samples [(j + 1) * 160 - 400, (j + 1) * 160)
N_PROSODY = 3  # log energy, voicing strength, log pitch (both from the frame's autocorrelation)
PITCH_LAGS = (40, 200)  # autocorrelation lags searched for a period: 400 .. 80 Hz
# Fixed normalisation: ln(mel power + 1e-6) and the prosody features, shifted and scaled to roughly
# zero mean / unit variance on the speech fixtures (ARCTIC, JFK) at their recorded level.
MEL_MEAN, MEL_STD = -4.6, 4.1
PROSODY_MEAN = (-1.8, 0.47, 5.3)
PROSODY_STD = (3.0, 0.23, 0.33)


def feature_index(frame: int) -> int:
    """Motion frame -> the newest 100 Hz feature frame at its time: floor(i * 100 / 30)."""
    return (frame * FEATURE_RATE) // MODEL_FPS


def samples_needed(frame: int, lookahead: int) -> int:
    """Samples that must have arrived before motion frame ``frame`` can be computed."""
    return (feature_index(frame + lookahead) + 1) * HOP_LENGTH


def num_motion_frames(num_samples: int) -> int:
    """ceil(duration * 30) frames for a signal of ``num_samples`` at 16 kHz (exact integer maths)."""
    return (num_samples * MODEL_FPS + SAMPLE_RATE - 1) // SAMPLE_RATE


def mel_filterbank(n_mels: int, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """HTK-style triangular mel filters: (n_fft // 2 + 1, n_mels)."""
    n_bins = n_fft // 2 + 1
    freqs = torch.linspace(0, sample_rate / 2, n_bins, dtype=torch.float64)

    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]  # (n_mels, 1)
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)  # (n_mels, n_bins)
    return fb.T.float().contiguous()


class LogMelProsody(nn.Module):
    """audio (B, S) -> normalised features (B, S // 160, n_mels + 3), causally. No parameters."""

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.n_features = n_mels + N_PROSODY
        self.register_buffer("window", torch.hann_window(WIN_LENGTH, periodic=True), persistent=False)
        self.register_buffer("mel_fb", mel_filterbank(n_mels), persistent=False)
        lags = torch.arange(PITCH_LAGS[0], PITCH_LAGS[1] + 1, dtype=torch.float32)
        self.register_buffer("log_f0_of_lag", torch.log(SAMPLE_RATE / lags), persistent=False)
        mean = torch.tensor([MEL_MEAN] * n_mels + list(PROSODY_MEAN))
        std = torch.tensor([MEL_STD] * n_mels + list(PROSODY_STD))
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def frames(self, padded: Tensor) -> Tensor:
        """An already left-padded signal (B, N) -> (B, F, C) with F = (N - 400) // 160 + 1 (0 if N < 400)."""
        b, n = padded.shape
        if n < WIN_LENGTH:
            return padded.new_zeros(b, 0, self.n_features)
        spec = torch.stft(padded.float(), N_FFT, HOP_LENGTH, WIN_LENGTH, self.window, center=False,
                          return_complex=True)  # (B, 201, F)
        power = spec.real.pow(2) + spec.imag.pow(2)
        power = power.transpose(1, 2)  # (B, F, 201)
        log_mel = torch.log(power @ self.mel_fb + 1e-6)  # (B, F, n_mels)
        energy = torch.log(power.mean(-1) + 1e-6)  # (B, F)
        # autocorrelation of the windowed frame (circular, 400 samples): a cheap periodicity proxy
        ac = torch.fft.irfft(power, n=N_FFT)  # (B, F, 400)
        ac = ac[..., PITCH_LAGS[0]:PITCH_LAGS[1] + 1] / (ac[..., :1] + 1e-4)
        w = torch.softmax(ac / 0.05, dim=-1)  # a soft argmax: smooth, so streaming == offline
        voicing = (w * ac).sum(-1)
        log_f0 = (w * self.log_f0_of_lag).sum(-1)
        feats = torch.cat([log_mel, torch.stack([energy, voicing, log_f0], dim=-1)], dim=-1)
        return (feats - self.mean) / self.std

    def forward(self, audio: Tensor) -> Tensor:
        """audio (B, S) -> (B, S // 160, C): feature frame j ends at sample (j + 1) * 160."""
        return self.frames(torch.nn.functional.pad(audio, (LEFT_PAD, 0)))

    def init_state(self, batch: int = 1, device: torch.device | None = None) -> Tensor:
        return torch.zeros(batch, LEFT_PAD, device=device)  # the not-yet-consumed samples (starts as the pad)


class AudioEncoder(nn.Module):
    """Causal conv encoder over the 100 Hz features: (B, F, C) -> (B, F, audio_dim)."""

    def __init__(self, n_features: int, dim: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.inp = nn.Linear(n_features, dim)
        self.stack = CausalConvStack(dim, dilations, kernel=3)
        self.norm = RMSNorm(dim)

    def forward(self, feats: Tensor) -> Tensor:
        return self.norm(self.stack(self.inp(feats)))

    def init_state(self, batch: int = 1, device: torch.device | None = None) -> list[Tensor]:
        return self.stack.init_state(batch, device)
