"""Which Whisper encoder layer helps the lips? Linear probes on real captures, and the encoder's speed.

    .venv/bin/python scripts/whisper_probe.py [--models tiny.en base] [--no-speed | --no-probe]

Ridge regressions from audio features to the lip aperture (umo.constants.lip_aperture), one per
feature source, each reading the features at the motion frame's time and +-40, +-80 ms:

  log-mel (umo)      the motion model's own causal log-mel + prosody (umo.models.features, 100 Hz)
  log-mel (Whisper)  Whisper's log-mel (80 bins, 100 Hz), the encoder's input
  <model> L<k>       Whisper encoder layer k (umo.speech.whisper: 0 the convolutions, k the residual
                     stream after block k, the last the encoder's output), 50 Hz

Fitted on the real FACEGOOD takes 1114_2_01 .. 04 (Mandarin, one speaker, 30 fps face capture;
the ridge strength chosen by leave-one-take-out over them: the "CV" column), scored as Pearson r at
lag 0 on FACEGOOD 1114_3_16 (held out of all training) and, across language, speaker and capture,
on BEAT 2_scott_0_1_1 (English; its SMPL-X jaw, as ``umo eval --suite real`` scores it; BEAT is
non-commercial: read from ../shared/data, never copied). Needs ../shared/data (or UMO_SHARED_DATA).

Speed: the whole-clip encoder cost (log-mel + every 30 s window, overlapping as
WhisperEncoder.features plans them) as a real-time factor on one thread, this PyTorch encoder vs
ctranslate2's (float32, as it runs the fp16 weights on a CPU, and int8) on the same windows, where
the ``ctranslate2`` package is installed.
"""

from __future__ import annotations

import os

# one BLAS thread: the measurements are single-threaded, and the machine is shared
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from umo.constants import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE, lip_aperture  # noqa: E402
from umo.eval.metrics import pearson  # noqa: E402
from umo.eval.probe import CONTEXT_S, PROBE_TAKES, fit_ridge, sampler, stacked  # noqa: E402
from umo.eval.suite import BEAT_TAKE, FACEGOOD_TAKE, shared_data_dir  # noqa: E402
from umo.models.features import WIN_LENGTH, LogMelProsody  # noqa: E402
from umo.speech.whisper import MEL_RATE, WHISPER_MODELS, WhisperEncoder, installed_weight_paths  # noqa: E402

FIT_TAKES = PROBE_TAKES
TEST_COLUMNS = (f"FACEGOOD {FACEGOOD_TAKE}", f"BEAT {BEAT_TAKE} (en)")


@dataclass
class Take:
    name: str
    audio: np.ndarray  # (S,) float32 at SAMPLE_RATE
    aperture: np.ndarray  # (T,) at MODEL_FPS, frame i at i / 30 s

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.aperture)) / MODEL_FPS


def facegood_take(folder: Path, name: str) -> Take:
    from umo.formats.facegood import read_facegood

    anim = read_facegood(folder / "bs_value" / f"bs_value_{name}.npy", folder / "wav" / f"{name}.wav")
    num = min(anim.num_frames, int(len(anim.audio) / SAMPLE_RATE * MODEL_FPS))  # FACEGOOD is 30 fps
    return Take(name, anim.audio, lip_aperture(anim.face)[:num])


def beat_take(folder: Path) -> Take:
    """BEAT's audio and its SMPL-X jaw (the face it has: lip_aperture is JawOpen alone)."""
    import warnings

    from umo.convert import read_any
    from umo.formats.audio import load_audio

    audio = load_audio(folder / f"{BEAT_TAKE}.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anim, _ = read_any(folder / f"{BEAT_TAKE}.npz", len(audio) / SAMPLE_RATE)
    t_gt = np.arange(anim.num_frames) / anim.fps
    num = int(min(len(audio) / SAMPLE_RATE, t_gt[-1]) * MODEL_FPS)
    return Take(BEAT_TAKE, audio, np.interp(np.arange(num) / MODEL_FPS, t_gt, lip_aperture(anim.face)))


# --- features: each source is a function times (N,) seconds -> (N, C) ------------------------------
def mel_sources(take: Take, whisper_mel: Callable) -> dict[str, np.ndarray]:
    with torch.no_grad():
        umo_mel = LogMelProsody()(torch.from_numpy(take.audio)[None])[0].numpy()  # (F, 83)
        w_mel = whisper_mel(take.audio).T.numpy()  # (M, 80)
    # umo's frame j is the window ending at sample (j + 1) * 160: its centre is 200 samples earlier
    umo_t0 = (HOP_LENGTH - WIN_LENGTH / 2) / SAMPLE_RATE
    return {"log-mel (umo)": stacked(sampler(umo_mel, MEL_RATE, umo_t0), take.times),
            "log-mel (Whisper)": stacked(sampler(w_mel, MEL_RATE, 0.0), take.times)}


def whisper_sources(take: Take, enc: WhisperEncoder) -> dict[str, np.ndarray]:
    layers = tuple(range(enc.num_layers))
    feats = enc.features(take.audio, layers)
    out = {}
    for k in layers:
        at = sampler(feats.layer(k).numpy(), feats.rate, 0.0)
        out[f"{enc.config.name} L{k}" + (" (out)" if k == enc.config.blocks else "")] = stacked(at, take.times)
    return out


# --- speed --------------------------------------------------------------------------------------------
def ct2_model_dir(name: str, tmp: Path) -> Path:
    """A folder ctranslate2 can load: the package's own, or for a split model the parts joined."""
    paths = installed_weight_paths(WHISPER_MODELS[name])
    if len(paths) == 1:
        return paths[0].parent
    folder = tmp / name
    folder.mkdir()
    with open(folder / "model.bin", "wb") as f:
        for p in paths:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, f)
    for extra in ("config.json", "vocabulary.txt"):  # ctranslate2 loads both
        shutil.copy(paths[0].parent / extra, folder)
    return folder


