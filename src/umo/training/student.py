"""Distilling Whisper into the causal student the motion model reads live (``umo.models.student``).

    python -m umo.training.student --data runs/default/corpus runs/default/facegood --out runs/student

1. teacher: every clip's audio through a Whisper encoder (``umo.speech.whisper``), layer
   ``teacher_layer``, on the motion model's 100 Hz feature grid;
2. PCA of those features (on a sample of frames) to ``components`` directions, standardised: the
   student's targets, stored with it (``SpeechStudent.teacher_targets``);
3. the student learns, from the 100 Hz log-mel + prosody of the (augmented: noise, reverb, pitch,
   band-limits, gain; never speed, which would move the targets) audio, the targets of the clean
   audio ``delay`` feature frames earlier: MSE over random windows;
4. ``student.safetensors``: its weights and buffers, the model-config fields it needs
   (``student_*``, ``teacher``, ``teacher_dim``) and a manifest of what it learned from.

Clips whose id is in ``exclude`` (the held-out benchmark takes) are never read.

Dimension letters: B windows, F feature frames (100 Hz), D teacher width, K components.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from umo.constants import HOP_LENGTH, SAMPLE_RATE
from umo.errors import UmoError
from umo.training.config import HELD_OUT_CLIPS

STUDENT_FILE = "student.safetensors"


@dataclass
class StudentConfig:
    data: tuple[str, ...] = ()  # corpus folders (umo data synth / import): their clips' audio
    out: str = "runs/student"
    exclude: tuple[str, ...] = HELD_OUT_CLIPS  # clip ids never read
    teacher: str = "tiny.en"  # umo.speech.whisper model
    teacher_layer: int = 2  # its residual stream after this block (scripts/whisper_probe.py picks)
    components: int = 64  # PCA directions the student predicts (the model's student_dim)
    channels: int = 192
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    delay: int = 6  # feature frames: the student describes the audio 60 ms before its newest frame
    steps: int = 1500
    batch_size: int = 16
    window_frames: int = 400  # feature frames per training window (4 s)
    lr: float = 2e-3
    augment: bool = True
    max_hours: float = 0.0  # read at most this much audio (0: all)
    pca_frames: int = 200_000  # frames sampled for the PCA
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)
    extra: dict = field(default_factory=dict)

    def validate(self) -> StudentConfig:
        if not self.data:
            raise UmoError("student: give --data folders (corpora made by `umo data synth` / `umo data import`)")
        if self.components < 1 or self.delay < 0 or self.steps < 1 or self.window_frames <= self.delay + 8:
            raise UmoError("student: components >= 1, delay >= 0, steps >= 1 and window_frames > delay + 8")
        return self

    def model_fields(self, teacher_dim: int) -> dict:
        """The ModelConfig fields of a model that reads this student."""
        return {"student_dim": self.components, "student_channels": self.channels,
                "student_dilations": tuple(self.dilations), "student_delay": self.delay,
                "teacher": f"{self.teacher}:{self.teacher_layer}", "teacher_dim": teacher_dim}


def _log(msg: str) -> None:
    print(f"umo student: {msg}", file=sys.stderr, flush=True)


def read_clips(cfg: StudentConfig) -> list[tuple[str, np.ndarray]]:
    """(id, audio (S,) float32 at 16 kHz) of every clip of the data folders not excluded."""
    from umo.data.shards import ShardReader

    out, total = [], 0.0
    for d in cfg.data:
        reader = ShardReader(d)
        for i, cid in enumerate(reader.ids()):
            if any(x in cid for x in cfg.exclude):
                continue
            audio = reader.audio(i)
            out.append((f"{Path(d).name}/{cid}", audio))
            total += len(audio) / SAMPLE_RATE
            if cfg.max_hours and total >= cfg.max_hours * 3600:
                return out
    if not out:
        raise UmoError(f"student: no clips in {', '.join(cfg.data)} (after excluding {', '.join(cfg.exclude)})")
    return out


PACK_S = 29.0  # seconds of clips per teacher window: Whisper reads 30 s whatever it is given
PACK_GAP = 8000  # samples of silence between packed clips (0.5 s)


def teacher_features(cfg: StudentConfig, clips: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Each clip's teacher layer on the 100 Hz feature grid: (F, D) float16.

    Whisper pads every input to a 30 s window, so short clips are packed into one window (with
    half a second of silence between them) rather than each paying for a whole window alone: the
    corpus's ~4 s clips cost 7x less. Each clip's features are cut from its pack's."""
    from tqdm import tqdm

    from umo.speech.whisper import WhisperEncoder

    enc = WhisperEncoder.load(cfg.teacher)
    out: list[np.ndarray | None] = [None] * len(clips)
    packs: list[list[int]] = [[]]
    fill = 0
    for i, (_, audio) in enumerate(clips):
        n = -(-len(audio) // HOP_LENGTH) * HOP_LENGTH + PACK_GAP
        if packs[-1] and fill + n > PACK_S * SAMPLE_RATE:
            packs.append([])
            fill = 0
        packs[-1].append(i)
        fill += n
    for pack in tqdm(packs, desc="umo student: teacher", unit="window", file=sys.stderr, disable=None):
        pieces, starts = [], []
        for i in pack:
            audio = clips[i][1]
            starts.append(sum(len(p) for p in pieces))
            pieces.append(np.pad(audio, (0, -(-len(audio) // HOP_LENGTH) * HOP_LENGTH - len(audio) + PACK_GAP)))
        signal = np.concatenate(pieces)
        with torch.no_grad():
            f = enc.features(signal, (cfg.teacher_layer,)).at_feature_frames(len(signal) // HOP_LENGTH)[0].numpy()
        for i, start in zip(pack, starts):
            j = start // HOP_LENGTH
            out[i] = f[j:j + len(clips[i][1]) // HOP_LENGTH].astype(np.float16)
    return out


def fit_pca(feats: list[np.ndarray], k: int, frames: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """-> mean (D,), basis (D, K), std of each component (K,), the variance share the K keep."""
    x = np.concatenate(feats).astype(np.float64)
    if len(x) > frames:
        x = x[rng.choice(len(x), frames, replace=False)]
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:k].T  # (D, K)
    var = s ** 2
    std = s[:k] / np.sqrt(len(x) - 1)
    return mean, basis, std, float(var[:k].sum() / var.sum())


def distill(cfg: StudentConfig) -> Path:
    """Steps 1-4 of the module doc; returns the student file."""
    from umo.data.augment import AugmentConfig, augment
    from umo.models.features import LEFT_PAD, LogMelProsody
    from umo.models.student import SpeechStudent
    from umo.training.checkpoint import write_safetensors

    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    clips = read_clips(cfg)
    hours = sum(len(a) for _, a in clips) / SAMPLE_RATE / 3600
    _log(f"{len(clips)} clips, {hours:.2f} h of audio from {', '.join(cfg.data)}")
    teacher = teacher_features(cfg, clips)
    _log(f"teacher {cfg.teacher} layer {cfg.teacher_layer}: {time.perf_counter() - t0:.0f} s")
    mean, basis, std, kept = fit_pca(teacher, cfg.components, cfg.pca_frames, rng)
    _log(f"PCA: {cfg.components} of {basis.shape[0]} directions keep {100 * kept:.1f}% of the variance")
    targets = [(((f.astype(np.float64) - mean) @ basis) / std).astype(np.float32) for f in teacher]
    del teacher

    fe = LogMelProsody()
    student = SpeechStudent(fe.n_features, cfg.channels, cfg.dilations, cfg.components, basis.shape[0])
    student.pca_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
    student.pca_basis.copy_(torch.as_tensor(basis, dtype=torch.float32))
    student.target_std.copy_(torch.as_tensor(std, dtype=torch.float32))
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    aug = replace(AugmentConfig(), p_speed=0.0)  # speed would move the audio off its targets
    lengths = np.array([len(t) for t in targets])
    usable = np.flatnonzero(lengths > cfg.window_frames)
    if not len(usable):
        raise UmoError(f"student: no clip is longer than a window ({cfg.window_frames / 100:.1f} s)")
    p = lengths[usable] / lengths[usable].sum()
    n_win = (cfg.window_frames - 1) * HOP_LENGTH + 400  # samples of F frames, left context included
    log_every = max(1, cfg.steps // 20)
    losses = []
    for step in range(cfg.steps):
        xs, ys = [], []
        for c in rng.choice(usable, cfg.batch_size, p=p):
            f0 = int(rng.integers(0, lengths[c] - cfg.window_frames + 1))
            audio = clips[c][1]
            s0 = f0 * HOP_LENGTH - LEFT_PAD  # frame f0 is the window ending at sample (f0 + 1) * 160
            win = audio[max(0, s0):s0 + n_win]
            win = np.concatenate([np.zeros(max(0, -s0), np.float32), win, np.zeros(n_win - len(win) - max(0, -s0), np.float32)])
            if cfg.augment:
                win = augment(win, {}, np.zeros(0), rng, aug)[0]
            xs.append(win)
            ys.append(targets[c][f0:f0 + cfg.window_frames])
        x = fe.frames(torch.from_numpy(np.stack(xs)))  # (B, F, C)
        y = torch.from_numpy(np.stack(ys))  # (B, F, K)
        pred = student(x)
        # frame j predicts the targets at frame j - delay; the first `delay` frames have none
        loss = (pred[:, cfg.delay:] - y[:, :y.shape[1] - cfg.delay]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            _log(f"step {step + 1}/{cfg.steps}: loss {np.mean(losses[-log_every:]):.4f} "
                 f"(1.0 = predicting the mean; {time.perf_counter() - t0:.0f} s)")
    manifest = {"clips": len(clips), "hours": round(hours, 3), "data": list(cfg.data), "exclude": list(cfg.exclude),
                "sources": sorted({cid.split("/")[0] for cid, _ in clips}),
                "clip_ids_sha256": hashlib.sha256("\n".join(c for c, _ in clips).encode()).hexdigest(),
                "pca_variance_kept": kept, "final_loss": float(np.mean(losses[-log_every:]))}
    meta = {"format": "umo-checkpoint", "version": 1, "kind": "student",
            "student": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
            "model_fields": cfg.model_fields(basis.shape[0]), "manifest": manifest}
    path = write_safetensors(out / STUDENT_FILE, {k: v.detach() for k, v in student.state_dict().items()}, meta)
    (out / "manifest.json").write_text(json.dumps(meta, indent=2))
    _log(f"wrote {path} ({time.perf_counter() - t0:.0f} s in all)")
    return path


def load_student_into(model, path: str | Path) -> None:
    """Copy a distilled student (``student.safetensors``) into a UmoModel made with its model fields."""
    from umo.models.checkpoint import read_meta, read_tensors

    meta = read_meta(path)
    if meta.get("kind") != "student":
        raise UmoError(f"{path} is not a distilled student (python -m umo.training.student)")
    fields = meta["model_fields"]
    mine = {k: getattr(model.cfg, k) for k in fields}
    if any((tuple(v) if isinstance(v, list) else v) != mine[k] for k, v in fields.items()):
        raise UmoError(f"{path}: the model's student fields {mine} differ from the student's {fields}")
    model.student.load_state_dict(read_tensors(path))


def student_model_fields(path: str | Path) -> dict:
    from umo.models.checkpoint import read_meta

    meta = read_meta(path)
    if meta.get("kind") != "student":
        raise UmoError(f"{path} is not a distilled student (python -m umo.training.student)")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["model_fields"].items()}


def main(argv: list[str] | None = None) -> int:
    d = StudentConfig()
    p = argparse.ArgumentParser(prog="python -m umo.training.student", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="corpus folders whose clips' audio is used")
    p.add_argument("--out", default=d.out)
    p.add_argument("--teacher", default=d.teacher, help=f"Whisper model (default {d.teacher})")
    p.add_argument("--layer", type=int, default=d.teacher_layer, help=f"teacher layer (default {d.teacher_layer})")
    p.add_argument("--components", type=int, default=d.components)
    p.add_argument("--delay", type=int, default=d.delay, help="feature frames of lookahead (default 6: 60 ms)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--max-hours", type=float, default=d.max_hours)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--no-augment", action="store_true")
    args = p.parse_args(argv)
    cfg = replace(d, data=tuple(args.data), out=args.out, teacher=args.teacher, teacher_layer=args.layer,
                  components=args.components, delay=args.delay, steps=args.steps, max_hours=args.max_hours,
                  threads=args.threads, augment=not args.no_augment)
    try:
        distill(cfg)
    except UmoError as e:
        print(f"umo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
