"""Training of the continuous body generator (umo.models.body_gen): autoencoder, then generator.

    python -m umo.training.body_gen --data runs/default/corpus --out runs/bodygen \\
        [--config default] [--ae-minutes 6] [--gen-minutes 25] [--threads 2] [--resume]

Phases, each bounded by wall time (or --*-steps) and checkpointed to OUT/last.pt every minute so
that --resume continues where it stopped:

1. **cache**: every clip of the corpus folders -> 6-D rotations of the 58 moving joints (T, 348) and
   the per-frame speech conditions (T, n_mels + 3) (``speech_frame_features``, the streaming
   front end's numbers), saved in OUT/cache.npz. Clips with ``has_body`` only; the held-out
   evaluation clips (umo.data.importers.HELD_OUT) are never read. 3 % of clips are validation.
2. **ae**: the motion autoencoder on random windows: MSE of the normalised 6-D + velocity MSE (keeps
   the dynamics, jerk included), latents noised a little so the decoder tolerates generated ones.
   Afterwards every clip is encoded; latent mean/std are stored in the AE; reconstruction error on
   the validation clips is reported per region (spine, arms, hands; mean geodesic degrees).
3. **gen**: the masked-AR transformer + flow head on random windows of latent tokens.

OUT/body_gen.safetensors is the inference file (``umo animate --body gen --body-model FILE``);
OUT/log.jsonl holds the losses. Use at most the threads you can spare (--threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from umo.models.body_gen import BodyGenerator, get_body_config, save_body_generator, speech_frame_features
from umo.models.motion_ae import GEN_JOINTS, REGION_JOINTS, angle_error_deg, regions_to_6d

VAL_FRACTION = 0.03
AE_WINDOW = 64  # frames per autoencoder training window
GEN_TOKENS = 64  # latent tokens per generator training window (128 frames, 4.3 s at stride 2)


def _log(msg: str) -> None:
    print(f"body_gen: {msg}", flush=True)


def build_cache(dirs: list[Path], out: Path, n_mels: int, lookahead: int,
                max_clips: int | None = None) -> dict[str, np.ndarray]:
    """Motion (sum T, 348) and conditions (sum T, C) of every clip with a body, with clip offsets."""
    path = out / f"cache_mels{n_mels}_la{lookahead}.npz"
    if path.is_file():
        d = np.load(path)
        return {k: d[k] for k in d.files}
    from umo.data.importers import HELD_OUT
    from umo.data.shards import ShardReader

    motion, cond, lengths = [], [], []
    t0 = time.time()
    for d in dirs:
        reader = ShardReader(d)
        for i, e in enumerate(reader.entries):
            if max_clips is not None and len(lengths) >= max_clips:
                break
            if not e["has_body"] or e["id"] in HELD_OUT or e["id"].split("/", 1)[-1] in HELD_OUT:
                continue
            fr = reader.frames(i)
            t = len(fr["body"])
            motion.append(regions_to_6d(fr["body"], fr["hands"]))
            cond.append(speech_frame_features(reader.audio(i), t, lookahead, n_mels))
            lengths.append(t)
            if len(lengths) % 250 == 0:
                _log(f"cache: {len(lengths)} clips ({time.time() - t0:.0f} s)")
    data = {"motion": np.concatenate(motion).astype(np.float32), "cond": np.concatenate(cond).astype(np.float32),
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}
    np.savez(path, **data)
    _log(f"cache: {len(lengths)} clips, {data['offsets'][-1] / 30 / 3600:.2f} h -> {path}")
    return data


def split_clips(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, int(round(n * VAL_FRACTION)))
    return np.sort(perm[k:]), np.sort(perm[:k])


def random_windows(offsets: np.ndarray, clips: np.ndarray, length: int, count: int,
                   rng: np.random.Generator, multiple: int = 1) -> np.ndarray:
    """Start frames of ``count`` windows of ``length`` frames in clips long enough (length-weighted);
    starts are multiples of ``multiple`` (token boundaries)."""
    lens = offsets[clips + 1] - offsets[clips]
    ok = clips[lens >= length]
    w = (offsets[ok + 1] - offsets[ok]).astype(np.float64)
    pick = rng.choice(ok, size=count, p=w / w.sum())
    span = (offsets[pick + 1] - offsets[pick] - length) // multiple
    return offsets[pick] + (rng.integers(0, span + 1) * multiple)


class Checkpoint:
    """OUT/last.pt: model, optimiser, phase and step; written atomically."""

    def __init__(self, out: Path) -> None:
        self.path = out / "last.pt"
        self.saved = time.time()

    def load(self) -> dict | None:
        return torch.load(self.path, weights_only=False) if self.path.is_file() else None

    def save(self, state: dict, force: bool = False) -> None:
        if not force and time.time() - self.saved < 60:
            return
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)
        self.saved = time.time()


def ae_loss(gen: BodyGenerator, x: torch.Tensor, latent_noise: float = 0.05) -> tuple[torch.Tensor, dict]:
    rec, z = gen.ae(x, latent_noise)
    pos = torch.nn.functional.mse_loss(rec, x)
    vel = torch.nn.functional.mse_loss(rec.diff(dim=1), x.diff(dim=1))
    reg = 1e-4 * z.pow(2).mean()
    return pos + 4.0 * vel + reg, {"pos": float(pos.detach()), "vel": float(vel.detach())}


def region_errors(gen: BodyGenerator, motion: np.ndarray, offsets: np.ndarray, clips: np.ndarray) -> dict[str, float]:
    """Mean geodesic error (degrees) of decode(encode(clip)) per region on ``clips`` (whole clips)."""
    s = gen.cfg.stride
    errs = {k: [] for k in REGION_JOINTS}
    with torch.no_grad():
        for c in clips:
            x6 = torch.from_numpy(motion[offsets[c]:offsets[c + 1]])
            t = (len(x6) // s) * s
            x6 = x6[None, :t]
            rec = gen.ae.denormalise(gen.ae.decode(gen.ae.encode(gen.ae.normalise(x6))))
            ang = angle_error_deg(rec.reshape(t, -1, 6), x6.reshape(t, -1, 6))  # (T, 58)
            for k, names in REGION_JOINTS.items():
                errs[k].append(ang[:, [GEN_JOINTS.index(n) for n in names]].mean().item())
    return {k: float(np.mean(v)) for k, v in errs.items()}


def encode_all(gen: BodyGenerator, motion: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw latents of every clip (sum N, Z) and token offsets (clips truncated to whole tokens)."""
    s = gen.cfg.stride
    zs, toks = [], [0]
    with torch.no_grad():
        for c in range(len(offsets) - 1):
            x6 = torch.from_numpy(motion[offsets[c]:offsets[c + 1]])
            t = (len(x6) // s) * s
            zs.append(gen.ae.encode(gen.ae.normalise(x6[None, :t]))[0].numpy())
            toks.append(toks[-1] + t // s)
    return np.concatenate(zs), np.array(toks, np.int64)


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = get_body_config(args.config)
    torch.manual_seed(args.seed)
    gen = BodyGenerator(cfg)
    ckpt = Checkpoint(out)
    state = ckpt.load() if args.resume else None
    logf = (out / "log.jsonl").open("a")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    data = build_cache([Path(d) for d in args.data], out, cfg.n_mels, cfg.lookahead_frames,
                       args.max_clips)
    motion, cond, offsets = data["motion"], data["cond"], data["offsets"]
    train_clips, val_clips = split_clips(len(offsets) - 1, args.seed)
    rng = np.random.default_rng(args.seed)
    phase, step = "ae", 0
    if state is not None:
        gen.load_state_dict(state["model"])
        phase, step = state["phase"], state["step"]
        # fresh draws (windows, masks, noise): the same seed would replay the first run's batches
        rng = np.random.default_rng([args.seed, step])
        torch.manual_seed(args.seed * 1_000_003 + step)
        _log(f"resumed: phase {phase}, step {step}")
    else:
        m = torch.from_numpy(motion)
        gen.ae.mean.copy_(m.mean(0))
        gen.ae.std.copy_(m.std(0).clamp_min(0.02))  # joints that barely move stay at unit-ish scale

    def log(rec: dict) -> None:
        logf.write(json.dumps(rec) + "\n")
        logf.flush()

    if phase == "ae":
        ae_params = list(gen.ae.parameters())
        opt = torch.optim.AdamW(ae_params, lr=args.ae_lr, weight_decay=0.0)
        if state is not None and "opt" in state:
            opt.load_state_dict(state["opt"])
        t_end = time.time() + args.ae_minutes * 60 - (state or {}).get("elapsed", 0.0)
        t_start = time.time()
        while time.time() < t_end and (args.ae_steps is None or step < args.ae_steps):
            starts = random_windows(offsets, train_clips, AE_WINDOW, args.ae_batch, rng)
            x = torch.from_numpy(np.stack([motion[s:s + AE_WINDOW] for s in starts]))
            loss, logs = ae_loss(gen, gen.ae.normalise(x))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ae_params, 1.0)
            opt.step()
            step += 1
            if step % 50 == 0:
                log({"phase": "ae", "step": step, "loss": float(loss)} | logs)
                _log(f"ae step {step}: loss {float(loss):.4f} (pos {logs['pos']:.4f}, vel {logs['vel']:.4f})")
            ckpt.save({"model": gen.state_dict(), "opt": opt.state_dict(), "phase": "ae", "step": step,
                       "elapsed": (state or {}).get("elapsed", 0.0) + time.time() - t_start})
        gen.eval()
        errs = region_errors(gen, motion, offsets, val_clips)
        _log("ae reconstruction on validation clips (mean geodesic degrees): "
             + ", ".join(f"{k} {v:.2f}" for k, v in errs.items()))
        log({"phase": "ae_done", "step": step, "recon_deg": errs})
        (out / "ae_report.json").write_text(json.dumps({"steps": step, "recon_deg": errs}, indent=1))
        z, _ = encode_all(gen, motion, offsets)
        gen.ae.z_mean.copy_(torch.from_numpy(z.mean(0)))
        gen.ae.z_std.copy_(torch.from_numpy(z.std(0)).clamp_min(1e-3))
        phase, step, state = "gen", 0, None
        ckpt.save({"model": gen.state_dict(), "phase": phase, "step": 0, "elapsed": 0.0}, force=True)

    # --- generator ---
    gen.train()
    z, tok_offsets = encode_all(gen, motion, offsets)
    zn = ((torch.from_numpy(z) - gen.ae.z_mean) / gen.ae.z_std).numpy()
    s = cfg.stride
    for p in gen.ae.parameters():
        p.requires_grad_(False)
    params = [p for n, p in gen.named_parameters() if not n.startswith("ae.")]
    opt = torch.optim.AdamW(params, lr=args.gen_lr, weight_decay=0.01, betas=(0.9, 0.95))
    if state is not None and "opt" in state:
        opt.load_state_dict(state["opt"])
    elapsed0 = (state or {}).get("elapsed", 0.0)
    t_start = time.time()
    t_end = t_start + args.gen_minutes * 60 - elapsed0
    ema = None
    budget_s = args.gen_minutes * 60
    while time.time() < t_end and (args.gen_steps is None or step < args.gen_steps):
        lr = args.gen_lr * min(1.0, (step + 1) / 200)
        if args.gen_lr_min is not None:  # cosine to gen_lr_min over the phase (time or step budget, whichever ends first)
            done = (elapsed0 + time.time() - t_start) / budget_s
            if args.gen_steps:
                done = max(done, step / args.gen_steps)
            lr = min(lr, args.gen_lr_min + 0.5 * (args.gen_lr - args.gen_lr_min) * (1 + np.cos(np.pi * min(1.0, done))))
        for g_ in opt.param_groups:
            g_["lr"] = lr
        starts = random_windows(tok_offsets, train_clips, GEN_TOKENS, args.gen_batch, rng)
        clip_of = np.searchsorted(tok_offsets, starts, side="right") - 1
        frame_starts = offsets[clip_of] + (starts - tok_offsets[clip_of]) * s
        batch = {"z": torch.from_numpy(np.stack([zn[a:a + GEN_TOKENS] for a in starts])),
                 "cond": torch.from_numpy(np.stack([cond[f:f + GEN_TOKENS * s] for f in frame_starts]))}
        loss, logs = gen(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
        if step % 25 == 0:
            log({"phase": "gen", "step": step, "loss": float(loss), "loss_ema": ema, "lr": lr,
                 "elapsed": elapsed0 + time.time() - t_start})
            _log(f"gen step {step}: loss {float(loss):.4f} (ema {ema:.4f}), {elapsed0 + time.time() - t_start:.0f} s")
        if step % 100 == 0:
            save_body_generator(gen, out / "body_gen.safetensors", {"steps": step})
        ckpt.save({"model": gen.state_dict(), "opt": opt.state_dict(), "phase": "gen", "step": step,
                   "elapsed": elapsed0 + time.time() - t_start})
    gen.eval()
    # validation flow loss (same random draws each time: fixed seed)
    torch.manual_seed(1234)
    vr = np.random.default_rng(1)
    vstarts = random_windows(tok_offsets, val_clips, GEN_TOKENS, 32, vr)
    clip_of = np.searchsorted(tok_offsets, vstarts, side="right") - 1
    fstarts = offsets[clip_of] + (vstarts - tok_offsets[clip_of]) * s
    with torch.no_grad():
        vloss, _ = gen({"z": torch.from_numpy(np.stack([zn[a:a + GEN_TOKENS] for a in vstarts])),
                        "cond": torch.from_numpy(np.stack([cond[f:f + GEN_TOKENS * s] for f in fstarts]))})
    _log(f"gen done: {step} steps, validation flow loss {float(vloss):.4f}")
    log({"phase": "gen_done", "step": step, "val_loss": float(vloss)})
    save_body_generator(gen, out / "body_gen.safetensors", {"steps": step, "val_loss": float(vloss)})
    ckpt.save({"model": gen.state_dict(), "opt": opt.state_dict(), "phase": "gen", "step": step,
               "elapsed": elapsed0 + time.time() - t_start}, force=True)
    _log(f"wrote {out / 'body_gen.safetensors'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m umo.training.body_gen", description=__doc__.split("\n")[0],
                                epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="corpus folders (umo data synth / umo data import)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default="default", help="body generator preset (default, tiny)")
    p.add_argument("--ae-minutes", type=float, default=6.0)
    p.add_argument("--gen-minutes", type=float, default=25.0)
    p.add_argument("--ae-steps", type=int, default=None, help="stop the AE phase after this many steps too")
    p.add_argument("--gen-steps", type=int, default=None, help="stop the generator phase after this many steps too")
    p.add_argument("--ae-batch", type=int, default=64)
    p.add_argument("--gen-batch", type=int, default=24)
    p.add_argument("--ae-lr", type=float, default=2e-3)
    p.add_argument("--gen-lr", type=float, default=1e-3)
    p.add_argument("--gen-lr-min", type=float, default=None,
                   help="cosine-decay the generator's learning rate to this over the phase (default: constant)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-clips", type=int, default=None, help="read at most this many clips per corpus (CPU budget)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    return p


def main(argv: list[str] | None = None) -> int:
    return train(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
