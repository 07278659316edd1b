"""Offline speech synthesis with phone and word timing (espeak-ng, any of its ~140 voices).

The synthetic corpus and ``umo say`` use this: the audio comes with the exact timing espeak used
to make it, so no alignment is needed. Dimension letters: S samples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import soxr

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.speech import espeak
from umo.speech.espeak import VoiceInfo, list_voices
from umo.speech.phonemes import require_text, language_of, timing_from_events
from umo.speech.units import Timing

__all__ = ["Speech", "VoiceInfo", "list_voices", "synthesize"]

_INT16_SCALE = 1.0 / 32768.0


@dataclass
class Speech:
    audio: np.ndarray  # (S,) float32 in [-1, 1] at sample_rate
    sample_rate: int
    timing: Timing  # phones (ARPAbet + SIL, stress on vowels) and words, seconds from the start
    voice: str
    text: str
    unmapped: Counter = field(default_factory=Counter)  # espeak phonemes mapped by class fallback

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> Speech:
    """Speak ``text`` with an espeak-ng voice.

    voice: a language code with an optional variant ("en-us", "en-gb", "es", "de", "cmn",
    "en-us+f3"); rate: words per minute in [80, 450]; pitch, pitch_range: [0, 100].
    Returns audio at umo.constants.SAMPLE_RATE with the phone and word timing.
    """
    require_text(text)
    voice = espeak.canonical_voice(voice)
    raw = espeak.synth(text, voice, rate, pitch, pitch_range)
    if len(raw.audio) == 0:
        raise UmoError(f"espeak produced no audio for {text[:40]!r} with voice {voice!r}: is the text speakable?")
    et = timing_from_events(raw, text, language_of(voice))
    audio = raw.audio.astype(np.float32) * _INT16_SCALE
    if raw.sample_rate != SAMPLE_RATE:
        audio = soxr.resample(audio, raw.sample_rate, SAMPLE_RATE).astype(np.float32)  # (S,)
    return Speech(audio, SAMPLE_RATE, et.timing, voice, text, et.unmapped)
