"""Small building blocks shared by the model's files: RMSNorm and causal 1-D convolutions.

Every temporal layer here is causal (output frame t sees input frames <= t) and has two modes:
``forward(x)`` over a whole sequence (training, offline) and ``step(x, state)`` over the next few
frames with an explicit carried state (streaming). Both give the same numbers, up to float rounding.

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

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, n, C_in) new frames, state: (B, pad, C_in) -> (B, n, C_out), new state."""
        if x.shape[1] == 0:
            return x.new_zeros(x.shape[0], 0, self.conv.out_channels), state
        xx = torch.cat([state, x], dim=1)  # (B, pad + n, C_in)
        # a few frames at a time, the conv as one matmul over the stacked taps is ~5x cheaper on a CPU
        # than conv1d's per-call overhead: taps[j, i] = xx[j + i * dilation], weight (C_out, C_in, K)
        n, k, dil = x.shape[1], self.conv.kernel_size[0], self.conv.dilation[0]
        taps = torch.cat([xx[:, i * dil:i * dil + n] for i in range(k)], dim=-1)  # (B, n, K C_in)
        y = F.linear(taps, self.taps_weight(), self.conv.bias)  # (B, n, C_out)
        return y, xx[:, xx.shape[1] - self.pad:]

    def taps_weight(self) -> Tensor:
        """The weight (C_out, C_in, K) as the matrix of the stacked taps of ``step``: (C_out, K C_in)."""
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

    def step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        new_state = []
        for norm, conv, out, s in zip(self.norms, self.convs, self.outs, state):
            h, s = conv.step(norm(x), s)
            x = x + out(F.gelu(h))
            new_state.append(s)
        return x, new_state
