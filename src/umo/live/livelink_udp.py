"""Unreal Live Link Face over UDP: the packet the iPhone app sends for each frame, and its decoder.

One datagram per frame, every number big-endian (docs/live.md has the table)::

    uint8    packet version (6)
    int32    device id length n, then n bytes of UTF-8
    int32    subject name length m, then m bytes of UTF-8
    int32    frame number    \
    float32  subframe         | Unreal's FQualifiedFrameTime: frame + subframe at numerator/denominator fps
    int32    rate numerator   |
    int32    rate denominator/
    uint8    curve count (61)
    float32  x 61: the 52 ARKit weights, head yaw/pitch/roll, left eye yaw/pitch/roll, right eye
             yaw/pitch/roll, in Unreal's EARFaceBlendShape order (PACKET_CURVES)

PACKET_CURVES is the Live Link CSV's order (umo.constants.LIVELINK_CURVES) except that the enum has
JawLeft before JawRight and MouthLeft before MouthRight, where the CSV has Right first: values are
placed by name, never by position. The values are the CSV's: weights in [0, 1], angles in radians.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from umo.constants import LIVELINK_BLENDSHAPE_COUNT, LIVELINK_CURVES, NUM_BLENDSHAPES
from umo.errors import UmoError

PACKET_VERSION = 6  # what Live Link Face (and Unreal 4.25 onwards) sends


def _enum_order(curves: tuple[str, ...]) -> tuple[str, ...]:
    """The CSV's order -> Unreal's EARFaceBlendShape order: Left before Right for the jaw and mouth."""
    out = list(curves)
    for right, left in (("JawRight", "JawLeft"), ("MouthRight", "MouthLeft")):
        i, j = out.index(right), out.index(left)
        out[i], out[j] = out[j], out[i]
    return tuple(out)


PACKET_CURVES: tuple[str, ...] = _enum_order(LIVELINK_CURVES)  # 61 names, the order on the wire
_TO_PACKET = np.array([LIVELINK_CURVES.index(n) for n in PACKET_CURVES])  # packet slot -> CSV column
_FROM_PACKET = np.argsort(_TO_PACKET)  # CSV column -> packet slot
_FRAME_TIME = struct.Struct(">ifii")
_INT = struct.Struct(">i")
MAX_RATE_DENOMINATOR = 1001  # NTSC rates (30000/1001) are the largest denominators in use


@dataclass(frozen=True)
class FrameTime:
    """Unreal's FQualifiedFrameTime: frame ``frame + subframe`` at ``numerator / denominator`` fps."""

    frame: int
    subframe: float
    numerator: int
    denominator: int = 1

    @classmethod
    def from_seconds(cls, seconds: float, fps: float) -> FrameTime:
        """The frame time of ``seconds`` on a clock of ``fps`` frames per second."""
        rate = Fraction(fps).limit_denominator(MAX_RATE_DENOMINATOR)
        if rate <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        frames = seconds * rate.numerator / rate.denominator
        whole = math.floor(frames)
        return cls(int(whole), float(frames - whole), rate.numerator, rate.denominator)

    @property
    def fps(self) -> float:
        return self.numerator / self.denominator

    @property
    def seconds(self) -> float:
        return (self.frame + self.subframe) / self.fps


@dataclass(frozen=True)
class LiveLinkPacket:
    """One decoded packet; ``values``: (61,) in the Live Link CSV's order (LIVELINK_CURVES)."""

    device_id: str
    subject: str
    frame_time: FrameTime
    values: np.ndarray
    version: int = PACKET_VERSION

    @property
    def face(self) -> np.ndarray:
        return self.values[:NUM_BLENDSHAPES]

    @property
    def head(self) -> np.ndarray:
        return self.values[NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3]

    @property
    def eyes(self) -> np.ndarray:
        return self.values[NUM_BLENDSHAPES + 3:]


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _INT.pack(len(data)) + data


def packet_header(device_id: str, subject: str) -> bytes:
    """The constant start of every packet of one source: version, device id, subject name."""
    return struct.pack(">B", PACKET_VERSION) + _string(device_id) + _string(subject)


def packet_values(curves: np.ndarray) -> np.ndarray:
    """(T, 61) curves in the CSV's order -> (T, 61) in the packet's order."""
    return np.asarray(curves)[..., _TO_PACKET]


def encode_values(curves_packet_order: np.ndarray) -> bytes:
    """The packet's tail for one frame: the count, then 61 big-endian floats already in PACKET_CURVES order."""
    return struct.pack(">B", LIVELINK_BLENDSHAPE_COUNT) + np.asarray(curves_packet_order, dtype=">f4").tobytes()


def encode_frame_time(ft: FrameTime) -> bytes:
    return _FRAME_TIME.pack(ft.frame, ft.subframe, ft.numerator, ft.denominator)


def encode_packet(device_id: str, subject: str, frame_time: FrameTime, curves: np.ndarray) -> bytes:
    """One frame's packet. curves: (61,) face, head, eyes in the CSV's order (LIVELINK_CURVES)."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.shape != (LIVELINK_BLENDSHAPE_COUNT,):
        raise ValueError(f"curves must be ({LIVELINK_BLENDSHAPE_COUNT},), got {curves.shape}")
    return packet_header(device_id, subject) + encode_frame_time(frame_time) + encode_values(packet_values(curves))


def decode_packet(data: bytes) -> LiveLinkPacket:
    """A datagram -> LiveLinkPacket; UmoError saying what is wrong for anything not in the layout above."""
    view = memoryview(data)
    pos = 0

    def take(n: int, what: str) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > len(view):
            raise UmoError(f"Live Link packet of {len(view)} bytes ends inside its {what} (at byte {pos})")
        out = view[pos:pos + n]
        pos += n
        return out

    def string(what: str) -> str:
        (n,) = _INT.unpack(take(4, f"{what} length"))
        try:
            return bytes(take(n, what)).decode("utf-8")
        except UnicodeDecodeError:
            raise UmoError(f"Live Link packet: the {what} is not UTF-8") from None

    version = take(1, "version")[0]
    if version != PACKET_VERSION:
        raise UmoError(f"Live Link packet version {version}, expected {PACKET_VERSION}")
    device_id = string("device id")
    subject = string("subject name")
    frame, subframe, num, den = _FRAME_TIME.unpack(take(_FRAME_TIME.size, "frame time"))
    if num <= 0 or den <= 0:
        raise UmoError(f"Live Link packet: frame rate {num}/{den} is not positive")
    count = take(1, "curve count")[0]
    if count != LIVELINK_BLENDSHAPE_COUNT:
        raise UmoError(f"Live Link packet holds {count} curves, expected {LIVELINK_BLENDSHAPE_COUNT}")
    values = np.frombuffer(take(4 * count, "curves"), dtype=">f4").astype(np.float64)
    if pos != len(view):
        raise UmoError(f"Live Link packet has {len(view) - pos} bytes after its curves")
    return LiveLinkPacket(device_id, subject, FrameTime(frame, subframe, num, den), values[_FROM_PACKET], version)
