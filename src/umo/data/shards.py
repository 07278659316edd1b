"""The on-disk format of every training corpus (synthetic or imported): a folder of shards.

Layout of a corpus folder::

    index.json                 what is where (below)
    shard-00000.safetensors    many clips, concatenated on the time axis
    shard-00001.safetensors
    ...

Each shard holds N clips; per-frame arrays are concatenated along time (sum of the clips' T),
audio along samples (sum of the clips' S):

    audio          (sum S,)      int16   16 kHz mono (umo.constants.SAMPLE_RATE), full scale = 32767
    face           (sum T, 61)   float16 52 ARKit weights (Live Link order), head yaw/pitch/roll, 6 eye angles
    body           (sum T, 36)   float16 local axis-angle of BODY_REGION_JOINTS (umo.data.motion)
    hands          (sum T, 138)  float16 local axis-angle of HAND_REGION_JOINTS
    phones         (sum T,)      int16   index into umo.speech.units.PHONES (0 = SIL), -1 unknown
    frame_offsets  (N + 1,)      int64   clip k's frames are [frame_offsets[k], frame_offsets[k + 1])
    sample_offsets (N + 1,)      int64   clip k's samples are [sample_offsets[k], sample_offsets[k + 1])
    face_mask      (N, 61)       bool    which face channels are real for clip k
    has_body, has_hands, has_phones (N,) bool

Frames are at umo.constants.MODEL_FPS (30): frame i of a clip is at i / 30 s, and a clip of S
samples has T = ceil(S * 30 / 16000) frames (the writer checks T to within one frame). Parts a
source lacks are zeros with their flag False (FACEGOOD: only 27 mouth/jaw face channels, no head,
eyes or body; BEAT: body and hands, no face).

``index.json`` (UTF-8 JSON)::

    {"format": "umo-shards", "version": 1, "sample_rate": 16000, "fps": 30,
     "dims": {"face": 61, "body": 36, "hands": 138}, "phones": ["SIL", "AA", ...],
     "attrs": {...},                       # whoever wrote the corpus (e.g. the synthesis settings)
     "shards": [{"file": "shard-00000.safetensors", "clips": 512, "frames": ..., "samples": ...}],
     "clips": [{"id": "synth/000000042", "source": "synth", "language": "en", "speaker": "en-us+f2",
                "duration": 3.41, "num_frames": 103, "num_samples": 54560,
                "shard": 0, "frame_offset": 2212, "sample_offset": 1179307,
                "face_channels": "all" | "none" | [14, 15, ...],
                "has_body": true, "has_hands": true, "has_phones": true, "meta": {...}}]}

Writing is append-only and crash-safe: a shard file and then the index are written to temporary
names and renamed, only when a shard is complete, so a killed writer leaves every listed shard
whole; reopening the folder with :class:`ShardWriter` continues after the last complete shard.

Dimension letters: T frames, S samples, N clips.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umo.constants import (
    BODY_REGION_DIM,
    FACE_REGION_DIM,
    HAND_REGION_DIM,
    MODEL_FPS,
    SAMPLE_RATE,
)
from umo.errors import UmoError
from umo.speech.units import PHONES

FORMAT = "umo-shards"
VERSION = 1
INDEX = "index.json"
# Every source a corpus clip can come from; the dataset gives each its index as ``source_id``.
SOURCES: tuple[str, ...] = ("synth", "facegood", "beat", "livelink", "bvh", "smplx", "custom")
_REGION_DIMS = {"face": FACE_REGION_DIM, "body": BODY_REGION_DIM, "hands": HAND_REGION_DIM}
_INT16_MAX = 32767.0


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def frames_for_samples(num_samples: int) -> int:
    """Frames at MODEL_FPS that cover ``num_samples`` of audio: ceil(S * 30 / 16000)."""
    return -(-num_samples * MODEL_FPS // SAMPLE_RATE)


def _face_channels(mask: np.ndarray) -> str | list[int]:
    if mask.all():
        return "all"
    if not mask.any():
        return "none"
    return [int(i) for i in np.flatnonzero(mask)]


def face_mask_from_channels(channels: str | list[int]) -> np.ndarray:
    """The inverse of the index's ``face_channels``: -> (61,) bool."""
    if channels == "all":
        return np.ones(FACE_REGION_DIM, bool)
    mask = np.zeros(FACE_REGION_DIM, bool)
    if channels != "none":
        mask[np.asarray(channels, dtype=np.int64)] = True
    return mask


