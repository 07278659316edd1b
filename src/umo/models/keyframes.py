"""Keyframe head: the next keyframe's FSQ code per region, as a classification over its codebook.

Training: cross-entropy against the tokenizer's codes (teacher forcing), masked per region and
keyframe. Inference: sampling with temperature (inverse CDF), with the uniforms drawn from a
generator seeded by (seed, keyframe index) alone, so that a draw never depends on how the audio was
chunked or on how many draws came before: streaming and offline generation pick the same codes.

Dimension letters: B batch, N keyframes, d model width, C codebook size, q FSQ dims.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def draw_uniforms(keys: list[tuple[int, int]], n: int) -> Tensor:
    """n uniforms in [0, 1) per (seed, step) pair, each row a pure function of its pair -> (len(keys), n)
    float64 on the CPU."""
    g = torch.Generator(device="cpu")
    u = torch.empty((len(keys), n), dtype=torch.float64)
    for i, (seed, step) in enumerate(keys):
        g.manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63 - 1))
        torch.rand(n, generator=g, dtype=torch.float64, out=u[i])
    return u


def sample_codes(logits: Tensor, temperature: float, keys: list[tuple[int, int]]) -> Tensor:
    """One draw per row and region from softmax(logits / temperature): logits (B, R, C), one
    (seed, step) pair per row -> codes (B, R) int64 (argmax when temperature <= 0).

    Inverse-CDF sampling with R uniforms per row: the same distribution as Gumbel-max, for R random
    numbers instead of R * C and no logarithms (at 32 live streams the Gumbel noise cost a tenth of a
    keyframe step). A row's draw depends on its (seed, step) and its own logits alone, so batched,
    streamed and offline generation pick the same codes."""
    if temperature <= 0:
        return logits.argmax(-1)
    _, r, c = logits.shape
    cdf = torch.softmax(logits.float() / temperature, dim=-1).cumsum(-1)  # (B, R, C)
    u = draw_uniforms(keys, r).to(cdf.device, torch.float32)[..., None] * cdf[..., -1:]  # (B, R, 1)
    return torch.searchsorted(cdf, u, right=True)[..., 0].clamp_(max=c - 1)


class KeyframeHead(nn.Module):
    """One linear classifier per region: hidden (B, N, d) -> logits (B, N, C), float32."""

    def __init__(self, d: int, regions: tuple[str, ...], codebook_size: int) -> None:
        super().__init__()
        self.regions = regions
        self.codebook_size = codebook_size
        self.heads = nn.ModuleDict({r: nn.Linear(d, codebook_size) for r in regions})

    def forward(self, hidden: dict[str, Tensor]) -> dict[str, Tensor]:
        return {r: self.heads[r](hidden[r]).float() for r in self.regions}

    def loss(self, logits: dict[str, Tensor], codes: dict[str, Tensor], mask: dict[str, Tensor]
             ) -> tuple[Tensor, dict[str, float]]:
        """Masked cross-entropy summed over regions; logs per-region CE and top-1 accuracy."""
        total = next(iter(logits.values())).new_zeros(())
        logs: dict[str, float] = {}
        for r in self.regions:
            lg, m = logits[r], mask[r].float()
            ce = F.cross_entropy(lg.flatten(0, 1), codes[r].flatten(), reduction="none").view_as(m)
            denom = m.sum().clamp(min=1.0)
            loss_r = (ce * m).sum() / denom
            total = total + loss_r
            logs[f"ce_{r}"] = float(loss_r.detach())
            logs[f"acc_{r}"] = float(((lg.argmax(-1) == codes[r]).float() * m).sum() / denom)
        return total, logs


def expected_code_vectors(logits: Tensor, codebook: Tensor) -> Tensor:
    """Differentiable soft keyframe: E_p[code vector] = softmax(logits) @ codebook: (..., C) -> (..., q)."""
    return torch.softmax(logits.float(), dim=-1) @ codebook
