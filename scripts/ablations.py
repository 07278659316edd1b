"""Ablations of the learned model, each trained with the same short schedule and scored on the
held-out real clips in one run of the evaluation suite.

    .venv/bin/python scripts/ablations.py [--steps 150 80 120] [--parallel 2] [--out runs/ablations]

Variants of the default preset: MoE (the default) vs a dense FFN of equal active compute; keyframe
stride 1 / 2 (default) / 4 with the interpolation network; lookahead 0 / 2 (default) / 4 frames.
All share the corpus of the default recipe (runs/default: run `make train-default` first, or the
recipe makes it) and the recipe's stages; only the model config and the step counts differ. The
schedule is much shorter than the bundled model's, so the figures compare variants with one another,
not with the bundled model; with one held-out clip per language they are noisy: read differences
of a few hundredths as ties.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict] = {
    "moe-stride2-la2": {},  # the default preset
    "dense": {"dense_ffn": True},
    "stride1": {"keyframe_stride": 1},
    "stride4": {"keyframe_stride": 4},
    "lookahead0": {"lookahead_frames": 0},
    "lookahead4": {"lookahead_frames": 4},
}


def train_variant(name: str, overrides: dict, args) -> subprocess.Popen:
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    for shared in ("corpus", "val", "facegood"):  # reuse the default recipe's data
        link = out / shared
        if not link.exists():
            link.symlink_to((args.base / shared).resolve())
    cfg = out / "model.json"
    cfg.write_text(json.dumps({"preset": "default", **overrides}))
    cmd = [sys.executable, "-m", "umo.training.recipe", "--out", str(out), "--model", str(cfg),
           "--steps", *map(str, args.steps), "--export-to", str(out / "weights.safetensors")]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    log = open(out / "recipe.log", "w")
    return subprocess.Popen(cmd + ["--threads", str(args.threads)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs=3, default=(150, 80, 120), metavar=("S1", "S2", "S3"))
    ap.add_argument("--parallel", type=int, default=2, help="variants trained at once (1 thread each)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--base", type=Path, default=REPO / "runs" / "default")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "ablations")
    args = ap.parse_args()
    if not (args.base / "corpus" / "index.json").is_file():
        print(f"no corpus in {args.base}: run `make train-default` (or its data step) first", file=sys.stderr)
        return 1

    started = time.perf_counter()
    pending = list(args.variants)
    running: list[tuple[str, subprocess.Popen, float]] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            if (args.out / name / "weights.safetensors").is_file():
                print(f"{name}: already trained")
                continue
            running.append((name, train_variant(name, VARIANTS[name], args), time.perf_counter()))
            print(f"{name}: training ({VARIANTS[name] or 'default preset'})")
        for item in list(running):
            name, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                status = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see recipe.log)"
                print(f"{name}: {status} in {(time.perf_counter() - t0) / 60:.1f} min")
        time.sleep(2)
    print(f"all trained in {(time.perf_counter() - started) / 60:.1f} min; scoring on the held-out real clips")

    candidates = []
    for name in args.variants:
        w = args.out / name / "weights.safetensors"
        if w.is_file():
            candidates += ["--candidate", f"model:{w}"]
    cmd = [sys.executable, "-m", "umo", "eval", "--suite", "real", "--no-baselines", *candidates,
           "-o", str(args.out / "eval")]
    return subprocess.run(cmd, cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())
