"""Per-region motion tokenizer: a causal conv encoder + FSQ, one per region (face, body, hands).

FSQ (finite scalar quantisation; Mentzer et al. 2023, https://arxiv.org/abs/2309.15505): each of
the q latent dimensions is squashed by tanh to a bounded range and rounded to one of ``levels[d]``
values (straight-through gradient). The code index is the mixed-radix number of the digits, so a
region's codebook has prod(levels) entries (1000 for (8, 5, 5, 5)) and needs no codebook loss.

Keyframe k of stride K summarises the chunk of motion frames [k K, k K + K): the causal encoder's
output at the chunk's last frame (frames <= k K + K - 1). The decoder is the interpolation network
(interpolate.py), which rebuilds every frame from these codes and the dense audio.

Dimension letters: B batch, T motion frames, N keyframes = ceil(T / K), D region channels, q FSQ dims.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from umo.models.layers import CausalConvStack


class FSQ(nn.Module):
    """Finite scalar quantisation of (..., q) latents. Quantisation runs in float32."""

    def __init__(self, levels: tuple[int, ...], eps: float = 1e-3) -> None:
        super().__init__()
        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor((1,) + tuple(levels[:-1])), 0)
        self.register_buffer("levels", lv, persistent=False)
        self.register_buffer("basis", basis, persistent=False)
        self.register_buffer("half_l", (lv - 1) * (1 + eps) / 2, persistent=False)
        self.register_buffer("offset", torch.where(lv % 2 == 0, 0.5, 0.0), persistent=False)
        self.register_buffer("half_width", torch.floor(lv / 2), persistent=False)
        self.dim = len(levels)
        self.codebook_size = int(torch.prod(lv).item())

    def bound(self, z: Tensor) -> Tensor:
        shift = torch.atanh(self.offset / self.half_l)
        return torch.tanh(z.float() + shift) * self.half_l - self.offset

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z (..., q) -> zq (..., q) in [-1, 1] (straight-through), codes (...,) int64, rounding error (..., q)."""
        bounded = self.bound(z)
        rounded = torch.round(bounded)
        err = bounded - rounded.detach()
        quantised = bounded + (rounded - bounded).detach()  # straight-through estimator
        return quantised / self.half_width, self.indices(rounded), err

    def indices(self, rounded: Tensor) -> Tensor:
        digits = (rounded + self.half_width).long()  # (..., q) in [0, level)
        return (digits * self.basis).sum(-1)

    def codes_to_vectors(self, codes: Tensor) -> Tensor:
        """codes (...,) int64 -> the normalised code vectors (..., q) in [-1, 1]."""
        digits = (codes[..., None] // self.basis) % self.levels.long()
        return (digits.float() - self.half_width) / self.half_width

    def codebook(self) -> Tensor:
        """Every code vector: (codebook_size, q)."""
        return self.codes_to_vectors(torch.arange(self.codebook_size, device=self.levels.device))


class RegionEncoder(nn.Module):
    """Motion of one region (B, T, D) (normalised, masked channels zeroed) -> latents (B, N, q)."""

    def __init__(self, region_dim: int, dim: int, dilations: tuple[int, ...], q: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.inp = nn.Linear(region_dim, dim)
        self.stack = CausalConvStack(dim, dilations, kernel=3)
        self.out = nn.Linear(dim, q)

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[1]
        h = self.stack(self.inp(x))  # (B, T, dim), causal
        last = torch.arange(self.stride - 1, t + self.stride - 1, self.stride, device=x.device).clamp(max=t - 1)
        return self.out(h[:, last])  # (B, N, q): each chunk's last frame (a partial last chunk: frame T - 1)


class MotionTokenizer(nn.Module):
    """The three region encoders and one FSQ (same levels for every region)."""

    def __init__(self, region_dims: dict[str, int], dim: int, dilations: tuple[int, ...],
                 levels: tuple[int, ...], stride: int) -> None:
        super().__init__()
        self.regions = tuple(region_dims)
        self.fsq = FSQ(levels)
        self.encoders = nn.ModuleDict(
            {r: RegionEncoder(d, dim, dilations, self.fsq.dim, stride) for r, d in region_dims.items()}
        )

    def forward(self, motion: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """{region: (B, T, D)} -> {region: (zq (B, N, q), codes (B, N), rounding error (B, N, q))}."""
        return {r: self.fsq(self.encoders[r](motion[r])) for r in self.regions}
