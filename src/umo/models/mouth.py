"""The mouth head: the jaw and mouth blendshapes straight from the dense audio, frame by frame.

Measured on real speech (issue 13): decoding the lips through the keyframe codes the transformer
draws loses to a linear probe on the log-mel (FACEGOOD 1114_3_16: r 0.584 vs 0.722), and the same
decoder fed the capture's own codes reaches 0.727: the codes, predicted from a synthetic voice's
statistics, are the bottleneck. So the mouth gets a path without them: a small causal conv stack
over each frame's audio-encoder output (read at ``feature_index(i + L)``, the model's lookahead) and
its phone features, predicting the ``MOUTH_CHANNELS`` of the face in the model's normalised units.
With ``mouth_mel_taps`` it also reads the front end's own log-mel + prosody frames at a few taps
before that lookahead read (``mel_taps``): the linear log-mel probe's input, which a ridge fitted on
the captures alone maps to the lips better than the head read from the encoder did (issue 13).
At inference its output replaces the decoder's for those channels; the codes keep the rest of the
face (brows, blinks, eyes, head) and the body. It is trained on every window that has mouth targets,
real captures weighted up (stage 4), and alone on a frozen model by stage 5.

Dimension letters: B batch, T frames, F feature frames, a audio width, p text width, C front-end
features, K mel taps, M mouth channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from umo.constants import ARKIT_NAMES
from umo.models.layers import CausalConvStack, RMSNorm

# face-region columns (Live Link order) the head predicts: the jaw and the mouth, not the tongue
MOUTH_CHANNELS: tuple[int, ...] = tuple(i for i, n in enumerate(ARKIT_NAMES) if n.startswith(("Jaw", "Mouth")))


def mel_taps(feats: Tensor, index: Tensor, taps: tuple[int, ...]) -> Tensor:
    """Front-end frames (B, F, C) read at index - tap for each tap -> (B, T, K C); index (T,) the
    feature frame each motion frame reads (``feature_index(i + L)``). A read before the clip's first
    frame is zeros (the features' mean: they are standardised)."""
    cols = []
    for tap in taps:
        j = index - tap
        cols.append(feats[:, j.clamp(min=0)] * (j >= 0).to(feats)[None, :, None])
    return torch.cat(cols, dim=-1)


class MouthHead(nn.Module):
    """(B, T, a) audio frames + (B, T, p) phone features [+ (B, T, K C) mel taps] -> (B, T, M)
    normalised mouth channels."""

    def __init__(self, audio_dim: int, text_dim: int, dim: int, dilations: tuple[int, ...],
                 mel_dim: int = 0) -> None:
        super().__init__()
        self.inp = nn.Linear(audio_dim + text_dim + mel_dim, dim)
        self.stack = CausalConvStack(dim, dilations, kernel=3)
        self.norm = RMSNorm(dim)
        self.out = nn.Linear(dim, len(MOUTH_CHANNELS))

    def forward(self, audio: Tensor, text: Tensor, mel: Tensor | None = None) -> Tensor:
        x = torch.cat([audio, text] if mel is None else [audio, text, mel], dim=-1)
        return self.out(self.norm(self.stack(self.inp(x))))

    def init_state(self, batch: int = 1, device: torch.device | None = None) -> list[Tensor]:
        return self.stack.init_state(batch, device)
