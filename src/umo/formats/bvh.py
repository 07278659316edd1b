"""BVH motion files: read any channel layout, write umo's canonical one.

BVH semantics (Biovision): a joint's ``CHANNELS`` line lists its values in file order. Rotation
channels are Euler angles in degrees applied **intrinsically in the listed order**: ``Zrotation
Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry`` (scipy ``Rotation.from_euler("ZXY", ...)``, uppercase
= intrinsic). Position channels give the joint's translation from its parent and **replace** its
``OFFSET`` (the root's position channels are the root position). ``R`` rotates the children's
offsets in the parent's frame: exactly umo's convention (``umo.skeleton``), so a BVH joint's local
rotation is umo's local rotation.

Headers lie: the BEAT take ``2_scott_0_1_1.bvh`` says ``Frames: 7669`` at 120 fps and holds 957 rows
at 15 fps. The reader trusts the rows; the rate comes from ``fps`` if given, else from the audio's
``duration``, else from ``Frame Time``.

Values are checked, as a corrupt file must not become a silent wrong take: NaN, infinities, values
beyond ``MAX_ABS_VALUE`` (a 1e308 overflows forward kinematics) and Frame Times that are no capture
period (0, negative, NaN, 1e-300) are errors; rates outside ``PLAUSIBLE_FPS``, rotations past ten
turns and positions far beyond the skeleton's size are warned about.

Units are the file's own (BEAT: cm; CMU: about 1/0.45 inch): nothing is rescaled here.
Dimension letters: T frames, J joints, C channels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import NUM_BLENDSHAPES
from umo.errors import UmoError
from umo.formats.textio import write_rows
from umo.skeleton import Skeleton, rest_root_position

# Capture rates a BVH is snapped to when its rate is derived from a duration or a rounded Frame Time.
STANDARD_RATES: tuple[int, ...] = (15, 20, 24, 25, 30, 50, 60, 100, 120)
DURATION_SNAP = 0.03  # frames/duration within 3 % of a standard rate is that rate (audio pads the end)
FRAME_TIME_SNAP = 0.0005  # 1/Frame Time within 0.05 % (a printed, rounded period) is that rate
WRITE_ORDER = "ZXY"  # Euler order umo writes: the middle axis X is the arms' twist, rarely near 90 degrees
# Sanity bounds. No capture comes near these; a value past them is a corrupt file, not motion.
MAX_ABS_VALUE = 1e6  # degrees or file units: 1e6 cm is 10 km, 1e6 mm 1 km, 1e6 degrees 2778 turns
ABSURD_FPS = (0.01, 100_000.0)  # a rate outside is not a capture rate: an error
PLAUSIBLE_FPS = (10.0, 1000.0)  # a rate outside is possible but suspicious: a warning
SUSPICIOUS_DEGREES = 3600.0  # unwrapped angles past ten turns: warned about
SUSPICIOUS_REACH = 1000.0  # positions past this many times the skeleton's size: wrong units? warned about

_POSITION = ("Xposition", "Yposition", "Zposition")
_ROTATION = ("Xrotation", "Yrotation", "Zrotation")


@dataclass
class BvhMotion:
    """A BVH file's content: skeleton, channel layout, rate and the raw channel values."""

    skeleton: Skeleton  # names, parents, rest offsets (file units), End Sites
    channels: tuple[tuple[str, ...], ...]  # per joint, e.g. ("Xposition", ..., "Zrotation", "Xrotation", "Yrotation")
    fps: float
    frames: np.ndarray  # (T, C) the MOTION rows: degrees for rotations, file units for positions

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.float64)
        if len(self.channels) != self.skeleton.num_joints:
            raise ValueError("one channel list per joint")
        for name, chans in zip(self.skeleton.names, self.channels):
            unknown = [c for c in chans if c not in _POSITION + _ROTATION]
            if unknown or len(set(chans)) != len(chans):
                raise ValueError(f"joint {name}: bad channels {chans}")
        if self.frames.ndim != 2 or self.frames.shape[1] != self.num_channels:
            raise ValueError(f"frames must be (T, {self.num_channels}), got {self.frames.shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def _columns(self) -> list[int]:
        """First column of each joint's channels in ``frames``."""
        return np.cumsum([0] + [len(c) for c in self.channels])[:-1].tolist()

    @property
    def rotations(self) -> np.ndarray:
        """(T, J, 3) local rotations, axis-angle radians (umo convention); zero for joints without
        rotation channels."""
        t, j = self.num_frames, self.skeleton.num_joints
        out = np.zeros((t, j, 3))
        starts = self._columns()
        by_order: dict[str, list[int]] = {}  # one scipy call per distinct Euler order
        for k, chans in enumerate(self.channels):
            order = "".join(c[0] for c in chans if c in _ROTATION)
            if order:
                by_order.setdefault(order, []).append(k)
        from scipy.spatial.transform import Rotation

        for order, joints in by_order.items():
            cols = [[starts[k] + i for i, c in enumerate(self.channels[k]) if c in _ROTATION] for k in joints]
            angles = self.frames[:, np.array(cols)]  # (T, Jo, len(order)) in the file's order
            rot = Rotation.from_euler(order.upper(), angles.reshape(-1, len(order)), degrees=True)
            out[:, joints] = rot.as_rotvec().reshape(t, len(joints), 3)
        return out

    @property
    def translations(self) -> np.ndarray:
        """(T, J, 3) each joint's translation from its parent: the rest offset, replaced axis by axis
        where the joint has position channels (the root's row is the root position)."""
        out = np.tile(self.skeleton.offsets, (self.num_frames, 1, 1))
        for k, (start, chans) in enumerate(zip(self._columns(), self.channels)):
            for i, c in enumerate(chans):
                if c in _POSITION:
                    out[:, k, _POSITION.index(c)] = self.frames[:, start + i]
        return out

    @property
    def root_pos(self) -> np.ndarray:
        """(T, 3) root position, file units."""
        return self.translations[:, 0]

    def moving_offsets(self) -> list[str]:
        """Non-root joints whose position channels move them away from their rest offset: an
        :class:`Animation` (fixed bone lengths) cannot carry that."""
        trans = self.translations[:, 1:]
        moved = np.abs(trans - self.skeleton.offsets[None, 1:]).max(axis=0, initial=0).max(axis=-1)  # (J-1,)
        return [self.skeleton.names[k + 1] for k in np.flatnonzero(moved > 1e-4)]

    @classmethod
    def from_rotations(
        cls, skeleton: Skeleton, rotations: np.ndarray, root_pos: np.ndarray, fps: float, order: str = WRITE_ORDER
    ) -> "BvhMotion":
        """Frames in umo's layout: root ``X/Y/Zposition`` + 3 rotations, other joints 3 rotations,
        all in Euler ``order`` (intrinsic).

        rotations: (T, J, 3) axis-angle radians; root_pos: (T, 3).
        """
        from scipy.spatial.transform import Rotation

        t, j, _ = rotations.shape
        rot_channels = tuple(f"{a}rotation" for a in order)
        channels = (_POSITION + rot_channels,) + (rot_channels,) * (j - 1)
        frames = np.empty((t, 3 + 3 * j))  # (T, 3 + 3J): root position, then rotations
        frames[:, :3] = root_pos
        # in blocks of frames: scipy's intermediates for an hour at once (8 M rotations) were GBs
        for a in range(0, t, _CONVERT_BLOCK):
            block = rotations[a:a + _CONVERT_BLOCK]
            with warnings.catch_warnings():
                # At gimbal lock scipy warns and picks one of the equivalent angle sets: still exact.
                warnings.simplefilter("ignore", UserWarning)
                euler = Rotation.from_rotvec(block.reshape(-1, 3)).as_euler(order.upper(), degrees=True)
            frames[a:a + len(block), 3:] = euler.reshape(len(block), j * 3)
        return cls(skeleton, channels, fps, frames)


_CONVERT_BLOCK = 4096  # frames converted at a time when writing


# --- reading ------------------------------------------------------------------------------------


def read_bvh(path: str | Path, fps: float | None = None, duration: float | None = None) -> BvhMotion:
    """Read a BVH file.

    fps: the frame rate, if known. duration: the length (s) of the audio that goes with the motion;
    the rate is then frames / duration, snapped to a standard rate within 3 %. Without either, the
    rate is 1 / Frame Time (snapped to a standard rate within 0.05 %, as Frame Time is printed
    rounded). The number of frames is the number of data rows, whatever ``Frames:`` says (a
    warning says when they differ).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except OSError as e:
        raise UmoError(f"cannot read BVH file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UmoError(f"{path} is not a text BVH file: {e}") from e
    lines = text.splitlines()
    motion_line = next((k for k, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.upper() != "HIERARCHY":
        raise UmoError(f"{path}: not a BVH file (it must start with HIERARCHY)")
    if motion_line is None:
        raise UmoError(f"{path}: no MOTION section (a BVH has HIERARCHY, then MOTION with the frames)")
    skeleton, channels = _parse_hierarchy(path, lines[:motion_line])
    num_channels = sum(len(c) for c in channels)

    header_frames, frame_time, first_data = _parse_motion_header(path, lines, motion_line)
    labels = [f"{skeleton.names[j]} {c}" for j, chans in enumerate(channels) for c in chans]
    frames = _parse_frames(path, lines, first_data, labels)
    if frames.shape[0] == 0:
        raise UmoError(f"{path}: the MOTION section has no frames")
    if header_frames != frames.shape[0]:
        warnings.warn(f"{path.name}: header says {header_frames} frames, the file holds {frames.shape[0]}; "
                      "using the rows", stacklevel=2)
    _warn_suspicious_values(path, skeleton, labels, frames)
    rate = _frame_rate(path, frames.shape[0], frame_time, fps, duration)
    return BvhMotion(skeleton, tuple(channels), rate, frames)


def _frame_rate(path: Path, num_frames: int, frame_time: float, fps: float | None, duration: float | None) -> float:
    if fps is not None:
        if not (np.isfinite(fps) and fps > 0):
            raise UmoError(f"fps must be a positive number, got {fps}")
        return float(fps)
    header_rate = None
    if np.isfinite(frame_time) and frame_time > 0:
        raw = 1.0 / frame_time
        if ABSURD_FPS[0] <= raw <= ABSURD_FPS[1]:
            header_rate = _snap(raw, FRAME_TIME_SNAP)
    if duration is not None:
        if not (np.isfinite(duration) and duration > 0):
            raise UmoError(f"duration must be a positive number of seconds, got {duration}")
        rate = _snap(num_frames / duration, DURATION_SNAP)
        if not (ABSURD_FPS[0] <= rate <= ABSURD_FPS[1]):
            raise UmoError(f"{path}: {num_frames} frames over {duration:g} s make {rate:g} frames per second, "
                           "not a capture rate: is this the right audio?")
        if header_rate is None:
            warnings.warn(f"{path.name}: Frame Time {frame_time:g} is no capture period; using {rate:g} fps from "
                          "the audio's length", stacklevel=3)
        elif abs(rate - header_rate) > DURATION_SNAP * rate:
            warnings.warn(f"{path.name}: Frame Time says {header_rate:g} fps, but {num_frames} frames over "
                          f"{duration:g} s make {rate:g} fps; using {rate:g}", stacklevel=3)
    elif header_rate is None:
        raise UmoError(f"{path}: Frame Time is {frame_time:g} s, not a capture period (it must be a positive "
                       f"number of seconds giving {ABSURD_FPS[0]:g} to {ABSURD_FPS[1]:g} frames per second); "
                       "pass fps=, or the take's audio (umo convert --audio) to take the rate from its length")
    else:
        rate = header_rate
    if not (PLAUSIBLE_FPS[0] <= rate <= PLAUSIBLE_FPS[1]):
        warnings.warn(f"{path.name}: {rate:g} frames per second is an unusual capture rate (expected "
                      f"{PLAUSIBLE_FPS[0]:g} to {PLAUSIBLE_FPS[1]:g}); check Frame Time", stacklevel=3)
    return rate


def _warn_suspicious_values(path: Path, skeleton: Skeleton, labels: list[str], frames: np.ndarray) -> None:
    """Warn about rotations past ten turns and positions far beyond the skeleton's size."""
    is_rot = np.array([lab.endswith("rotation") for lab in labels], dtype=bool)
    if is_rot.any():
        rot = np.abs(frames[:, is_rot]).max(axis=0)
        if rot.max() > SUSPICIOUS_DEGREES:
            k = int(np.flatnonzero(is_rot)[np.argmax(rot)])
            warnings.warn(f"{path.name}: {labels[k]} reaches {rot.max():g} degrees, past ten turns: unwrapped "
                          "angles, or a corrupt file?", stacklevel=3)
    if (~is_rot).any():
        size = np.abs(skeleton.offsets).sum()  # the length of all bones: at least the skeleton's reach
        pos = np.abs(frames[:, ~is_rot]).max(axis=0)
        if size > 0 and pos.max() > SUSPICIOUS_REACH * size:
            k = int(np.flatnonzero(~is_rot)[np.argmax(pos)])
            warnings.warn(f"{path.name}: {labels[k]} reaches {pos.max():g}, {pos.max() / size:.0f} times the "
                          "length of all the skeleton's bones: wrong units, or a corrupt file?", stacklevel=3)


def _snap(rate: float, tolerance: float) -> float:
    best = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    return float(best) if abs(best - rate) <= tolerance * best else rate


def _parse_hierarchy(path: Path, lines: list[str]) -> tuple[Skeleton, list[tuple[str, ...]]]:
    """Skeleton and per-joint channels from the HIERARCHY lines (braces may share lines)."""
    tokens: list[tuple[str, int]] = []  # (token, line number); a joint's name is one token
    for k, line in enumerate(lines, start=1):
        parts = line.replace("{", " { ").replace("}", " } ").split()
        if parts and parts[0] in ("ROOT", "JOINT"):
            # The name runs to the "{" or the end of the line (a few exporters put spaces in names).
            end = parts.index("{") if "{" in parts else len(parts)
            tokens += [(parts[0], k), (" ".join(parts[1:end]), k)] + [(p, k) for p in parts[end:]]
        else:
            tokens += [(p, k) for p in parts]

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int | str] = []  # joint index, or "end" inside an End Site block
    pending: int | str | None = None  # the joint (or End Site) whose "{" comes next
    i = 0

    def need(n: int, what: str, line: int) -> list[str]:
        if i + n >= len(tokens):
            raise UmoError(f"{path}, line {line}: {what} is cut short")
        return [t for t, _ in tokens[i + 1:i + 1 + n]]

    def numbers(vals: list[str], line: int, what: str) -> list[float]:
        try:
            out = [float(v) for v in vals]
        except ValueError:
            raise UmoError(f"{path}, line {line}: {what} {' '.join(vals)!r} are not numbers") from None
        if not all(abs(v) <= MAX_ABS_VALUE for v in out):  # also NaN
            raise UmoError(f"{path}, line {line}: {what} {' '.join(vals)!r} are not plausible (NaN, infinite or "
                           f"beyond {MAX_ABS_VALUE:g}): the file is corrupt")
        return out

    while i < len(tokens):
        tok, line = tokens[i]
        if tok == "HIERARCHY":
            i += 1
        elif tok in ("ROOT", "JOINT"):
            if (tok == "ROOT") != (not names):
                raise UmoError(f"{path}, line {line}: {tok} here; a BVH has one ROOT, then JOINTs inside it")
            if tok == "JOINT" and (not stack or not isinstance(stack[-1], int)):
                raise UmoError(f"{path}, line {line}: JOINT outside a joint's braces")
            name = need(1, tok, line)[0]
            if not name or name in names:
                raise UmoError(f"{path}, line {line}: joint name {name!r} is empty or used twice")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending = len(names) - 1
            i += 2
        elif tok == "End":
            if need(1, "End Site", line)[0] != "Site" or not stack or not isinstance(stack[-1], int):
                raise UmoError(f"{path}, line {line}: 'End' must be 'End Site' inside a joint")
            pending = "end"
            end_sites[stack[-1]] = np.zeros(3)
            i += 2
        elif tok == "{":
            if pending is None:
                raise UmoError(f"{path}, line {line}: '{{' without a ROOT, JOINT or End Site before it")
            stack.append(pending)
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                raise UmoError(f"{path}, line {line}: '}}' closes nothing")
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            if not stack:
                raise UmoError(f"{path}, line {line}: OFFSET outside a joint")
            xyz = numbers(need(3, "OFFSET", line), line, "OFFSET values")
            if stack[-1] == "end":
                end_sites[stack[-2]] = np.array(xyz)
            else:
                offsets[stack[-1]] = xyz
            i += 4
        elif tok == "CHANNELS":
            if not stack or not isinstance(stack[-1], int):
                raise UmoError(f"{path}, line {line}: CHANNELS outside a joint")
            count = need(1, "CHANNELS", line)[0]
            if not (count.isascii() and count.isdigit()):
                raise UmoError(f"{path}, line {line}: CHANNELS count {count!r} is not a number")
            chans = tuple(need(1 + int(count), "CHANNELS", line)[1:])
            for c in chans:
                if c not in _POSITION + _ROTATION:
                    raise UmoError(f"{path}, line {line}: unknown channel {c!r} "
                                   "(expected X/Y/Zposition, X/Y/Zrotation)")
            if len(set(chans)) != len(chans):
                raise UmoError(f"{path}, line {line}: a channel is listed twice in {' '.join(chans)}")
            channels[stack[-1]] = chans
            i += 2 + int(count)
        else:
            raise UmoError(f"{path}, line {line}: unexpected {tok!r} in HIERARCHY")
    if not names:
        raise UmoError(f"{path}: HIERARCHY defines no ROOT joint")
    if stack or pending is not None:
        raise UmoError(f"{path}: HIERARCHY ends with unclosed braces (a '}}' is missing before MOTION)")
    skeleton = Skeleton(tuple(names), tuple(parents), np.array(offsets, dtype=np.float64), end_sites)
    return skeleton, channels


