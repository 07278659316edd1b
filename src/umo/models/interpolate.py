"""Interpolation network: sparse keyframe codes + dense audio -> every motion frame (all regions).

This is the motion tokenizer's decoder and UMo's "lightweight interpolation network" in one: it
sees, for each 30 fps frame i of keyframe chunk k = i // K, the code vectors of keyframe k and k-1
(all regions), the frame's offset j = i % K inside the chunk, and the dense audio and phone features
of frame i, because lips move faster than keyframes. A causal conv stack over frames smooths across
chunk boundaries. Frame i therefore depends on codes <= k and audio up to frame i + lookahead only.

Dimension letters: B batch, T frames, N keyframes, q code dims per region, R regions, a/p audio and
phone feature widths, D = sum of region dims (61 + 36 + 138).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from umo.models.layers import CausalConvStack, RMSNorm


def expand_keyframes(zq: Tensor, t: int, stride: int) -> tuple[Tensor, Tensor, Tensor]:
    """zq (B, N, R q) -> per frame: current keyframe (B, T, R q), previous (zeros before 0), offsets (T,)."""
    i = torch.arange(t, device=zq.device)
    k = i // stride
    prev = torch.cat([torch.zeros_like(zq[:, :1]), zq[:, :-1]], dim=1)
    return zq[:, k], prev[:, k], i % stride


class Interpolator(nn.Module):
    def __init__(self, code_dim: int, audio_dim: int, text_dim: int, dim: int, dilations: tuple[int, ...],
                 stride: int, out_dim: int) -> None:
        super().__init__()
        self.stride = stride
        self.code = nn.Linear(code_dim, dim)
        self.prev_code = nn.Linear(code_dim, dim, bias=False)
        self.offset = nn.Embedding(stride, dim)
        self.audio = nn.Linear(audio_dim, dim, bias=False)
        self.text = nn.Linear(text_dim, dim, bias=False)
        self.stack = CausalConvStack(dim, dilations, kernel=3)
        self.norm = RMSNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def frame_inputs(self, cur: Tensor, prev: Tensor, offset: Tensor, audio: Tensor, text: Tensor) -> Tensor:
        """(B, T, R q) x2, (T,), (B, T, a), (B, T, p) -> (B, T, dim)."""
        return self.code(cur) + self.prev_code(prev) + self.offset(offset) + self.audio(audio) + self.text(text)

    def forward(self, zq: Tensor, audio: Tensor, text: Tensor) -> Tensor:
        """zq (B, N, R q), audio (B, T, a), text (B, T, p) -> normalised motion (B, T, D)."""
        cur, prev, offset = expand_keyframes(zq, audio.shape[1], self.stride)
        h = self.stack(self.frame_inputs(cur, prev, offset, audio, text))
        return self.out(self.norm(h))

    def init_state(self, batch: int = 1, device: torch.device | None = None) -> list[Tensor]:
        return self.stack.init_state(batch, device)
