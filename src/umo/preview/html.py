"""One self-contained HTML page that plays an :class:`~umo.animation.Animation` in a browser.

The page needs no network: three.js (``assets/three.min.js``), the page's script and style, the
animation and the audio are all inlined. At load time ``assets/scene.js`` (shared with the live page
of ``umo serve``) builds a procedural head with the
52 ARKit morph targets (keyed by the Live Link names) and, when the animation has a body, a
mannequin on its skeleton; a curve plot, play/pause and a scrub slider drive it, with the audio as
the clock. ``window.umoPreview`` (``seek(t)``, ``play()``, ``pause()``, ``state()``) lets tests and
tools check what the page shows. ``character=FILE`` (a .glb / .vrm) puts the user's own character in
the page (the file as base64, shown by ``assets/avatar.js`` instead of the page's character, as
``umo.avatar`` describes).

Data encoding (base64 in a JSON block):
    face  (T, 52) uint8, weight * 255 (error <= 1/510)
    head  (T, 3), eyes (T, 6) float32 radians
    body  quaternions (x, y, z, w) int16 * 32767 for the joints that move, (T, A, 4); the still
          joints send one float quaternion each; root (T, 3) float32 cm, or one position if still
    audio OGG Vorbis (WAV 16-bit if the Vorbis encoder is unavailable)
A 60 s clip at 30 fps with every upper-body joint moving and 16 kHz audio gives a page of about 2.7 MB.

Head rotation: umo's animator writes the head yaw/pitch/roll into the neck chain of the body
(``umo.skeleton.add_head_to_body``), so the page turns the head by ``anim.head`` only when
there is no body or the body's neck chain (Neck, Neck1, Head) never moves; otherwise it would turn
twice.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import secrets
from importlib import resources
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_NAMES
from umo.errors import UmoError

# The curves drawn under the character, in the page's legend order.
PLOT_CURVES: tuple[str, ...] = (
    "JawOpen", "MouthClose", "MouthPucker", "MouthSmileLeft", "EyeBlinkLeft", "BrowInnerUp",
)
NECK_CHAIN: tuple[str, ...] = ("Neck", "Neck1", "Head")
AUDIO_FORMATS = ("ogg", "wav")
_STILL_EPS = 1e-6  # radians / cm: a track that varies less than this is sent once


def write_preview(
    anim: Animation, path: str | Path, title: str | None = None, *, audio_format: str = "ogg",
    character: str | Path | None = None,
) -> Path:
    """Write the preview page of ``anim`` to ``path`` (parent folders are created); returns the path.

    audio_format: "ogg" (Vorbis, small; plays in Chromium and Firefox) or "wav" (16-bit PCM, about
    8x larger, plays everywhere). The audio, if any, is ``anim.audio`` at ``anim.sample_rate``.
    character: a .glb / .vrm / .gltf (embedded buffers) the page shows instead of its own character,
    driven as ``umo.avatar`` describes (the file goes into the page as it is).
    The page is written piece by piece (the large base64 blocks in slices), so an hour-long take
    never exists as one string in memory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        _write_page(anim, f, title, audio_format, character)
    return path


def preview_html(anim: Animation, title: str | None = None, *, audio_format: str = "ogg",
                 character: str | Path | None = None) -> str:
    """The preview page of ``anim`` as a string (see :func:`write_preview`)."""
    buf = io.StringIO()
    _write_page(anim, buf, title, audio_format, character)
    return buf.getvalue()


_B64_SLICE = 3 << 20  # bytes base64-encoded at a time (a multiple of 3: the slices' texts concatenate)


def _write_page(anim: Animation, f, title: str | None, audio_format: str, character: str | Path | None = None) -> None:
    if anim.num_frames == 0:
        raise UmoError("the animation has no frames: there is nothing to preview")
    if audio_format not in AUDIO_FORMATS:
        raise UmoError(f"audio_format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}")
    title = title or "umo preview"
    meta, blobs = _page_data(anim, title, audio_format, character)
    # The JSON with a placeholder string where each blob's base64 goes (base64 needs no escaping).
    data = json.dumps(meta, separators=(",", ":")).replace("<", "\\u003c")  # nothing may close the <script>
    parts = {
        "TITLE": html.escape(title),
        "CSS": _asset("preview.css"),
        "THREE": _script_safe(_asset("three.min.js")),
        # scene.js and avatar.js (the characters, shared with umo serve's live page), the page's own script
        "JS": _script_safe(_asset("scene.js") + "\n" + _asset("avatar.js") + "\n" + _asset("preview.js")),
    }
    # One pass over the template, so that text inserted for one placeholder is never searched for another.
    for piece in re.split(r"(\{\{(?:TITLE|CSS|THREE|DATA|JS)\}\})", _asset("preview.html")):
        name = piece[2:-2] if piece.startswith("{{") and piece.endswith("}}") else None
        if name is None:
            f.write(piece)
        elif name != "DATA":
            f.write(parts[name])
        else:
            for chunk in re.split(r'("@blob:\w+@")', data):
                blob = blobs.get(chunk[7:-2]) if chunk.startswith('"@blob:') else None
                if blob is None:
                    f.write(chunk)
                    continue
                f.write('"')
                for i in range(0, len(blob), _B64_SLICE):
                    f.write(base64.b64encode(blob[i:i + _B64_SLICE]).decode("ascii"))
                f.write('"')


def _asset(name: str) -> str:
    return resources.files("umo.preview").joinpath("assets", name).read_text(encoding="utf-8")


def _script_safe(js: str) -> str:
    """Inline script text cannot contain '</script'; '<\\/' means the same inside JS strings."""
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)


