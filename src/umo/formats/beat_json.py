"""BEAT's per-frame ARKit face JSON <-> :class:`~umo.animation.Animation`.

BEAT (Liu et al. 2022) ships its face capture as one JSON file per take::

    {"names": ["browDownLeft", ...], "frames": [{"weights": [...], "time": 0.0, "rotation": [...]}, ...]}

at 60 fps. ``names`` are Apple's camelCase ARKit names; BEAT sorts them alphabetically and drops
``tongueOut`` (51 names). The reader accepts the names in any order and case, 51 or 52 of them;
channels a file lacks are 0, and a name that is not an ARKit blendshape is an error (a silently
dropped channel would give a wrong face). Weights are clipped to [0, 1]. The per-frame ``rotation``
is not read: its convention is undocumented, and umo would rather keep the head still than turn it
the wrong way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_NAMES, NUM_BLENDSHAPES, SUPPORTED_FPS, arkit_camel
from umo.errors import UmoError

BEAT_FPS = 60  # BEAT's face capture rate
# BEAT's channel order: the camelCase names sorted, without tongueOut (51 names).
BEAT_NAMES: tuple[str, ...] = tuple(sorted(arkit_camel(n) for n in ARKIT_NAMES if n != "TongueOut"))
_BY_LOWER: dict[str, int] = {n.lower(): i for i, n in enumerate(ARKIT_NAMES)}
_FPS_SNAP = 0.02  # frame rates within 2 % of a standard one are that one (capture clocks jitter)


def _fps_from_times(path: Path, times: np.ndarray) -> float:
    dt = np.diff(times)
    if np.any(dt <= 0):
        k = int(np.argmax(dt <= 0)) + 1
        raise UmoError(f"{path}: frame {k} has time {times[k]} not after the previous frame's; times must increase")
    fps = 1.0 / float(np.median(dt))
    for std in SUPPORTED_FPS:
        if abs(fps - std) <= _FPS_SNAP * std:
            return float(std)
    return round(fps, 3)


def read_beat_json(path: str | Path, fps: float | None = None) -> Animation:
    """A BEAT face JSON -> Animation (face only; head and eyes still).

    fps: the frame rate; None takes it from the frames' ``time`` stamps, or BEAT's 60 without them.
    """
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"BEAT JSON not found: {path} (check the path)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UmoError(f"{path} is not valid JSON ({e}); expected BEAT's face JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("names"), list) or not isinstance(doc.get("frames"), list):
        raise UmoError(f'{path}: expected a BEAT face JSON object with "names" and "frames" lists')
    names = [str(n) for n in doc["names"]]
    unknown = [n for n in names if n.lower() not in _BY_LOWER]
    if unknown:
        raise UmoError(
            f"{path}: unknown blendshape name(s) {', '.join(map(repr, unknown))}; "
            "expected ARKit names such as 'jawOpen' (see umo.constants.ARKIT_NAMES)"
        )
    columns = [_BY_LOWER[n.lower()] for n in names]
    if len(set(columns)) != len(columns):
        raise UmoError(f"{path}: a blendshape name appears twice in \"names\"")
    frames = doc["frames"]
    if not frames:
        raise UmoError(f"{path} has no frames")

    weights = np.zeros((len(frames), len(names)))
    times: list[float] = []
    for k, fr in enumerate(frames):
        w = fr.get("weights") if isinstance(fr, dict) else None
        if not isinstance(w, list) or len(w) != len(names):
            got = len(w) if isinstance(w, list) else type(w).__name__
            raise UmoError(f"{path}: frame {k} should have {len(names)} weights (one per name), has {got}")
        weights[k] = w
        if isinstance(fr, dict) and "time" in fr:
            times.append(float(fr["time"]))
    if not np.all(np.isfinite(weights)):
        raise UmoError(f"{path}: some weights are NaN or infinite")

    if fps is None:
        if len(times) == len(frames) and len(frames) > 1:
            fps = _fps_from_times(path, np.asarray(times))
        else:
            fps = BEAT_FPS
    if not (fps > 0 and math.isfinite(fps)):
        raise UmoError(f"fps must be a positive number, got {fps}")

    face = np.zeros((len(frames), NUM_BLENDSHAPES))
    face[:, columns] = np.clip(weights, 0.0, 1.0)
    t = len(frames)
    return Animation(fps=float(fps), face=face, head=np.zeros((t, 3)), eyes=np.zeros((t, 6)))


def write_beat_json(anim: Animation, path: str | Path, with_tongue: bool = False) -> None:
    """Write the face as a BEAT JSON: BEAT's 51 alphabetical names, or all 52 with ``with_tongue``."""
    names = BEAT_NAMES + ((arkit_camel("TongueOut"),) if with_tongue else ())
    columns = [_BY_LOWER[n.lower()] for n in names]
    face = np.clip(anim.face[:, columns], 0.0, 1.0)
    doc = {
        "names": list(names),
        "frames": [{"weights": row.tolist(), "time": i / anim.fps} for i, row in enumerate(face)],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
