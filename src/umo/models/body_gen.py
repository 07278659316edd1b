"""The continuous body generator (issue 14, after OmniMotion): a causal masked-autoregressive
transformer over the motion autoencoder's latent tokens, with a small flow-matching head per token.

    cfg = get_body_config("default")            # or "tiny" (tests)
    gen = BodyGenerator(cfg)                    # holds the MotionAE (motion_ae.py) too
    loss, logs = gen(batch)                     # training: see forward()
    regions = gen.generate(audio, seed=0)       # {"body": (T, 36), "hands": (T, 138)} at 30 fps
    stream = gen.stream(seed=0); stream.push(pcm) ... stream.flush()   # the same frames, chunk by chunk

How a token is made (token k covers motion frames s k .. s k + s - 1, s = ``stride``):

1. **Conditions.** Speech features of the face model's front end (``LogMelProsody``: 80 log-mel +
   energy, voicing, pitch at 100 Hz) pooled per motion frame *with the face model's lookahead*:
   frame i reads the 4 feature frames ending at ``feature_index(i + lookahead)``; a causal conv stack
   over frames (onsets and energy changes are differences it learns), read at the token's last frame.
   Conditions are *added* to the token input (not cross-attention: one aligned condition per token
   is all this stream has; phones and speaker ids are not used yet).
2. **Causal masked AR backbone.** Input k is the previous token z_{k-1}; in training a random
   fraction (a per-sequence ratio drawn from U(0, max_mask)) of the inputs is replaced by a learned
   mask embedding, so the model learns to continue from a partly unknown past and to lean on speech.
   Blocks: RMSNorm -> gated linear attention (GLA, Yang et al. 2023: per-key-channel forget gates,
   a recurrent (dk x dv) state per head, so streaming memory is bounded) -> RMSNorm -> SwiGLU MLP.
3. **Flow-matching head** (Lipman et al. 2022; MAR's per-token head, Li et al. 2024): an MLP with
   DiT-style AdaLN (zero-initialised modulation) predicts the velocity from noise to the token,
   conditioned on the backbone output; Euler, ``sample_steps`` <= 8 steps at inference, with
   classifier-free guidance on speech (the condition is dropped with ``p_uncond`` in training).

Inference runs one code path: ``generate`` is a stream fed the whole clip, so streamed frames equal
offline frames for the same seed. Frames are final once emitted; the latency is the lookahead plus
one token (stride - 1 frames).

Dimension letters: B batch, T frames, N tokens, D model width, H heads, K key width, V value width,
Z latent channels, S samples, F 100 Hz feature frames.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.constants import HOP_LENGTH
from umo.errors import UmoError
from umo.models.config import config_from_dict
from umo.models.features import LEFT_PAD, WIN_LENGTH, LogMelProsody, feature_index, num_motion_frames
from umo.models.layers import CausalConvStack, RMSNorm
from umo.models.motion_ae import MOTION_DIM, MotionAE, conv_stack_step, sixd_to_regions

POOL_FEATURES = 4  # 100 Hz feature frames averaged into one motion frame's condition (40 ms, ending at its time)


@dataclass
class BodyGenConfig:
    name: str = "default"  # preset this config came from (informational)
    # --- motion autoencoder (motion_ae.py) ---
    stride: int = 2  # motion frames per latent token (15 tokens/s at 30 fps)
    latent_dim: int = 16  # channels of one continuous token
    ae_width: int = 128  # conv width of encoder and (causal) decoder
    ae_dilations: tuple[int, ...] = (1, 2, 4, 8)  # decoder receptive field 1 + 2 * 15 = 31 frames (1 s)
    # --- conditions ---
    n_mels: int = 80  # the face model's log-mel front end (features.py)
    lookahead_frames: int = 2  # future audio each frame may see, as the face model (67 ms)
    audio_dilations: tuple[int, ...] = (1, 2, 4, 8, 16)  # causal conv over frames: 63 frames (2.1 s) of past speech
    # --- backbone ---
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_mult: int = 3  # SwiGLU hidden = mlp_mult * d_model
    gate_temp: float = 16.0  # GLA forget gate = sigmoid(.) ** (1 / gate_temp): slow decay at init
    # --- flow head ---
    head_width: int = 256
    head_blocks: int = 3
    sample_steps: int = 8  # Euler steps at inference (<= 8)
    cfg_scale: float = 1.5  # classifier-free guidance on speech (1: none)
    temperature: float = 1.0  # scale of the starting noise
    # --- training ---
    max_mask: float = 0.5  # masking ratio of past-token inputs ~ U(0, max_mask)
    input_noise: float = 0.1  # Gaussian noise on the past tokens fed back (exposure bias)
    p_uncond: float = 0.1  # probability of dropping the speech condition (for guidance)
    head_repeats: int = 4  # flow-matching draws (t, noise) per token per step (MAR's diffusion_batch_mul)

    def __post_init__(self) -> None:
        self.ae_dilations = tuple(int(v) for v in self.ae_dilations)
        self.audio_dilations = tuple(int(v) for v in self.audio_dilations)
        if self.stride not in (1, 2, 4):
            raise UmoError(f"stride must be 1, 2 or 4 motion frames per token (got {self.stride})")
        if self.d_model % self.n_heads:
            raise UmoError(f"d_model {self.d_model} must split into {self.n_heads} heads")
        if not 1 <= self.sample_steps <= 8:
            raise UmoError(f"sample_steps must be in 1..8 (got {self.sample_steps})")
        if self.lookahead_frames < 0:
            raise UmoError("lookahead_frames must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BodyGenConfig":
        return config_from_dict(cls, d, "body generator")


BODY_PRESETS: dict[str, Callable[[], BodyGenConfig]] = {
    "default": lambda: BodyGenConfig(),
    "tiny": lambda: BodyGenConfig(name="tiny", latent_dim=8, ae_width=32, ae_dilations=(1, 2), n_mels=16,
                                  audio_dilations=(1, 2), d_model=32, n_layers=2, n_heads=2, head_width=32,
                                  head_blocks=1, sample_steps=4),
}


def get_body_config(name: str = "default", **overrides: Any) -> BodyGenConfig:
    """A preset by name (``BODY_PRESETS``), then field overrides."""
    if name not in BODY_PRESETS:
        raise UmoError(f"unknown body generator preset {name!r}: choose one of {sorted(BODY_PRESETS)}")
    cfg = BODY_PRESETS[name]()
    return BodyGenConfig.from_dict(cfg.to_dict() | overrides) if overrides else cfg


# --- speech conditions -------------------------------------------------------------------------------
def pool_frame_features(feats: Tensor, first_frame: int, num_frames: int, lookahead: int, base: int = 0) -> Tensor:
    """100 Hz features (B, F, C) -> per motion frame (B, n, C) for frames first_frame ..

    Frame i averages the POOL_FEATURES feature frames ending at feature_index(i + lookahead) (fewer
    at the start). ``feats[:, j]`` is feature frame ``base + j``; it must reach the last one needed.
    The sum runs in one fixed order, so any chunking gives the same numbers.
    """
    idx = torch.tensor([feature_index(i + lookahead) for i in range(first_frame, first_frame + num_frames)])
    total = feats.new_zeros(feats.shape[0], num_frames, feats.shape[2])
    count = torch.zeros(num_frames, dtype=feats.dtype)
    for o in range(POOL_FEATURES):
        j = idx - o
        valid = j >= 0
        total = total + feats[:, (j - base).clamp_min(0)] * valid.to(feats.dtype)[None, :, None]
        count = count + valid.to(feats.dtype)
    return total / count[None, :, None]


_FRONT_ENDS: dict[int, LogMelProsody] = {}  # one front end per n_mels (building the filterbank is not free)


def speech_frame_features(audio: np.ndarray, num_frames: int, lookahead: int, n_mels: int) -> np.ndarray:
    """A whole clip (S,) at 16 kHz -> (num_frames, n_mels + 3) per-frame conditions (future zero-padded).
    What training reads; the stream computes the same numbers incrementally."""
    need = (feature_index(num_frames - 1 + lookahead) + 1) * HOP_LENGTH
    a = torch.from_numpy(np.pad(np.asarray(audio, np.float32), (0, max(0, need - len(audio))))[:need])
    if _FRONT_ENDS.get(n_mels) is None:
        _FRONT_ENDS[n_mels] = LogMelProsody(n_mels)
    with torch.no_grad():
        feats = _FRONT_ENDS[n_mels](a[None])  # (1, F, C)
        return pool_frame_features(feats, 0, num_frames, lookahead)[0].numpy()


# --- gated linear attention ----------------------------------------------------------------------------
class GatedLinearAttention(nn.Module):
    """GLA: S_t = diag(a_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t per head; a_t = sigmoid(W x_t) ** (1/temp).

    Output: RMSNorm(o) * silu(W_r x), then a projection. ``forward`` is the parallel (quadratic,
    training) form; ``step`` the recurrent one (same numbers to rounding).
    """

    def __init__(self, d: int, heads: int, gate_temp: float) -> None:
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.gate_temp = gate_temp
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.gate = nn.Linear(d, d)
        self.out_gate = nn.Linear(d, d)
        self.norm = RMSNorm(self.dk)
        self.proj = nn.Linear(d, d)

    def _proj(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.h, self.dk).permute(2, 0, 3, 1, 4)  # each (B, H, T, K)
        log_a = F.logsigmoid(self.gate(x)).reshape(b, t, self.h, self.dk).transpose(1, 2) / self.gate_temp
        return q * self.dk ** -0.5, k, v, log_a

    def _out(self, o: Tensor, x: Tensor) -> Tensor:
        b, _, t, _ = o.shape
        o = self.norm(o).transpose(1, 2).reshape(b, t, -1)  # (B, T, D)
        return self.proj(o * F.silu(self.out_gate(x)))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, D) -> (B, T, D), causal."""
        q, k, v, log_a = self._proj(x)
        cum = log_a.cumsum(2)  # (B, H, T, K): log of the decay from the start up to t
        t = x.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        diff = cum[:, :, :, None, :] - cum[:, :, None, :, :]  # (B, H, Tq, Tk, K): decay from key j to query i
        decay = torch.exp(diff.masked_fill(~causal[None, None, :, :, None], -math.inf))
        att = torch.einsum("bhik,bhjk,bhijk->bhij", q, k, decay)  # (B, H, T, T)
        return self._out(att @ v, x)

    def init_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, self.h, self.dk, self.dk)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, n, D) for the next n tokens, state (B, H, K, V) -> (B, n, D), new state."""
        q, k, v, log_a = self._proj(x)
        outs = []
        for i in range(x.shape[1]):
            state = log_a[:, :, i, :, None].exp() * state + k[:, :, i, :, None] * v[:, :, i, None, :]
            outs.append((q[:, :, i, None, :] @ state)[:, :, 0])  # (B, H, V)
        return self._out(torch.stack(outs, 2), x), state


class Block(nn.Module):
    def __init__(self, cfg: BodyGenConfig) -> None:
        super().__init__()
        d, hidden = cfg.d_model, cfg.mlp_mult * cfg.d_model
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.attn = GatedLinearAttention(d, cfg.n_heads, cfg.gate_temp)
        self.w_in = nn.Linear(d, 2 * hidden, bias=False)
        self.w_out = nn.Linear(hidden, d, bias=False)

    def _mlp(self, x: Tensor) -> Tensor:
        a, g = self.w_in(self.n2(x)).chunk(2, -1)
        return self.w_out(a * F.silu(g))  # SwiGLU

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.n1(x))
        return x + self._mlp(x)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        a, state = self.attn.step(self.n1(x), state)
        x = x + a
        return x + self._mlp(x), state


# --- flow-matching head ----------------------------------------------------------------------------------
def time_embedding(t: Tensor, dim: int) -> Tensor:
    """(...,) in [0, 1] -> (..., dim) sinusoids."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    arg = 1000.0 * t[..., None] * freqs  # t in [0, 1] spread over 1000 "diffusion steps" as DDPM's
    return torch.cat([arg.sin(), arg.cos()], -1)


