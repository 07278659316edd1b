"""Conversion between the animation formats umo reads and writes, on the canonical skeleton.

    face:  .csv (Live Link Face), .json (BEAT ARKit JSON), .npy (FACEGOOD 116-channel weights)
    body:  .bvh (any skeleton; others are retargeted onto the canonical one by joint names)
    both:  .npz (SMPL-X: body joints + jaw), .glb / .gltf (an animated glTF as umo writes it)
    out:   .csv, .json, .bvh, .npz, .html (the self-contained preview),
           .glb / .gltf (animated glTF 2.0: the preview character, skinned, with the 52 ARKit morph
           targets, and the take's joint rotations and morph weights; ``umo.formats.gltf``)

A face file and a body file of the same take combine (``body=``); an audio file attaches sound
and, for a BVH whose header is wrong, gives the frame rate from its length. A glTF cannot hold sound:
the audio is written beside it (same stem, .wav, 16 kHz mono as umo reads it).

A BVH on another skeleton is retargeted by joint roles (``umo.formats.retarget``); the
:class:`Conversion` carries each mapping, whose ``summary()`` says what mapped. A skeleton whose
spine, head or arms (down to the hands) do not map is refused unless ``allow_partial``. What the
readers warn about (a header that lies, suspicious values, a partial map) is logged as a warning
on the ``umo.convert`` logger, which the command line shows.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.errors import UmoError
from umo.formats.retarget import JointMapping

log = logging.getLogger(__name__)

FACE_INPUTS = (".csv", ".json", ".npy")
BODY_INPUTS = (".bvh",)
BOTH_INPUTS = (".npz", ".glb", ".gltf")
OUTPUTS = (".csv", ".json", ".bvh", ".npz", ".html", ".glb", ".gltf")


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    s = path.suffix.lower()
    if s not in allowed:
        raise UmoError(f"{path}: cannot {what} {s or 'files without a suffix'}; use one of {', '.join(allowed)}")
    return s


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert` did: the file written and how each body on another skeleton was mapped."""

    path: Path
    mappings: tuple[JointMapping, ...]  # one per BVH read (the input, then --body), in that order
    audio: Path | None = None  # the audio written beside a glTF (or already there), if any


def read_any(path: str | Path, audio_duration: float | None = None,
             allow_partial: bool = False) -> tuple[Animation, set[str]]:
    """An animation file -> (Animation on the canonical skeleton where it has a body, parts it holds).

    A BVH whose skeleton misses an essential part raises UmoError unless ``allow_partial``."""
    anim, parts, _ = read_with_mapping(path, audio_duration, allow_partial)
    return anim, parts


def read_with_mapping(path: str | Path, audio_duration: float | None = None,
                      allow_partial: bool = False) -> tuple[Animation, set[str], JointMapping | None]:
    """:func:`read_any`, and for a BVH the joint mapping onto the canonical skeleton (its report)."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"file not found: {path}")
    s = _suffix(path, FACE_INPUTS + BODY_INPUTS + BOTH_INPUTS, "read")
    if s == ".csv":
        from umo.formats.livelink import read_livelink

        return _logging_warnings(path, read_livelink, path), {"face"}, None
    if s == ".json":
        from umo.formats.beat_json import read_beat_json

        return read_beat_json(path), {"face"}, None
    if s == ".npy":
        from umo.formats.facegood import read_facegood

        return read_facegood(path), {"face"}, None
    if s in (".glb", ".gltf"):
        from umo.formats.gltf import read_gltf

        anim = read_gltf(path)
        return anim, {"face"} | ({"body"} if anim.body is not None else set()), None
    if s == ".npz":
        from umo.formats.smplx import read_smplx, smplx_to_animation

        return smplx_to_animation(read_smplx(path)), {"face", "body"}, None
    from umo.formats.bvh import read_animation_bvh
    from umo.formats.retarget import map_joints, retarget
    from umo.skeleton import canonical_skeleton

    anim = _logging_warnings(path, read_animation_bvh, path, duration=audio_duration)
    mapping = map_joints(anim.skeleton, canonical_skeleton())
    if not anim.skeleton.is_canonical():
        anim = _logging_warnings(path, retarget, anim, allow_partial=allow_partial)
    return anim, {"body"}, mapping


def _logging_warnings(path: Path, fn, *args, **kwargs):
    """fn(*args, **kwargs), its warnings (a lying header, suspicious values, a partial map) logged
    as warnings naming the file, each once: they are worth telling the user, without a traceback."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    for message in dict.fromkeys(str(w.message) for w in caught):
        log.warning("%s: %s", path.name, message.removeprefix(f"{path.name}: "))
    return out


