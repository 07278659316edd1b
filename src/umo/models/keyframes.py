"""Keyframe head: the next keyframe's FSQ code per region, as a classification over its codebook.

Training: cross-entropy against the tokenizer's codes (teacher forcing), masked per region and
keyframe. Inference: Gumbel-max sampling with temperature, with noise drawn from a generator seeded
by (seed, keyframe index) alone, so that a draw never depends on how the audio was chunked or on
how many draws came before: streaming and offline generation pick the same codes.

Dimension letters: B batch, N keyframes, d model width, C codebook size, q FSQ dims.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gumbel_noise(seed: int, step: int, shape: tuple[int, ...]) -> Tensor:
    """Standard Gumbel noise, a pure function of (seed, step): float32 on the CPU."""
    return gumbel_noise_many([(seed, step)], shape)[0]


def gumbel_noise_many(keys: list[tuple[int, int]], shape: tuple[int, ...]) -> Tensor:
    """``gumbel_noise`` for many (seed, step) pairs at once -> (len(keys), *shape), the same numbers:
    one generator per pair, then the elementwise maths once for all (a live round draws for every
    stream at each keyframe)."""
    g = torch.Generator(device="cpu")
    u = torch.empty((len(keys), *shape), dtype=torch.float64)
    for i, (seed, step) in enumerate(keys):
        g.manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63 - 1))
        torch.rand(shape, generator=g, dtype=torch.float64, out=u[i])
    return (-torch.log(-torch.log(u.clamp_(1e-12, 1.0 - 1e-12)))).float()


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

    @torch.no_grad()
    def sample(self, logits: dict[str, Tensor], temperature: float, seed: int, step: int) -> dict[str, Tensor]:
        """logits {region: (C,)} of keyframe ``step`` -> {region: code (int64 scalar tensor)}."""
        if temperature <= 0:
            return {r: logits[r].argmax(-1) for r in self.regions}
        noise = gumbel_noise(seed, step, (len(self.regions), self.codebook_size))
        return {r: (logits[r].float() / temperature + noise[i].to(logits[r].device)).argmax(-1)
                for i, r in enumerate(self.regions)}


def expected_code_vectors(logits: Tensor, codebook: Tensor) -> Tensor:
    """Differentiable soft keyframe: E_p[code vector] = softmax(logits) @ codebook: (..., C) -> (..., q)."""
    return torch.softmax(logits.float(), dim=-1) @ codebook
