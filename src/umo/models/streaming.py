"""StreamingSession: live speech -> motion frames, chunk by chunk, with explicit state.

    session = model.stream(seed=0)
    for pcm in microphone_chunks():          # float32, 16 kHz, any length
        frames = session.push(pcm)           # {"face": (n, 61), "body": (n, 36), "hands": (n, 138)}
    frames = session.flush()                 # the rest, the future padded with silence; then reset

One stream of :class:`umo.models.stepper.Stepper` (a batch of one): a frame is returned as soon as
it is final, so the algorithmic latency is lookahead_frames / 30 s plus at most 10 ms, and the
concatenated outputs equal ``UmoModel.generate`` on the whole signal (to float rounding) for any
chunking. The state (:class:`~umo.models.stepper.StreamState`) is bounded however long it runs.
"""

from __future__ import annotations

import numpy as np
import torch

from umo.models.phones import PhoneTrack
from umo.models.stepper import Stepper, StreamState


class StreamingSession:
    def __init__(self, model, seed: int = 0, graph=None) -> None:
        """graph: the model's ONNX keyframe step (``umo.models.onnx_step.KeyframeGraph``), or None (PyTorch)."""
        self.stepper = Stepper(model, graph)
        self.seed = seed
        self.state: StreamState = self.stepper.new_state(seed)

    def reset(self) -> None:
        """Forget everything: the next push starts a new utterance at time 0."""
        self.stepper.release(self.state)
        self.state = self.stepper.new_state(self.seed)

    def kv_cache_elements(self) -> int:
        """Keys and values held for this stream (a ring of ``window_steps`` steps per layer)."""
        return self.stepper.pool.elements_per_slot() if self.state.key.slot is not None else 0

    def push(self, pcm: np.ndarray) -> dict[str, np.ndarray]:
        """New samples (float32 16 kHz, any length) -> the frames that became final (maybe none)."""
        return self.stepper.advance([self.state], [np.asarray(pcm, dtype=np.float32).reshape(-1)], [False])[0]

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones of the speech: (``PHONES`` id, start s, end s) on the audio's clock, starts in
        order and not before those already added. Frames computed after read them as the model's text
        tokens (as ``generate(audio, phones)`` does): add them before their audio."""
        if self.state.phones is None:
            self.state.phones = PhoneTrack()
        self.state.phones.add(phones)

    @torch.no_grad()
    def flush(self) -> dict[str, np.ndarray]:
        """End of speech: pad the future with silence, return the remaining frames, then reset."""
        out = self.stepper.advance([self.state], [np.zeros(0, np.float32)], [True])[0]
        self.reset()
        return out