def combine(face: Animation, body: Animation) -> Animation:
    """Face of one, body of the other; the body is resampled onto the face's frames if rates differ."""
    from umo.skeleton import matrix_to_rotvec, rotvec_to_matrix

    n = face.num_frames
    if abs(body.duration - face.duration) > 1.0 / min(face.fps, body.fps) + 1e-6:
        held = "its last frame is held" if body.duration < face.duration else "it is cut"
        log.warning("the face lasts %.2f s (%d frames at %g fps), the body %.2f s (%d frames at %g fps): "
                    "the body is put on the face's frames and %s; are they the same take?",
                    face.duration, n, face.fps, body.duration, body.num_frames, body.fps, held)
    if body.fps == face.fps and body.num_frames == n:
        rot, root = body.body, body.root_pos
    else:
        # Nearest frame in time (rotations are not linear): frame i of the face at i / fps.
        idx = np.clip(np.round(face.times * body.fps).astype(int), 0, body.num_frames - 1)
        rot, root = body.body[idx], body.root_pos[idx]
        rot = matrix_to_rotvec(rotvec_to_matrix(rot))
    return face.copy(body=rot, root_pos=root, skeleton=body.skeleton)


def convert(
    src: str | Path, dst: str | Path, body: str | Path | None = None, audio: str | Path | None = None,
    allow_partial: bool = False, character: str | Path | None = None,
) -> Conversion:
    """Reads ``src`` (and ``body``, and ``audio``), writes ``dst`` in the format of its suffix.

    allow_partial: convert a BVH whose skeleton leaves an essential part unmapped (it stays at
    rest, with a warning) instead of refusing it.
    character: a .glb / .vrm the .html preview shows instead of umo's character (``umo.avatar``).

    A .glb / .gltf of a face alone has the full body standing in the relaxed rest pose, the head
    turned on its neck; ``audio`` is written beside it as ``dst`` with the suffix .wav (unless that
    is the audio file itself), and named in the file (glTF has no standard audio)."""
    from umo.constants import SAMPLE_RATE

    dst = Path(dst)
    out = _suffix(dst, OUTPUTS, "write")
    if character is not None and out != ".html":
        raise UmoError(f"--character is for a preview (.html), not {out}")
    samples = None
    if audio is not None:
        from umo.formats.audio import load_audio

        samples = load_audio(audio)
    duration = None if samples is None else samples.size / SAMPLE_RATE
    anim, parts, mapping = read_with_mapping(src, duration, allow_partial)
    mappings = [mapping] if mapping else []
    if body is not None:
        body_anim, body_parts, body_mapping = read_with_mapping(body, duration, allow_partial)
        if "body" not in body_parts:
            raise UmoError(f"{body}: holds no body motion; give a .bvh or .npz as --body")
        anim, parts = combine(anim, body_anim), parts | {"body"}
        mappings += [body_mapping] if body_mapping else []
    if samples is not None:
        anim = anim.copy(audio=samples, sample_rate=SAMPLE_RATE)
    if out in (".csv", ".json") and "face" not in parts:
        raise UmoError(f"{src} holds no face animation: it cannot become a {out} face file")
    if out == ".bvh" and "body" not in parts:
        raise UmoError(f"{src} holds no body motion: give a body with --body FILE.bvh to write a BVH")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if out in (".glb", ".gltf"):
        return _convert_gltf(anim if "body" in parts else anim.copy(body=None, root_pos=None), Path(src), dst,
                             samples, None if audio is None else Path(audio), tuple(mappings))
    if out == ".csv":
        from umo.formats.livelink import write_livelink

        write_livelink(anim, dst)
    elif out == ".json":
        from umo.formats.beat_json import write_beat_json

        write_beat_json(anim, dst)
    elif out == ".bvh":
        from umo.formats.bvh import write_animation_bvh

        write_animation_bvh(anim, dst)
    elif out == ".npz":
        from umo.formats.smplx import animation_to_smplx

        animation_to_smplx(anim, dst)
    else:
        from umo.preview.html import write_preview

        write_preview(anim if "body" in parts else anim.copy(body=None, root_pos=None), dst, title=Path(src).name,
                      character=character)
    return Conversion(dst, tuple(mappings))


def _convert_gltf(anim: Animation, src: Path, dst: Path, samples: np.ndarray | None, audio: Path | None,
                  mappings: tuple[JointMapping, ...]) -> Conversion:
    """The glTF of ``anim`` and, with audio, the WAV beside it."""
    from umo.constants import SAMPLE_RATE
    from umo.formats.gltf import write_gltf

    wav = None
    if samples is not None:
        wav = dst.with_suffix(".wav")
        if not (wav.exists() and audio is not None and wav.resolve() == audio.resolve()):
            from umo.formats.audio import save_wav

            save_wav(wav, samples, SAMPLE_RATE)
    write_gltf(anim, dst, title=src.name, audio_file=None if wav is None else wav.name)
    return Conversion(dst, mappings, wav)
