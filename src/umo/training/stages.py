"""The three training stages of UMo, a real-data stage and a mouth-head stage, one loop for all.

The model's ``forward(batch, stage)`` decides what each stage optimises; the trainer only passes the
stage number on and applies the stage's defaults here:

1. **motion foundation** -- the motion tokens/keyframes and the interpolation network learn the
   distribution of face, body and hand motion on their own (audio is not needed yet);
2. **audio-motion alignment** -- audio (and text) tokens are mapped onto the motion space the first
   stage learned, so that the motion follows the speech;
3. **end-to-end** -- the whole autoregressive model trains on speech -> motion with targeted audio
   augmentation (speed, pitch, noise), so that it survives voices and rooms it did not see;
4. **real data** -- stage 3's objective again, gently, with the real captures (FACEGOOD's face)
   sampled as often as the synthetic corpus: the teacher-made corpus taught the model motion for
   every region; the captures teach the mouth how a real face moves with a real voice, while the
   synthetic windows keep the regions the captures lack (body, hands, upper face);
5. **mouth head** -- only the mouth head (``umo.models.mouth``) learns, on a frozen model: the jaw
   and mouth straight from the dense audio, without the keyframe codes (cheap: no backbone pass).

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
    objective: int = 0  # what UmoModel.forward optimises (1, 2, 3 or 5); 0: the stage's own number
    trains: tuple[str, ...] = ()  # the only submodules that learn (the rest frozen); empty: all

    @property
    def loss(self) -> int:
        return self.objective or self.number


STAGES: dict[int, Stage] = {
    1: Stage(1, "motion foundation", augment=False, lr_scale=1.0,
             summary="motion tokens, keyframes and interpolation learn face/body/hand motion"),
    2: Stage(2, "audio-motion alignment", augment=False, lr_scale=0.7,
             summary="audio/text tokens are aligned with the motion space"),
    3: Stage(3, "end-to-end", augment=True, lr_scale=0.5,
             summary="autoregressive speech -> motion with audio augmentation"),
    4: Stage(4, "real data", augment=True, lr_scale=0.2, objective=3,
             summary="stage 3's objective with the real captures weighted up"),
    5: Stage(5, "mouth head", augment=True, lr_scale=1.0, trains=("mouth",),
             summary="the mouth head alone on a frozen model (umo.models.mouth), real captures weighted up"),
}


def stage_augment(stage: int, override: bool | None) -> bool:
    """Whether a run of ``stage`` augments its audio: the explicit choice, else the stage default."""
    return STAGES[stage].augment if override is None else bool(override)