def _parse_motion_header(path: Path, lines: list[str], motion_line: int) -> tuple[int, float, int]:
    """(Frames:, Frame Time:, index of the first data line) after the MOTION line."""
    values: dict[str, str] = {}
    k = motion_line + 1
    while k < len(lines) and len(values) < 2:
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        key, sep, value = line.partition(":")
        key = " ".join(key.split()).lower()
        if not sep or key not in ("frames", "frame time"):
            raise UmoError(f"{path}, line {k}: expected 'Frames: N' and 'Frame Time: SECONDS' after MOTION, "
                           f"got {line[:40]!r}")
        values[key] = value.strip()
    if len(values) < 2:
        raise UmoError(f"{path}: the MOTION section lacks 'Frames:' or 'Frame Time:'")
    try:
        # Frames only feeds a warning when it disagrees with the rows: any number will do.
        header_frames = int(min(max(float(values["frames"]), -1e18), 1e18))
        return header_frames, float(values["frame time"]), k
    except ValueError:  # also int(nan)
        raise UmoError(f"{path}: 'Frames: {values['frames']}' / 'Frame Time: {values['frame time']}' "
                       "are not numbers") from None


def _parse_frames(path: Path, lines: list[str], first: int, labels: list[str]) -> np.ndarray:
    """(T, C) values of the data rows; UmoError with the line number of a bad row.

    labels: "joint channel" of each column, for the messages."""
    num_channels = len(labels)
    rows = [(k, line.split()) for k, line in enumerate(lines[first:], start=first + 1) if line.strip()]
    for k, vals in rows:
        if len(vals) != num_channels:
            raise UmoError(f"{path}, line {k}: {len(vals)} values, the HIERARCHY declares {num_channels} channels")
    if not rows:
        return np.zeros((0, num_channels))
    try:
        frames = np.array([vals for _, vals in rows], dtype=np.float64)  # numpy parses the strings in C
    except ValueError:
        for k, vals in rows:
            for v in vals:
                try:
                    float(v)
                except ValueError:
                    raise UmoError(f"{path}, line {k}: {v!r} is not a number") from None
        raise
    bad = ~(np.abs(frames) <= MAX_ABS_VALUE)  # NaN, infinities and absurd magnitudes
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        what = "NaN or inf value" if not np.isfinite(frames[r, c]) else f"{frames[r, c]:g} is not a plausible value"
        raise UmoError(f"{path}, line {rows[r][0]}, {labels[c]}: {what} (values must be finite, within "
                       f"{MAX_ABS_VALUE:g} degrees or file units): the file is corrupt")
    return frames


