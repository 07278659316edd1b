"""The learned model as a product: audio (and optionally timed phones) -> Animation, offline or live.

    anim = ModelAnimator().animate(audio)                 # (S,) float32, 16 kHz -> Animation
    live = ModelAnimator().stream()
    for pcm in chunks:                                     # any length, 16 kHz float32
        frames = live.push(pcm)                            # the frames that became final
    frames = live.flush()

Streamed frames equal the offline animation of the same audio (the model's own guarantee; the
conversion here is per frame). The model runs at MODEL_FPS; offline output at another rate is
resampled on the time axis (slerp for joint rotations).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from umo.animation import Animation, num_frames_for, resample
from umo.constants import ENGINES, EYE_NAMES, HEAD_NAMES, MODEL_FPS, NUM_BLENDSHAPES, SAMPLE_RATE, SUPPORTED_FPS
from umo.errors import UmoError
from umo.speech.units import Timing

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "models" / "weights" / "default.safetensors"


def default_weights_available() -> bool:
    return DEFAULT_WEIGHTS.is_file()


DEFAULT_GRAPH = DEFAULT_WEIGHTS.with_name("default.keyframes.onnx")  # the bundled weights' keyframe step, ONNX
# (onnx_step.graph_path_for(DEFAULT_WEIGHTS): that module imports torch, this one must not)


def graph_cache_dir() -> Path:
    """Where ``--engine onnx`` keeps the graphs it exported for weights that came without one."""
    import os

    root = os.environ.get("UMO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "umo")
    return Path(root) / "onnx"


def keyframe_graph(model, engine: str = "auto", weights: str | Path | None = None, graph: str | Path | None = None,
                   threads: int = 1):
    """The ONNX keyframe step to run ``model`` with, or None for PyTorch.

    engine "torch": None. "onnx": ``graph`` if given, else the graph beside the weights
    (NAME.keyframes.onnx, as the bundled model has), else one exported before for these weights (in
    :func:`graph_cache_dir`, by fingerprint), else it is exported there now (once, ~30 s). "auto": the
    ONNX engine when onnxruntime is installed and a graph of these weights is at hand (given, beside
    or cached), else PyTorch. The two engines give the same frames up to float rounding (the tests
    hold them to 1e-4); ONNX is several times faster."""
    if engine not in ENGINES:
        raise UmoError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    if engine == "torch":
        return None
    from umo.models import onnx_step

    if engine == "auto":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
    if graph is not None:
        return onnx_step.KeyframeGraph(graph, model, threads)
    fingerprint = onnx_step.model_fingerprint(model)
    beside = DEFAULT_GRAPH if weights is None else onnx_step.graph_path_for(weights)  # NAME.keyframes.onnx
    candidates = [beside, graph_cache_dir() / f"{fingerprint[:32]}.onnx"]
    for path in candidates:
        if path.is_file():
            try:
                g = onnx_step.KeyframeGraph(path, None, threads)
            except UmoError as e:  # another umo's graph, a damaged file: not this model's, so not used
                log.warning("%s", e)
                continue
            if g.meta.get("fingerprint") == fingerprint:
                return g
    if engine == "auto":
        return None
    path = candidates[-1]
    log.info("exporting the model's keyframe step to ONNX, once for these weights (~30 s): %s", path)
    onnx_step.export_keyframes(model, path)
    return onnx_step.KeyframeGraph(path, model, threads)


def load_model(weights: str | Path | None = None):
    """The bundled model (or a checkpoint / inference file) in eval mode on the CPU."""
    from umo.models.checkpoint import load_checkpoint

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        if weights is None:
            raise UmoError(
                f"the bundled model is missing ({path}): reinstall umo, or train it with `make train-default`"
            )
        raise UmoError(f"model weights not found: {path}")
    model, _ = load_checkpoint(path)
    return model


@dataclass
class Frames:
    """Consecutive frames of a live stream: frame ``start + i`` is at time ``(start + i) / fps``."""

    start: int
    fps: float
    face: np.ndarray  # (n, 52) ARKit weights, Live Link order, [0, 1]
    head: np.ndarray  # (n, 3) yaw, pitch, roll, radians
    eyes: np.ndarray  # (n, 6) radians, EYE_NAMES order
    body: np.ndarray  # (n, 75, 3) local axis-angle on the canonical skeleton

    def __len__(self) -> int:
        return self.face.shape[0]

    @property
    def times(self) -> np.ndarray:
        return (self.start + np.arange(len(self))) / self.fps


def frames_from_regions(regions: dict[str, np.ndarray], start: int) -> Frames:
    return frames_from_regions_many([regions], [start])[0]


def frames_from_regions_many(regions: list[dict[str, np.ndarray]], starts: list[int]) -> list[Frames]:
    """Model regions of several streams -> their Frames, converted in one call (the conversion is
    per frame, so stacking the streams changes no number; it saves the per-call overhead)."""
    from umo.data.motion import regions_to_animation

    counts = [r["face"].shape[0] for r in regions]
    if sum(counts) == 0:
        return [Frames(s, MODEL_FPS, np.zeros((0, NUM_BLENDSHAPES)), np.zeros((0, len(HEAD_NAMES))),
                       np.zeros((0, len(EYE_NAMES))), np.zeros((0, 75, 3))) for s in starts]
    a = regions_to_animation({k: np.concatenate([r[k] for r in regions]) for k in regions[0]}, fps=MODEL_FPS)
    cuts = np.cumsum(counts)[:-1]
    return [Frames(s, MODEL_FPS, *parts) for s, *parts in
            zip(starts, *(np.split(x, cuts) for x in (a.face, a.head, a.eyes, a.body)))]


class ModelStream:
    """A live session: explicit state, ``push`` / ``flush`` / ``reset``."""

    def __init__(self, session) -> None:
        self._session = session
        self._next = 0  # index of the next frame to hand out
        self._last_phone_start = 0.0

    def push(self, pcm: np.ndarray) -> Frames:
        """pcm: (n,) float32 mono at 16 kHz, any length (0 included)."""
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(pcm)):
            raise UmoError("audio chunk holds NaN or infinite samples")
        return self._emit(self._session.push(pcm))

    def add_phones(self, phones) -> None:
        """Timed phones of the speech, e.g. from the TTS that makes it: ``Phone`` objects or
        (symbol, start s, end s) on the audio's clock (ARPAbet or SIL, a stress digit allowed),
        starts in order and not before those already added. The model reads them as its text
        tokens, as offline with a transcript's timing; add them before their audio (frames already
        returned are not recomputed)."""
        from umo.speech.units import timed_phone_ids

        rows = [(p.symbol, p.start, p.end) if hasattr(p, "symbol") else p for p in phones]
        out = timed_phone_ids(rows, after=self._last_phone_start)
        if out:
            self._session.add_phones(out)
            self._last_phone_start = out[-1][1]

    def flush(self) -> Frames:
        """The remaining frames (the future padded with silence); the session then starts afresh."""
        out = self._emit(self._session.flush())
        self._next = 0
        self._last_phone_start = 0.0
        return out

    def reset(self) -> None:
        self._session.reset()
        self._next = 0
        self._last_phone_start = 0.0

    def _emit(self, regions: dict[str, np.ndarray]) -> Frames:
        frames = frames_from_regions({k: np.asarray(v) for k, v in regions.items()}, self._next)
        self._next += len(frames)
        return frames


OFFLINE_CHUNK_S = 20.0  # seconds of audio per model call offline: memory stays bounded however long
# the clip, and the frames equal one call on the whole clip (the streaming guarantee)

Progress = Callable[[int, int], None]  # (frames done, frames in all)


def model_animation(model, audio: np.ndarray, timing: Timing | None = None, fps: int = MODEL_FPS,
                    seed: int = 0, progress: Progress | None = None, graph=None) -> Animation:
    """Any UmoModel (bundled, a checkpoint, an untrained preset) on 16 kHz audio -> Animation at fps
    with ceil(duration * fps) frames.

    The clip goes through the model's incremental step ``OFFLINE_CHUNK_S`` at a time (equal to
    ``UmoModel.generate`` on the whole clip, to float rounding), so an hour of audio needs no more
    working memory than a minute; ``progress`` is called after each chunk. graph: the model's ONNX
    keyframe step (:func:`keyframe_graph`), or None for PyTorch."""
    import torch

    from umo.data.motion import regions_to_animation

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise UmoError("audio must be a non-empty mono signal")
    total = num_frames_for(audio.size / SAMPLE_RATE, MODEL_FPS)
    session = model.stream(seed=seed, graph=graph)
    if timing is not None and timing.phones:
        from umo.speech.units import PHONES

        # in order of their starts, as rasterize_phones reads them (a stable sort keeps ties in order)
        phones = sorted(timing.phones, key=lambda p: p.start)
        session.add_phones([(PHONES.index(p.symbol), p.start, p.end) for p in phones])
    chunk = round(OFFLINE_CHUNK_S * SAMPLE_RATE)
    parts: list[dict[str, np.ndarray]] = []
    done = 0
    with torch.no_grad():
        for i in range(0, audio.size, chunk):
            parts.append(session.push(audio[i:i + chunk]))
            done += parts[-1]["face"].shape[0]
            if progress is not None:
                progress(done, total)
        parts.append(session.flush())
    if progress is not None:
        progress(total, total)
    regions = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    anim = regions_to_animation(regions, fps=MODEL_FPS)
    if fps != MODEL_FPS:
        anim = resample(anim, np.arange(num_frames_for(audio.size / SAMPLE_RATE, fps)) / fps)
    return anim.copy(fps=fps, audio=audio, sample_rate=SAMPLE_RATE)


class ModelAnimator:
    """The learned speech -> face + body model (bundled weights unless told otherwise)."""

    def __init__(self, weights: str | Path | None = None, fps: int = MODEL_FPS, seed: int = 0,
                 threads: int | None = 1, engine: str = "auto", graph: str | Path | None = None) -> None:
        """threads: torch intra-op threads (default 1: the model is small, and more threads on a busy
        machine slow it down by oversubscription); None leaves torch's setting alone.
        engine: "auto", "torch" or "onnx", with ``graph`` an ONNX file of these weights (see
        :func:`keyframe_graph`)."""
        if fps not in SUPPORTED_FPS:
            raise UmoError(f"fps {fps} is not supported: choose one of {', '.join(map(str, SUPPORTED_FPS))}")
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.model = load_model(weights)
        self.graph = keyframe_graph(self.model, engine, weights, graph, threads or 1)
        self.fps = fps
        self.seed = seed

    @property
    def engine(self) -> str:
        """What runs the keyframe steps: "onnx" or "torch"."""
        return "torch" if self.graph is None else "onnx"

    @property
    def lookahead_s(self) -> float:
        """Future audio a frame waits for: the configured lookahead plus at most one 10 ms feature hop."""
        return self.model.cfg.lookahead_frames / MODEL_FPS + 0.01

    def animate(self, audio: np.ndarray, timing: Timing | None = None, sample_rate: int = SAMPLE_RATE,
                progress: Progress | None = None) -> Animation:
        """audio: (S,) float32 mono at 16 kHz; timing: phones on the audio's clock (optional text tokens);
        progress(frames done, frames in all) is called as the clip advances."""
        if sample_rate != SAMPLE_RATE:
            raise UmoError(f"the model takes {SAMPLE_RATE} Hz audio, got {sample_rate} (use umo.formats.audio.prepare_audio)")
        return model_animation(self.model, audio, timing, self.fps, self.seed, progress, self.graph)

    def stream(self) -> ModelStream:
        if self.fps != MODEL_FPS:
            raise UmoError(f"live streaming runs at the model's {MODEL_FPS} fps; resample on the client")
        return ModelStream(self.model.stream(seed=self.seed, graph=self.graph))
