"""Importers: real datasets -> corpus shards, with the held-out clip kept out."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
from umo.constants import ARKIT_INDEX, JAW_MOUTH_INDICES
from umo.data.importers import (
    HELD_OUT,
    facegood_face_mask,
    import_beat,
    import_bvh,
    import_dataset,
    import_facegood,
    import_livelink,
    import_smplx,
)
from umo.data.shards import ShardReader, frames_for_samples
from umo.errors import UmoError
from umo.formats.audio import load_audio


def _check_clip(c):
    assert c.num_frames == frames_for_samples(len(c.audio))
    assert c.face.shape == (c.num_frames, 61) and c.body.shape == (c.num_frames, 36)
    assert not c.face[:, ~c.face_mask].any()


def test_facegood_fixture_is_held_out_by_default(fixtures, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="umo.data.importers"):
        report = import_facegood(fixtures / "facegood", tmp_path / "a")
    assert report.imported == [] and report.held_out == ["facegood/1114_3_16"] and "facegood/1114_3_16" in HELD_OUT
    assert "held out" in caplog.text and "1114_3_16" in caplog.text
    assert len(ShardReader(tmp_path / "a")) == 0


def test_facegood_clip(fixtures, tmp_path):
    report = import_facegood(fixtures / "facegood", tmp_path, exclude=())
    assert report.imported == ["facegood/1114_3_16"] and report.hours > 0
    c = ShardReader(tmp_path).clip(0)
    _check_clip(c)
    mask = facegood_face_mask()
    assert mask.sum() == 27 and set(np.flatnonzero(mask)) <= set(JAW_MOUTH_INDICES)
    assert np.array_equal(c.face_mask, mask) and not c.has_body and not c.has_hands and not c.has_phones
    assert (c.phones == -1).all() and c.language == "cmn"
    assert c.face[:, ARKIT_INDEX["JawOpen"]].std() > 0.01  # the mouth moves
    # re-running skips what is there
    again = import_facegood(fixtures / "facegood", tmp_path, exclude=())
    assert again.imported == [] and len(again.skipped) == 1


def test_facegood_shared(shared_data, tmp_path):
    report = import_dataset("facegood", shared_data / "facegood", tmp_path)
    assert len(report.imported) == 4 and report.held_out == ["facegood/1114_3_16"]
    assert "facegood/1114_3_16" not in ShardReader(tmp_path).ids()


def test_beat_and_smplx_shared(shared_data, tmp_path):
    beat = import_beat(shared_data / "beat", tmp_path / "beat")
    assert beat.imported == ["beat/2_scott_0_1_1"]  # the only take with motion
    c = ShardReader(tmp_path / "beat").clip(0)
    _check_clip(c)
    assert 63 < c.duration < 64.2 and c.speaker == "scott"  # 957 frames at 15 fps, from the audio length
    assert not c.face_mask.any() and c.has_body and c.has_hands and c.has_phones
    assert (c.phones >= 0).all() and (c.phones > 0).mean() > 0.5
    assert c.body.std(axis=0).max() > 0.05 and c.hands.std(axis=0).max() > 0.02
    sm = import_smplx(shared_data / "beat", tmp_path / "smplx")
    c2 = ShardReader(tmp_path / "smplx").clip(0)
    _check_clip(c2)
    assert sm.imported == ["smplx/2_scott_0_1_1"] and c2.face_mask.sum() == 1 and c2.has_body


def test_livelink_take(fixtures, tmp_path):
    audio = load_audio(fixtures / "arctic_a0007.wav")
    anim = RuleAnimator(RuleAnimatorConfig(fps=60, seed=3, body=False)).animate(audio, None)
    src = tmp_path / "takes"
    src.mkdir()
    anim.save_livelink(src / "take1.csv")
    shutil.copy(fixtures / "arctic_a0007.wav", src / "take1.wav")
    report = import_livelink(src, tmp_path / "out")
    assert report.imported == ["livelink/take1"]
    c = ShardReader(tmp_path / "out").clip(0)
    _check_clip(c)
    assert c.face_mask.all() and not c.has_body
    # 60 fps -> 30 fps: frame i is the take's frame 2i
    n = min(c.num_frames, anim.num_frames // 2)
    assert np.abs(c.face[:n, :52] - anim.face[: 2 * n: 2]).max() < 2e-3
    assert np.abs(c.face[:n, 52:55] - anim.head[: 2 * n: 2]).max() < 2e-3


def test_bvh_pair_is_retargeted(fixtures, tmp_path):
    src = tmp_path / "pairs"
    src.mkdir()
    shutil.copy(fixtures / "cmu_01_01.bvh", src / "walk.bvh")
    shutil.copy(fixtures / "jfk.flac", src / "walk.flac")
    report = import_bvh(src, tmp_path / "out")
    assert report.imported == ["bvh/walk"]
    c = ShardReader(tmp_path / "out").clip(0)
    _check_clip(c)
    assert abs(c.duration - 11.0) < 0.05  # the audio is shorter than the 22.9 s motion: it sets the length
    assert c.has_body and c.body.std(axis=0).max() > 0.05 and not c.face_mask.any()


def test_errors(tmp_path):
    with pytest.raises(UmoError, match="unknown dataset kind"):
        import_dataset("nope", tmp_path, tmp_path / "out")
    with pytest.raises(UmoError, match="does not exist"):
        import_beat(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(UmoError, match="no \\*.bvh files"):
        import_bvh(tmp_path, tmp_path / "out")
    (tmp_path / "lonely.bvh").write_text("x")
    report = import_bvh(tmp_path, tmp_path / "out2")
    assert report.imported == [] and "no audio" in report.skipped[0][1]
