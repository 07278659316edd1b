"""Hand-speed curves over the same 10 s of BEAT take 2_scott_0_1_1: capture vs the continuous body
generator vs the rules (issue 14). Writes docs/hand_speed_bodygen.png.

    .venv/bin/python scripts/hand_speed_figure.py [--weights FILE] [--start 20] [--seconds 10]

Needs ../shared/data/beat (non-commercial: read there, never copied; only this derived plot is saved).
Speeds: both wrists' mean, shoulder widths per second, every system at the capture's 15 fps.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from umo.animator.body_stats import (
    BEAT_FPS,
    BEAT_TAKE,
    _data_dir,
    animate_take,
    real_positions,
    resample_positions,
    wrist_speeds,
)

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="body generator weights (default: the bundled file)")
    ap.add_argument("--start", type=float, default=20.0, help="window start, seconds")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("-o", "--out", type=Path, default=REPO / "docs" / "hand_speed_bodygen.png")
    args = ap.parse_args()
    data = _data_dir()
    if data is None or not (data / "beat" / f"{BEAT_TAKE}.bvh").is_file():
        print("BEAT take not found (../shared/data/beat or $UMO_SHARED_DATA): nothing to plot")
        return 1
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umo.animation import Animation
    from umo.formats.audio import load_audio
    from umo.models.body_gen import default_body_generator, with_generated_body
    from umo.skeleton import canonical_skeleton, forward_kinematics

    beat = data / "beat"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real_pos, real_sk = real_positions(beat / f"{BEAT_TAKE}.bvh")
    curves = {"capture": wrist_speeds(real_pos, BEAT_FPS, real_sk).mean(1)}
    sk = canonical_skeleton()
    track, _, _ = animate_take(beat / f"{BEAT_TAKE}.wav", beat / f"{BEAT_TAKE}.TextGrid", 30.0, 0)
    pos = forward_kinematics(sk, track.rotations, track.root_pos)[0]
    curves["rules"] = wrist_speeds(resample_positions(pos, 30.0, BEAT_FPS), BEAT_FPS, sk).mean(1)
    audio = load_audio(beat / f"{BEAT_TAKE}.wav")
    anim = with_generated_body(Animation.neutral(track.num_frames, 30.0), audio, default_body_generator(args.weights))
    pos = forward_kinematics(sk, anim.body, anim.root_pos)[0]
    curves["generator"] = wrist_speeds(resample_positions(pos, 30.0, BEAT_FPS), BEAT_FPS, sk).mean(1)

    lo, hi = int(args.start * BEAT_FPS), int((args.start + args.seconds) * BEAT_FPS)
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=110)
    styles = {"capture": ("k", 2.0), "generator": ("tab:blue", 1.4), "rules": ("tab:orange", 1.2)}
    for name, sp in curves.items():
        t = np.arange(len(sp))[lo:hi] / BEAT_FPS
        colour, width = styles[name]
        ax.plot(t, sp[lo:hi], colour, lw=width, label=f"{name} (mean {sp.mean():.2f} sw/s)")
    ax.set_xlabel(f"time in {BEAT_TAKE} (s)")
    ax.set_ylabel("wrist speed (shoulder widths/s)")
    ax.set_title("Hand speed, same 10 s: BEAT capture vs continuous body generator vs rules (all at 15 fps)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
