"""A small real model and dataset for the trainer tests: a GRU from log-mel-like features to a face.

The face is a fixed causal function of the audio (a smoothed projection squashed to [0, 1]), so the
GRU can learn it and a falling loss means the loop really trains. The model follows the umo model
contract: ``forward(batch, stage) -> (loss, logs)``, ``expert_usage()``, a ``cfg`` dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

N_MELS, N_FACE = 16, 8


@dataclass
class ToyConfig:
    hidden: int = 32
    dropout: float = 0.1
    n_experts: int = 2


class ToyModel(nn.Module):
    def __init__(self, cfg: ToyConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ToyConfig()
        self.inp = nn.Linear(N_MELS, cfg.hidden)
        self.gru = nn.GRU(cfg.hidden, cfg.hidden, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        # two "experts" picked per sample by a router; an expert may get no sample in a step,
        # which is what DDP's find_unused_parameters is for
        self.router = nn.Linear(cfg.hidden, cfg.n_experts)
        self.experts = nn.ModuleList(nn.Linear(cfg.hidden, N_FACE) for _ in range(cfg.n_experts))
        self.stage_head = nn.Linear(cfg.hidden, N_FACE)  # used only from stage 2: unused in stage 1
        self.register_buffer("usage", torch.zeros(cfg.n_experts))

    def forward(self, batch: dict[str, torch.Tensor], stage: int):
        """batch["mel"]: (B, T, N_MELS), batch["face"]: (B, T, N_FACE) -> (loss, logs)."""
        h, _ = self.gru(self.drop(torch.tanh(self.inp(batch["mel"]))))  # (B, T, H)
        choice = self.router(h.mean(1)).argmax(-1)  # (B,)
        out = torch.zeros(h.shape[0], h.shape[1], N_FACE, device=h.device)
        for e, expert in enumerate(self.experts):
            sel = choice == e
            if sel.any():
                out[sel] = expert(h[sel])
        if stage >= 2:
            out = out + self.stage_head(h)
        pred = torch.sigmoid(out)
        with torch.no_grad():
            self.usage += torch.bincount(choice, minlength=len(self.experts)).float()
        loss = torch.mean((pred - batch["face"]) ** 2)
        return loss, {"mse": float(loss.detach())}

    def expert_usage(self) -> dict[str, list[float]]:
        u = self.usage / self.usage.sum().clamp(min=1)
        return {"toy": u.tolist()}


class ToyWindows(Dataset):
    """n windows of T frames; window i is generated from seed i (deterministic)."""

    def __init__(self, n: int = 64, frames: int = 24, seed: int = 0):
        self.n, self.frames, self.seed = n, frames, seed
        g = torch.Generator().manual_seed(1234)
        self.proj = torch.randn(N_MELS, N_FACE, generator=g) / N_MELS**0.5

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_000 + i)
        mel = torch.randn(self.frames, N_MELS, generator=g)
        drive = mel @ self.proj  # (T, N_FACE)
        smooth = torch.zeros_like(drive)
        acc = torch.zeros(N_FACE)
        for t in range(self.frames):  # causal smoothing: the face lags the audio
            acc = 0.6 * acc + 0.4 * drive[t]
            smooth[t] = acc
        return {"mel": mel, "face": torch.sigmoid(2.0 * smooth)}
