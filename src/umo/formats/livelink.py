"""Live Link Face CSV: the iPhone app's take export, read and written in its exact layout.

Layout (one header line, then one row per frame)::

    Timecode,BlendshapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,...,RightEyeRoll
    18:43:58:59.723,61,0.0000000000,...

- the header is ``umo.constants.LIVELINK_COLUMNS`` (63 columns). Names are matched without regard
  to case: the app writes ``BlendShapeCount`` in some versions, ``BlendshapeCount`` in others, and
  other tools lower-case names. Files without the 9 head/eye columns (54 columns, from other
  tools) are read too, with head and eyes at rest;
- ``BlendshapeCount`` is 61 on every row (52 blendshapes + 9 head/eye curves); 52 or 61 in a file
  without the head/eye columns;
- ``Timecode`` is ``HH:MM:SS:FF.mmm``: ``FF`` is the frame within the second at the timecode rate and
  ``.mmm`` a fraction of a frame. The iPhone's capture clock drifts against the timecode, so the
  fraction creeps up by about 0.002 frame per row (see the takes in ``data/livelink_noaudio``);
- values are written with 10 decimals; face weights in [0, 1], head and eye angles in radians.

umo writes the header exactly as ``LIVELINK_COLUMNS`` spells it, with LF line ends; it reads CRLF.

An :class:`~umo.animation.Animation` read from a file keeps the timecodes verbatim, so writing it back
reproduces the file; frame ``i`` of the Animation is at ``i / fps`` whatever the timecodes say.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import (
    DEFAULT_FPS,
    LIVELINK_BLENDSHAPE_COUNT,
    LIVELINK_COLUMNS,
    NUM_BLENDSHAPES,
)
from umo.errors import UmoError
from umo.formats.textio import write_rows

# Timecode rates a Live Link take can carry; the app records at 60 (or 30) and labels frames 0..rate-1.
TIMECODE_RATES: tuple[int, ...] = (24, 25, 30, 48, 50, 60)
LIVELINK_APP_FPS = 60  # the iPhone app's recording rate
_TIMECODE = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})[:;](\d{2,3})(?:\.(\d+))?$")
_DECIMALS = 10  # what the iPhone writes
_NUM_VALUES = len(LIVELINK_COLUMNS) - 2  # 61 curves after Timecode and BlendshapeCount
_FACE_ONLY_COLUMNS = LIVELINK_COLUMNS[:2 + NUM_BLENDSHAPES]  # other tools: no head/eye columns
MIN_FPS, MAX_FPS = 1.0, 1000.0  # rows per second the timecodes may give; beyond, they are no frame clock


def read_livelink(path: str | Path, fps: float | None = None) -> Animation:
    """Read a Live Link Face CSV into an Animation (face, head, eyes; no body).

    fps: the frame rate; inferred from the timecodes when None (largest frame label + 1 gives the
    timecode rate, the median step between rows gives how many timecode frames one row spans).
    Raises UmoError naming the problem (column, line number) when the file is not in this layout.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise UmoError(f"cannot read Live Link CSV {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UmoError(f"{path} is not a text CSV file (Live Link Face CSV expected): {e}") from e
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UmoError(f"{path} is empty: a Live Link Face CSV starts with the header "
                       f"'{','.join(LIVELINK_COLUMNS[:3])},...'")
    columns = _check_header(path, [c.strip() for c in lines[0].split(",")])

    rows = [line.split(",") for line in lines[1:]]
    if not rows:
        raise UmoError(f"{path}: the header is not followed by any frame")
    for k, row in enumerate(rows):
        if len(row) != len(columns):
            raise UmoError(f"{path}, line {k + 2}: {len(row)} values, expected {len(columns)} "
                           "(one per header column)")
    timecodes = tuple(row[0].strip() for row in rows)
    for k, tc in enumerate(timecodes):
        if not _TIMECODE.match(tc):
            raise UmoError(f"{path}, line {k + 2}: timecode {tc!r} is not HH:MM:SS:FF.mmm")
    values = _parse_numbers(path, [row[1:] for row in rows], columns)  # (T, 62) or (T, 53)
    allowed = (LIVELINK_BLENDSHAPE_COUNT,) if len(columns) == len(LIVELINK_COLUMNS) else (
        NUM_BLENDSHAPES, LIVELINK_BLENDSHAPE_COUNT)
    bad = np.flatnonzero(~np.isin(values[:, 0], allowed))
    if bad.size:
        raise UmoError(f"{path}, line {bad[0] + 2}: BlendshapeCount is {rows[bad[0]][1].strip()}, "
                       f"expected {' or '.join(map(str, allowed))}")
    curves = np.zeros((len(rows), _NUM_VALUES))  # (T, 61): head and eyes at rest when the file has none
    curves[:, :values.shape[1] - 1] = values[:, 1:]
    if fps is None:
        fps = infer_fps(timecodes) if len(timecodes) >= 2 else float(DEFAULT_FPS)
    elif not (np.isfinite(fps) and fps > 0):
        raise UmoError(f"fps must be a positive number, got {fps}")
    return Animation(
        fps=fps,
        face=curves[:, :NUM_BLENDSHAPES],
        head=curves[:, NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3],
        eyes=curves[:, NUM_BLENDSHAPES + 3:],
        timecodes=timecodes,
    )


def write_livelink(anim: Animation, path: str | Path) -> None:
    """Write the face, head and eyes of ``anim`` as a Live Link Face CSV, one row per frame.

    Face weights are clipped to [0, 1] (the iPhone never writes other values and engines expect
    none); head and eye angles are written as they are (radians). NaN or infinite values raise
    ValueError: they are a bug upstream, not something to hide in a file. The Animation's timecodes
    are written verbatim when it has them, else frame i gets the timecode of time i/fps from
    00:00:00:00.000.
    """
    curves = np.concatenate([np.clip(anim.face, 0.0, 1.0), anim.head, anim.eyes], axis=1)  # (T, 61)
    if not np.all(np.isfinite(curves)):
        t, c = np.argwhere(~np.isfinite(curves))[0]
        name = LIVELINK_COLUMNS[2 + c]
        raise ValueError(f"frame {t}, {name}: value is {curves[t, c]}; NaN/inf cannot be written")
    # Rounding first then adding 0.0 turns -1e-12 into 0.0, so no '-0.0000000000' appears.
    curves = np.round(curves, _DECIMALS) + 0.0
    timecodes = anim.timecodes if anim.timecodes is not None else timecodes_for(anim.num_frames, anim.fps)
    for k, tc in enumerate(timecodes):
        if not _TIMECODE.match(tc):
            raise ValueError(f"frame {k}: timecode {tc!r} is not HH:MM:SS:FF.mmm")
    row_format = ",".join([f"%.{_DECIMALS}f"] * _NUM_VALUES)
    write_rows(path, [",".join(LIVELINK_COLUMNS)], row_format, curves,
               prefixes=(f"{tc},{LIVELINK_BLENDSHAPE_COUNT}," for tc in timecodes), what="Live Link CSV")


def timecodes_for(num_frames: int, fps: float, start_s: float = 0.0) -> tuple[str, ...]:
    """Timecodes ``HH:MM:SS:FF.mmm`` of frames at ``start_s + i / fps``.

    The timecode rate is ``round(fps)``; at an integer fps every fraction is ``.000``.
    """
    rate = max(1, round(fps))
    out = []
    for i in range(num_frames):
        # Thousandths of a timecode frame, computed once and split with integers: no float carry bugs.
        milli = round((start_s + i / fps) * rate * 1000)
        frames, frac = divmod(milli, 1000)
        secs, ff = divmod(frames, rate)
        mins, ss = divmod(secs, 60)
        hh, mm = divmod(mins, 60)
        out.append(f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}.{frac:03d}")
    return tuple(out)


def timecode_seconds(timecodes: tuple[str, ...] | list[str], rate: int) -> np.ndarray:
    """(T,) seconds of each timecode at a timecode rate of ``rate`` frames per second."""
    parts = [_TIMECODE.match(tc) for tc in timecodes]
    if any(p is None for p in parts):
        bad = next(tc for tc, p in zip(timecodes, parts) if p is None)
        raise UmoError(f"timecode {bad!r} is not HH:MM:SS:FF.mmm")
    out = np.empty(len(parts))
    for k, p in enumerate(parts):
        hh, mm, ss, ff, frac = p.groups()
        frame = int(ff) + (float("0." + frac) if frac else 0.0)
        out[k] = int(hh) * 3600 + int(mm) * 60 + int(ss) + frame / rate
    return out


def infer_fps(timecodes: tuple[str, ...] | list[str]) -> float:
    """The frame rate of rows with these timecodes.

    The timecode rate is the smallest standard rate above the largest frame label (59 -> 60). When
    the take is shorter than a second the labels never wrap and the rate is a guess (umo's default
    30 when the labels allow it, else the app's 60): a warning says so. One row may span several
    timecode frames (a 30 fps take on a 60 fps clock): the median step between rows says how many.
    """
    labels = [int(_TIMECODE.match(tc).group(4)) for tc in timecodes]
    max_label = max(labels)
    wrapped = any(b < a for a, b in zip(labels, labels[1:]))
    if wrapped:
        rate = next((r for r in TIMECODE_RATES if r > max_label), max_label + 1)
    else:
        # Labels that never wrap only bound the rate from below: guess umo's rate, then Live Link's.
        rate = next((r for r in (DEFAULT_FPS, LIVELINK_APP_FPS) if r > max_label), max_label + 1)
        warnings.warn(f"the timecodes cover less than a second, so their rate is a guess ({rate} fps); "
                      "pass fps= to read_livelink to be sure", stacklevel=3)
    steps = np.diff(timecode_seconds(timecodes, rate)) * rate  # timecode frames per row
    steps = steps[steps > 0]
    if steps.size == 0:
        return float(rate)
    step = float(np.median(steps))
    n = max(1, round(step))
    # The capture clock drifts ~0.2 % against the timecode: snap to rate / n when that close.
    fps = float(rate) / n if abs(step - n) < 0.02 * n else float(rate) / step
    if not MIN_FPS <= fps <= MAX_FPS:
        raise UmoError(f"the timecodes advance by {step:g} frame(s) of a {rate} fps clock per row, which makes "
                       f"{fps:g} rows per second: not a capture rate; pass fps= to read_livelink")
    return fps


def _check_header(path: Path, header: list[str]) -> tuple[str, ...]:
    """The columns the header names (LIVELINK_COLUMNS, or its first 54 without head and eyes), matched
    without regard to case; UmoError naming the first wrong column."""
    got = [h.lower() for h in header]
    for columns in (LIVELINK_COLUMNS, _FACE_ONLY_COLUMNS):
        if got == [c.lower() for c in columns]:
            return columns
    expected = list(LIVELINK_COLUMNS)
    lower = [c.lower() for c in expected]
    for k, (name, want) in enumerate(zip(header, expected)):
        if name.lower() != want.lower():
            hint = ""
            if want.lower() in got:
                hint = f" ({want!r} is at column {got.index(want.lower()) + 1}: wrong column order)"
            elif name.lower() not in lower:
                hint = f" ({name!r} is not a Live Link column)"
            raise UmoError(f"{path}: header column {k + 1} is {name!r}, expected {want!r}{hint}; "
                           "a Live Link Face CSV has the 63 columns Timecode, BlendshapeCount, "
                           "52 ARKit names, 9 head/eye angles (or the first 54 of them)")
    if len(header) < len(expected):
        raise UmoError(f"{path}: the header has {len(header)} columns, expected {len(expected)} "
                       f"(or {len(_FACE_ONLY_COLUMNS)} without head and eyes): missing "
                       f"{', '.join(expected[len(header):])}")
    raise UmoError(f"{path}: the header has {len(header)} columns, expected {len(expected)}: "
                   f"extra {', '.join(header[len(expected):])}")


def _parse_numbers(path: Path, fields: list[list[str]], columns: tuple[str, ...]) -> np.ndarray:
    """(T, C) floats from the rows' text fields (all columns after Timecode); UmoError with the line
    and column of the first bad one."""
    try:
        values = np.array(fields, dtype=np.float64)
    except ValueError:
        for k, row in enumerate(fields):
            for c, v in enumerate(row):
                try:
                    float(v)
                except ValueError:
                    raise UmoError(f"{path}, line {k + 2}, column {columns[c + 1]}: "
                                   f"{v.strip()!r} is not a number") from None
        raise
    if not np.all(np.isfinite(values)):
        k, c = np.argwhere(~np.isfinite(values))[0]
        raise UmoError(f"{path}, line {k + 2}, column {columns[c + 1]}: value is {values[k, c]}")
    return values