@dataclass
class Clip:
    """One clip read back from a corpus: arrays as float32 / int64."""

    id: str
    source: str
    language: str
    speaker: str
    audio: np.ndarray  # (S,) float32 in [-1, 1] at 16 kHz
    face: np.ndarray  # (T, 61) float32
    body: np.ndarray  # (T, 36) float32
    hands: np.ndarray  # (T, 138) float32
    phones: np.ndarray  # (T,) int64, -1 unknown
    face_mask: np.ndarray  # (61,) bool
    has_body: bool
    has_hands: bool
    has_phones: bool
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.face.shape[0]

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def regions(self) -> dict[str, np.ndarray]:
        return {"face": self.face, "body": self.body, "hands": self.hands}


def read_index(corpus_dir: str | Path) -> dict:
    path = Path(corpus_dir) / INDEX
    if not path.is_file():
        raise UmoError(f"{corpus_dir} is not a umo corpus: it has no {INDEX} (make one with the synth or import commands)")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UmoError(f"cannot read {path} ({e}); delete the folder and write the corpus again") from None
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise UmoError(f"{path} is not a {FORMAT} v{VERSION} index (format {index.get('format')!r}, "
                       f"version {index.get('version')!r})")
    return index


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.chmod(tmp, 0o644)  # safetensors creates its files private; a corpus is meant to be shared
    os.replace(tmp, path)


