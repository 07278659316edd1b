"""Conversion between the animation formats umo reads and writes, on the canonical skeleton.

    face:  .csv (Live Link Face), .json (BEAT ARKit JSON), .npy (FACEGOOD 116-channel weights)
    body:  .bvh (any skeleton; others are retargeted onto the canonical one by joint names)
    both:  .npz (SMPL-X: body joints + jaw)
    out:   .csv, .json, .bvh, .npz, .html (the self-contained preview)

A face file and a body file of the same take combine (``body=``); an audio file attaches sound
and, for a BVH whose header is wrong, gives the frame rate from its length.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.errors import UmoError

FACE_INPUTS = (".csv", ".json", ".npy")
BODY_INPUTS = (".bvh",)
BOTH_INPUTS = (".npz",)
OUTPUTS = (".csv", ".json", ".bvh", ".npz", ".html")


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    s = path.suffix.lower()
    if s not in allowed:
        raise UmoError(f"{path}: cannot {what} {s or 'files without a suffix'}; use one of {', '.join(allowed)}")
    return s


def read_any(path: str | Path, audio_duration: float | None = None) -> tuple[Animation, set[str]]:
    """An animation file -> (Animation on the canonical skeleton where it has a body, parts it holds)."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"file not found: {path}")
    s = _suffix(path, FACE_INPUTS + BODY_INPUTS + BOTH_INPUTS, "read")
    if s == ".csv":
        from umo.formats.livelink import read_livelink

        return read_livelink(path), {"face"}
    if s == ".json":
        from umo.formats.beat_json import read_beat_json

        return read_beat_json(path), {"face"}
    if s == ".npy":
        from umo.formats.facegood import read_facegood

        return read_facegood(path), {"face"}
    if s == ".npz":
        from umo.formats.smplx import read_smplx, smplx_to_animation

        return smplx_to_animation(read_smplx(path)), {"face", "body"}
    from umo.formats.bvh import read_animation_bvh
    from umo.formats.retarget import retarget

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anim = read_animation_bvh(path, duration=audio_duration)
    for w in caught:  # a lying header is worth telling the user, once, without a traceback
        print(f"umo: note: {w.message}", file=sys.stderr)
    if not anim.skeleton.is_canonical():
        anim = retarget(anim)
    return anim, {"body"}


def combine(face: Animation, body: Animation) -> Animation:
    """Face of one, body of the other; the body is resampled onto the face's frames if rates differ."""
    from umo.skeleton import matrix_to_rotvec, rotvec_to_matrix

    n = face.num_frames
    if body.fps == face.fps and body.num_frames == n:
        rot, root = body.body, body.root_pos
    else:
        # Nearest frame in time (rotations are not linear): frame i of the face at i / fps.
        idx = np.clip(np.round(face.times * body.fps).astype(int), 0, body.num_frames - 1)
        rot, root = body.body[idx], body.root_pos[idx]
        rot = matrix_to_rotvec(rotvec_to_matrix(rot))
    return face.copy(body=rot, root_pos=root, skeleton=body.skeleton)


def convert(
    src: str | Path, dst: str | Path, body: str | Path | None = None, audio: str | Path | None = None
) -> Path:
    """Reads ``src`` (and ``body``, and ``audio``), writes ``dst`` in the format of its suffix."""
    from umo.constants import SAMPLE_RATE

    dst = Path(dst)
    out = _suffix(dst, OUTPUTS, "write")
    samples = None
    if audio is not None:
        from umo.formats.audio import load_audio

        samples = load_audio(audio)
    duration = None if samples is None else samples.size / SAMPLE_RATE
    anim, parts = read_any(src, duration)
    if body is not None:
        body_anim, body_parts = read_any(body, duration)
        if "body" not in body_parts:
            raise UmoError(f"{body}: holds no body motion; give a .bvh or .npz as --body")
        anim, parts = combine(anim, body_anim), parts | {"body"}
    if samples is not None:
        anim = anim.copy(audio=samples, sample_rate=SAMPLE_RATE)
    if out in (".csv", ".json") and "face" not in parts:
        raise UmoError(f"{src} holds no face animation: it cannot become a {out} face file")
    if out == ".bvh" and "body" not in parts:
        raise UmoError(f"{src} holds no body motion: give a body with --body FILE.bvh to write a BVH")
    dst.parent.mkdir(parents=True, exist_ok=True)
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

        write_preview(anim if "body" in parts else anim.copy(body=None, root_pos=None), dst, title=Path(src).name)
    return dst
