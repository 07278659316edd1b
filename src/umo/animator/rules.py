"""The rule-based animator: timed speech + audio -> a complete :class:`~umo.animation.Animation`.

It is the teacher of the synthetic corpus and the fallback when a transcript is known. Face, eyes
and head come from ``umo.animator.face``; upper body and fingers from ``umo.animator.gestures``;
both are driven by the same prosody and accents so that nods, brow raises and beat gestures land
together. An emotion (``umo.emotion``) is the last stage: the expression layer over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from umo.animation import Animation, num_frames_for
from umo.animator.face import FaceConfig, animate_face
from umo.animator.gestures import GestureConfig, animate_body
from umo.constants import DEFAULT_FPS, SAMPLE_RATE, SUPPORTED_FPS
from umo.emotion import EmotionSetting, apply_emotion
from umo.errors import UmoError
from umo.skeleton import add_head_to_body, canonical_skeleton
from umo.speech.prosody import compute_prosody, find_accents
from umo.speech.units import Timing

@dataclass
class RuleAnimatorConfig:
    fps: int = DEFAULT_FPS  # output frame rate
    seed: int = 0  # blinks, saccades and gesture choices are random but reproducible from this
    face: FaceConfig = field(default_factory=FaceConfig)
    gestures: GestureConfig = field(default_factory=GestureConfig)
    body: bool = True  # animate the upper body (False: face and head only)
    # the expression layer over the whole animation; the learned model's output gets it as an overlay
    # (umo.pipeline.run_animator)
    emotion: EmotionSetting = field(default_factory=EmotionSetting)

    def __post_init__(self) -> None:
        if self.fps not in SUPPORTED_FPS:
            raise UmoError(f"fps {self.fps} is not supported: choose one of {', '.join(map(str, SUPPORTED_FPS))}")


class RuleAnimator:
    """Animates speech by rules: visemes with coarticulation, blinks, saccades, brows, head, gestures."""

    def __init__(self, config: RuleAnimatorConfig | None = None) -> None:
        self.config = config or RuleAnimatorConfig()

    def animate(self, audio: np.ndarray, timing: Timing | None, sample_rate: int = SAMPLE_RATE) -> Animation:
        """audio: (S,) float32 mono at sample_rate; timing: phones/words on the audio's clock or None.

        Without timing the mouth follows loudness only (a baseline, not a lip sync).
        Returns an Animation with ceil(duration * fps) frames and the audio attached.
        """
        cfg = self.config
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0:
            raise UmoError("audio must be a non-empty mono signal")
        fps = cfg.fps
        n = num_frames_for(audio.size / sample_rate, fps)
        prosody = compute_prosody(audio, n, fps, sample_rate)
        accents = find_accents(prosody, timing)
        rng = np.random.default_rng(cfg.seed)
        face_rng, body_rng = rng.spawn(2)
        face = animate_face(timing, prosody, n, fps, face_rng, cfg.face, accents=accents)
        body = root = None
        if cfg.body:
            track = animate_body(timing, prosody, accents, n, fps, body_rng, cfg.gestures)
            body, root = track.rotations.copy(), track.root_pos
            add_head_to_body(body, face.head)
        anim = Animation(
            fps=fps,
            face=face.face,
            head=face.head,
            eyes=face.eyes,
            body=body,
            root_pos=root,
            skeleton=canonical_skeleton(),
            audio=audio,
            sample_rate=sample_rate,
        )
        return apply_emotion(anim, cfg.emotion)