class ShardWriter:
    """Appends clips to a corpus folder, one shard file per ``clips_per_shard`` clips.

    Opening a folder that already has an index continues it (complete shards are kept; a shard
    that was being filled when a previous writer died is lost and its clips must be added again).
    ``attrs`` are stored in the index; when continuing, they must equal the stored ones.
    """

    def __init__(self, out_dir: str | Path, clips_per_shard: int = 512, attrs: dict | None = None) -> None:
        if clips_per_shard < 1:
            raise UmoError(f"clips_per_shard must be at least 1, got {clips_per_shard}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.clips_per_shard = clips_per_shard
        if (self.out_dir / INDEX).is_file():
            self.index = read_index(self.out_dir)
            if attrs is not None and self.index.get("attrs") != json.loads(json.dumps(attrs)):
                raise UmoError(f"{self.out_dir} holds a corpus written with other settings "
                               f"({self.index.get('attrs')}); use a new folder or the same settings")
        else:
            self.index = {
                "format": FORMAT, "version": VERSION, "sample_rate": SAMPLE_RATE, "fps": MODEL_FPS,
                "dims": dict(_REGION_DIMS), "phones": list(PHONES), "attrs": attrs or {},
                "shards": [], "clips": [],
            }
        for stale in self.out_dir.glob("shard-*.tmp"):
            stale.unlink()
        self._ids = {c["id"] for c in self.index["clips"]}
        self._pending: list[dict] = []

    @property
    def num_clips(self) -> int:
        """Clips in complete shards plus those waiting for the current shard."""
        return len(self.index["clips"]) + len(self._pending)

    @property
    def complete_clips(self) -> list[dict]:
        """Index entries of the clips already in complete shards."""
        return self.index["clips"]

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._ids

    def add(
        self,
        clip_id: str,
        source: str,
        audio: np.ndarray,
        regions: dict[str, np.ndarray],
        phones: np.ndarray | None,
        face_mask: np.ndarray,
        has_body: bool,
        has_hands: bool,
        meta: dict | None = None,
    ) -> None:
        """Add one clip.

        audio: (S,) float in [-1, 1] at 16 kHz; regions: {"face": (T, 61), "body": (T, 36),
        "hands": (T, 138)} ("body"/"hands" may be absent when has_body/has_hands is False);
        phones: (T,) PHONES indices (-1 unknown) or None when unknown; face_mask: (61,) bool.
        meta: JSON-serialisable; "language" and "speaker" are lifted into the index entry.
        """
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}: expected one of {SOURCES}")
        if clip_id in self._ids:
            raise ValueError(f"clip id {clip_id!r} is already in {self.out_dir}")
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        s = audio.shape[0]
        face = np.asarray(regions["face"], dtype=np.float32)
        t = face.shape[0]
        if face.shape != (t, FACE_REGION_DIM):
            raise ValueError(f"face must be (T, {FACE_REGION_DIM}), got {face.shape}")
        if s == 0 or abs(t - frames_for_samples(s)) > 1:
            raise ValueError(f"clip {clip_id!r}: {t} frames do not match {s} samples "
                             f"(expected ceil(S * 30 / 16000) = {frames_for_samples(s)})")
        parts = {"face": face}
        for name, flag in (("body", has_body), ("hands", has_hands)):
            arr = regions.get(name)
            if arr is None:
                if flag:
                    raise ValueError(f"clip {clip_id!r}: has_{name} is True but regions has no {name!r}")
                arr = np.zeros((t, _REGION_DIMS[name]), np.float32)
            arr = np.asarray(arr, dtype=np.float32)
            if arr.shape != (t, _REGION_DIMS[name]):
                raise ValueError(f"{name} must be ({t}, {_REGION_DIMS[name]}), got {arr.shape}")
            parts[name] = arr if flag else np.zeros_like(arr)
        if phones is None:
            ph = np.full(t, -1, np.int16)
        else:
            ph = np.asarray(phones, dtype=np.int64)
            if ph.shape != (t,) or ph.min(initial=0) < -1 or ph.max(initial=0) >= len(PHONES):
                raise ValueError(f"phones must be ({t},) indices into PHONES or -1")
            ph = ph.astype(np.int16)
        face_mask = np.asarray(face_mask, dtype=bool).reshape(-1)
        if face_mask.shape != (FACE_REGION_DIM,):
            raise ValueError(f"face_mask must be ({FACE_REGION_DIM},), got {face_mask.shape}")
        for name, arr in parts.items():
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"clip {clip_id!r}: {name} holds NaN or inf")
        meta = dict(meta or {})
        entry = {
            "id": clip_id, "source": source,
            "language": str(meta.pop("language", "")), "speaker": str(meta.pop("speaker", "")),
            "duration": round(s / SAMPLE_RATE, 6), "num_frames": t, "num_samples": s,
            "face_channels": _face_channels(face_mask),
            "has_body": bool(has_body), "has_hands": bool(has_hands), "has_phones": bool((ph >= 0).any()),
            "meta": meta,
        }
        pcm = np.round(np.clip(audio, -1.0, 1.0) * _INT16_MAX).astype(np.int16)
        self._pending.append({"entry": entry, "audio": pcm, "phones": ph, "face_mask": face_mask,
                              **{k: v.astype(np.float16) for k, v in parts.items()}})
        self._ids.add(clip_id)
        if len(self._pending) >= self.clips_per_shard:
            self.flush()

    def flush(self) -> None:
        """Write the pending clips as one shard (even if fewer than clips_per_shard) and the index."""
        from safetensors.numpy import save_file

        if not self._pending:
            return
        k = len(self.index["shards"])
        name = shard_name(k)
        pend = self._pending
        frames = np.cumsum([0] + [p["face"].shape[0] for p in pend])
        samples = np.cumsum([0] + [p["audio"].shape[0] for p in pend])
        tensors = {
            "audio": np.concatenate([p["audio"] for p in pend]),
            "face": np.concatenate([p["face"] for p in pend]),
            "body": np.concatenate([p["body"] for p in pend]),
            "hands": np.concatenate([p["hands"] for p in pend]),
            "phones": np.concatenate([p["phones"] for p in pend]),
            "frame_offsets": frames.astype(np.int64),
            "sample_offsets": samples.astype(np.int64),
            "face_mask": np.stack([p["face_mask"] for p in pend]),
            "has_body": np.array([p["entry"]["has_body"] for p in pend], bool),
            "has_hands": np.array([p["entry"]["has_hands"] for p in pend], bool),
            "has_phones": np.array([p["entry"]["has_phones"] for p in pend], bool),
        }
        ids = [p["entry"]["id"] for p in pend]
        _atomic_write(self.out_dir / name,
                      lambda tmp: save_file(tensors, str(tmp), metadata={"ids": json.dumps(ids)}))
        for j, p in enumerate(pend):
            p["entry"].update(shard=k, frame_offset=int(frames[j]), sample_offset=int(samples[j]))
            self.index["clips"].append(p["entry"])
        self.index["shards"].append({"file": name, "clips": len(pend), "frames": int(frames[-1]),
                                     "samples": int(samples[-1])})
        self._pending = []
        self._write_index()

    def _write_index(self) -> None:
        text = json.dumps(self.index, ensure_ascii=False, separators=(",", ":"))
        _atomic_write(self.out_dir / INDEX, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def close(self) -> None:
        """Write the last (possibly short) shard and the index."""
        self.flush()
        if not (self.out_dir / INDEX).is_file():
            self._write_index()  # an empty corpus still gets an index

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


class ShardReader:
    """Random access to the clips of a corpus folder; shard files are memory-mapped lazily.

    Picklable (for DataLoader workers): open file handles are not carried over.
    """

    def __init__(self, corpus_dir: str | Path) -> None:
        self.dir = Path(corpus_dir)
        self.index = read_index(self.dir)
        self.entries: list[dict] = self.index["clips"]
        self._files: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_files"] = {}
        return state

    def ids(self) -> list[str]:
        return [e["id"] for e in self.entries]

    @property
    def attrs(self) -> dict:
        return self.index.get("attrs", {})

    @property
    def total_duration(self) -> float:
        """Seconds of audio in the corpus."""
        return float(sum(e["duration"] for e in self.entries))

    def _file(self, shard: int):
        f = self._files.get(shard)
        if f is None:
            from safetensors import safe_open

            path = self.dir / self.index["shards"][shard]["file"]
            if not path.is_file():
                raise UmoError(f"{path} is missing: the corpus {self.dir} is incomplete; write it again")
            f = self._files[shard] = safe_open(str(path), framework="np")
        return f

    def _slice(self, i: int, name: str, start: int, stop: int) -> np.ndarray:
        e = self.entries[i]
        f = self._file(e["shard"])
        base = e["sample_offset"] if name == "audio" else e["frame_offset"]
        return f.get_slice(name)[base + start: base + stop]

    def face_mask(self, i: int) -> np.ndarray:
        """(61,) bool: the real face channels of clip i."""
        return face_mask_from_channels(self.entries[i]["face_channels"])

    def audio(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [start, stop) of clip i as float32 (clipped to the clip)."""
        n = self.entries[i]["num_samples"]
        stop = n if stop is None else min(stop, n)
        start = max(0, min(start, stop))
        return self._slice(i, "audio", start, stop).astype(np.float32) / _INT16_MAX

    def frames(self, i: int, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Frames [start, stop) of clip i: {"face", "body", "hands"} float32, "phones" int64."""
        n = self.entries[i]["num_frames"]
        stop = n if stop is None else min(stop, n)
        start = max(0, min(start, stop))
        out = {k: self._slice(i, k, start, stop).astype(np.float32) for k in ("face", "body", "hands")}
        out["phones"] = self._slice(i, "phones", start, stop).astype(np.int64)
        return out

    def clip(self, i: int) -> Clip:
        e = self.entries[i]
        fr = self.frames(i)
        return Clip(
            id=e["id"], source=e["source"], language=e["language"], speaker=e["speaker"],
            audio=self.audio(i), face=fr["face"], body=fr["body"], hands=fr["hands"], phones=fr["phones"],
            face_mask=self.face_mask(i), has_body=e["has_body"], has_hands=e["has_hands"],
            has_phones=e["has_phones"], meta=dict(e.get("meta", {})),
        )
