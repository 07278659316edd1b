"""The emotion layer's face offsets, recomputed from the real Live Link emotion takes.

    .venv/bin/python scripts/emotion_calibration.py [--data DIR] [--check]

Reads the iPhone Live Link Face captures in ``DIR/livelink_noaudio`` (default ``../shared/data``
beside the repository, or $UMO_SHARED_DATA; NeuroSync licence: read there, never copied into the
repository) and prints, per emotion and channel group, the mean weight of that emotion's takes minus
the mean of the neutral take: the table ``umo.emotion.DERIVED_OFFSETS`` keeps (3 decimals).
``--check`` compares the two and exits 1 if they differ by more than the rounding.

Which take is which emotion: the origin repository (AnimaVR/NeuroSync_Player@f31b8fa) files them in
one folder per emotion, ``livelink/animations/<Emotion>/``; ``default_anim/default.csv`` is its
neutral idle. The Happy folder's take (``Happy.csv``) was not copied into the shared data, and there
is no surprise folder: those two emotions are hand-set in ``umo.emotion`` (and said to be).

Each take weighs equally within its emotion (mean of the takes' means); a group of left/right
channels is their mean (the layer is symmetric). Besides the table, the script prints what the takes
say about the mouth's activity and the gaze, which the layer does not use (see ``umo.emotion``):
the takes are posed expressions without speech, and their eye pitch moves with the phone's position.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

# emotion -> its takes in livelink_noaudio (origin folder in the comment)
EMOTION_TAKES: dict[str, tuple[str, ...]] = {
    "neutral": ("default.csv",),  # default_anim/
    "sad": ("MySlate_167_iPhone_cal.csv", "MySlate_168_iPhone_cal.csv", "MySlate_169_iPhone_cal.csv"),  # Sad/
    "angry": ("MySlate_165_iPhone_cal.csv",),  # Angry/
    "afraid": ("MySlate_161_iPhone_cal.csv", "MySlate_162_iPhone_cal.csv", "MySlate_163_iPhone_cal.csv"),  # Fearful/
    "disgusted": ("MySlate_164_iPhone_cal.csv", "MySlate_166_iPhone_cal.csv"),  # Disgusted/
}
CAPTURE_FPS = 60.0
DECIMALS = 3


def default_data_dir() -> Path:
    env = os.environ.get("UMO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def take_means(path: Path) -> dict[str, float]:
    """One take -> {channel group: mean weight over its frames}."""
    from umo.constants import ARKIT_INDEX
    from umo.emotion import OFFSET_GROUPS
    from umo.formats.livelink import read_livelink

    face = read_livelink(path, fps=CAPTURE_FPS).face  # (T, 52)
    return {g: float(face[:, [ARKIT_INDEX[n] for n in names]].mean()) for g, names in OFFSET_GROUPS.items()}


def emotion_means(data_dir: Path) -> dict[str, dict[str, float]]:
    """{emotion: {group: mean of its takes' means}} for every emotion with takes."""
    folder = Path(data_dir) / "livelink_noaudio"
    out = {}
    for emotion, files in EMOTION_TAKES.items():
        means = [take_means(folder / f) for f in files]
        out[emotion] = {g: float(np.mean([m[g] for m in means])) for g in means[0]}
    return out


def derive_offsets(data_dir: Path) -> dict[str, dict[str, float]]:
    """{emotion: {group: its mean minus neutral's, rounded to DECIMALS}}, neutral left out."""
    means = emotion_means(data_dir)
    neutral = means.pop("neutral")
    return {e: {g: round(m[g] - neutral[g], DECIMALS) for g in m} for e, m in means.items()}


def mouth_and_gaze(data_dir: Path) -> dict[str, tuple[float, float, float]]:
    """{take: (JawOpen sd, lip aperture sd, mean eye pitch rad)}: printed, not used by the layer."""
    from umo.constants import ARKIT_INDEX, lip_aperture
    from umo.formats.livelink import read_livelink

    out = {}
    for emotion, files in EMOTION_TAKES.items():
        for f in files:
            a = read_livelink(Path(data_dir) / "livelink_noaudio" / f, fps=CAPTURE_FPS)
            out[f"{emotion} {f}"] = (float(a.face[:, ARKIT_INDEX["JawOpen"]].std()),
                                     float(lip_aperture(a.face).std()), float(a.eyes[:, [1, 4]].mean()))
    return out


def format_table(table: dict[str, dict[str, float]]) -> str:
    groups = list(next(iter(table.values())))
    head = f"{'group':16s}" + "".join(f"{e:>10s}" for e in table)
    lines = [head, "-" * len(head)]
    for g in groups:
        lines.append(f"{g:16s}" + "".join(f"{table[e][g]:>+10.3f}" for e in table))
    return "\n".join(lines)


def compare(derived: dict[str, dict[str, float]], kept: dict[str, dict[str, float]]) -> list[str]:
    """Differences between the recomputed table and the code's, as lines (none: they match)."""
    tol = 0.5 * 10 ** -DECIMALS + 1e-9
    out = []
    for e in sorted(set(derived) | set(kept)):
        if e not in derived or e not in kept:
            out.append(f"{e}: only in {'the data' if e in derived else 'the code'}")
            continue
        for g in sorted(set(derived[e]) | set(kept[e])):
            a, b = derived[e].get(g), kept[e].get(g)
            if a is None or b is None or abs(a - b) > tol:
                out.append(f"{e} {g}: data {a}, code {b}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--check", action="store_true", help="exit 1 unless umo.emotion.DERIVED_OFFSETS matches")
    args = ap.parse_args(argv)
    data = args.data or default_data_dir()
    if not (data / "livelink_noaudio").is_dir():
        print(f"no Live Link takes at {data / 'livelink_noaudio'}: pass --data DIR (the shared data folder)")
        return 2
    derived = derive_offsets(data)
    print("face offsets at intensity 1 (emotion takes' mean minus the neutral take's):")
    print(format_table(derived))
    print("\nnot used (posed takes without speech; eye pitch follows the phone's position):")
    print(f"{'take':42s} {'JawOpen sd':>10s} {'aperture sd':>12s} {'eye pitch':>10s}")
    for take, (jaw, ap_sd, pitch) in mouth_and_gaze(data).items():
        print(f"{take:42s} {jaw:>10.3f} {ap_sd:>12.3f} {pitch:>+10.3f}")
    if args.check:
        from umo.emotion import DERIVED_OFFSETS

        diffs = compare(derived, DERIVED_OFFSETS)
        print("\numo.emotion.DERIVED_OFFSETS " + ("matches" if not diffs else "differs:\n  " + "\n  ".join(diffs)))
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
