"""The corpus shard format: round trips, offsets, validation, append-only resumption."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from umo.constants import FACE_REGION_DIM
from umo.data.shards import (
    INDEX,
    SOURCES,
    ShardReader,
    ShardWriter,
    face_mask_from_channels,
    frames_for_samples,
    read_index,
)
from umo.errors import UmoError


def _clip(rng, seconds):
    s = int(seconds * 16000)
    t = frames_for_samples(s)
    audio = (0.5 * rng.standard_normal(s)).clip(-1, 1).astype(np.float32)
    regions = {"face": rng.random((t, 61)).astype(np.float32),
               "body": rng.normal(0, 0.3, (t, 36)).astype(np.float32),
               "hands": rng.normal(0, 0.3, (t, 138)).astype(np.float32)}
    phones = rng.integers(-1, 40, t)
    return audio, regions, phones


def test_round_trip_and_offsets(tmp_path):
    rng = np.random.default_rng(0)
    clips = [_clip(rng, d) for d in (0.5, 1.3, 0.07, 2.0, 0.9)]
    mask = np.zeros(FACE_REGION_DIM, bool)
    mask[[14, 17, 18]] = True
    with ShardWriter(tmp_path, clips_per_shard=2, attrs={"kind": "test"}) as w:
        for k, (a, r, p) in enumerate(clips):
            w.add(f"custom/{k}", "custom", a, r, p, mask if k == 1 else np.ones(61, bool),
                  has_body=k != 2, has_hands=True, meta={"language": "en", "speaker": "x", "k": k})
    index = read_index(tmp_path)
    assert [s["clips"] for s in index["shards"]] == [2, 2, 1]
    assert index["clips"][1]["face_channels"] == [14, 17, 18]
    assert index["clips"][0]["face_channels"] == "all"
    assert index["attrs"] == {"kind": "test"}
    r = ShardReader(tmp_path)
    assert len(r) == 5 and r.ids() == [f"custom/{k}" for k in range(5)]
    for k, (a, reg, p) in enumerate(clips):
        c = r.clip(k)
        assert c.audio.dtype == np.float32 and c.face.dtype == np.float32 and c.phones.dtype == np.int64
        assert np.abs(c.audio - a).max() < 1.0 / 32767 + 1e-6
        assert np.abs(c.face - reg["face"]).max() < 1e-3  # float16 storage
        assert np.abs(c.hands - reg["hands"]).max() < 2e-3
        assert np.array_equal(c.phones, p)
        assert c.meta["k"] == k and c.language == "en" and c.speaker == "x"
        assert c.num_frames == frames_for_samples(len(a))
    assert r.clip(2).has_body is False and not r.clip(2).body.any()  # absent parts are zeros
    assert np.array_equal(r.clip(1).face_mask, mask)
    # slices read only what is asked and agree with the whole clip
    c3 = r.clip(3)
    assert np.array_equal(r.frames(3, 10, 20)["face"], c3.face[10:20])
    assert np.array_equal(r.audio(3, 100, 900), c3.audio[100:900])
    assert len(r.audio(3, len(c3.audio) - 5, len(c3.audio) + 100)) == 5
    # picklable for DataLoader workers, even with open files
    assert np.array_equal(pickle.loads(pickle.dumps(r)).clip(4).audio, r.clip(4).audio)


def test_validation(tmp_path):
    rng = np.random.default_rng(1)
    a, reg, p = _clip(rng, 1.0)
    w = ShardWriter(tmp_path)
    with pytest.raises(ValueError, match="source"):
        w.add("x/0", "nope", a, reg, p, np.ones(61, bool), True, True)
    with pytest.raises(ValueError, match="frames do not match"):
        w.add("x/0", "synth", a[:8000], reg, p, np.ones(61, bool), True, True)
    with pytest.raises(ValueError, match="phones"):
        w.add("x/0", "synth", a, reg, p[:-3], np.ones(61, bool), True, True)
    with pytest.raises(ValueError, match="has_body"):
        w.add("x/0", "synth", a, {"face": reg["face"]}, p, np.ones(61, bool), True, False)
    w.add("x/0", "synth", a, {"face": reg["face"]}, None, np.ones(61, bool), False, False)
    with pytest.raises(ValueError, match="already"):
        w.add("x/0", "synth", a, reg, p, np.ones(61, bool), True, True)
    w.close()
    c = ShardReader(tmp_path).clip(0)
    assert not c.has_phones and (c.phones == -1).all() and not c.hands.any()
    assert "synth" in SOURCES


def test_resume_keeps_complete_shards_only(tmp_path):
    rng = np.random.default_rng(2)
    clips = [_clip(rng, 0.3) for _ in range(5)]
    w = ShardWriter(tmp_path, clips_per_shard=2, attrs={"seed": 1})
    for k, (a, r, p) in enumerate(clips):
        w.add(f"synth/{k}", "synth", a, r, p, np.ones(61, bool), True, True)
    # "killed" here: clip 4 was pending, never flushed
    w2 = ShardWriter(tmp_path, clips_per_shard=2, attrs={"seed": 1})
    assert w2.num_clips == 4 and "synth/3" in w2 and "synth/4" not in w2
    a, r, p = clips[4]
    w2.add("synth/4", "synth", a, r, p, np.ones(61, bool), True, True)
    w2.close()
    assert ShardReader(tmp_path).ids() == [f"synth/{k}" for k in range(5)]
    with pytest.raises(UmoError, match="other settings"):
        ShardWriter(tmp_path, attrs={"seed": 2})
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_folders(tmp_path):
    with pytest.raises(UmoError, match="no index.json"):
        ShardReader(tmp_path)
    (tmp_path / INDEX).write_text(json.dumps({"format": "other"}))
    with pytest.raises(UmoError, match="umo-shards"):
        ShardReader(tmp_path)


def test_face_channels_round_trip():
    for mask in (np.ones(61, bool), np.zeros(61, bool), np.arange(61) % 7 == 0):
        from umo.data.shards import _face_channels

        assert np.array_equal(face_mask_from_channels(_face_channels(mask)), mask)