def speed(enc: WhisperEncoder, audio: np.ndarray, tmp: Path) -> dict[str, float]:
    """Real-time factors (compute seconds per audio second, one thread) of the whole clip."""
    duration = len(audio) / SAMPLE_RATE
    out = {}
    t = time.perf_counter()
    enc.features(audio, (enc.config.blocks,))
    out["ours"] = (time.perf_counter() - t) / duration
    try:
        import ctranslate2
    except ImportError:
        return out
    t = time.perf_counter()
    plan = enc.plan(audio)
    mel_s = time.perf_counter() - t
    folder = ct2_model_dir(enc.config.name, tmp)
    for compute in ("float32", "int8"):
        model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type=compute, intra_threads=1)
        t = time.perf_counter()
        for s in plan.starts:
            window = np.ascontiguousarray(enc.window_mel(plan.mel, s)[None].numpy())  # (1, 80, 3000)
            model.encode(ctranslate2.StorageView.from_array(window), to_cpu=True)
        out[f"ct2 {compute}"] = (time.perf_counter() - t + mel_s) / duration
    return out


def probe_row(name: str, xs: list[np.ndarray], fit: list[Take], tests: list[Take]) -> tuple:
    """(name, dim per read time, lambda, CV r, [r on each test take]) of a probe fitted on ``fit``."""
    probe = fit_ridge(xs[:len(fit)], [t.aperture for t in fit])
    test_r = [pearson(probe.predict(x), t.aperture) for x, t in zip(xs[len(fit):], tests)]
    return name, xs[0].shape[1] // len(CONTEXT_S), probe.lam, probe.cv_r, test_r


def print_table(rows) -> None:
    print(f"\nlip aperture, Pearson r at lag 0: ridge probes fitted on FACEGOOD {', '.join(FIT_TAKES)}, "
          f"features at the frame and +-40, +-80 ms")
    head = f"{'features':<32}{'dim':>5}{'lambda':>8}{'CV (1114_2)':>13}" + "".join(f"{c:>26}" for c in TEST_COLUMNS)
    print(head)
    print("-" * len(head))
    for name, dim, lam, cv, test_r in rows:
        print(f"{name:<32}{dim:>5}{lam:>8.0e}{cv:>13.3f}" + "".join(f"{r:>26.3f}" for r in test_r))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(WHISPER_MODELS), choices=list(WHISPER_MODELS))
    ap.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    ap.add_argument("--no-probe", action="store_true", help="measure the speed only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = shared_data_dir()
    if data is None or not (data / "facegood" / "bs_value").is_dir():
        print("needs ../shared/data/facegood (set UMO_SHARED_DATA)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    fit = [facegood_take(data / "facegood", n) for n in FIT_TAKES]
    tests = [facegood_take(data / "facegood", FACEGOOD_TAKE)]
    if (data / "beat" / f"{BEAT_TAKE}.npz").is_file():
        tests.append(beat_take(data / "beat"))
    else:
        print(f"skipped: BEAT {BEAT_TAKE} (../shared/data/beat absent)", file=sys.stderr)
    takes = [] if args.no_probe else fit + tests
    print(f"takes: {len(fit)} to fit ({sum(len(t.aperture) for t in fit) / MODEL_FPS:.0f} s), "
          f"{len(tests)} to test ({', '.join(f'{t.name} {len(t.aperture) / MODEL_FPS:.0f} s' for t in tests)})",
          file=sys.stderr)

    encoders = {name: WhisperEncoder.load(name) for name in args.models}
    feats: dict[str, list[np.ndarray]] = {}
    for take in takes:
        sources = mel_sources(take, next(iter(encoders.values())).log_mel)
        for enc in encoders.values():
            sources.update(whisper_sources(take, enc))
        for k, v in sources.items():
            feats.setdefault(k, []).append(v)
        print(f"  features of {take.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    rows = []
    best: dict[str, tuple[float, str]] = {}  # model -> (CV r, source) of its best layer on the fit takes
    for name, xs in feats.items():
        rows.append(probe_row(name, xs, fit, tests))
        model = name.split(" ")[0]
        if model in encoders and (model not in best or rows[-1][3] > best[model][0]):
            best[model] = (rows[-1][3], name)
    # does the best layer (chosen on the fit takes only) add to the model's own log-mel?
    for _, name in best.values():
        both = [np.hstack([a, b]) for a, b in zip(feats["log-mel (umo)"], feats[name])]
        rows.append(probe_row(f"log-mel (umo) + {name.removesuffix(' (out)')}", both, fit, tests))

    if rows:
        print_table(rows)
    if not args.no_speed:
        clip = tests[-1]
        print(f"\nwhole-clip encoder cost, real-time factor (compute s / audio s), one thread, "
              f"{clip.name} ({len(clip.audio) / SAMPLE_RATE:.1f} s, {len(encoders[args.models[0]].plan(clip.audio).starts)} windows):")
        with tempfile.TemporaryDirectory() as tmp:
            for name, enc in encoders.items():
                rtf = speed(enc, clip.audio, Path(tmp))
                print(f"  {name:<8}" + "".join(f"  {k} {v:.3f}" for k, v in rtf.items()))
    print(f"\n({time.perf_counter() - t0:.0f} s in all)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