# --- writing ------------------------------------------------------------------------------------


def write_bvh(motion: BvhMotion, path: str | Path) -> None:
    """Write a BvhMotion with its own channel layout; values with 6 decimals."""
    sk = motion.skeleton
    out = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {sk.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {_fmt(sk.offsets[j])}")
        if motion.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(motion.channels[j])} {' '.join(motion.channels[j])}")
        for c in sk.children(j):
            joint(c, depth + 1)
        if j in sk.end_sites:
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(sk.end_sites[j])}", f"{pad}\t}}"])
        out.append(f"{pad}}}")

    joint(0, 0)
    out += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.10g}"]
    write_rows(path, out, " ".join(["%.6f"] * motion.num_channels), motion.frames, what="BVH file")


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def write_animation_bvh(anim: Animation, path: str | Path) -> None:
    """Write the body of ``anim`` on ``anim.skeleton``: root 6 channels (position, then rotation),
    other joints 3 rotation channels, Euler order ``WRITE_ORDER`` (Z X Y, intrinsic, degrees).
    An animation without body motion is written in its skeleton's rest pose."""
    t, sk = anim.num_frames, anim.skeleton
    body = anim.body if anim.body is not None else np.zeros((t, sk.num_joints, 3))
    if anim.root_pos is not None:
        root = anim.root_pos
    else:
        root = np.tile(rest_root_position() if sk.is_canonical() else sk.offsets[0], (t, 1))
    if not (np.all(np.isfinite(body)) and np.all(np.isfinite(root))):
        raise ValueError("the animation's body or root position holds NaN/inf; they cannot be written")
    write_bvh(BvhMotion.from_rotations(sk, body, root, anim.fps), path)


def read_animation_bvh(path: str | Path, fps: float | None = None, duration: float | None = None) -> Animation:
    """Read a BVH as an Animation: body = the file's rotations on the file's own skeleton, root_pos
    from the root's channels (file units), face, head and eyes zero (rest).

    Translations on non-root joints cannot be carried (bone lengths are fixed): a warning names
    the joints whose offsets move.
    """
    motion = read_bvh(path, fps=fps, duration=duration)
    moving = motion.moving_offsets()
    if moving:
        warnings.warn(f"{Path(path).name}: position channels move {', '.join(moving[:5])}"
                      f"{' ...' if len(moving) > 5 else ''} away from their offsets; the Animation keeps "
                      "the rest offsets", stacklevel=2)
    t = motion.num_frames
    return Animation(
        fps=motion.fps,
        face=np.zeros((t, NUM_BLENDSHAPES)),
        head=np.zeros((t, 3)),
        eyes=np.zeros((t, 6)),
        body=motion.rotations,
        root_pos=motion.root_pos,
        skeleton=motion.skeleton,
    )