def rotvec_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) radians -> unit quaternions (..., 4) as x, y, z, w (three.js order)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # (..., 1)
    # sin(theta/2)/theta -> 1/2 as theta -> 0
    k = np.where(theta > 1e-8, np.sin(theta / 2) / np.where(theta > 1e-8, theta, 1.0), 0.5)
    return np.concatenate([rotvec * k, np.cos(theta / 2)], axis=-1)


_QUAT_BLOCK = 4096  # frames converted to quaternions at a time


def _signed_quat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> quaternions (..., 4) with w >= 0: q and -q are the same rotation, and
    one sign keeps the int16 tracks from flipping needlessly."""
    quat = rotvec_to_quat(rotvec)
    return quat * np.where(quat[..., 3:] < 0, -1.0, 1.0)


def _head_in_body(anim: Animation) -> bool:
    """True when the body's neck chain moves, i.e. it already carries the head rotation."""
    if anim.body is None:
        return False
    idx = [anim.skeleton.names.index(n) for n in NECK_CHAIN if n in anim.skeleton.names]
    return bool(idx) and float(np.abs(anim.body[:, idx]).max()) > _STILL_EPS


def _page_data(anim: Animation, title: str, audio_format: str,
               character: str | Path | None = None) -> tuple[dict, dict[str, bytes]]:
    """The page's data block: the JSON fields, and the binary arrays that go into it as base64
    (each field holds a placeholder until the page is written)."""
    blobs: dict[str, bytes] = {}
    nonce = secrets.token_hex(8)  # so that no text of the user's (the title) can look like a placeholder

    def blob(name: str, a: np.ndarray | bytes) -> str:
        key = f"{nonce}{name}"
        blobs[key] = a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes()
        return f"@blob:{key}@"

    face = np.rint(np.clip(np.nan_to_num(anim.face), 0.0, 1.0) * 255).astype(np.uint8)  # (T, 52)
    data = {
        "version": 1,
        "title": title,
        "fps": float(anim.fps),
        "numFrames": int(anim.num_frames),
        "blendshapes": list(ARKIT_NAMES),
        "plotCurves": list(PLOT_CURVES),
        "face": blob("face", face),
        "head": blob("head", np.nan_to_num(anim.head).astype("<f4")),
        "eyes": blob("eyes", np.nan_to_num(anim.eyes).astype("<f4")),
        "applyHead": not _head_in_body(anim),
        "skeleton": None,
        "body": None,
        "audio": None,
        "character": None,
    }
    if character is not None:
        from umo.avatar import page_data, read_avatar

        read_avatar(character)  # refuses what the page could not drive
        data["character"] = {"name": Path(character).name, "data": blob("character", Path(character).read_bytes())}
        data["avatar"] = page_data()
    if anim.body is not None:
        sk = anim.skeleton
        data["skeleton"] = {
            "names": list(sk.names),
            "parents": list(sk.parents),
            "offsets": [round(float(v), 4) for v in sk.offsets.reshape(-1)],
        }
        moving = (anim.body.max(axis=0) - anim.body.min(axis=0)).max(axis=-1) > _STILL_EPS  # (J,)
        animated = np.flatnonzero(moving)
        track = np.empty((anim.num_frames, len(animated), 4), "<i2")  # (T, A, 4)
        for a in range(0, anim.num_frames, _QUAT_BLOCK):  # in blocks: an hour's (T, J, 4) is GBs of temporaries
            quat = _signed_quat(anim.body[a:a + _QUAT_BLOCK, animated])
            track[a:a + len(quat)] = np.rint(quat * 32767)
        root = anim.root_pos
        root_moves = float(np.ptp(root, axis=0).max()) > _STILL_EPS
        data["body"] = {
            "animated": [int(j) for j in animated],
            "quat": blob("quat", track),
            "still": [[round(float(v), 7) for v in q] for q in _signed_quat(anim.body[0])],
            "root": blob("root", root.astype("<f4")) if root_moves else None,
            "rootStill": [round(float(v), 4) for v in root[0]],
        }
    if anim.audio is not None and len(anim.audio) > 0:
        mime, payload = _encode_audio(np.asarray(anim.audio, dtype=np.float32), int(anim.sample_rate), audio_format)
        data["audio"] = {"mime": mime, "data": blob("audio", payload)}
    return data, blobs


AUDIO_BLOCK = 1 << 16  # samples per encoder call: libsndfile 1.2.2's Vorbis encoder crashes (SIGSEGV)
# when one write holds more than about 2.2 minutes of audio, so the clip goes in in blocks


def _encode_audio(audio: np.ndarray, sample_rate: int, audio_format: str) -> tuple[str, bytes]:
    """(S,) float32 mono -> (mime type, file bytes): OGG Vorbis, or 16-bit WAV as the fallback."""
    import soundfile as sf

    def encode(fmt: str, subtype: str) -> bytes:
        buf = io.BytesIO()
        with sf.SoundFile(buf, "w", sample_rate, 1, format=fmt, subtype=subtype) as f:
            for i in range(0, audio.shape[0], AUDIO_BLOCK):  # (and no whole-clip copies of the samples)
                f.write(np.clip(np.nan_to_num(audio[i:i + AUDIO_BLOCK]), -1.0, 1.0))
        return buf.getvalue()

    if audio_format == "ogg":
        try:
            return "audio/ogg", encode("OGG", "VORBIS")
        except (RuntimeError, TypeError, ValueError):  # libsndfile built without Vorbis
            pass
    return "audio/wav", encode("WAV", "PCM_16")
