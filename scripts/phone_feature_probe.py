"""Is pocketsphinx's bundled English acoustic model a useful audio feature for the mouth?

    .venv/bin/python scripts/phone_feature_probe.py [--clips 300] [--corpus runs/default/corpus]

A linear probe, measured before the feature goes into the model: ridge regressions from audio
features to the lip aperture (umo.constants.lip_aperture), fitted on synthetic corpus clips and
scored (Pearson r at lag 0) on clips they never saw:

  mel            the model's own causal log-mel + prosody features (a short past context, 2 frames
                 of lookahead, as the default model reads them)
  mel+ps         the same plus one-hot phones from pocketsphinx's phone recogniser (``allphone``
                 mode, en-us acoustic model + phone LM) decoded *causally*: the phone of a frame is
                 the decoder's partial hypothesis at the end of the 100 ms chunk holding that frame,
                 never revised (what a live stream could use)
  mel+ps-full    phones from the whole-utterance decode (offline only: it looks at the future)
  ps             causal phones alone
  mel+tts        the corpus's own phone labels (the TTS's events; synthetic test clips only): an
                 upper bound for a perfect phone recogniser

Test sets: the validation corpus (runs/default/val: another seed of the same synthetic recipe,
English), FACEGOOD 1114_3_16 (real capture, Mandarin, held out from all training) and, when
../shared/data is present, the BEAT take 2_scott_0_1_1 (English; its SMPL-X jaw). Only the
synthetic clips are fitted on; the real ones are scored only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from umo.constants import FEATURE_RATE, MODEL_FPS, SAMPLE_RATE, lip_aperture  # noqa: E402
from umo.data.shards import ShardReader  # noqa: E402
from umo.models.features import LogMelProsody, feature_index  # noqa: E402
from umo.speech.units import PHONES  # noqa: E402

LOOKAHEAD = 2  # motion frames, as the default model
MEL_CONTEXT = (0, 2, 4, 8, 12)  # feature frames back from the newest one a motion frame may read
PHONE_CONTEXT = (0, 4, 8)
CHUNK = 1600  # samples per decoder call in the causal decode: 100 ms
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
_MEL = LogMelProsody()


def mel_features(audio: np.ndarray) -> np.ndarray:
    """float audio (S,) -> (F, 83) at 100 Hz."""
    with torch.no_grad():
        return _MEL(torch.from_numpy(audio.astype(np.float32))[None])[0].numpy()


class PhoneDecoder:
    def __init__(self) -> None:
        import pocketsphinx

        model = Path(pocketsphinx.get_model_path()) / "en-us"
        self.dec = pocketsphinx.Decoder(allphone=str(model / "en-us-phone.lm.bin"), lm=None,
                                        samprate=SAMPLE_RATE, loglevel="FATAL")

    def _label(self, labels: np.ndarray, start: int, stop: int, segs) -> None:
        for word, s, e in segs:
            lo, hi = max(s, start), min(e + 1, stop)
            if hi > lo:
                labels[lo:hi] = PHONE_INDEX.get(word.upper(), 0)

    def causal(self, pcm: np.ndarray, num_frames: int) -> np.ndarray:
        """int16 (S,) -> (F,) phone index per 100 Hz frame, each fixed when its chunk ended."""
        labels = np.zeros(num_frames, np.int64)
        self.dec.start_utt()
        done = 0
        for k in range(0, len(pcm), CHUNK):
            self.dec.process_raw(pcm[k:k + CHUNK].tobytes())
            now = min(num_frames, (k + CHUNK) * FEATURE_RATE // SAMPLE_RATE)
            self._label(labels, done, now, [(s.word, s.start_frame, s.end_frame) for s in self.dec.seg()])
            done = now
        self.dec.end_utt()
        return labels

    def full(self, pcm: np.ndarray, num_frames: int) -> np.ndarray:
        labels = np.zeros(num_frames, np.int64)
        self.dec.start_utt()
        self.dec.process_raw(pcm.tobytes(), full_utt=True)
        self.dec.end_utt()
        self._label(labels, 0, num_frames, [(s.word, s.start_frame, s.end_frame) for s in self.dec.seg()])
        return labels


def stack(feats: np.ndarray, num_motion: int, context: tuple[int, ...]) -> np.ndarray:
    """(F, C) 100 Hz -> (T, C * len(context)): motion frame i reads feature frames f(i + L) - c."""
    f = np.array([feature_index(i + LOOKAHEAD) for i in range(num_motion)])
    cols = [feats[np.clip(f - c, 0, len(feats) - 1)] for c in context]
    return np.concatenate(cols, axis=1)


def one_hot(labels: np.ndarray) -> np.ndarray:
    out = np.zeros((len(labels), len(PHONES)), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def clip_features(audio: np.ndarray, num_motion: int, dec: PhoneDecoder, tts_phones: np.ndarray | None) -> dict:
    """float audio -> {condition: (T, D)}."""
    mel = mel_features(audio)
    nf = len(mel)
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    ps_c = one_hot(dec.causal(pcm, nf))
    ps_f = one_hot(dec.full(pcm, nf))
    m = stack(mel, num_motion, MEL_CONTEXT)
    pc = stack(ps_c, num_motion, PHONE_CONTEXT)
    out = {"mel": m, "mel+ps": np.hstack([m, pc]), "mel+ps-full": np.hstack([m, stack(ps_f, num_motion, PHONE_CONTEXT)]),
           "ps": pc}
    if tts_phones is not None:  # motion-rate labels -> (T, 40) with the same past context in frames
        t = one_hot(np.clip(tts_phones, 0, None).astype(np.int64))
        ctx = [t[np.clip(np.arange(num_motion) + LOOKAHEAD - c, 0, num_motion - 1)] for c in (0, 1, 2)]
        out["mel+tts"] = np.hstack([m] + ctx)
    return out


def corpus_clips(path: Path, limit: int):
    r = ShardReader(path)
    for i in range(min(limit, len(r))):
        c = r.clip(i)
        phones = c.phones if c.has_phones else None
        yield c.audio, lip_aperture(c.face[:, :52].astype(np.float32)), phones


def fit_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    z1 = np.hstack([z, np.ones((len(z), 1))])
    reg = lam * np.eye(z1.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(z1.T @ z1 + reg, z1.T @ y)
    return w, mu, sd


def predict(model, x: np.ndarray) -> np.ndarray:
    w, mu, sd = model
    return np.hstack([(x - mu) / sd, np.ones((len(x), 1))]) @ w


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def real_clips() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, audio, aperture at 30 fps) of the held-out real clips of ``umo eval --suite real``."""
    from umo.convert import read_any
    from umo.eval.suite import real_suite
    from umo.formats.audio import load_audio

    cases, skipped = real_suite(candidates=())
    for note in skipped:
        print(f"skipped: {note}")
    out = []
    for case in cases:
        audio = load_audio(case.audio)
        anim, _ = read_any(case.face_gt, len(audio) / SAMPLE_RATE)
        t_gt = np.arange(anim.face.shape[0]) / anim.fps
        num = int(min(len(audio) / SAMPLE_RATE, t_gt[-1]) * MODEL_FPS)
        ap = np.interp(np.arange(num) / MODEL_FPS, t_gt, lip_aperture(anim.face))
        out.append((f"{case.name} ({case.face_gt.suffix} face)", audio, ap))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO / "runs" / "default" / "corpus")
    ap.add_argument("--val", type=Path, default=REPO / "runs" / "default" / "val")
    ap.add_argument("--clips", type=int, default=300, help="training clips from the corpus")
    ap.add_argument("--val-clips", type=int, default=60)
    args = ap.parse_args()
    if not (args.corpus / "index.json").is_file():
        print(f"no corpus at {args.corpus}: run `make train-default` (its data step) first", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    dec = PhoneDecoder()
    conds = ["mel", "mel+ps", "mel+ps-full", "ps", "mel+tts"]
    xs: dict[str, list] = {c: [] for c in conds}
    ys = []
    audio_s = 0.0
    t0 = time.perf_counter()
    for k, (audio, aperture, phones) in enumerate(corpus_clips(args.corpus, args.clips)):
        feats = clip_features(audio, len(aperture), dec, phones)
        for c in conds:
            xs[c].append(feats.get(c, feats["mel"]))
        ys.append(aperture)
        audio_s += len(audio) / SAMPLE_RATE
        if k % 50 == 0:
            print(f"  features: {k} clips, {audio_s / 60:.1f} min of audio", file=sys.stderr)
    # the cost of the causal decoder alone, on the last training clip
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    t1 = time.perf_counter()
    dec.causal(pcm, len(pcm) // 160)
    decode_s = time.perf_counter() - t1
    print(f"features of {audio_s / 60:.1f} min of synthetic speech in {time.perf_counter() - t0:.0f} s; "
          f"causal phone decode real-time factor {decode_s / (len(pcm) / SAMPLE_RATE):.3f} (one thread)")

    y = np.concatenate(ys)
    n_fit = int(0.8 * len(ys))  # the last 20 % of the training clips choose the ridge strength
    split = sum(len(v) for v in ys[:n_fit])
    models = {}
    for c in conds:
        x = np.concatenate(xs[c])
        best = max((pearson(predict(fit_ridge(x[:split], y[:split], lam), x[split:]), y[split:]), lam)
                   for lam in (1.0, 10.0, 100.0, 1000.0, 10000.0))
        models[c] = fit_ridge(x, y, best[1])

    rows: dict[str, dict[str, float]] = {c: {} for c in conds}
    vx: dict[str, list] = {c: [] for c in conds}
    vy = []
    for audio, aperture, phones in corpus_clips(args.val, args.val_clips):
        feats = clip_features(audio, len(aperture), dec, phones)
        for c in conds:
            vx[c].append(feats.get(c, feats["mel"]))
        vy.append(aperture)
    vy_all = np.concatenate(vy)
    for c in conds:
        rows[c]["synthetic val (en)"] = pearson(predict(models[c], np.concatenate(vx[c])), vy_all)
    for name, audio, aperture in real_clips():
        feats = clip_features(audio, len(aperture), dec, None)
        for c in conds:
            if c in feats:
                rows[c][name] = pearson(predict(models[c], feats[c]), aperture)

    cols = list(rows["mel"])
    print("\nlip aperture, Pearson r at lag 0 (ridge probes fitted on synthetic clips only)")
    print(f"{'features':<13}" + "".join(f"{h:>34}" for h in cols))
    for c in conds:
        print(f"{c:<13}" + "".join(f"{rows[c][h]:>34.3f}" if h in rows[c] else f"{'-':>34}" for h in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
