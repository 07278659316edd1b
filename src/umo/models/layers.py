"""Small building blocks shared by the model's files: RMSNorm and causal 1-D convolutions.

Every temporal layer here is causal (output frame t sees input frames <= t): ``forward(x)`` runs over
a whole sequence (training, and the reference); ``umo.models.stepper`` runs the same layers over the
next few frames with an explicit carried state (``init_state``: a silent past), to the same numbers
up to float rounding.

Dimension letters: B batch, T frames, C channels, n new frames in a streaming step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """Root-mean-square norm (Zhang & Sennrich 2019): no mean subtraction, a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class CausalConv1d(nn.Module):
    """A Conv1d over time, left-padded by (kernel - 1) * dilation so that it only sees the past.

    x: (B, T, C_in) -> (B, T, C_out). Streaming state: the last (kernel - 1) * dilation input frames.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.c_in = c_in
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x.transpose(1, 2), (self.pad, 0))  # (B, C_in, pad + T)
        return self.conv(x).transpose(1, 2)

    def init_state(self, batch: int, device: torch.device | None = None) -> Tensor:
        return torch.zeros(batch, self.pad, self.c_in, device=device)  # a silent past

    def taps_weight(self) -> Tensor:
        """The weight (C_out, C_in, K) as one matrix over stacked taps, (C_out, K C_in): a few frames at
        a time, the conv as one matmul over taps[j, i] = x[j + i * dilation] is ~5x cheaper on a CPU
        than conv1d's per-call overhead (``umo.models.stepper.conv_stack_step``)."""
        w = self.conv.weight
        return w.permute(0, 2, 1).reshape(w.shape[0], -1)


class CausalConvStack(nn.Module):
    """Residual stack of dilated causal convs: x + W2 gelu(conv(norm(x))) per block.

    Receptive field: 1 + (kernel - 1) * sum(dilations) frames of the past (and the present).
    """

    def __init__(self, dim: int, dilations: tuple[int, ...], kernel: int = 3) -> None:
        super().__init__()
        self.norms = nn.ModuleList(RMSNorm(dim) for _ in dilations)
        self.convs = nn.ModuleList(CausalConv1d(dim, dim, kernel, d) for d in dilations)
        self.outs = nn.ModuleList(nn.Linear(dim, dim) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for norm, conv, out in zip(self.norms, self.convs, self.outs):
            x = x + out(F.gelu(conv(norm(x))))
        return x

    def init_state(self, batch: int, device: torch.device | None = None) -> list[Tensor]:
        return [c.init_state(batch, device) for c in self.convs]
