"""The three training stages of UMo, one loop for all of them.

The model's ``forward(batch, stage)`` decides what each stage optimises; the trainer only passes the
stage number on and applies the stage's defaults here:

1. **motion foundation** -- the motion tokens/keyframes and the interpolation network learn the
   distribution of face, body and hand motion on their own (audio is not needed yet);
2. **audio-motion alignment** -- audio (and text) tokens are mapped onto the motion space the first
   stage learned, so that the motion follows the speech;
3. **end-to-end** -- the whole autoregressive model trains on speech -> motion with targeted audio
   augmentation (speed, pitch, noise), so that it survives voices and rooms it did not see.

Each stage initialises from the previous one's checkpoint (``--init PREV_RUN/last.safetensors``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    augment: bool  # audio augmentation by default
    lr_scale: float  # multiplies the recipe's base learning rate (later stages fine-tune gently)
    summary: str


STAGES: dict[int, Stage] = {
    1: Stage(1, "motion foundation", augment=False, lr_scale=1.0,
             summary="motion tokens, keyframes and interpolation learn face/body/hand motion"),
    2: Stage(2, "audio-motion alignment", augment=False, lr_scale=0.7,
             summary="audio/text tokens are aligned with the motion space"),
    3: Stage(3, "end-to-end", augment=True, lr_scale=0.5,
             summary="autoregressive speech -> motion with audio augmentation"),
}


def stage_augment(stage: int, override: bool | None) -> bool:
    """Whether a run of ``stage`` augments its audio: the explicit choice, else the stage default."""
    return STAGES[stage].augment if override is None else bool(override)
