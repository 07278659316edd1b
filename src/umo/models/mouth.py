"""The mouth head: the jaw and mouth blendshapes straight from the dense audio, frame by frame.

Measured on real speech (issue 13): decoding the lips through the keyframe codes the transformer
draws loses to a linear probe on the log-mel (FACEGOOD 1114_3_16: r 0.584 vs 0.722), and the same
decoder fed the capture's own codes reaches 0.727: the codes, predicted from a synthetic voice's
statistics, are the bottleneck. So the mouth gets a path without them: a small causal conv stack
over each frame's audio-encoder output (read at ``feature_index(i + L)``, the model's lookahead) and
its phone features, predicting the ``MOUTH_CHANNELS`` of the face in the model's normalised units.
At inference its output replaces the decoder's for those channels; the codes keep the rest of the
face (brows, blinks, eyes, head) and the body. It is trained on every window that has mouth targets,
real captures weighted up (stage 4), and alone on a frozen model by stage 5.

Dimension letters: B batch, T frames, a audio width, p text width, M mouth channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from umo.constants import ARKIT_NAMES
from umo.models.layers import CausalConvStack, RMSNorm

# face-region columns (Live Link order) the head predicts: the jaw and the mouth, not the tongue
MOUTH_CHANNELS: tuple[int, ...] = tuple(i for i, n in enumerate(ARKIT_NAMES) if n.startswith(("Jaw", "Mouth")))


class MouthHead(nn.Module):
    """(B, T, a) audio frames + (B, T, p) phone features -> (B, T, M) normalised mouth channels."""

    def __init__(self, audio_dim: int, text_dim: int, dim: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.inp = nn.Linear(audio_dim + text_dim, dim)
        self.stack = CausalConvStack(dim, dilations, kernel=3)
        self.norm = RMSNorm(dim)
        self.out = nn.Linear(dim, len(MOUTH_CHANNELS))

    def forward(self, audio: Tensor, text: Tensor) -> Tensor:
        return self.out(self.norm(self.stack(self.inp(torch.cat([audio, text], dim=-1)))))

    def init_state(self, batch: int = 1, device: torch.device | None = None) -> list[Tensor]:
        return self.stack.init_state(batch, device)
