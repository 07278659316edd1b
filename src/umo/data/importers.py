"""Importers: real datasets -> the corpus format of :mod:`umo.data.shards`.

One function per kind, each pairing a motion file with the audio of the same name (any of
.wav/.flac/.ogg/.mp3, anywhere under the source folder) and writing the clips at 30 fps:

| kind       | motion file                     | face                      | body/hands      | phones          |
| ---------- | ------------------------------- | ------------------------- | --------------- | --------------- |
| facegood   | ``bs_value_<id>.npy`` (116 ch.) | 27 jaw/mouth channels     | no              | unknown         |
| beat       | ``<id>.bvh`` (+ ``.TextGrid``)  | no (not in the captures)  | yes             | from the words  |
| livelink   | ``<id>.csv`` (Live Link Face)   | 52 + head + eyes          | no              | unknown         |
| bvh        | ``<id>.bvh`` any skeleton       | no                        | retargeted      | unknown         |
| smplx      | ``<id>.npz`` (SMPL-X poses)     | JawOpen only              | yes             | unknown         |

Clip ids are ``<kind>/<id>``. ``exclude`` names clips never to import (by id or bare ``<id>``): by
default the held-out evaluation clip, FACEGOOD ``1114_3_16``; a log line says what was held out.
Importing into a folder that already has a clip skips it, so an import can be re-run or continued.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umo.constants import (
    ARKIT_INDEX,
    FACE_REGION_DIM,
    HAND_REGION_JOINTS,
    MODEL_FPS,
    NUM_BLENDSHAPES,
    SAMPLE_RATE,
)
from umo.errors import UmoError

log = logging.getLogger(__name__)

# Clips kept out of every training corpus: the evaluation measures on them.
HELD_OUT: frozenset[str] = frozenset({"facegood/1114_3_16"})
DEFAULT_EXCLUDE = HELD_OUT
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
CLIPS_PER_SHARD = 64  # real takes are long (a minute or more)


@dataclass
class ImportReport:
    kind: str
    out_dir: Path
    imported: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    seconds: float = 0.0  # audio imported

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0


# --- helpers ------------------------------------------------------------------------------------
def resample_rotvecs(rotvecs: np.ndarray, src_fps: float, num_frames: int) -> np.ndarray:
    """(T, J, 3) axis-angle at src_fps -> (num_frames, J, 3) at MODEL_FPS: quaternion nlerp,
    the last frame held past the end."""
    from scipy.spatial.transform import Rotation

    t, j, _ = rotvecs.shape
    q = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_quat().reshape(t, j, 4)
    # keep consecutive quaternions in the same hemisphere so interpolation takes the short way
    flip = np.cumprod(np.where(np.sum(q[1:] * q[:-1], axis=-1) < 0, -1.0, 1.0), axis=0)
    q[1:] *= flip[..., None]
    _, i0, i1, w = _positions(t, src_fps, num_frames)
    qi = q[i0] * (1 - w)[:, None, None] + q[i1] * w[:, None, None]
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    return Rotation.from_quat(qi.reshape(-1, 4)).as_rotvec().reshape(num_frames, j, 3)


def resample_linear(values: np.ndarray, src_fps: float, num_frames: int) -> np.ndarray:
    """(T, D) at src_fps -> (num_frames, D) at MODEL_FPS, linear, the last frame held past the end."""
    _, i0, i1, w = _positions(values.shape[0], src_fps, num_frames)
    return values[i0] * (1 - w)[:, None] + values[i1] * w[:, None]


def _positions(t: int, src_fps: float, num_frames: int):
    pos = np.arange(num_frames) * (src_fps / MODEL_FPS)  # source frame of each output frame
    pos = np.clip(pos, 0, t - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, t - 1)
    return pos, i0, i1, pos - i0


def _fit_audio(audio: np.ndarray, motion_s: float) -> np.ndarray:
    """Crop the audio to the motion when the motion ends first (by more than a frame)."""
    n = int(round(motion_s * SAMPLE_RATE))
    return audio[:n] if len(audio) > n + SAMPLE_RATE // MODEL_FPS else audio


def _animation_regions(anim, audio: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An Animation (canonical skeleton or face only, any fps) + its audio -> (audio, regions at 30 fps)
    covering the shorter of the two."""
    from umo.data.motion import BODY_IDX, HAND_IDX
    from umo.data.shards import frames_for_samples

    audio = _fit_audio(audio, anim.num_frames / anim.fps)
    t = frames_for_samples(len(audio))
    face = np.concatenate([anim.face, anim.head, anim.eyes], axis=1)
    regions = {"face": resample_linear(face, anim.fps, t).astype(np.float32)}
    if anim.body is not None:
        idx = np.concatenate([BODY_IDX, HAND_IDX])
        rv = resample_rotvecs(anim.body[:, idx], anim.fps, t)
        regions["body"] = rv[:, : len(BODY_IDX)].reshape(t, -1).astype(np.float32)
        regions["hands"] = rv[:, len(BODY_IDX):].reshape(t, -1).astype(np.float32)
    return audio, regions


