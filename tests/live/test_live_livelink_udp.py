"""Live Link Face packets: the layout byte by byte, the decoder's round trip and its refusals, the
qualified frame time."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from umo.constants import LIVELINK_CURVES
from umo.errors import UmoError
from umo.live import livelink_udp as LL

# Unreal's EARFaceBlendShape indices of the four curves whose order differs from the CSV's
ENUM_INDEX = {"JawLeft": 15, "JawRight": 16, "MouthLeft": 21, "MouthRight": 22, "TongueOut": 51, "HeadYaw": 52,
              "RightEyeRoll": 60}


def curves(**values: float) -> np.ndarray:
    out = np.zeros(len(LIVELINK_CURVES))
    for name, v in values.items():
        out[LIVELINK_CURVES.index(name)] = v
    return out


def test_layout_byte_by_byte():
    ft = LL.FrameTime(123456, 0.25, 60, 1)
    data = LL.encode_packet("DEV-1", "umo", ft, curves(JawLeft=0.7, MouthRight=0.3, TongueOut=0.1, HeadYaw=-0.2,
                                                      RightEyeRoll=0.05))
    assert data[0] == 6
    assert struct.unpack(">i", data[1:5])[0] == 5 and data[5:10] == b"DEV-1"
    assert struct.unpack(">i", data[10:14])[0] == 3 and data[14:17] == b"umo"
    assert struct.unpack(">ifii", data[17:33]) == (123456, 0.25, 60, 1)
    assert data[33] == 61 and len(data) == 34 + 61 * 4
    wire = np.frombuffer(data[34:], dtype=">f4")
    for name, index in ENUM_INDEX.items():
        assert LL.PACKET_CURVES[index] == name
    np.testing.assert_allclose(wire[[15, 16, 21, 22, 51, 52, 60]], [0.7, 0, 0, 0.3, 0.1, -0.2, 0.05], rtol=1e-6)
    assert np.count_nonzero(wire) == 5


def test_round_trip_of_random_frames():
    rng = np.random.default_rng(1)
    for k in range(20):
        values = np.concatenate([rng.uniform(0, 1, 52), rng.normal(0, 0.3, 9)])
        ft = LL.FrameTime.from_seconds(rng.uniform(0, 86400), 30)
        p = LL.decode_packet(LL.encode_packet(f"device-{k}", "subject é", ft, values))
        assert (p.device_id, p.subject, p.version) == (f"device-{k}", "subject é", 6)
        assert p.frame_time.frame == ft.frame and p.frame_time.numerator == 30
        assert abs(p.frame_time.subframe - ft.subframe) < 1e-6
        np.testing.assert_array_equal(p.values, values.astype(np.float32))
        np.testing.assert_array_equal(np.concatenate([p.face, p.head, p.eyes]), p.values)


def test_frame_time_from_seconds():
    ft = LL.FrameTime.from_seconds(3661.5, 30)
    assert (ft.frame, ft.subframe, ft.numerator, ft.denominator) == (109845, 0.0, 30, 1)
    ntsc = LL.FrameTime.from_seconds(10.0, 30000 / 1001)
    assert (ntsc.numerator, ntsc.denominator) == (30000, 1001) and abs(ntsc.seconds - 10.0) < 1e-9


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-1], "ends inside its curves"),
    (lambda d: d + b"\0", "bytes after its curves"),
    (lambda d: b"\x05" + d[1:], "version 5"),
    (lambda d: d[:33] + b"\x34" + d[34:], "holds 52 curves"),
    (lambda d: d[:1] + struct.pack(">i", 10_000) + d[5:], "ends inside its device id"),
    (lambda d: d[:1] + struct.pack(">i", -1) + d[5:], "ends inside its device id"),
    (lambda d: d[:5] + b"\xff\xfe\xfd" + d[8:], "device id is not UTF-8"),
    (lambda d: d[:25] + struct.pack(">i", 0) + d[29:], "frame rate 0/1"),
    (lambda d: b"", "ends inside its version"),
])
def test_decoder_refuses_what_is_not_the_layout(damage, message):
    """Byte offsets as in test_layout_byte_by_byte (the same device id and subject lengths)."""
    good = LL.encode_packet("DEV-1", "umo", LL.FrameTime(1, 0.0, 30), curves())
    with pytest.raises(UmoError, match=message):
        LL.decode_packet(damage(good))
