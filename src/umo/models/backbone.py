"""The unified causal transformer over audio, text and motion tokens, with a bounded KV cache.

Sequence layout (interleaved per keyframe step k, 5 tokens):

    [ audio_k, text_k, face_{k-1}, body_{k-1}, hands_{k-1} ]  [ audio_{k+1}, ... ]

audio_k is the audio encoder at keyframe k's time (plus the lookahead), text_k the phone there
("unknown" without a transcript), region_{k-1} the previous keyframe's FSQ code of that region.
The output at the region_{k-1} token predicts region's code at keyframe k. Interleaving (rather
than summing the modalities into one token per step) keeps a separate token per modality and
region, which is what lets the MoE router specialise experts by region/modality, and lets body
and hands attend to this step's face input; the cost is 5 tokens per step, processed in one call.

Attention is causal with a sliding window of ``window_steps`` steps: a token of step s sees the
tokens of steps s - W + 1 .. s (earlier tokens of its own step included). The incremental step
(``umo.models.stepper``) keeps exactly the last W steps of keys/values, so memory is constant
however long the stream runs.
Positions: rotary embeddings (RoPE, Su et al. 2021) of the absolute token index, angles in float64.

Dimension letters: B batch, N tokens, H heads, c head width, d model width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.models.layers import RMSNorm
from umo.models.moe import MoE, DenseFFN

TOKEN_TYPES: tuple[str, ...] = ("audio", "text", "face", "body", "hands")
TOKENS_PER_STEP = len(TOKEN_TYPES)


def rope(x: Tensor, pos: Tensor) -> Tensor:
    """Rotate pairs of channels of x (B, H, N, c) by angles pos * 10000^(-2i/c)."""
    c = x.shape[-1]
    inv = 10000.0 ** (-torch.arange(0, c, 2, dtype=torch.float64, device=x.device) / c)
    ang = pos.to(torch.float64)[:, None] * inv[None]  # (N, c/2)
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, N, d), pos (N,), mask (N, M) bool (True = may attend), past keys/values (B, H, M - N, c)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # (B, H, N, c)
        q, k = rope(q, pos), rope(k, pos)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, N, c)
        return self.proj(y.transpose(1, 2).reshape(b, n, d)), k, v


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int, ffn: nn.Module) -> None:
        super().__init__()
        self.norm1 = RMSNorm(d)
        self.attn = Attention(d, n_heads)
        self.norm2 = RMSNorm(d)
        self.ffn = ffn

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor, types: Tensor, token_mask: Tensor | None,
                past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        a, k, v = self.attn(self.norm1(x), pos, mask, past)
        x = x + a
        b, n, d = x.shape
        f, aux = self.ffn(self.norm2(x).reshape(b * n, d), types.repeat(b),
                          None if token_mask is None else token_mask.reshape(b * n))
        return x + f.view(b, n, d), aux, k, v


class Backbone(nn.Module):
    """Pre-norm transformer (RMSNorm) with MoE (or dense) FFNs. ``forward`` is the parallel pass over
    whole steps (training, and the reference); ``umo.models.stepper`` steps it live with a KV cache."""

    def __init__(self, d: int, n_layers: int, n_heads: int, window_steps: int, expert_hidden: int,
                 n_experts: int, top_k: int, dense_ffn: bool, type_bias: bool) -> None:
        super().__init__()
        self.window_steps = window_steps

        def ffn() -> nn.Module:
            if dense_ffn:
                return DenseFFN(d, top_k * expert_hidden)
            return MoE(d, expert_hidden, n_experts, top_k, n_types=TOKENS_PER_STEP, type_bias=type_bias)

        self.blocks = nn.ModuleList(Block(d, n_heads, ffn()) for _ in range(n_layers))
        self.norm = RMSNorm(d)

    def window_mask(self, n: int, device: torch.device | None = None) -> Tensor:
        """(N, N) bool: causal, and at most window_steps - 1 steps back."""
        i = torch.arange(n, device=device)
        step = i // TOKENS_PER_STEP
        return (i[None] <= i[:, None]) & (step[:, None] - step[None] < self.window_steps)

    def forward(self, x: Tensor, types: Tensor, token_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, N, d) whole steps, types (N,) -> hidden (B, N, d), mean load-balancing loss over layers."""
        n = x.shape[1]
        pos = torch.arange(n, device=x.device)
        mask = self.window_mask(n, x.device)
        aux = x.new_zeros((), dtype=torch.float32)
        for blk in self.blocks:
            x, a, _, _ = blk(x, pos, mask, types, token_mask)
            aux = aux + a
        return self.norm(x), aux / len(self.blocks)
