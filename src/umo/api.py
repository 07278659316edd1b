"""The Python entry point.

    from umo import Animator
    anim = Animator().animate(audio, sample_rate)                  # audio alone: the learned model
    anim = Animator().animate(audio, sample_rate, text="...")      # with the words: rule-based lip sync
    live = Animator().stream()                                     # live: push(pcm) -> Frames, flush()

``animator`` picks the engine like the CLI's ``--animator``: "auto" (the learned model for audio
alone, the rules when the words are known), "rules" or "model". ``emotion`` and ``intensity`` set
the expression layer (``umo.emotion``) of ``animate``; on the learned model it is an overlay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.animator.rules import RuleAnimatorConfig
from umo.constants import DEFAULT_FPS


class Animator:
    def __init__(
        self,
        animator: str = "auto",
        weights: str | Path | None = None,
        fps: int = DEFAULT_FPS,
        seed: int = 0,
        language: str = "en",
        emotion: str = "neutral",
        intensity: float = 1.0,
    ) -> None:
        from umo.emotion import EmotionSetting

        self.animator = animator
        self.weights = weights
        self.config = RuleAnimatorConfig(fps=fps, seed=seed, emotion=EmotionSetting(emotion, intensity))
        self.language = language

    def animate(self, audio: np.ndarray, sample_rate: int, text: str | None = None) -> Animation:
        """audio: (S,) or (S, C) samples, int16 or float, at sample_rate; text: the words, if known."""
        from umo.formats.audio import prepare_audio
        from umo.pipeline import choose_animator, load_timing, run_animator

        mono = prepare_audio(audio, sample_rate)  # (S',) float32 at SAMPLE_RATE
        timing = load_timing(mono, text=text, language=self.language)
        which = choose_animator(self.animator, timing, self.weights)
        return run_animator(which, mono, timing, self.config, self.weights)

    def stream(self):
        """A live session of the learned model: ``push(pcm float32 16 kHz) -> Frames``, ``flush()``,
        and ``add_phones(...)`` for speech whose phone timing is known (e.g. from its TTS)."""
        from umo.inference import ModelAnimator

        return ModelAnimator(self.weights, fps=self.config.fps, seed=self.config.seed).stream()