def _audio_by_stem(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*") if root.is_dir() else root.parent.glob("*")):
        if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file():
            found.setdefault(p.stem, p)
    return found


def _motion_files(src: Path, pattern: str) -> list[Path]:
    if not src.exists():
        raise UmoError(f"{src} does not exist: give the folder (or file) of the dataset to import")
    if src.is_file():
        return [src]
    return sorted(src.rglob(pattern))


def _is_excluded(clip_id: str, exclude: Iterable[str]) -> bool:
    stem = clip_id.split("/", 1)[-1]
    return any(x in (clip_id, stem) for x in exclude)


def _run(
    kind: str, src: str | Path, out_dir: str | Path, pattern: str, stem_of: Callable[[Path], str],
    load: Callable[[Path, Path, str], dict], exclude: Iterable[str] | None, clips_per_shard: int,
    need_audio: bool = True,
) -> ImportReport:
    """The loop every importer shares: pair files, skip held-out and present clips, write shards."""
    from umo.data.shards import ShardWriter
    from umo.formats.audio import load_audio

    exclude = tuple(DEFAULT_EXCLUDE if exclude is None else exclude)
    src = Path(src)
    files = _motion_files(src, pattern)
    audio_of = _audio_by_stem(src)
    report = ImportReport(kind, Path(out_dir))
    writer = ShardWriter(out_dir, clips_per_shard=clips_per_shard)
    for path in files:
        stem = stem_of(path)
        clip_id = f"{kind}/{stem}"
        if _is_excluded(clip_id, exclude):
            report.held_out.append(clip_id)
            continue
        if clip_id in writer:
            report.skipped.append((clip_id, f"already in {out_dir}"))
            continue
        wav = audio_of.get(stem)
        if wav is None and need_audio:
            report.skipped.append((clip_id, f"no audio file named {stem}{{{','.join(AUDIO_SUFFIXES)}}}"))
            continue
        try:
            clip = load(path, wav, stem)
            clip.setdefault("audio", load_audio(wav))
        except UmoError as e:
            report.skipped.append((clip_id, str(e)))
            continue
        writer.add(clip_id, kind, **clip)
        report.imported.append(clip_id)
        report.seconds += len(clip["audio"]) / SAMPLE_RATE
    writer.close()
    if report.held_out:
        log.warning("%s import: held out %d clip(s) kept for evaluation: %s", kind, len(report.held_out),
                    ", ".join(report.held_out))
    for name, why in report.skipped:
        log.info("%s import: skipped %s: %s", kind, name, why)
    if not report.imported and not files:
        raise UmoError(f"no {pattern} files found under {src}: is this a {kind} dataset?")
    log.info("%s import: %d clip(s), %.2f h into %s", kind, len(report.imported), report.hours, out_dir)
    return report


# --- FACEGOOD -----------------------------------------------------------------------------------
def facegood_face_mask() -> np.ndarray:
    """(61,) bool: the ARKit channels FACEGOOD's table defines (27 jaw and mouth shapes)."""
    from umo.formats.facegood import load_facegood_mapping

    mask = np.zeros(FACE_REGION_DIM, bool)
    mask[:NUM_BLENDSHAPES] = load_facegood_mapping().any(axis=1)
    return mask


def import_facegood(src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
                    clips_per_shard: int = CLIPS_PER_SHARD) -> ImportReport:
    """FACEGOOD-Audio2Face takes (``bs_value_<id>.npy`` + ``<id>.wav``): Mandarin, mouth only."""
    from umo.formats.audio import load_audio
    from umo.formats.facegood import read_facegood

    mask = facegood_face_mask()

    def load(npy: Path, wav: Path, stem: str) -> dict:
        anim = read_facegood(npy)
        audio, regions = _animation_regions(anim, load_audio(wav))
        regions["face"][:, ~mask] = 0.0
        return {"audio": audio, "regions": regions, "phones": None, "face_mask": mask,
                "has_body": False, "has_hands": False,
                "meta": {"language": "cmn", "speaker": "facegood", "file": npy.name}}

    return _run("facegood", src, out_dir, "bs_value_*.npy", lambda p: p.stem.removeprefix("bs_value_"),
                load, exclude, clips_per_shard)


# --- BEAT ---------------------------------------------------------------------------------------
def _bvh_animation(path: Path, duration: float | None, joint_map: dict[str, str] | None, fps: float | None = None):
    """A BVH on the canonical skeleton (retargeted when its names are not canonical) and whether it
    moves the fingers. The frame rate: ``fps`` if given, else from ``duration`` (the audio length:
    BEAT's headers are wrong) if given, else the header's Frame Time."""
    from umo.constants import JOINT_INDEX
    from umo.formats.bvh import read_animation_bvh
    from umo.formats.retarget import map_joints, retarget
    from umo.skeleton import canonical_skeleton

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anim = read_animation_bvh(path, fps=fps, duration=None if fps else duration)
        fingers_mapped = True
        if not anim.skeleton.is_canonical() or joint_map:
            mapping = map_joints(anim.skeleton, canonical_skeleton(), joint_map)
            fingers_mapped = any(JOINT_INDEX[n] in mapping.pairs for n in HAND_REGION_JOINTS)
            anim = retarget(anim, joint_map=joint_map)
    for w in caught:
        log.info("%s: %s", path.name, w.message)
    hands = np.array([JOINT_INDEX[n] for n in HAND_REGION_JOINTS])
    has_hands = fingers_mapped and bool(np.ptp(anim.body[:, hands], axis=0).max() > 1e-6)
    return anim, has_hands


def _beat_speaker(stem: str) -> str:
    parts = stem.split("_")  # BEAT names takes <speaker id>_<name>_<...>
    return parts[1] if len(parts) > 2 and parts[0].isdigit() else ""


def import_beat(src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
                clips_per_shard: int = CLIPS_PER_SHARD, language: str = "en") -> ImportReport:
    """BEAT/BEAT2 takes: ``<id>.wav`` + ``<id>.bvh`` (75-joint BEAT skeleton) + ``<id>.TextGrid``
    (optional: phones from the words by espeak's phonemizer). Takes without a BVH are skipped."""
    from umo.data.synth import rasterize_phones
    from umo.formats.audio import load_audio
    from umo.formats.textgrid import read_words
    from umo.speech.phonemes import timing_from_words

    def load(bvh: Path, wav: Path, stem: str) -> dict:
        audio = load_audio(wav)
        anim, has_hands = _bvh_animation(bvh, len(audio) / SAMPLE_RATE, None)
        audio, regions = _animation_regions(anim, audio)
        regions["face"][:] = 0.0
        t = regions["face"].shape[0]
        phones = None
        grid = bvh.with_suffix(".TextGrid")
        if grid.is_file():
            words = read_words(grid)
            if words:
                phones = rasterize_phones(timing_from_words(words, "en-us" if language == "en" else language), t)
        return {"audio": audio, "regions": regions, "phones": phones,
                "face_mask": np.zeros(FACE_REGION_DIM, bool), "has_body": True, "has_hands": has_hands,
                "meta": {"language": language, "speaker": _beat_speaker(stem), "file": bvh.name}}

    return _run("beat", src, out_dir, "*.bvh", lambda p: p.stem, load, exclude, clips_per_shard)


# --- Live Link Face -----------------------------------------------------------------------------
def import_livelink(src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
                    clips_per_shard: int = CLIPS_PER_SHARD, language: str = "en", speaker: str = "") -> ImportReport:
    """Live Link Face takes (``<id>.csv`` + ``<id>.wav``, as the iPhone app exports them):
    52 blendshapes, head and eyes."""
    from umo.formats.audio import load_audio
    from umo.formats.livelink import read_livelink

    def load(csv: Path, wav: Path, stem: str) -> dict:
        anim = read_livelink(csv)
        audio, regions = _animation_regions(anim, load_audio(wav))
        return {"audio": audio, "regions": regions, "phones": None,
                "face_mask": np.ones(FACE_REGION_DIM, bool), "has_body": False, "has_hands": False,
                "meta": {"language": language, "speaker": speaker, "file": csv.name}}

    return _run("livelink", src, out_dir, "*.csv", lambda p: p.stem, load, exclude, clips_per_shard)


# --- BVH + audio (ZEGGS and others) -------------------------------------------------------------
def import_bvh(src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
               clips_per_shard: int = CLIPS_PER_SHARD, joint_map: dict[str, str] | None = None,
               fps: float | None = None, fps_from_audio: bool = False,
               language: str = "en", speaker: str = "") -> ImportReport:
    """``<id>.bvh`` + ``<id>.wav`` pairs on any skeleton (ZEGGS, CMU, Mixamo-like), retargeted onto
    the canonical one by joint names (``joint_map``: source name -> canonical name, if needed).

    The frame rate is the header's, or ``fps``, or (``fps_from_audio``) the one that makes the
    motion as long as its audio, for files whose header is wrong."""
    from umo.formats.audio import load_audio

    def load(bvh: Path, wav: Path, stem: str) -> dict:
        audio = load_audio(wav)
        duration = len(audio) / SAMPLE_RATE if fps_from_audio else None
        anim, has_hands = _bvh_animation(bvh, duration, joint_map, fps)
        audio, regions = _animation_regions(anim, audio)
        regions["face"][:] = 0.0
        return {"audio": audio, "regions": regions, "phones": None,
                "face_mask": np.zeros(FACE_REGION_DIM, bool), "has_body": True, "has_hands": has_hands,
                "meta": {"language": language, "speaker": speaker, "file": bvh.name}}

    return _run("bvh", src, out_dir, "*.bvh", lambda p: p.stem, load, exclude, clips_per_shard)


# --- SMPL-X + audio -----------------------------------------------------------------------------
def import_smplx(src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
                 clips_per_shard: int = CLIPS_PER_SHARD, language: str = "en", speaker: str = "") -> ImportReport:
    """SMPL-X motion ``<id>.npz`` (BEAT2 / AMASS keys) + ``<id>.wav``: body, fingers and JawOpen."""
    from umo.formats.audio import load_audio
    from umo.formats.smplx import read_smplx, smplx_to_animation

    mask = np.zeros(FACE_REGION_DIM, bool)
    mask[ARKIT_INDEX["JawOpen"]] = True

    def load(npz: Path, wav: Path, stem: str) -> dict:
        anim = smplx_to_animation(read_smplx(npz))
        audio, regions = _animation_regions(anim, load_audio(wav))
        regions["face"][:, ~mask] = 0.0
        return {"audio": audio, "regions": regions, "phones": None, "face_mask": mask,
                "has_body": True, "has_hands": True,
                "meta": {"language": language, "speaker": speaker or _beat_speaker(stem), "file": npz.name}}

    return _run("smplx", src, out_dir, "*.npz", lambda p: p.stem, load, exclude, clips_per_shard)


IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "facegood": import_facegood,
    "beat": import_beat,
    "livelink": import_livelink,
    "bvh": import_bvh,
    "smplx": import_smplx,
}


def import_dataset(kind: str, src: str | Path, out_dir: str | Path, exclude: Iterable[str] | None = None,
                   **options) -> ImportReport:
    """``umo data import KIND SRC -o DIR``: dispatch to the importer of ``kind`` (IMPORTERS)."""
    if kind not in IMPORTERS:
        raise UmoError(f"unknown dataset kind {kind!r}: choose one of {', '.join(IMPORTERS)}")
    return IMPORTERS[kind](src, out_dir, exclude=exclude, **options)
