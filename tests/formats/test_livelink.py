"""Live Link Face CSV: the real iPhone takes round-trip, our own files read back, bad files say why."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, LIVELINK_COLUMNS
from umo.errors import UmoError
from umo.formats.livelink import infer_fps, read_livelink, timecodes_for, write_livelink


def _takes(shared_data):
    files = sorted((shared_data / "livelink_noaudio").glob("*.csv"))
    assert len(files) == 10
    return files


def test_real_takes_read_with_inferred_60fps(shared_data):
    for path in _takes(shared_data):
        anim = read_livelink(path)
        rows = path.read_text().splitlines()[1:]
        assert anim.num_frames == len(rows)
        assert anim.fps == 60.0
        assert anim.timecodes[0] == rows[0].split(",")[0]
        # values land in the right columns: spot-check the first row against the raw text
        first = rows[0].split(",")
        assert anim.face[0, ARKIT_INDEX["JawOpen"]] == float(first[LIVELINK_COLUMNS.index("JawOpen")])
        assert anim.head[0, 2] == float(first[LIVELINK_COLUMNS.index("HeadRoll")])
        assert anim.eyes[0, 5] == float(first[LIVELINK_COLUMNS.index("RightEyeRoll")])
        assert 0.0 <= anim.face.min() and anim.face.max() <= 1.0
        assert np.abs(anim.head).max() < np.pi


def test_real_takes_round_trip(shared_data, tmp_path):
    out = tmp_path / "take.csv"
    for path in _takes(shared_data):
        anim = read_livelink(path)
        write_livelink(anim, out)
        again = read_livelink(out)
        assert again.timecodes == anim.timecodes
        assert again.fps == anim.fps
        for a, b in ((anim.face, again.face), (anim.head, again.head), (anim.eyes, again.eyes)):
            np.testing.assert_array_equal(np.round(a, 6), np.round(b, 6))
        # stronger than asked: the writer reproduces the iPhone's bytes
        assert out.read_text() == path.read_text()


def test_generated_animation_layout_and_timecodes(tmp_path):
    rng = np.random.default_rng(0)
    t = 75
    anim = Animation(fps=30, face=rng.uniform(-0.2, 1.2, (t, 52)), head=rng.normal(0, 0.2, (t, 3)),
                     eyes=rng.normal(0, 0.1, (t, 6)))
    path = tmp_path / "face.csv"
    write_livelink(anim, path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(LIVELINK_COLUMNS)
    assert len(lines) == 1 + t
    assert lines[1].startswith("00:00:00:00.000,61,")
    assert lines[31].startswith("00:00:01:00.000,61,")
    assert lines[75].split(",")[0] == "00:00:02:14.000"
    assert all(len(v.split(".")[1]) == 10 for v in lines[5].split(",")[2:])
    back = read_livelink(path)
    assert back.fps == 30 and back.num_frames == t
    np.testing.assert_allclose(back.face, np.clip(anim.face, 0, 1), atol=1e-10)  # face clipped
    np.testing.assert_allclose(back.head, anim.head, atol=1e-10)  # radians untouched
    np.testing.assert_allclose(back.eyes, anim.eyes, atol=1e-10)


def test_timecodes_at_60_and_fractional_rates():
    assert timecodes_for(3, 60, start_s=59 / 60)[:2] == ("00:00:00:59.000", "00:00:01:00.000")
    assert timecodes_for(1, 60, start_s=3723.5)[0] == "01:02:03:30.000"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a take longer than a second gives its rate without a guess
        assert infer_fps(timecodes_for(70, 60)) == 60
        assert infer_fps(timecodes_for(40, 30)) == 30
    # 30 rows per second on a 60 fps clock: one row spans two timecode frames
    assert infer_fps([f"00:00:{s:02d}:{f:02d}.000" for s in range(2) for f in range(0, 60, 2)]) == 30
    with pytest.warns(UserWarning, match="less than a second"):
        assert infer_fps(timecodes_for(10, 30)) == 30


def test_nan_raises_value_error(tmp_path):
    anim = Animation.neutral(4, with_body=False)
    anim.head[2, 1] = np.nan
    with pytest.raises(ValueError, match="HeadPitch"):
        write_livelink(anim, tmp_path / "x.csv")


def _good_csv(tmp_path, frames=3):
    path = tmp_path / "good.csv"
    write_livelink(Animation.neutral(frames, fps=60, with_body=False), path)
    return path.read_text().splitlines()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda L: [], "empty"),
        (lambda L: [L[0].replace("JawOpen", "JawOpn")] + L[1:], "column 20 is 'JawOpn'.*not a Live Link column"),
        (lambda L: [L[0].replace("BlendshapeCount", "BlendShapes")] + L[1:], "column 2 is 'BlendShapes'"),
        (lambda L: L[:1], "not followed by any frame"),
        (lambda L: [L[0]] + ["00:00:00:00.000" + r[r.index(","):] for r in L[1:]], None),
        (lambda L: [L[0].replace(",TongueOut", "")] + [r.rsplit(",", 1)[0] for r in L[1:]], "TongueOut"),
        (lambda L: [L[0] + ",Extra"] + [r + ",0" for r in L[1:]], "extra Extra"),
        (lambda L: [L[0].replace("EyeBlinkLeft,EyeLookDownLeft", "EyeLookDownLeft,EyeBlinkLeft")] + L[1:],
         "wrong column order"),
        (lambda L: L[:2] + [L[2] + ",0.5"] + L[3:], "line 3: 64 values"),
        (lambda L: L[:3] + [L[3].replace(",0.0000000000,", ",abc,", 1)] + L[4:], "line 4, column EyeBlinkLeft"),
        (lambda L: L[:2] + [L[2].replace(",61,", ",52,", 1)] + L[3:], "line 3: BlendshapeCount is 52"),
        (lambda L: L[:2] + ["12:00" + L[2][L[2].index(","):]] + L[3:], "line 3: timecode '12:00'"),
    ],
)
def test_wrong_layout_names_the_problem(tmp_path, mutate, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(mutate(_good_csv(tmp_path))) + "\n")
    if message is None:  # every row on one timecode: a file to read, at a guessed rate
        with pytest.warns(UserWarning, match="rate is a guess"):
            assert read_livelink(bad).num_frames == 3
        return
    with pytest.raises(UmoError, match=message):
        read_livelink(bad)


@pytest.mark.parametrize("count", ["BlendShapeCount", "BlendshapeCount", "blendshapecount", "BLENDSHAPECOUNT"])
def test_header_case_does_not_matter(tmp_path, count):
    """The iPhone app writes BlendShapeCount in some versions; other tools lower-case every name."""
    lines = _good_csv(tmp_path, frames=70)
    header = lines[0].replace("BlendshapeCount", count)
    if count.islower():
        header = header.lower()
    path = tmp_path / "case.csv"
    path.write_bytes(("\r\n".join([header] + lines[1:]) + "\r\n").encode())
    anim = read_livelink(path)
    assert anim.num_frames == 70 and anim.fps == 60


def test_file_without_head_and_eye_columns(tmp_path):
    rng = np.random.default_rng(1)
    anim = Animation(fps=60, face=rng.uniform(0, 1, (70, 52)), head=np.zeros((70, 3)), eyes=np.zeros((70, 6)))
    write_livelink(anim, tmp_path / "full.csv")
    full = (tmp_path / "full.csv").read_text().splitlines()
    for count in ("52", "61"):
        rows = [",".join(r.split(",")[:54]).replace(",61,", f",{count},", 1) for r in full]
        (tmp_path / "face.csv").write_text("\n".join(rows) + "\n")
        back = read_livelink(tmp_path / "face.csv")
        np.testing.assert_allclose(back.face, anim.face, atol=1e-9)
        assert not back.head.any() and not back.eyes.any()
    rows = [",".join(r.split(",")[:54]).replace(",61,", ",53,", 1) for r in full]
    (tmp_path / "face.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(UmoError, match="line 2: BlendshapeCount is 53, expected 52 or 61"):
        read_livelink(tmp_path / "face.csv")


@pytest.mark.filterwarnings("ignore:the timecodes cover less than a second")
def test_timecodes_that_are_no_frame_clock(tmp_path):
    lines = _good_csv(tmp_path, frames=70)
    rows = [f"00:00:{k // 600:02d}:00.{k % 600:03d}" + r[r.index(","):] for k, r in enumerate(lines[1:])]
    (tmp_path / "x.csv").write_text("\n".join([lines[0]] + rows) + "\n")
    with pytest.raises(UmoError, match="not a capture rate; pass fps="):
        read_livelink(tmp_path / "x.csv")
    assert read_livelink(tmp_path / "x.csv", fps=60).fps == 60
    with pytest.raises(UmoError, match="fps must be a positive number"):
        read_livelink(tmp_path / "x.csv", fps=float("inf"))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UmoError, match="cannot read"):
        read_livelink(tmp_path / "nope.csv")
