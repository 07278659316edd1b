"""Real-data checks of the rule-based animator, printed as tables (and saved as JSON).

    .venv/bin/python scripts/foundation_report.py [--data ../shared/data] [--out out/report]

1. The BEAT take 2_scott_0_1_1 animated from its wav + TextGrid: lip aperture vs the audio's
   loudness envelope (correlation at lag 0 and the best lag within ±300 ms), and vs the real jaw of
   the same performance (the SMPL-X fit in 2_scott_0_1_1.npz), beside the loudness-driven jaw baseline.
2. Hand speed of our gestures vs the real BEAT BVH of the same take (and a still pose).
3. The face calibration table vs the Live Link captures.
4. Speed: seconds of compute to animate one minute of speech with a transcript, on one thread.

Everything runs on one thread (set before numpy loads). Real data is read from ../shared/data and
never copied.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TAKE = "2_scott_0_1_1"
MAX_LAG_S = 0.3


def lagged_corr(x: np.ndarray, y: np.ndarray, fps: float, max_lag_s: float = MAX_LAG_S) -> tuple[float, float, float]:
    """Pearson r of x and y at lag 0, and the best r with its lag in ms (positive: x lags y)."""
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    best_r, best_lag = -2.0, 0
    r0 = float(np.corrcoef(x, y)[0, 1])
    for lag in range(-int(max_lag_s * fps), int(max_lag_s * fps) + 1):
        a, b = (x[lag:], y[: n - lag]) if lag >= 0 else (x[: n + lag], y[-lag:])
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best_r:
            best_r, best_lag = r, lag
    return r0, best_r, 1000.0 * best_lag / fps


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "report")
    args = ap.parse_args()
    if not (args.data / "beat" / f"{TAKE}.wav").is_file():
        print(f"real data not found under {args.data}: nothing to report", file=sys.stderr)
        return 0

    from umo.animator.body_stats import hand_speed_stats, resample_positions
    from umo.animator.calibration import calibration_table, format_table
    from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
    from umo.constants import ARKIT_INDEX, lip_aperture
    from umo.formats.audio import load_audio
    from umo.formats.bvh import read_animation_bvh
    from umo.formats.smplx import read_smplx, smplx_to_animation
    from umo.formats.textgrid import read_words
    from umo.speech.align import align_transcript
    from umo.speech.phonemes import timing_from_words
    from umo.speech.prosody import compute_prosody

    beat = args.data / "beat"
    audio = load_audio(beat / f"{TAKE}.wav")
    duration = audio.size / 16000
    words = read_words(beat / f"{TAKE}.TextGrid")
    report: dict = {"take": TAKE, "duration_s": duration}

    # --- 1. face sync -------------------------------------------------------------------------
    fps = 30
    timing = timing_from_words(words, voice="en-us")
    ours = RuleAnimator(RuleAnimatorConfig(fps=fps)).animate(audio, timing)
    jaw_baseline = RuleAnimator(RuleAnimatorConfig(fps=fps, body=False)).animate(audio, None)
    loud = compute_prosody(audio, ours.num_frames, fps).loudness
    real = smplx_to_animation(read_smplx(beat / f"{TAKE}.npz"))
    real_jaw = real.face[:, ARKIT_INDEX["JawOpen"]]  # from the fitted SMPL-X jaw rotation
    rows = []
    for name, anim in (("rule animator (TextGrid)", ours), ("loudness-driven jaw (baseline)", jaw_baseline)):
        apert = lip_aperture(anim.face)
        r0, rb, lag = lagged_corr(apert, loud, fps)
        j0, jb, jlag = lagged_corr(apert, real_jaw, fps)
        rows.append({"model": name, "r_env_lag0": r0, "r_env_best": rb, "lag_env_ms": lag,
                     "r_realjaw_lag0": j0, "r_realjaw_best": jb, "lag_realjaw_ms": jlag})
    report["face_sync"] = rows
    print(f"\n1. Face sync on BEAT {TAKE} ({duration:.1f} s, {len(words)} TextGrid words)")
    print(f"   aperture = JawOpen - MouthClose + mean(MouthLowerDown); lags searched within ±{MAX_LAG_S * 1000:.0f} ms")
    print(f"   {'model':<32} {'r(env) lag0':>11} {'best':>6} {'lag ms':>7} {'r(real jaw) lag0':>17} {'best':>6} {'lag ms':>7}")
    for r in rows:
        print(f"   {r['model']:<32} {r['r_env_lag0']:>11.3f} {r['r_env_best']:>6.3f} {r['lag_env_ms']:>7.0f}"
              f" {r['r_realjaw_lag0']:>17.3f} {r['r_realjaw_best']:>6.3f} {r['lag_realjaw_ms']:>7.0f}")
    print("   (the baseline is built from loudness, so its envelope r is high by construction;"
          " the real-jaw column is the independent check)")

    # --- 2. hand speed ------------------------------------------------------------------------
    with warnings.catch_warnings():  # the BEAT header's wrong frame count and rate: known, handled
        warnings.simplefilter("ignore")
        real_bvh = read_animation_bvh(beat / f"{TAKE}.bvh", duration=duration)
    ours_pos = resample_positions(ours.joint_positions(), ours.fps, real_bvh.fps)
    still = np.repeat(ours_pos[:1], len(ours_pos), axis=0)
    stats = {
        "real BEAT BVH": hand_speed_stats(real_bvh.joint_positions(), real_bvh.fps, real_bvh.skeleton),
        "rule animator": hand_speed_stats(ours_pos, real_bvh.fps, ours.skeleton),
        "still pose": hand_speed_stats(still, real_bvh.fps, ours.skeleton),
    }
    report["hand_speed"] = stats
    keys = [k for k, v in stats["real BEAT BVH"].items() if isinstance(v, (int, float))]
    print(f"\n2. Hand (wrist) speed, shoulder widths per second, ours animated at 30 fps and resampled to the capture's 15 fps, over the same {duration:.0f} s take")
    print("   " + f"{'':<16}" + "".join(f"{k:>16}" for k in keys))
    for name, s in stats.items():
        print("   " + f"{name:<16}" + "".join(f"{s[k]:>16.3f}" for k in keys))

    # --- 3. calibration -------------------------------------------------------------------------
    table = calibration_table(args.data)
    report["calibration"] = table
    print("\n3. Face calibration vs the 10 Live Link captures")
    print(format_table(table))

    # --- 4. speed -------------------------------------------------------------------------------
    text = " ".join(w.text for w in words)
    per_min = 60.0 / duration
    t_tg = median_time(lambda: timing_from_words(words, voice="en-us"))
    t_align = median_time(lambda: align_transcript(audio, text), repeats=1)
    t_anim = median_time(lambda: RuleAnimator(RuleAnimatorConfig(fps=30)).animate(audio, timing))
    t_anim60 = median_time(lambda: RuleAnimator(RuleAnimatorConfig(fps=60)).animate(audio, timing))
    speed = {
        "textgrid_to_phones_s_per_min": t_tg * per_min,
        "align_text_pocketsphinx_s_per_min": t_align * per_min,
        "animate_30fps_s_per_min": t_anim * per_min,
        "animate_60fps_s_per_min": t_anim60 * per_min,
    }
    report["speed_one_thread"] = speed
    print("\n4. Speed on one thread, seconds of compute per minute of speech (median of 3; alignment: 1 run)")
    for k, v in speed.items():
        print(f"   {k:<40} {v:8.2f}")
    print(f"   total with a TextGrid, 30 fps: {speed['textgrid_to_phones_s_per_min'] + speed['animate_30fps_s_per_min']:.2f} s;"
          f" with plain text (alignment): {speed['align_text_pocketsphinx_s_per_min'] + speed['animate_30fps_s_per_min']:.2f} s")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "foundation.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"\nsaved {args.out / 'foundation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
