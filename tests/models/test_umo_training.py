"""Training contract: forward(batch, stage) -> (finite loss, float logs), and each stage's loss falls
when overfitting one small real batch (fixture speech + the rule animator's motion)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from umo.animator.rules import RuleAnimator
from umo.constants import REGION_DIMS
from umo.data.motion import animation_to_regions
from umo.formats.audio import load_audio
from umo.formats.lab import read_lab
from umo.models import UmoModel, get_config
from umo.speech.units import PHONES


@pytest.fixture(autouse=True)
def one_thread():
    """Small-tensor inference is fastest (and not at the mercy of a busy machine) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

T = 45  # frames per window (1.5 s), a multiple of 3
S = T * 1600 // 3


def phones_per_frame(timing, t: int) -> np.ndarray:
    out = np.full(t, -1, np.int64)
    for p in timing.phones:
        a, b = int(round(p.start * 30)), int(round(p.end * 30))
        out[max(a, 0):min(b, t)] = PHONES.index(p.symbol)
    return out


def real_batch(fixtures) -> dict[str, torch.Tensor]:
    """Two windows of arctic_a0009 with its phone labels and the rule animator's motion."""
    audio = load_audio(fixtures / "arctic_a0009.wav")
    timing = read_lab(fixtures / "arctic_a0009_phone.lab")
    regions = animation_to_regions(RuleAnimator().animate(audio, timing))
    phones = phones_per_frame(timing, regions["face"].shape[0])
    starts = (15, 45)  # frames
    batch = {
        "audio": torch.stack([torch.from_numpy(audio[s * 1600 // 3: s * 1600 // 3 + S]) for s in starts]),
        "phones": torch.stack([torch.from_numpy(phones[s:s + T]) for s in starts]),
    }
    for r in REGION_DIMS:
        batch[r] = torch.stack([torch.from_numpy(regions[r][s:s + T]) for s in starts])
    batch["face_mask"] = torch.ones(2, REGION_DIMS["face"])
    batch["face_mask"][1, 52:] = 0  # the second window pretends to have no head/eye data
    batch["has_body"] = torch.tensor([1.0, 0.0])
    batch["has_hands"] = torch.tensor([1.0, 1.0])
    batch["frame_mask"] = torch.ones(2, T)
    batch["frame_mask"][1, -6:] = 0
    batch["source_id"] = torch.tensor([0, 1])
    return batch


def stats_of(batch) -> dict:
    return {r: (batch[r].flatten(0, 1).mean(0).numpy(), batch[r].flatten(0, 1).std(0).numpy() + 1e-2)
            for r in REGION_DIMS}


@pytest.mark.parametrize("stage", [1, 2, 3, 5])
def test_stage_loss_finite_and_decreasing(fixtures, stage):
    torch.manual_seed(0)
    batch = real_batch(fixtures)
    model = UmoModel(get_config("tiny", mouth_dim=16 if stage in (3, 5) else 0))
    model.set_motion_stats(stats_of(batch))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        loss, logs = model(batch, stage=stage)
        assert torch.isfinite(loss)
        assert all(isinstance(v, float) and math.isfinite(v) for v in logs.values()), logs
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.7 * first, (stage, losses[:5], losses[-5:])
    if stage == 5:  # the mouth head alone: no backbone pass
        assert set(logs) == {"mouth", "loss"}
        return
    assert "moe_aux" in logs and any(k.startswith("moe_l0_e") for k in logs)
    if stage == 3:
        assert "mouth" in logs
    if stage in (1, 3):
        assert {"rec_face", "rec_body", "rec_hands"} <= set(logs)


def test_masks_gate_the_losses(fixtures):
    """Garbage in a masked-out region, channel or frame changes no loss term."""
    torch.manual_seed(0)
    batch = real_batch(fixtures)
    model = UmoModel(get_config("tiny")).eval()
    ref = model(batch, stage=3)[1]
    noisy = dict(batch)
    noisy["body"] = batch["body"].clone()
    noisy["body"][1] += 5 * torch.randn_like(batch["body"][1])  # has_body = 0 for window 1
    noisy["face"] = batch["face"].clone()
    noisy["face"][1, :, 52:] += 5.0  # face_mask = 0 there
    noisy["hands"] = batch["hands"].clone()
    noisy["hands"][1, -6:] += 5.0  # frame_mask = 0 there
    got = model(noisy, stage=3)[1]
    for k in ("rec_face", "rec_body", "rec_pred_body", "ce_body"):
        assert got[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-6), k
