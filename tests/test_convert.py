"""`umo convert` between the animation formats, on real files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from umo.constants import JOINT_NAMES
from umo.convert import convert
from umo.errors import UmoError
from umo.formats.bvh import read_bvh
from umo.formats.livelink import read_livelink


def test_facegood_to_livelink_to_beat_json_and_back(tmp_path, fixtures):
    csv1 = convert(fixtures / "facegood" / "bs_value_1114_3_16.npy", tmp_path / "fg.csv").path
    js = convert(csv1, tmp_path / "fg.json").path
    csv2 = convert(js, tmp_path / "fg2.csv").path
    a, b = read_livelink(csv1), read_livelink(csv2)
    assert a.num_frames == 1429 and a.fps == 30
    assert a.face[:, :51].std(axis=0).max() > 0.05  # the mouth really moves
    np.testing.assert_allclose(a.face[:, :51], b.face[:, :51], atol=1e-6)  # BEAT JSON has no TongueOut


def test_cmu_bvh_is_retargeted_to_the_canonical_skeleton(tmp_path, fixtures):
    result = convert(fixtures / "cmu_01_01.bvh", tmp_path / "walk.bvh")
    (mapping,) = result.mappings
    assert mapping.naming == "CMU" and mapping.complete
    motion = read_bvh(result.path)
    assert motion.skeleton.names == JOINT_NAMES
    assert motion.num_frames == 2752 and motion.fps == pytest.approx(120)
    assert np.abs(motion.rotations).max() > 0.3  # the arms and legs swing


def test_face_and_body_join_in_a_preview(tmp_path, fixtures):
    face = convert(fixtures / "facegood" / "bs_value_1114_3_16.npy", tmp_path / "fg.csv").path
    html = convert(face, tmp_path / "take.html", body=fixtures / "cmu_01_01.bvh",
                   audio=fixtures / "facegood" / "1114_3_16.wav").path
    assert html.stat().st_size > 500_000 and "umoPreview" in html.read_text(encoding="utf-8")


def test_wrong_inputs_say_what_is_wrong(tmp_path, fixtures):
    with pytest.raises(UmoError, match="no face"):
        convert(fixtures / "cmu_01_01.bvh", tmp_path / "x.csv")
    with pytest.raises(UmoError, match="cannot read .wav"):
        convert(fixtures / "arctic_a0009.wav", tmp_path / "x.csv")
    with pytest.raises(UmoError, match="cannot write .txt"):
        convert(fixtures / "cmu_01_01.bvh", tmp_path / "x.txt")


@pytest.mark.parametrize("kind", ["csv", "bvh"])
def test_cli_reports_a_broken_file_without_a_traceback(tmp_path, fixtures, kind):
    if kind == "csv":
        bad = tmp_path / "bad.csv"
        bad.write_text("Timecode,BlendshapeCount,EyeBlinkLeft\n00:00:00:00.000,61,0.5\n")
    else:
        bad = tmp_path / "bad.bvh"
        lines = (fixtures / "cmu_01_01.bvh").read_text().splitlines()
        lines[-1] = lines[-1] + " 1.0"  # one value too many on the last frame
        bad.write_text("\n".join(lines))
    r = subprocess.run([sys.executable, "-m", "umo", "convert", str(bad), str(tmp_path / "out.html")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and bad.name in r.stderr
    assert not (tmp_path / "out.html").exists()
