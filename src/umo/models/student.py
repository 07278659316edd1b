"""A causal student of a pretrained speech encoder: Whisper's features, live.

Whisper's encoder attends over 30 s windows in both directions, so it cannot run at ~100 ms latency.
The student is a small causal conv network on the model's own 100 Hz log-mel + prosody frames,
distilled (``umo.training.student``) to predict a chosen Whisper layer, reduced by PCA to
``student_dim`` components and standardised. Its frame j estimates the teacher's features at frame
``j - student_delay``: with the delay it may look that far into the future of what it describes,
the lookahead a live stream can afford (the motion model then reads it at ``feature_index(i + L)``
as it reads the log-mel).

Offline, the teacher itself can stand in for the student (``UmoModel.audio_frames(...,
speech_features=...)`` with :meth:`SpeechStudent.teacher_targets`): the comparison the README
reports. Dimension letters: B batch, F feature frames (100 Hz), C input channels, K components.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from umo.models.features import AudioEncoder


class SpeechStudent(nn.Module):
    """(B, F, C) log-mel + prosody -> (B, F, K) the teacher's standardised PCA components, causally.

    Buffers (filled by the distillation, carried by checkpoints): ``pca_mean`` (D,), ``pca_basis``
    (D, K) and ``target_std`` (K,), which map a teacher layer's (T, D) features to the targets."""

    def __init__(self, n_features: int, dim: int, dilations: tuple[int, ...], out_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.encoder = AudioEncoder(n_features, dim, dilations)  # causal convs, RMSNorm at the end
        self.out = nn.Linear(dim, out_dim)
        self.register_buffer("pca_mean", torch.zeros(teacher_dim))
        self.register_buffer("pca_basis", torch.zeros(teacher_dim, out_dim))
        self.register_buffer("target_std", torch.ones(out_dim))

    def forward(self, feats: Tensor) -> Tensor:
        return self.out(self.encoder(feats))

    def teacher_targets(self, teacher: Tensor) -> Tensor:
        """Teacher features (..., D) -> what the student predicts (..., K)."""
        return ((teacher - self.pca_mean) @ self.pca_basis) / self.target_std
