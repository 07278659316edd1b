"""The Python entry point: ``Animator().animate(audio, sample_rate, text=None) -> Animation``.

Today this is the rule-based animator (lip sync needs a transcript: ``text``); the learned
audio-only model and the streaming session (``push`` / ``flush``) replace it behind the same
interface.
"""

from __future__ import annotations

import numpy as np

from umo.animation import Animation
from umo.animator.rules import RuleAnimator, RuleAnimatorConfig


class Animator:
    def __init__(self, config: RuleAnimatorConfig | None = None, language: str = "en") -> None:
        self.config = config or RuleAnimatorConfig()
        self.language = language
        self._rules = RuleAnimator(self.config)

    def animate(self, audio: np.ndarray, sample_rate: int, text: str | None = None) -> Animation:
        """audio: (S,) or (S, C) samples, int16 or float, at sample_rate; text: the words, if known."""
        from umo.formats.audio import prepare_audio
        from umo.pipeline import load_timing

        mono = prepare_audio(audio, sample_rate)  # (S',) float32 at SAMPLE_RATE
        timing = load_timing(mono, text=text, language=self.language)
        return self._rules.animate(mono, timing)
