"""Real vs ours: value ranges and blink statistics of real Live Link captures next to the animator's.

``python -m umo.animator.calibration [--data DIR] [--seeds N]`` prints one table:

- **real**: the 10 iPhone Live Link Face captures in ``DIR/livelink_noaudio`` (60 fps emotion takes,
  no audio, head not captured), pooled;
- **ours (ARCTIC + .lab)**: :func:`animate_face` at 60 fps on ``DIR/speech/arctic_a0009.wav`` with its
  phone labels, pooled over N seeds (the clip is 3 s: one seed says little about blinks);
- **ours (BEAT + words)**: on BEAT ``2_scott_0_1_1.wav`` (64 s) with phones from its TextGrid words
  via espeak (``umo.speech.phonemes.timing_from_words``); left out when BEAT or espeak is absent.

A **blink** is EyeBlinkLeft rising through 0.5; the detector re-arms once it falls below 0.25
(hysteresis: capture noise near the threshold would otherwise count one blink twice). A blink's
**duration** is the time EyeBlinkLeft stays at or above 0.5.

The figures set FaceConfig's calibrated defaults (``umo.animator.face``). The captures are emotion
takes, not continuous speech: mouth means are lower and smile/brow-down higher than in neutral
speech, so ours should match them within a factor, not exactly. Only derived figures appear in code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from umo.animation import num_frames_for
from umo.animator.face import FaceConfig, animate_face
from umo.constants import ARKIT_INDEX, SAMPLE_RATE, lip_aperture

BLINK_ON = 0.5  # EyeBlinkLeft threshold that counts a blink
BLINK_OFF = 0.25  # ... and re-arms the detector
CAPTURE_FPS = 60.0  # the Live Link captures' rate; ours is rendered at the same rate
DEFAULT_SEEDS = 20

# (row label, channels averaged into one curve)
CHANNEL_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JawOpen", ("JawOpen",)),
    ("MouthClose", ("MouthClose",)),
    ("MouthFunnel", ("MouthFunnel",)),
    ("MouthPucker", ("MouthPucker",)),
    ("MouthSmileLeft", ("MouthSmileLeft",)),
    ("MouthSmileRight", ("MouthSmileRight",)),
    ("MouthLowerDown", ("MouthLowerDownLeft", "MouthLowerDownRight")),
    ("BrowInnerUp", ("BrowInnerUp",)),
    ("BrowOuterUp", ("BrowOuterUpLeft", "BrowOuterUpRight")),
    ("BrowDown", ("BrowDownLeft", "BrowDownRight")),
    ("EyeBlink", ("EyeBlinkLeft", "EyeBlinkRight")),
    ("EyeSquint", ("EyeSquintLeft", "EyeSquintRight")),
    ("EyeLookIn", ("EyeLookInLeft", "EyeLookInRight")),
    ("EyeLookOut", ("EyeLookOutLeft", "EyeLookOutRight")),
    ("EyeLookUp", ("EyeLookUpLeft", "EyeLookUpRight")),
    ("EyeLookDown", ("EyeLookDownLeft", "EyeLookDownRight")),
)


def default_data_dir() -> Path:
    """$UMO_SHARED_DATA, else ``../shared/data`` beside the repository (as the tests' conftest)."""
    env = os.environ.get("UMO_SHARED_DATA")
    # This file is <repo>/src/umo/animator/calibration.py: parents[3] is the repo.
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"


def detect_blinks(blink: np.ndarray, fps: float) -> tuple[int, list[float]]:
    """blink: (T,) EyeBlink curve -> (number of blinks, durations in s at or above BLINK_ON)."""
    count, durations, armed, start = 0, [], True, 0
    for i, v in enumerate(blink):
        if armed and v >= BLINK_ON:
            count, armed, start = count + 1, False, i
        elif not armed and v < BLINK_OFF:
            armed = True
        if not armed and start >= 0 and v < BLINK_ON and i > start:
            durations.append((i - start) / fps)
            start = -1
    return count, durations


def clip_stats(takes: list[tuple[np.ndarray, np.ndarray, float]]) -> dict[str, float]:
    """Pooled statistics of takes [(face (T, 52), eyes (T, 6), fps)] -> {row label: value}."""
    faces = np.concatenate([f for f, _, _ in takes])  # (sum T, 52)
    eyes = np.concatenate([e for _, e, _ in takes])  # (sum T, 6)
    minutes = sum(len(f) / fps for f, _, fps in takes) / 60.0
    n_blinks, durs = 0, []
    for f, _, fps in takes:
        n, d = detect_blinks(f[:, ARKIT_INDEX["EyeBlinkLeft"]], fps)
        n_blinks += n
        durs += d
    out = {
        "blink rate (/min)": n_blinks / max(minutes, 1e-9),
        "blink duration (ms >= 0.5)": 1000.0 * float(np.mean(durs)) if durs else float("nan"),
    }
    for label, names in CHANNEL_GROUPS:
        x = faces[:, [ARKIT_INDEX[n] for n in names]].mean(axis=1)
        out[f"{label} mean"] = float(x.mean())
        out[f"{label} p95"] = float(np.percentile(x, 95))
    ap = lip_aperture(faces)
    out["lip aperture mean"] = float(ap.mean())
    out["lip aperture p95"] = float(np.percentile(ap, 95))
    for k, name in ((0, "eye yaw"), (1, "eye pitch")):
        out[f"{name} p5 (rad)"] = float(np.percentile(eyes[:, k], 5))
        out[f"{name} p95 (rad)"] = float(np.percentile(eyes[:, k], 95))
        out[f"{name} sd (rad)"] = float(eyes[:, k].std())
    out["minutes"] = minutes
    return out


def real_stats(data_dir: Path) -> dict[str, float]:
    """Pooled statistics of every Live Link capture in data_dir/livelink_noaudio."""
    from umo.formats.livelink import read_livelink

    files = sorted((data_dir / "livelink_noaudio").glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no Live Link captures in {data_dir / 'livelink_noaudio'}")
    takes = []
    for f in files:
        anim = read_livelink(f, fps=CAPTURE_FPS)
        takes.append((anim.face, anim.eyes, anim.fps))
    return clip_stats(takes)


def ours_stats(wav: Path, timing, seeds: int, cfg: FaceConfig | None = None,
               fps: float = CAPTURE_FPS) -> dict[str, float]:
    """Pooled statistics of animate_face on one clip over `seeds` seeds (0 .. seeds-1)."""
    from umo.formats.audio import load_audio
    from umo.speech.prosody import compute_prosody

    audio = load_audio(wav)
    n = num_frames_for(len(audio) / SAMPLE_RATE, fps)
    prosody = compute_prosody(audio, n, fps)
    takes = []
    for seed in range(seeds):
        tr = animate_face(timing, prosody, n, fps, np.random.default_rng(seed), cfg)
        takes.append((tr.face, tr.eyes, fps))
    return clip_stats(takes)


def calibration_table(data_dir: Path | None = None, seeds: int = DEFAULT_SEEDS,
                      cfg: FaceConfig | None = None, beat: bool = True) -> list[dict]:
    """Rows {"quantity", "real", "ours_arctic", "ours_beat" (None when unavailable)}.

    data_dir: the shared data folder (default: ../shared/data beside the repo).
    """
    from umo.formats.lab import read_lab

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    real = real_stats(data_dir)
    speech = data_dir / "speech"
    arctic = ours_stats(speech / "arctic_a0009.wav", read_lab(speech / "arctic_a0009_phone.lab"), seeds, cfg)
    beat_stats = _beat_stats(data_dir, cfg) if beat else None
    rows = []
    for q in real:
        rows.append({"quantity": q, "real": real[q], "ours_arctic": arctic[q],
                     "ours_beat": None if beat_stats is None else beat_stats[q]})
    return rows


def _beat_stats(data_dir: Path, cfg: FaceConfig | None) -> dict[str, float] | None:
    wav = data_dir / "beat" / "2_scott_0_1_1.wav"
    grid = wav.with_suffix(".TextGrid")
    if not (wav.is_file() and grid.is_file()):
        return None
    try:
        from umo.formats.textgrid import read_words
        from umo.speech.phonemes import timing_from_words

        timing = timing_from_words(read_words(grid))
    except Exception as e:  # espeak missing or a changed API: the ARCTIC column still stands
        print(f"BEAT column left out: cannot phonemize its words ({e})", file=sys.stderr)
        return None
    return ours_stats(wav, timing, seeds=3, cfg=cfg)


def format_table(rows: list[dict]) -> str:
    head = f"{'quantity':32s} {'real':>10s} {'ours ARCTIC':>12s} {'ours BEAT':>10s}"
    lines = [head, "-" * len(head)]
    fmt = lambda v: "n/a" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    for r in rows:
        lines.append(f"{r['quantity']:32s} {fmt(r['real']):>10s} {fmt(r['ours_arctic']):>12s} "
                     f"{fmt(r['ours_beat']):>10s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umo.animator.calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds pooled on the ARCTIC clip")
    ap.add_argument("--no-beat", action="store_true", help="leave out the BEAT column")
    args = ap.parse_args(argv)
    data = args.data or default_data_dir()
    if not (data / "livelink_noaudio").is_dir():
        print(f"no real data at {data} (expected {data / 'livelink_noaudio'}): nothing to calibrate; "
              "pass --data DIR to point at the shared data folder")
        return 0
    print(format_table(calibration_table(data, seeds=args.seeds, beat=not args.no_beat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
