"""Animators by name (what ``umo eval`` and ``umo bench`` compare) and the reference baselines.

Animator configurations, by name (``NAME[@FPS]``):
    rules       the rule-based animator with the transcript's timing (lip sync by visemes)
    loudness    the rule-based animator without a transcript: the jaw follows loudness
    model:PATH  the learned model (umo.models.UmoModel) from a checkpoint (.safetensors)
    model:tiny  a model preset with untrained weights: for speed only (also model:default)
``@60`` picks the frame rate (default 30). Each has an :class:`AnimatorSpec`: how to animate a whole
clip offline, and how to stream it where a streaming path exists (the rule animator has none).

Baselines made from the ground truth of the take being scored:
    neutral face   all 52 weights at 0
    still pose     the capture's middle frame, held
    shifted real   the capture itself, circularly shifted by half its length: real motion and
                   real dynamics, but not aligned with this speech

Dimension letters: T frames, S samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umo.animation import Animation
from umo.constants import MODEL_FPS, SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.units import Timing

OFFLINE_ONLY = "offline only"


@dataclass
class AnimatorSpec:
    name: str  # as asked for, e.g. "rules@60"
    description: str
    fps: float
    needs_transcript: bool
    animate: Callable[[np.ndarray, Timing | None], Animation]  # (audio (S,) at SAMPLE_RATE, timing) -> Animation
    # A fresh streaming session: an object with push(chunk (S,)) -> frames produced, and flush().
    # None where the animator only works on whole clips.
    stream: Callable[[], Any] | None = None
    lookahead_s: float | None = None  # audio after a frame that the frame waits for (streaming)
    chunk_s: float | None = None  # audio per push (streaming)
    threads_via_torch: bool = False  # set torch's thread count too when benchmarking

    @property
    def latency(self) -> str:
        """Algorithmic latency from the configuration (not measured): lookahead + one chunk."""
        if self.stream is None:
            return OFFLINE_ONLY
        total = (self.lookahead_s or 0.0) + (self.chunk_s or 0.0)
        return f"{1000 * total:.0f} ms (lookahead {1000 * (self.lookahead_s or 0):.0f} + chunk {1000 * (self.chunk_s or 0):.0f})"


PHONES_SUFFIX = "+phones"  # model+phones: the learned model reading the transcript's phone timing too
# model+onnx / model+torch: what runs the learned model's keyframe steps (umo.constants.ENGINES; bare: auto)
ENGINE_SUFFIXES = {"+onnx": "onnx", "+torch": "torch"}


def split_engine(base: str) -> tuple[str, str]:
    """A model configuration without its fps -> (the name without an engine suffix, the engine)."""
    for suffix, engine in ENGINE_SUFFIXES.items():
        if base.endswith(suffix):
            return base[: -len(suffix)], engine
    return base, "auto"


def split_fps(spec: str) -> tuple[str, int | None]:
    if "@" in spec:
        base, fps = spec.rsplit("@", 1)
        if not fps.isdigit():
            raise UmoError(f"animator {spec!r}: the part after @ must be a frame rate, e.g. rules@60")
        return base, int(fps)
    return spec, None


def _rules(name: str, fps: int, transcript: bool) -> AnimatorSpec:
    from umo.animator.rules import RuleAnimator, RuleAnimatorConfig

    animator = RuleAnimator(RuleAnimatorConfig(fps=fps))

    def animate(audio: np.ndarray, timing: Timing | None) -> Animation:
        if transcript and timing is None:
            raise UmoError(f"{name} needs a transcript (TextGrid, .lab or .txt)")
        return animator.animate(audio, timing if transcript else None)

    what = "rule-based animator with the transcript" if transcript else "loudness-driven jaw (rules, no transcript)"
    return AnimatorSpec(name, f"{what}, {fps} fps", fps, transcript, animate)


def _gen(name: str, fps: int) -> AnimatorSpec:
    """gen / gen:PATH: the rules' face (loudness jaw without a transcript) with the continuous body
    generator's body (umo.models.body_gen; the bundled weights, or PATH)."""
    from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
    from umo.models.body_gen import default_body_generator, with_generated_body

    base = name.split("@", 1)[0]
    gen = default_body_generator(base.split(":", 1)[1] if ":" in base else None)
    animator = RuleAnimator(RuleAnimatorConfig(fps=fps))

    def animate(audio: np.ndarray, timing: Timing | None) -> Animation:
        return with_generated_body(animator.animate(audio, timing), audio, gen, seed=0)

    return AnimatorSpec(name, f"continuous body generator (face: rules), {fps} fps", fps, False, animate)


STREAM_CHUNK_S = 0.02  # audio per push when benchmarking a streaming animator: a typical microphone buffer
FEATURE_HOP_S = 0.01  # the model's audio features advance by 10 ms: a frame may wait up to one hop


