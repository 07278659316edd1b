"""Random training windows from one or more corpus folders: the batch contract of model and trainer.

Batch contract. ``WindowDataset[i]`` is a dict of tensors; the default ``torch`` collate stacks
them into a batch with a leading B axis. With T = window_frames (a multiple of 3) and
S = T * 1600 // 3 (16 kHz audio, 30 fps frames):

    "audio"      (S,)       float32  the window's own audio at 16 kHz; frame i is at i / 30 s from its start
    "face"       (T, 61)    float32  52 ARKit weights (Live Link order), head yaw/pitch/roll, 6 eye angles
    "body"       (T, 36)    float32  local axis-angle of BODY_REGION_JOINTS (umo.data.motion)
    "hands"      (T, 138)   float32  local axis-angle of HAND_REGION_JOINTS
    "phones"     (T,)       int64    index into umo.speech.units.PHONES (0 = SIL), -1 unknown or padding
    "face_mask"  (61,)      float32  1 where the face channel is real for this clip, else 0 (value 0)
    "has_body"   ()         float32  1 if "body" is real, else 0 (values 0)
    "has_hands"  ()         float32  1 if "hands" is real, else 0 (values 0)
    "frame_mask" (T,)       float32  1 for real frames, 0 for padding (clips shorter than a window)
    "source_id"  ()         int64    index of the clip's source in SOURCES

Losses should weight each term by its masks: face by face_mask x frame_mask, body by has_body x
frame_mask, phones where phones >= 0. Padding audio is zeros.

``len(dataset)`` is the number of windows per epoch: total frames / window_frames. Item ``i``
draws a clip (probability proportional to its length x its source's weight) and a start frame
from ``(seed, epoch, i)``, so it is the same in every process and worker; call
:meth:`WindowDataset.set_epoch` for new windows each epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from umo.constants import MODEL_FPS, SAMPLE_RATE
from umo.data.augment import AugmentConfig
from umo.data.augment import augment as augment_window
from umo.data.shards import SOURCES, ShardReader
from umo.errors import UmoError

__all__ = ["SOURCES", "WindowDataset", "samples_for_frames"]


def samples_for_frames(num_frames: int) -> int:
    """Audio samples of ``num_frames`` frames: T * 1600 / 3 (exact when T is a multiple of 3)."""
    return num_frames * SAMPLE_RATE // MODEL_FPS


def _sample_of_frame(frame: int) -> int:
    """First sample of frame ``frame`` (nearest integer to frame * 1600 / 3)."""
    return (frame * SAMPLE_RATE + MODEL_FPS // 2) // MODEL_FPS


class WindowDataset(torch.utils.data.Dataset):
    """Random windows of ``window_frames`` frames from the corpora in ``dirs``.

    augment: on-the-fly audio augmentation (None: off); exclude: clip ids (or bare names) to leave
    out, in addition to the held-out evaluation clips (umo.data.importers.HELD_OUT), which are
    always left out; sources: only clips from these sources (names in SOURCES);
    source_weights: sampling weight per source (default 1; e.g. {"facegood": 5.0} up-weights real
    clips); windows_per_epoch: overrides len().
    """

    def __init__(
        self,
        dirs: Iterable[str | Path],
        window_frames: int = 96,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        exclude: Iterable[str] = frozenset(),
        sources: Iterable[str] | None = None,
        source_weights: dict[str, float] | None = None,
        windows_per_epoch: int | None = None,
    ) -> None:
        from umo.data.importers import HELD_OUT

        if window_frames <= 0 or window_frames % 3:
            raise UmoError(f"window_frames must be a positive multiple of 3 (so that the audio window is "
                           f"window_frames * 1600 / 3 samples), got {window_frames}")
        if sources is not None:
            sources = set(sources)
            unknown = sources - set(SOURCES)
            if unknown:
                raise UmoError(f"unknown source(s) {sorted(unknown)}: choose from {', '.join(SOURCES)}")
        weights_by_source = dict(source_weights or {})
        for k, w in weights_by_source.items():
            if k not in SOURCES or w < 0:
                raise UmoError(f"source_weights: {k!r}: {w} must name a source in SOURCES with a weight >= 0")
        self.window_frames = window_frames
        self.window_samples = samples_for_frames(window_frames)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        excluded = set(exclude) | set(HELD_OUT)
        self.readers = [ShardReader(d) for d in dirs]
        if not self.readers:
            raise UmoError("WindowDataset needs at least one corpus folder")
        clips = []  # (reader, clip index, frames, source id)
        for r, reader in enumerate(self.readers):
            for i, e in enumerate(reader.entries):
                if e["id"] in excluded or e["id"].split("/", 1)[-1] in excluded:
                    continue
                if sources is not None and e["source"] not in sources:
                    continue
                clips.append((r, i, e["num_frames"], SOURCES.index(e["source"])))
        if not clips:
            raise UmoError(f"no clips to train on in {', '.join(str(d.dir) for d in self.readers)} "
                           "(after exclude/sources filters)")
        self.clips = np.array(clips, dtype=np.int64)  # (N, 4)
        w = self.clips[:, 2].astype(np.float64) * np.array(
            [weights_by_source.get(SOURCES[s], 1.0) for s in self.clips[:, 3]])
        if w.sum() <= 0:
            raise UmoError("source_weights leave every clip with weight 0")
        self._cum = np.cumsum(w / w.sum())
        self.total_frames = int(self.clips[:, 2].sum())
        self._len = windows_per_epoch or max(1, self.total_frames // window_frames)
        self._src_frames = window_frames
        if augment is not None and augment.p_speed > 0:
            # speed f consumes f * T source frames: read enough for the fastest speed
            self._src_frames = int(np.ceil(window_frames * max(1.0, augment.speed[1]) / 3.0)) * 3

    def __len__(self) -> int:
        return self._len

    def set_epoch(self, epoch: int) -> None:
        """New random windows for each epoch (call before iterating; not seen by persistent workers)."""
        self.epoch = int(epoch)

    @property
    def total_hours(self) -> float:
        return self.total_frames / MODEL_FPS / 3600.0

    def _pick_clip(self, rng: np.random.Generator) -> int:
        return int(min(np.searchsorted(self._cum, rng.random(), side="right"), len(self.clips) - 1))

    def _babble(self, count: int, rng: np.random.Generator, length: int) -> list[np.ndarray]:
        """Audio of ``count`` other random windows, for babble noise."""
        out = []
        for _ in range(count):
            r, i, _, _ = self.clips[self._pick_clip(rng)]
            n = self.readers[r].entries[i]["num_samples"]
            start = int(rng.integers(max(1, n - length)))
            out.append(self.readers[r].audio(i, start, start + length))
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        r, i, frames, source_id = (int(v) for v in self.clips[self._pick_clip(rng)])
        reader = self.readers[r]
        entry = reader.entries[i]
        n_src = self._src_frames
        start = int(rng.integers(0, max(0, frames - n_src) + 1))
        real = min(n_src, frames - start)  # frames of the clip inside the window
        fr = reader.frames(i, start, start + real)
        s0 = _sample_of_frame(start)
        n_audio = samples_for_frames(real) if real % 3 == 0 else _sample_of_frame(start + real) - s0
        audio = reader.audio(i, s0, s0 + n_audio)
        audio = np.pad(audio, (0, n_audio - len(audio)))  # the last frame's audio may be short
        regions = {k: fr[k] for k in ("face", "body", "hands")}
        phones = fr["phones"]
        if self.augment is not None:
            audio, regions, phones = augment_window(
                audio, regions, phones, rng, self.augment,
                babble=lambda count, g: self._babble(count, g, len(audio)),
            )
        t, s = self.window_frames, self.window_samples
        real = min(len(phones), t)
        frame_mask = np.zeros(t, np.float32)
        frame_mask[:real] = 1.0

        def fit(x: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
            if len(x) >= n:
                return x[:n]
            pad = np.full((n - len(x),) + x.shape[1:], fill, x.dtype)
            return np.concatenate([x, pad])

        face_mask = reader.face_mask(i).astype(np.float32)
        return {
            "audio": torch.from_numpy(fit(audio.astype(np.float32), s)),
            "face": torch.from_numpy(fit(regions["face"], t) * face_mask),
            "body": torch.from_numpy(fit(regions["body"], t) * float(entry["has_body"])),
            "hands": torch.from_numpy(fit(regions["hands"], t) * float(entry["has_hands"])),
            "phones": torch.from_numpy(fit(phones.astype(np.int64), t, -1)),
            "face_mask": torch.from_numpy(face_mask),
            "has_body": torch.tensor(float(entry["has_body"]), dtype=torch.float32),
            "has_hands": torch.tensor(float(entry["has_hands"]), dtype=torch.float32),
            "frame_mask": torch.from_numpy(frame_mask),
            "source_id": torch.tensor(source_id, dtype=torch.int64),
        }

