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


def _corpus(tmp_path):
    """The third-party-style files of tests/fixtures/thirdparty/make_corpus.py, in tmp_path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "fixtures" / "thirdparty" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("umo_thirdparty_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build(tmp_path)


def _umo(*args):
    return subprocess.run([sys.executable, "-m", "umo", "convert", *map(str, args)], capture_output=True, text=True)


def test_cli_collar_shoulder_bvh_maps_fully_and_says_so(tmp_path):
    """The outside tester's case: Collar/Shoulder/Elbow/Wrist naming used to map 5 of 19 joints."""
    bvhs, _ = _corpus(tmp_path)
    collar = next(c.path for c in bvhs if c.rig.stem == "collar_shoulder")
    r = _umo(collar, tmp_path / "out.bvh")
    assert r.returncode == 0, r.stderr
    assert ("umo: retarget: Collar/Shoulder/Elbow/Wrist skeleton: 19 of 19 source joints drive 19 of 75 "
            "target joints") in r.stderr
    assert "MISSING" not in r.stderr and "warning" not in r.stderr
    motion = read_bvh(tmp_path / "out.bvh")
    arms = [JOINT_NAMES.index(n) for n in ("LeftArm", "LeftForeArm", "RightArm", "RightForeArm", "Spine")]
    assert np.ptp(motion.rotations[:, arms], axis=0).min() > 0.1  # arms and spine move


def test_cli_shows_reader_warnings(tmp_path):
    bvhs, _ = _corpus(tmp_path)
    biped = next(c.path for c in bvhs if c.rig.stem == "biped")  # its header lies about the frame count
    r = _umo(biped, tmp_path / "out.bvh")
    assert r.returncode == 0, r.stderr
    assert "umo: warning: biped.bvh: header says 120 frames, the file holds 90; using the rows" in r.stderr
    assert "umo: retarget: 3ds Max Biped skeleton" in r.stderr


def test_cli_refuses_a_partial_map_unless_allowed(tmp_path):
    import dataclasses

    _corpus(tmp_path)
    module = sys.modules["umo_thirdparty_corpus"]
    collar = next(r for r in module.rigs() if r.stem == "collar_shoulder")
    cut = dataclasses.replace(collar, stem="no_hands", rows=[r for r in collar.rows if "Wrist" not in r[0]],
                              roles={k: v for k, v in collar.roles.items() if "Wrist" not in v})
    bvh = module.write_bvh_case(cut, tmp_path).path  # arms that end at the elbow
    r = _umo(bvh, tmp_path / "out.bvh")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no source joint for the left arm (LeftHand), right arm (RightHand), which would stay still" in r.stderr
    assert "--allow-partial" in r.stderr
    assert not (tmp_path / "out.bvh").exists()
    r = _umo(bvh, tmp_path / "out.bvh", "--allow-partial")
    assert r.returncode == 0, r.stderr
    assert "umo: warning: no_hands.bvh: partial retarget" in r.stderr and "MISSING left arm (LeftHand)" in r.stderr
    motion = read_bvh(tmp_path / "out.bvh")
    assert not motion.rotations[:, JOINT_NAMES.index("LeftHand")].any()  # left at rest, as said
    assert motion.rotations[:, JOINT_NAMES.index("LeftForeArm")].any()  # the rest of the arm moves
    with pytest.raises(UmoError, match="no source joint for the left arm"):
        convert(bvh, tmp_path / "lib.bvh")
    result = convert(bvh, tmp_path / "lib.bvh", allow_partial=True)
    assert set(result.mappings[0].missing_essential) == {"left arm", "right arm"}


def test_cli_reads_livelink_variants(tmp_path):
    _, csvs = _corpus(tmp_path)
    for case in csvs:
        r = _umo(case.path, tmp_path / f"{case.path.stem}.json")
        assert r.returncode == 0, r.stderr
