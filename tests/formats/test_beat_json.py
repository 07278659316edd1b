"""BEAT face JSON: name order, missing and unknown channels, fps, round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, ARKIT_NAMES, arkit_camel
from umo.errors import UmoError
from umo.formats.beat_json import BEAT_NAMES, read_beat_json, write_beat_json


def _write(path, names, rows, times=None):
    frames = [{"weights": list(map(float, r))} for r in rows]
    if times is not None:
        for f, t in zip(frames, times):
            f["time"] = t
            f["rotation"] = [0.0, 0.0, 0.0]
    path.write_text(json.dumps({"names": list(names), "frames": frames}))
    return path


def test_beat_order_is_alphabetical_without_tongue():
    assert len(BEAT_NAMES) == 51 and "tongueOut" not in BEAT_NAMES
    assert BEAT_NAMES[:3] == ("browDownLeft", "browDownRight", "browInnerUp")
    assert BEAT_NAMES[-1] == "noseSneerRight" and list(BEAT_NAMES) == sorted(BEAT_NAMES)


def test_hand_made_51_name_file_maps_into_live_link_order(tmp_path):
    # Each channel k of the file holds (k + 1) / 100, so every value says which BEAT column it came from.
    rows = np.tile((np.arange(51) + 1) / 100.0, (3, 1))
    path = _write(tmp_path / "take.json", BEAT_NAMES, rows, times=[0.0, 1 / 60, 2 / 60])
    anim = read_beat_json(path)
    assert anim.fps == 60 and anim.num_frames == 3
    f = anim.face[0]
    assert f[ARKIT_INDEX["BrowDownLeft"]] == pytest.approx(0.01)  # BEAT column 0
    assert f[ARKIT_INDEX["JawOpen"]] == pytest.approx((BEAT_NAMES.index("jawOpen") + 1) / 100)
    assert f[ARKIT_INDEX["JawOpen"]] == pytest.approx(0.25)  # jawOpen is BEAT column 24
    assert f[ARKIT_INDEX["EyeBlinkLeft"]] == pytest.approx(0.09)  # column 8
    assert f[ARKIT_INDEX["NoseSneerRight"]] == pytest.approx(0.51)  # last column
    assert f[ARKIT_INDEX["TongueOut"]] == 0.0  # absent from BEAT files
    assert ARKIT_NAMES[0] == "EyeBlinkLeft" and f[0] == pytest.approx(0.09)
    assert np.all(anim.head == 0) and np.all(anim.eyes == 0)


def test_beat_training_statistics_fit_the_order(shared_data):
    """BEAT's mean face (51 values, BEAT order) read by name: left/right pairs agree, the jaw moves."""
    mean = np.load(shared_data / "beat_stats" / "facial52_json_mean.npy").ravel()
    assert mean.shape == (51,)
    face = np.zeros(52)
    for name, v in zip(BEAT_NAMES, mean):
        face[ARKIT_INDEX[name[0].upper() + name[1:]]] = v
    pairs = [n for n in ARKIT_NAMES if n.endswith("Left") and not n.startswith(("EyeLookIn", "EyeLookOut"))]
    diffs = [abs(face[ARKIT_INDEX[n]] - face[ARKIT_INDEX[n[:-4] + "Right"]]) for n in pairs]
    assert len(pairs) == 18 and max(diffs) < 0.05
    assert face[ARKIT_INDEX["JawOpen"]] > 0.1 and face[ARKIT_INDEX["JawLeft"]] < 0.05


def test_any_order_case_and_52_names(tmp_path):
    names = [arkit_camel(n) for n in ARKIT_NAMES][::-1]
    names[0] = "TONGUEOUT"
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, (5, 52))
    anim = read_beat_json(_write(tmp_path / "rev.json", names, rows), fps=30)
    assert anim.fps == 30
    np.testing.assert_allclose(anim.face, rows[:, ::-1])


def test_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    t = 90
    face = rng.uniform(0, 1, (t, 52))
    anim = Animation(fps=60, face=face, head=np.zeros((t, 3)), eyes=np.zeros((t, 6)))
    write_beat_json(anim, tmp_path / "a.json", with_tongue=True)
    back = read_beat_json(tmp_path / "a.json")
    assert back.fps == 60
    np.testing.assert_allclose(back.face, face, atol=1e-12)
    write_beat_json(anim, tmp_path / "b.json")  # BEAT's own 51 names: TongueOut is dropped
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["names"] == list(BEAT_NAMES) and doc["frames"][1]["time"] == pytest.approx(1 / 60)
    back51 = read_beat_json(tmp_path / "b.json")
    keep = [i for i, n in enumerate(ARKIT_NAMES) if n != "TongueOut"]
    np.testing.assert_allclose(back51.face[:, keep], face[:, keep], atol=1e-12)
    assert np.all(back51.face[:, ARKIT_INDEX["TongueOut"]] == 0)


def test_fps_from_jittered_times_and_clipping(tmp_path):
    times = np.arange(20) / 30 + np.random.default_rng(2).uniform(-0.002, 0.002, 20)
    rows = np.full((20, 51), 1.3)
    rows[:, 0] = -0.2
    anim = read_beat_json(_write(tmp_path / "j.json", BEAT_NAMES, rows, times=list(times)))
    assert anim.fps == 30
    assert anim.face.max() == 1.0 and anim.face.min() == 0.0
    no_time = read_beat_json(_write(tmp_path / "n.json", BEAT_NAMES, rows))
    assert no_time.fps == 60  # BEAT's rate when the file says nothing


def test_errors(tmp_path):
    with pytest.raises(UmoError, match="unknown blendshape.*'mouthSmile'"):
        read_beat_json(_write(tmp_path / "u.json", ["jawOpen", "mouthSmile"], [[0.1, 0.2]]))
    with pytest.raises(UmoError, match="frame 1 should have 2 weights"):
        read_beat_json(_write(tmp_path / "w.json", ["jawOpen", "mouthClose"], [[0.1, 0.2], [0.1]]))
    with pytest.raises(UmoError, match="times must increase"):
        read_beat_json(_write(tmp_path / "t.json", ["jawOpen"], [[0.1], [0.2]], times=[0.1, 0.1]))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UmoError, match="not valid JSON"):
        read_beat_json(bad)
    bad.write_text('{"frames": []}')
    with pytest.raises(UmoError, match='"names"'):
        read_beat_json(bad)
    with pytest.raises(UmoError, match="not found"):
        read_beat_json(tmp_path / "none.json")
