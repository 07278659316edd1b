"""A small motion autoencoder whose latent space hosts the Frechet distance ``fd_latent``.

Input: windows of WINDOW frames at FEATURE_FPS of the FEATURE_JOINTS' positions (relative to the
hips, in shoulder widths; see umo.eval.metrics). A 1-D convolutional encoder pools each window to
LATENT_DIM numbers; a mirror decoder reconstructs the window. Only the encoder is used to score.

Training data is motion umo may train on, generated here deterministically:
  - the rule animator's body motion on espeak-ng speech (TTS_SENTENCES x TTS_VOICES, ~4 minutes);
  - the CMU mocap fixture ``tests/fixtures/cmu_01_01.bvh`` (free incl. commercial), retargeted.
BEAT is non-commercial and is never used here.

The weights are committed (``weights/motion_ae.safetensors``, with ``version`` in the metadata)
so that every run scores in the same space; ``python -m umo.eval.motion_ae`` retrains them, with the
same result for the same version on the same torch build (seeded, one thread, deterministic ops).

Dimension letters: N windows, W frames, K joints, C channels (3K).
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from umo.errors import UmoError
from umo.eval.metrics import FEATURE_FPS, FEATURE_JOINTS, WINDOW, feature_track, normalised_positions, windows

VERSION = "motion-ae-1"  # bump when the data, architecture or training changes; old numbers then differ
WEIGHTS = Path(__file__).resolve().parent / "weights" / "motion_ae.safetensors"
LATENT_DIM = 16
HIDDEN = 64
STEPS = 1500
BATCH = 64
LR = 2e-3
SEED = 0
CMU_FIXTURE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "cmu_01_01.bvh"
# (voice, words per minute, pitch). No "+variant" voices: espeak-ng's variants add random breath
# noise, so their audio (and the motion made from it) differs from run to run.
TTS_VOICES: tuple[tuple[str, int, int], ...] = (("en-us", 175, 50), ("en-gb", 150, 40), ("en-us", 210, 70))
TTS_SENTENCES: tuple[str, ...] = (
    "I think the most important thing is that we keep trying, even when it gets hard.",
    "So first you open the box, then you take out the small parts and lay them on the table.",
    "Honestly, I had no idea what was going to happen next, and neither did anyone else.",
    "There are three reasons why this matters: cost, speed, and the people who use it every day.",
    "When I was a kid we used to walk to school, rain or shine, and nobody complained about it.",
    "Well, that depends. On one hand it is cheaper; on the other hand it breaks twice as often.",
    "Look at this picture. Do you see the little house on the hill, right behind the trees?",
    "We tried it on Monday and it failed, we tried again on Tuesday and it finally worked.",
    "The weather this week has been absolutely wonderful, warm in the day and cool at night.",
    "No, no, no. That is not what I said at all. Let me explain it one more time, slowly.",
    "If you ask me, the best part of the trip was the food, especially the tiny street stalls.",
    "Our team grew from five people to fifty in just two years, which was exciting and scary.",
    "You have to remember that every single choice we make today shapes what comes tomorrow.",
    "Right, so here is the plan. We meet at noon, we split into two groups, and we search.",
    "I really love music. I play the guitar a little, and I sing when nobody is listening.",
    "The question is not whether we can build it, but whether we should build it at all.",
    "Take a deep breath, count to ten, and then tell me exactly what you saw last night.",
    "It was big, really big, much bigger than anything I had ever seen in my whole life.",
    "Maybe we could try something different this time, something simple and a bit more fun.",
    "Thank you all for coming tonight. It means a great deal to me and to my whole family.",
)


def _torch():
    import torch

    return torch


def build_model():
    """The autoencoder: (N, C, W) -> latent (N, LATENT_DIM) -> (N, C, W)."""
    torch = _torch()
    nn = torch.nn
    c = 3 * len(FEATURE_JOINTS)

    class MotionAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(c))
            self.register_buffer("std", torch.ones(c))
            self.encoder = nn.Sequential(
                nn.Conv1d(c, HIDDEN, 5, padding=2), nn.GELU(),
                nn.Conv1d(HIDDEN, HIDDEN, 4, stride=2, padding=1), nn.GELU(),  # W/2
                nn.Conv1d(HIDDEN, HIDDEN, 4, stride=2, padding=1), nn.GELU(),  # W/4
            )
            self.to_latent = nn.Linear(HIDDEN * (WINDOW // 4), LATENT_DIM)
            self.from_latent = nn.Linear(LATENT_DIM, HIDDEN * (WINDOW // 4))
            self.decoder = nn.Sequential(
                nn.GELU(),
                nn.ConvTranspose1d(HIDDEN, HIDDEN, 4, stride=2, padding=1), nn.GELU(),  # W/2
                nn.ConvTranspose1d(HIDDEN, HIDDEN, 4, stride=2, padding=1), nn.GELU(),  # W
                nn.Conv1d(HIDDEN, c, 5, padding=2),
            )

        def encode(self, x):
            """x: (N, W, K, 3) positions -> (N, LATENT_DIM)."""
            n = x.shape[0]
            h = ((x.reshape(n, WINDOW, -1) - self.mean) / self.std).transpose(1, 2)  # (N, C, W)
            return self.to_latent(self.encoder(h).flatten(1))

        def forward(self, x):
            """x: (N, W, K, 3) -> reconstruction loss (mean squared error in normalised units)."""
            n = x.shape[0]
            target = ((x.reshape(n, WINDOW, -1) - self.mean) / self.std).transpose(1, 2)
            z = self.to_latent(self.encoder(target).flatten(1))
            rec = self.decoder(self.from_latent(z).reshape(n, HIDDEN, WINDOW // 4))
            return ((rec - target) ** 2).mean()

    return MotionAE()


# --- data -------------------------------------------------------------------------------------------
def _tts_windows() -> list[np.ndarray]:
    from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
    from umo.skeleton import canonical_skeleton
    from umo.speech.tts import synthesize

    sk = canonical_skeleton()
    out = []
    for v, (voice, rate, pitch) in enumerate(TTS_VOICES):
        for s, text in enumerate(TTS_SENTENCES):
            speech = synthesize(text, voice=voice, rate=rate, pitch=pitch)
            anim = RuleAnimator(RuleAnimatorConfig(seed=100 * v + s)).animate(speech.audio, speech.timing)
            out.append(windows(feature_track(normalised_positions(anim.body, sk), anim.fps, sk), stride=2))
    return out


def _cmu_windows() -> np.ndarray:
    from umo.convert import read_any

    anim, _ = read_any(CMU_FIXTURE)
    return windows(feature_track(normalised_positions(anim.body, anim.skeleton), anim.fps, anim.skeleton), stride=2)


def training_windows() -> np.ndarray:
    """(N, WINDOW, K, 3) float32 training windows, always the same for one VERSION."""
    parts = _tts_windows() + [_cmu_windows()]
    return np.concatenate(parts).astype(np.float32)


def train(out: Path = WEIGHTS, steps: int = STEPS, log=print) -> Path:
    """Trains the autoencoder from scratch, deterministically, and writes the weights."""
    torch = _torch()
    from safetensors.torch import save_file

    data = training_windows()
    log(f"motion AE: {len(data)} windows of {WINDOW} frames at {FEATURE_FPS:g} fps")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(SEED)
        model = build_model()
        x = torch.from_numpy(data)
        flat = x.reshape(len(x), WINDOW, -1).reshape(-1, x.shape[2] * 3)
        model.mean.copy_(flat.mean(0))
        model.std.copy_(flat.std(0).clamp_min(1e-3))
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        gen = torch.Generator().manual_seed(SEED)
        for step in range(steps):
            idx = torch.randint(len(x), (BATCH,), generator=gen)
            loss = model(x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 500 == 0 or step == steps - 1:
                log(f"  step {step:5d}  loss {loss.item():.4f}")
        with torch.no_grad():
            full = model(x).item()
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": VERSION, "fps": str(FEATURE_FPS), "window": str(WINDOW), "latent_dim": str(LATENT_DIM),
            "joints": ",".join(FEATURE_JOINTS), "windows": str(len(data)), "steps": str(steps),
            "final_loss": f"{full:.5f}", "data": "rule animator on espeak-ng TTS + CMU 01_01 (no BEAT)"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out), metadata=meta)
    log(f"motion AE: reconstruction loss {full:.4f}; wrote {out}")
    return out


# --- use --------------------------------------------------------------------------------------------
def read_metadata(path: Path = WEIGHTS) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


@lru_cache(maxsize=1)
def load(path: Path = WEIGHTS):
    """The committed autoencoder (eval mode); raises UmoError if missing or of another version."""
    if not path.is_file():
        raise UmoError(f"motion autoencoder weights not found at {path}: run `python -m umo.eval.motion_ae`")
    meta = read_metadata(path)
    if meta.get("version") != VERSION:
        raise UmoError(f"{path} holds motion AE version {meta.get('version')!r}, the code is {VERSION!r}: "
                       "retrain with `python -m umo.eval.motion_ae`")
    from safetensors.torch import load_file

    model = build_model()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def encode_windows(win: np.ndarray) -> np.ndarray:
    """(N, WINDOW, K, 3) normalised positions -> (N, LATENT_DIM) latent codes."""
    if len(win) == 0:
        return np.zeros((0, LATENT_DIM))
    torch = _torch()
    with torch.no_grad():
        return load().encode(torch.from_numpy(np.asarray(win, dtype=np.float32))).double().numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m umo.eval.motion_ae", description="Retrain the motion autoencoder.")
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.add_argument("--steps", type=int, default=STEPS)
    args = p.parse_args(argv)
    train(args.out, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