def load_model_spec(spec: str):
    """``model``, ``model:PATH`` or ``model:PRESET`` (optionally @FPS) -> (model, weights file or None
    for an untrained preset, label); None for animators that are not the learned model. A
    ``+phones`` suffix (the model reading phone timing too) loads the same model."""
    base, _ = split_fps(spec)
    base = split_engine(base)[0].removesuffix(PHONES_SUFFIX)
    if base == "model":  # the bundled learned model
        from umo.inference import DEFAULT_WEIGHTS

        what = str(DEFAULT_WEIGHTS)
    elif base.startswith("model:"):
        what = base[len("model:"):]
    else:
        return None
    try:
        from umo.models import PRESETS, UmoModel, get_config
    except ImportError as e:
        raise UmoError(f"{spec}: the learned model is not available in this install ({e})") from None

    if what in PRESETS:
        return UmoModel(get_config(what)).eval(), None, f"model preset {what!r}, untrained weights (speed only)"
    path = Path(what)
    if not path.is_file():
        raise UmoError(f"{spec}: no checkpoint at {path} (or name a preset: {', '.join(sorted(PRESETS))})")
    from umo.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(path)
    return model, path, f"learned model {path.name}"


def _model(name: str, fps: int | None, phones: bool = False) -> AnimatorSpec:
    """model, model:PATH (a checkpoint or inference .safetensors) or model:PRESET (untrained: speed only).
    phones: the transcript's phone timing as the model's text tokens (needs a transcript); else audio only."""
    from umo.inference import keyframe_graph

    model, path, label = load_model_spec(name)
    cfg = model.cfg
    rate = fps or MODEL_FPS
    graph = keyframe_graph(model, split_engine(split_fps(name)[0])[1], path)
    runs = "PyTorch" if graph is None else "onnxruntime"

    def animate(audio: np.ndarray, timing: Timing | None) -> Animation:
        from umo.inference import model_animation

        return model_animation(model, audio, timing if phones else None, rate, graph=graph)

    return AnimatorSpec(
        name, f"{label}{' + phones' if phones else ''}, keyframe steps in {runs}, {rate} fps", rate, phones, animate,
        stream=lambda: model.stream(graph=graph),
        lookahead_s=cfg.lookahead_frames / MODEL_FPS + FEATURE_HOP_S, chunk_s=STREAM_CHUNK_S,
        threads_via_torch=True,
    )


def _probe(name: str) -> AnimatorSpec:
    """The log-mel ridge probe fitted on the visible FACEGOOD takes (umo.eval.probe), face only."""
    from umo.eval.probe import PROBE_TAKES, facegood_face_probe
    from umo.eval.suite import shared_data_dir

    data = shared_data_dir()
    if data is None or not (data / "facegood" / "bs_value").is_dir():
        raise UmoError(f"{name}: the probe fits on FACEGOOD takes {', '.join(PROBE_TAKES)} in ../shared/data/facegood, "
                       "which is absent (set UMO_SHARED_DATA)")
    probe = facegood_face_probe(data / "facegood")
    return AnimatorSpec(name, f"log-mel ridge probe fitted on FACEGOOD {', '.join(PROBE_TAKES)}, {MODEL_FPS} fps",
                        MODEL_FPS, False, lambda audio, timing: probe.animate(audio))


def get_animator(spec: str) -> AnimatorSpec:
    """An animator configuration by name: rules, loudness, model:PATH, each with an optional @FPS."""
    base, fps = split_fps(spec)
    base = split_engine(base)[0]
    if base.removesuffix(PHONES_SUFFIX) == "model" or base.startswith("model:"):
        return _model(spec, fps, phones=base.endswith(PHONES_SUFFIX))
    if base == "rules":
        return _rules(spec, fps or 30, transcript=True)
    if base == "gen" or base.startswith("gen:"):
        return _gen(spec, fps or 30)
    if base == "loudness":
        return _rules(spec, fps or 30, transcript=False)
    if base == "probe" and fps is None:
        return _probe(spec)
    raise UmoError(f"unknown animator {spec!r}: use rules, loudness, probe, gen, gen:PATH, model (the bundled one), model:PATH or "
                   "model:PRESET (+phones: reading the transcript's phone timing too; +onnx / +torch: what runs the keyframe "
                   "steps; optionally @FPS, e.g. rules@60)")


ANIMATOR_NAMES = ("rules", "loudness", "probe", "gen", "gen:PATH", "model", "model+phones", "model+onnx", "model+torch",
                  "model:PATH", "model:PRESET")


# --- baselines from the ground truth -----------------------------------------------------------------
def neutral_face(num_frames: int, fps: float) -> Animation:
    """A still neutral face (no body)."""
    return Animation.neutral(num_frames, fps, with_body=False)


def still_pose(real: Animation) -> Animation:
    """The capture's middle frame held for its whole length (neutral face)."""
    t = real.num_frames
    mid = t // 2
    return real.copy(
        face=np.zeros_like(real.face), head=np.zeros_like(real.head), eyes=np.zeros_like(real.eyes),
        body=None if real.body is None else np.repeat(real.body[mid:mid + 1], t, axis=0),
        root_pos=None if real.root_pos is None else np.repeat(real.root_pos[mid:mid + 1], t, axis=0),
        timecodes=None,
    )


def shifted_real(real: Animation, fraction: float = 0.5) -> Animation:
    """The capture circularly shifted by ``fraction`` of its length: real but unaligned."""
    k = int(round(fraction * real.num_frames))

    def roll(x):
        return None if x is None else np.roll(x, k, axis=0)

    return real.copy(face=roll(real.face), head=roll(real.head), eyes=roll(real.eyes), body=roll(real.body),
                     root_pos=roll(real.root_pos), timecodes=None)


def audio_seconds(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    return len(audio) / sample_rate