class AdaLNBlock(nn.Module):
    """x + gate * MLP(modulate(norm(x), shift, scale)): DiT's adaLN-Zero (modulation starts at 0)."""

    def __init__(self, w: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.mod = nn.Linear(w, 3 * w)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale, gate = self.mod(F.silu(c)).chunk(3, -1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class FlowHead(nn.Module):
    """Per-token velocity field v(x_t, t | c): x_t (..., Z), t (...), c (..., D) -> (..., Z)."""

    def __init__(self, z: int, d: int, w: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Linear(z, w)
        self.cond = nn.Linear(d, w)
        self.time = nn.Linear(w, w)
        self.width = w
        self.blocks = nn.ModuleList(AdaLNBlock(w) for _ in range(blocks))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_mod = nn.Linear(w, 2 * w)
        self.out = nn.Linear(w, z)
        for m in (self.final_mod, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, t: Tensor, c: Tensor) -> Tensor:
        cc = self.cond(c) + self.time(time_embedding(t, self.width))
        h = self.inp(x)
        for blk in self.blocks:
            h = blk(h, cc)
        shift, scale = self.final_mod(F.silu(cc)).chunk(2, -1)
        return self.out(self.final_norm(h) * (1 + scale) + shift)

    def loss(self, target: Tensor, c: Tensor, repeats: int) -> Tensor:
        """Flow matching: target (M, Z), c (M, D) -> mean squared velocity error over ``repeats`` draws."""
        target, c = target.repeat(repeats, 1), c.repeat(repeats, 1)
        noise = torch.randn_like(target)
        t = torch.rand(target.shape[0], device=target.device)
        xt = (1 - t[:, None]) * noise + t[:, None] * target
        return F.mse_loss(self(xt, t, c), target - noise)

    @torch.no_grad()
    def sample(self, c: Tensor, c_null: Tensor | None, noise: Tensor, steps: int, cfg_scale: float) -> Tensor:
        """Euler from noise (M, Z) at t=0 to a token at t=1; guidance mixes in the velocity under the
        unconditioned backbone output c_null (both evaluated as one batch)."""
        x, dt = noise, 1.0 / steps
        guided = c_null is not None and cfg_scale != 1.0
        cc = torch.cat([c, c_null]) if guided else c
        for i in range(steps):
            xx = torch.cat([x, x]) if guided else x
            v = self(xx, torch.full(xx.shape[:1], i * dt), cc)
            if guided:
                vc, vu = v.chunk(2)
                v = vu + cfg_scale * (vc - vu)
            x = x + dt * v
        return x


# --- the generator ---------------------------------------------------------------------------------------
class BodyGenerator(nn.Module):
    def __init__(self, cfg: BodyGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.ae = MotionAE(cfg.stride, cfg.latent_dim, cfg.ae_width, cfg.ae_dilations)
        self.front = LogMelProsody(cfg.n_mels)
        self.audio_in = nn.Linear(cfg.n_mels + 3, d)
        self.audio = CausalConvStack(d, cfg.audio_dilations)
        self.audio_norm = RMSNorm(d)
        self.null_cond = nn.Parameter(torch.zeros(d))  # the "no speech" condition (guidance)
        self.start = nn.Parameter(torch.zeros(cfg.latent_dim))  # z_{-1}
        self.mask_emb = nn.Parameter(torch.zeros(d))
        self.tok_in = nn.Linear(cfg.latent_dim, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(d)
        self.head = FlowHead(cfg.latent_dim, d, cfg.head_width, cfg.head_blocks)

    # conditions at the token rate
    def _cond_tokens(self, frames: Tensor) -> Tensor:
        """Encoded frames (B, n * stride, D) -> the condition of each token: its last frame (B, n, D)."""
        return frames[:, self.cfg.stride - 1:: self.cfg.stride]

    def _backbone(self, prev: Tensor, cond: Tensor) -> Tensor:
        x = self.tok_in(prev) + cond
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Training loss. batch: "z" (B, N, Z) normalised latents, "cond" (B, N * stride, n_mels + 3)
        per-frame speech conditions (``speech_frame_features``)."""
        cfg = self.cfg
        z, feats = batch["z"], batch["cond"]
        b, n, _ = z.shape
        cond = self._cond_tokens(self.audio_norm(self.audio(self.audio_in(feats))))  # (B, N, D)
        drop = torch.rand(b, 1, 1) < cfg.p_uncond
        cond = torch.where(drop, self.null_cond.expand_as(cond), cond)
        prev = torch.cat([self.start.expand(b, 1, -1), z[:, :-1]], 1)  # (B, N, Z): input k is z_{k-1}
        prev = prev + cfg.input_noise * torch.randn_like(prev)
        x = self.tok_in(prev)
        ratio = torch.rand(b, 1, 1) * cfg.max_mask
        masked = torch.rand(b, n, 1) < ratio
        x = torch.where(masked, self.mask_emb.expand_as(x), x) + cond
        for blk in self.blocks:
            x = blk(x)
        c = self.norm(x)
        loss = self.head.loss(z.reshape(b * n, -1), c.reshape(b * n, -1), cfg.head_repeats)
        return loss, {"flow": float(loss.detach()), "masked": float(masked.float().mean())}

    def stream(self, seed: int = 0, cfg_scale: float | None = None) -> "BodyStream":
        return BodyStream(self, seed, self.cfg.cfg_scale if cfg_scale is None else cfg_scale)

    @torch.no_grad()
    def generate(self, audio: np.ndarray, seed: int = 0, cfg_scale: float | None = None) -> dict[str, np.ndarray]:
        """A whole clip (S,) 16 kHz -> {"body": (T, 36), "hands": (T, 138)} axis-angle at 30 fps,
        T = ceil(S * 30 / 16000): the stream fed everything at once."""
        s = self.stream(seed, cfg_scale)
        out = [s.push(audio), s.flush()]
        return {k: np.concatenate([o[k] for o in out]) for k in ("body", "hands")}


class BodyStream:
    """Live speech -> body frames, chunk by chunk. push(pcm) returns the frames that became final.

    State (bounded): the unconsumed audio tail, the last POOL_FEATURES feature frames, the audio conv
    stack's and the AE decoder's per-layer inputs, one (H, K, V) GLA state per layer (twice with
    guidance: the unconditioned stream), the last token, and the noise generator.
    """

    def __init__(self, gen: BodyGenerator, seed: int, cfg_scale: float) -> None:
        self.gen, self.cfg = gen, gen.cfg
        self.cfg_scale = cfg_scale
        self.rng = torch.Generator().manual_seed(int(seed))
        self.tail = torch.zeros(LEFT_PAD)  # samples not yet framed (starts as the front end's left pad)
        self.samples = 0  # samples received
        self.feats = torch.zeros(1, 0, self.cfg.n_mels + 3)  # the last few 100 Hz feature frames
        self.feat_base = 0  # index of feats[:, 0]
        self.frames_cond = 0  # motion frames whose condition is computed
        self.cond_buf = torch.zeros(1, 0, self.cfg.d_model)  # encoded frame conditions not yet used by a token
        self.audio_state = gen.audio.init_state(1)
        self.guided = cfg_scale != 1.0
        # one GLA state per layer; with guidance a batch of 2: the conditioned and the unconditioned stream
        self.gla = [blk.attn.init_state(2 if self.guided else 1) for blk in gen.blocks]
        self.prev = gen.start.detach()[None, None]  # (1, 1, Z)
        self.dec_state = gen.ae.init_state(1)
        self.tokens = 0
        self.frames_out = 0

    def _features(self, pcm: Tensor) -> None:
        self.tail = torch.cat([self.tail, pcm])
        self.samples += len(pcm)
        n_new = (len(self.tail) - WIN_LENGTH) // HOP_LENGTH + 1 if len(self.tail) >= WIN_LENGTH else 0
        if n_new <= 0:
            return
        f = self.gen.front.frames(self.tail[None, : (n_new - 1) * HOP_LENGTH + WIN_LENGTH])  # (1, n_new, C)
        self.tail = self.tail[n_new * HOP_LENGTH:]
        self.feats = torch.cat([self.feats, f], 1)

    def _conditions(self, last_frame: int) -> None:
        """Encode frame conditions up to motion frame last_frame (exclusive) as far as features allow."""
        have = self.feat_base + self.feats.shape[1]  # feature frames 0 .. have - 1 exist
        n = self.frames_cond
        while n < last_frame and feature_index(n + self.cfg.lookahead_frames) < have:
            n += 1
        if n == self.frames_cond:
            return
        pooled = pool_frame_features(self.feats, self.frames_cond, n - self.frames_cond, self.cfg.lookahead_frames,
                                     self.feat_base)
        enc, self.audio_state = conv_stack_step(self.gen.audio, self.gen.audio_in(pooled), self.audio_state)
        self.cond_buf = torch.cat([self.cond_buf, self.gen.audio_norm(enc)], 1)
        self.frames_cond = n
        keep = max(0, feature_index(n + self.cfg.lookahead_frames) + 1 - POOL_FEATURES - self.feat_base)
        self.feats, self.feat_base = self.feats[:, keep:], self.feat_base + keep

    def _tokens(self, limit_frames: int) -> dict[str, np.ndarray]:
        g, s = self.gen, self.cfg.stride
        outs = []
        while self.cond_buf.shape[1] >= s and self.tokens * s < limit_frames:
            cond = self.cond_buf[:, s - 1: s]  # (1, 1, D): the token's last frame
            self.cond_buf = self.cond_buf[:, s:]
            if self.guided:
                cond = torch.cat([cond, g.null_cond.detach()[None, None]])  # (2, 1, D)
            x = g.tok_in(self.prev) + cond
            for li, blk in enumerate(g.blocks):
                x, self.gla[li] = blk.step(x, self.gla[li])
            c = g.norm(x)[:, 0]  # (1 or 2, D)
            noise = torch.randn(1, self.cfg.latent_dim, generator=self.rng) * self.cfg.temperature
            z = g.head.sample(c[:1], c[1:] if self.guided else None, noise, self.cfg.sample_steps, self.cfg_scale)
            self.prev = z[:, None]
            raw = z * g.ae.z_std + g.ae.z_mean
            frames, self.dec_state = g.ae.decode_step(raw[:, None], self.dec_state)
            outs.append(g.ae.denormalise(frames)[0])
            self.tokens += 1
        if not outs:
            return {"body": np.zeros((0, 36), np.float32), "hands": np.zeros((0, 138), np.float32)}
        x6 = torch.cat(outs).numpy()
        return sixd_to_regions(x6)

    def _emit(self, regions: dict[str, np.ndarray], total: int | None) -> dict[str, np.ndarray]:
        n = len(regions["body"])
        keep = n if total is None else max(0, min(n, total - self.frames_out))
        self.frames_out += keep
        return {k: v[:keep] for k, v in regions.items()}

    @torch.no_grad()
    def push(self, pcm: np.ndarray) -> dict[str, np.ndarray]:
        """New samples (float32, 16 kHz, any length) -> {"body": (n, 36), "hands": (n, 138)} final frames."""
        self._features(torch.from_numpy(np.asarray(pcm, np.float32).reshape(-1)))
        self._conditions(10 ** 12)
        return self._emit(self._tokens(10 ** 12), None)

    @torch.no_grad()
    def flush(self) -> dict[str, np.ndarray]:
        """End of speech: the future is silence; returns the rest up to ceil(samples * 30 / 16000) frames."""
        total = num_motion_frames(self.samples)
        n_tok = -(-total // self.cfg.stride)
        need = n_tok * self.cfg.stride
        need_samples = (feature_index(need - 1 + self.cfg.lookahead_frames) + 1) * HOP_LENGTH
        pad = max(0, need_samples - self.samples)
        samples = self.samples
        self._features(torch.zeros(pad))
        self.samples = samples
        self._conditions(need)
        return self._emit(self._tokens(need), total)


# --- weights -----------------------------------------------------------------------------------------------
def save_body_generator(gen: BodyGenerator, path: str | Path, extra: dict | None = None) -> None:
    """Weights + config (+ notes) as one .safetensors file."""
    from safetensors.torch import save_file

    meta = {"config": json.dumps(gen.cfg.to_dict()), "extra": json.dumps(extra or {})}
    save_file({k: v.detach().contiguous() for k, v in gen.state_dict().items()}, str(path), metadata=meta)


def load_body_generator(path: str | Path) -> BodyGenerator:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise UmoError(f"body generator weights {path} not found (train them: python -m umo.training.body_gen)")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise UmoError(f"{path} is not a body generator file (no config in its metadata)")
    gen = BodyGenerator(BodyGenConfig.from_dict(json.loads(meta["config"])))
    gen.load_state_dict(load_file(str(path)))
    return gen.eval()


__all__ = ["BODY_PRESETS", "BodyGenConfig", "BodyGenerator", "BodyStream", "MOTION_DIM", "get_body_config",
           "load_body_generator", "save_body_generator", "speech_frame_features"]


# --- into an Animation ---------------------------------------------------------------------------------------
DEFAULT_BODY_WEIGHTS = Path(__file__).resolve().parent / "weights" / "body_gen.safetensors"
_LOADED: dict[str, BodyGenerator] = {}


def default_body_generator(weights: str | Path | None = None) -> BodyGenerator:
    """The bundled body generator (or ``weights``), loaded once per process."""
    path = str(Path(weights) if weights is not None else DEFAULT_BODY_WEIGHTS)
    if path not in _LOADED:
        _LOADED[path] = load_body_generator(path)
    return _LOADED[path]


def with_generated_body(anim, audio: np.ndarray, gen: BodyGenerator, seed: int = 0):
    """``anim`` (any fps, its face and head kept) with its body replaced by ``gen``'s on ``audio``.

    The generator runs at MODEL_FPS; other rates are resampled (slerp). The neck chain comes from the
    animation's head angles, as for every umo body; the root is the rest root.
    """
    from umo.animation import slerp_frames
    from umo.constants import MODEL_FPS, NUM_JOINTS
    from umo.data.motion import BODY_IDX, HAND_IDX
    from umo.skeleton import add_head_to_body, canonical_skeleton, rest_root_position

    reg = gen.generate(audio, seed=seed)
    t = len(reg["body"])
    body = np.zeros((t, NUM_JOINTS, 3))
    body[:, BODY_IDX] = reg["body"].reshape(t, -1, 3)
    body[:, HAND_IDX] = reg["hands"].reshape(t, -1, 3)
    n = anim.num_frames
    times = np.arange(n) / anim.fps
    if not np.isclose(anim.fps, MODEL_FPS) or t != n:
        body = slerp_frames(body, MODEL_FPS, times)
    add_head_to_body(body, anim.head)
    return anim.copy(body=body, root_pos=np.tile(rest_root_position(), (n, 1)), skeleton=canonical_skeleton())
