"""Distil the bundled model's mixture-of-experts FFNs into dense FFNs of the same active size (issue 17).

At one stream the keyframe step streams every expert's weights from memory for five tokens: the MoE
reads 3x the weights of a dense FFN of hidden ``moe_top_k * expert_hidden`` (the ablation's dense
variant, which trained as well on the short schedule). This script keeps every other weight of the
bundled model and fits, layer by layer, a dense FFN to what the MoE computes on the activations of
real inference runs (the model generating its own keyframes on corpus speech, the PyTorch step),
then writes the model with dense FFNs as an inference file. Score it with ``umo eval --suite real
--candidate model:OUT`` and ``umo bench model:OUT+onnx`` before bundling anything.

    .venv/bin/python scripts/distil_dense_ffn.py --minutes 12 --steps 1500 -o runs/dense_ffn.safetensors

Activations come from corpus clips (synthetic speech) and the visible FACEGOOD takes, never from
the held-out clips (FACEGOOD 1114_3_16, BEAT).

Measured once (2026-12-03; 12 min of corpus + 4 FACEGOOD takes, 1500 steps per layer, one thread):
held-out fit error 1.6 / 4.3 / 7.7 / 5.7 % of the MoE output's variance (layers 0-3); offline with
the ONNX engine 1.98 vs 2.69 ms per frame (x0.74, same umo bench run); lips unchanged (the mouth
head: FACEGOOD 0.657, BEAT 0.492) but the body worse on BEAT (BeatAlign 0.215 vs 0.327, FD_raw 5.86
vs 4.01, hand speed 0.89 vs 1.11 sw/s; one draw each). Not bundled: a dense model would have to be
trained (or fine-tuned after this) end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def corpus_audio(folder: Path, minutes: float, seed: int) -> list[np.ndarray]:
    """Random corpus clips (16 kHz float32) adding up to ``minutes``."""
    import json

    from safetensors import safe_open

    index = json.loads((folder / "index.json").read_text())
    rng = np.random.default_rng(seed)
    clips = [c for c in index["clips"]]
    rng.shuffle(clips)
    out, total = [], 0.0
    handles = {}
    for c in clips:
        if total >= minutes * 60:
            break
        shard = index["shards"][c["shard"]]["file"]
        if shard not in handles:
            handles[shard] = safe_open(str(folder / shard), "pt")
        audio = handles[shard].get_slice("audio")
        a = audio[c["sample_offset"]:c["sample_offset"] + c["num_samples"]].numpy().astype(np.float32)
        out.append(a)
        total += c["duration"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=None, help="the MoE model (default: the bundled one)")
    p.add_argument("--corpus", type=Path, default=ROOT / "runs" / "default" / "corpus")
    p.add_argument("--facegood", type=Path, default=ROOT.parent / "shared" / "data" / "facegood" / "wav")
    p.add_argument("--minutes", type=float, default=12.0, help="corpus speech to collect activations on")
    p.add_argument("--steps", type=int, default=1500, help="fitting steps per layer")
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", type=Path, required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    from umo.formats.audio import load_audio
    from umo.inference import load_model, model_animation
    from umo.models import UmoModel
    from umo.models.moe import MoE

    teacher = load_model(a.weights)
    moes = teacher.moe_layers()
    records: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in moes]
    originals = [m.infer for m in moes]

    def recorder(i):
        def infer(x, types=None):
            y = originals[i](x, types)
            records[i].append((x.detach().clone(), y.detach().clone()))
            return y
        return infer

    for i, m in enumerate(moes):
        m.infer = recorder(i)
    clips = corpus_audio(a.corpus, a.minutes, a.seed)
    takes = sorted(a.facegood.glob("1114_2_*.wav")) if a.facegood.is_dir() else []
    clips += [load_audio(t) for t in takes]  # visible real takes (1114_3_16 and BEAT are held out)
    t0 = time.perf_counter()
    for k, clip in enumerate(clips):
        model_animation(teacher, clip, seed=k)
        if k % 20 == 0:
            print(f"activations: clip {k + 1}/{len(clips)}, {time.perf_counter() - t0:.0f} s", flush=True)
    for i, m in enumerate(moes):
        m.infer = originals[i]

    cfg = dataclasses.replace(teacher.cfg, dense_ffn=True)
    student = UmoModel(cfg).eval()
    own = student.state_dict()
    with torch.no_grad():
        for k, v in teacher.state_dict().items():
            if k in own and own[k].shape == v.shape:
                own[k].copy_(v)
    report = []
    for i, (blk, recs) in enumerate(zip(student.backbone.blocks, records)):
        x = torch.cat([r[0] for r in recs])
        y = torch.cat([r[1] for r in recs])
        n = x.shape[0]
        perm = torch.randperm(n)
        val, tr = perm[: n // 20], perm[n // 20:]
        ffn = blk.ffn
        ffn.train()
        opt = torch.optim.AdamW(ffn.parameters(), lr=a.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
        var = y[val].var().item()
        for step in range(a.steps):
            idx = tr[torch.randint(len(tr), (a.batch,))]
            loss = F.mse_loss(ffn.infer(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        ffn.eval()
        with torch.no_grad():
            err = F.mse_loss(ffn.infer(x[val]), y[val]).item()
        report.append((i, n, err / var))
        print(f"layer {i}: {n} tokens, held-out error {err / var:.4f} of the MoE output's variance", flush=True)

    from umo.training.checkpoint import FORMAT, FORMAT_VERSION, write_safetensors

    meta = {"format": FORMAT, "version": FORMAT_VERSION, "kind": "inference",
            "model_config": dataclasses.asdict(cfg), "dtype": "float16",
            "distilled_from": str(a.weights or "bundled"), "distil": {"minutes": a.minutes, "steps": a.steps,
                                                                      "layers": report}}
    state = {k: v.half() if v.is_floating_point() else v for k, v in student.state_dict().items()}
    write_safetensors(a.out, state, meta)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
