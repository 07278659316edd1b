"""Timed phones as the model's text tokens, looked up frame by frame while audio streams in.

``UmoModel.text_frames`` reads, for motion frame i, the phone sounding at i and at i + L (the
lookahead); "unknown" (``UNKNOWN_PHONE``) where no transcript is known. A stream gets its phones as
they arrive (a TTS, a client's ``phones`` messages), so they are kept as a bounded track of timed
phones and looked up per frame exactly as ``umo.data.synth.rasterize_phones`` does for a whole clip.
"""

from __future__ import annotations

import bisect

import torch
from torch import Tensor

from umo.constants import MODEL_FPS
from umo.speech.units import PHONES

UNKNOWN_PHONE = len(PHONES)  # embedding index of "no transcript" (a batch's -1)


class PhoneTrack:
    """A stream's timed phones as they arrive (``PHONES`` ids, or ``UNKNOWN_PHONE``; seconds on the
    audio's clock), looked up per frame as ``rasterize_phones`` does: the last phone that starts at or
    before the frame's time, if it still sounds then, else silence. Phones must arrive in order of
    their starts; those no later frame can read are forgotten, so it stays bounded."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.ids: list[int] = []

    @classmethod
    def from_frame_ids(cls, ids: list[int]) -> PhoneTrack:
        """A phone id per motion frame (-1: unknown) -> the track whose lookup at frame i gives it."""
        track = cls()
        i = 0
        while i < len(ids):
            j = i
            while j + 1 < len(ids) and ids[j + 1] == ids[i]:
                j += 1
            pid = UNKNOWN_PHONE if ids[i] < 0 else int(ids[i])
            track.add([(pid, i / MODEL_FPS, (j + 1) / MODEL_FPS)])
            i = j + 1
        return track

    def add(self, phones: list[tuple[int, float, float]]) -> None:
        """phones: (id, start s, end s), starts not before the last one added (callers check)."""
        for pid, start, end in phones:
            self.starts.append(float(start))
            self.ends.append(float(end))
            self.ids.append(int(pid))

    def at(self, t: float) -> int:
        k = bisect.bisect_right(self.starts, t) - 1
        return self.ids[k] if k >= 0 and t < self.ends[k] else 0  # 0: SIL

    def forget_before(self, t: float) -> None:
        """No lookup will come before time t: drop the phones before the last one starting at or
        before t (they can never again be the last to start before a lookup)."""
        k = bisect.bisect_right(self.starts, t) - 1
        if k > 0:
            del self.starts[:k], self.ends[:k], self.ids[:k]


def phone_ids(track: PhoneTrack | None, frames: list[int], la: int, limit: int | None) -> tuple[list[int], list[int]]:
    """The ``PHONES`` ids ``UmoModel.text_frames`` reads for these frames of a stream: the phone at
    frame i and at i + la ("unknown" past the stream's last frame, ``limit``, as ``text_frames`` pads
    a whole clip's end; "unknown" throughout for a stream without phones, track None)."""
    if track is None:
        return [UNKNOWN_PHONE] * len(frames), [UNKNOWN_PHONE] * len(frames)
    ids = [track.at(i / MODEL_FPS) for i in frames]
    ahead = [track.at((i + la) / MODEL_FPS) if limit is None or i + la < limit else UNKNOWN_PHONE for i in frames]
    return ids, ahead


def phone_features(model, ids: list[int], ahead: list[int]) -> Tensor:
    """``phone_ids``' two lists -> the text features (n, 2 text_dim), as ``UmoModel.text_frames``."""
    return torch.cat([model.phone_emb(torch.tensor(ids)), model.phone_emb(torch.tensor(ahead))], dim=-1)
