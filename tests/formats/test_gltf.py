"""Animated glTF out (umo.formats.gltf, umo convert ... take.glb): a real take from umo say, read back
by a parser of our own (the GLB's JSON and BIN chunks), and checked by the Khronos glTF-Validator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from umo.constants import ARKIT_NAMES, JOINT_NAMES
from umo.convert import convert
from umo.errors import UmoError
from umo.formats.bvh import read_animation_bvh
from umo.formats.livelink import read_livelink

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = REPO / "scripts" / "validate-gltf.js"
VALIDATOR_PACKAGE = REPO / ".tools" / "node_modules" / "gltf-validator"
_SIZE = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPE = {5126: "<f4", 5125: "<u4", 5123: "<u2", 5121: "u1"}


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """A real take: umo say with the rule animator (face.csv, body.bvh, speech.wav)."""
    from umo.pipeline import say, write_outputs

    out = tmp_path_factory.mktemp("take")
    result = say("Hello there. How are you today?")
    write_outputs(result.animation, out, speech=True, preview=False)
    return out


@pytest.fixture(scope="module")
def glb(take, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("glb") / "take.glb"
    result = convert(take / "face.csv", out, body=take / "body.bvh", audio=take / "speech.wav")
    assert result.path == out and result.audio == out.with_suffix(".wav")
    return out


# --- a reader of our own: the GLB container, accessors (with sparse) ------------------------------------
def read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    n, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A and n % 4 == 0
    gltf = json.loads(data[20:20 + n])
    m, kind = struct.unpack_from("<II", data, 20 + n)
    assert kind == 0x004E4942 and 28 + n + m == len(data)
    return gltf, data[28 + n:]


def read_gltf_embedded(path: Path) -> tuple[dict, bytes]:
    gltf = json.loads(path.read_text(encoding="utf-8"))
    uri = gltf["buffers"][0].pop("uri")
    prefix = "data:application/octet-stream;base64,"
    assert uri.startswith(prefix)
    return gltf, base64.b64decode(uri[len(prefix):])


def accessor(gltf: dict, bin_: bytes, i: int) -> np.ndarray:
    """Accessor i as an (count, components) array (sparse accessors applied)."""
    acc = gltf["accessors"][i]
    k, dtype = _SIZE[acc["type"]], np.dtype(_DTYPE[acc["componentType"]])

    def view_array(view: int, offset: int, count: int, dt, comps: int) -> np.ndarray:
        bv = gltf["bufferViews"][view]
        assert "byteStride" not in bv
        start = bv.get("byteOffset", 0) + offset
        assert start + count * comps * dt.itemsize <= bv.get("byteOffset", 0) + bv["byteLength"]
        return np.frombuffer(bin_, dt, count * comps, start).reshape(count, comps)

    if "bufferView" in acc:
        out = view_array(acc["bufferView"], acc.get("byteOffset", 0), acc["count"], dtype, k).copy()
    else:
        out = np.zeros((acc["count"], k), dtype)
    if "sparse" in acc:
        sp = acc["sparse"]
        idx = view_array(sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0), sp["count"],
                         np.dtype(_DTYPE[sp["indices"]["componentType"]]), 1)[:, 0]
        assert np.all(np.diff(idx.astype(np.int64)) > 0)
        out[idx] = view_array(sp["values"]["bufferView"], sp["values"].get("byteOffset", 0), sp["count"], dtype, k)
    return out


def channels(gltf: dict, bin_: bytes) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(node name, path) -> (times (T,), values) of the file's one animation."""
    (anim,) = gltf["animations"]
    out = {}
    for ch in anim["channels"]:
        s = anim["samplers"][ch["sampler"]]
        assert s["interpolation"] == "LINEAR"
        key = (gltf["nodes"][ch["target"]["node"]]["name"], ch["target"]["path"])
        out[key] = (accessor(gltf, bin_, s["input"])[:, 0], accessor(gltf, bin_, s["output"]))
    return out


def rotvec_to_quat(rotvec: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(rotvec).as_quat()  # x, y, z, w


def assert_same_rotations(q: np.ndarray, expected: np.ndarray) -> None:
    """Quaternions equal up to sign (q and -q are one rotation), within float32."""
    dot = np.abs(np.sum(q.astype(np.float64) * expected, axis=-1))
    np.testing.assert_allclose(dot, 1.0, atol=2e-6)


# --- the round trip ---------------------------------------------------------------------------------------
def test_glb_holds_the_take_face_weights_and_joint_rotations(glb, take):
    gltf, bin_ = read_glb(glb)
    face = read_livelink(take / "face.csv")
    body = read_animation_bvh(take / "body.bvh")
    t = face.num_frames
    assert body.num_frames == t and gltf["asset"]["extras"] == {"fps": 30.0, "frames": t, "audio": "take.wav"}
    assert glb.with_suffix(".wav").is_file()

    names = [n["name"] for n in gltf["nodes"]]
    assert names[:len(JOINT_NAMES)] == list(JOINT_NAMES)
    (skin,) = gltf["skins"]
    assert skin["joints"] == list(range(len(JOINT_NAMES)))
    head = gltf["meshes"][gltf["nodes"][names.index("umoHead")]["mesh"]]
    assert head["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert len(head["primitives"][0]["targets"]) == 52

    tracks = channels(gltf, bin_)
    times, weights = tracks[("umoHead", "weights")]
    np.testing.assert_array_equal(times, (np.arange(t) / 30.0).astype(np.float32))
    weights = weights.reshape(t, 52)
    for f in (0, t // 3, t // 2, t - 1):
        np.testing.assert_array_equal(weights[f], face.face[f].astype(np.float32))
    assert weights[:, ARKIT_NAMES.index("JawOpen")].max() > 0.2  # the mouth really moves

    moving = [j for j in range(len(JOINT_NAMES)) if np.ptp(body.body[:, j], axis=0).max() > 1e-6]
    assert {"RightArm", "LeftForeArm", "Neck", "Head", "Spine1"} <= {JOINT_NAMES[j] for j in moving}
    for j in moving:
        times_j, q = tracks[(JOINT_NAMES[j], "rotation")]
        np.testing.assert_array_equal(times_j, times)
        assert_same_rotations(q, rotvec_to_quat(body.body[:, j]))
        assert np.all(np.sum(q[1:] * q[:-1], axis=1) > 0)  # no sign flips between neighbours
    for j in set(range(len(JOINT_NAMES))) - set(moving):  # still joints: their pose is on the node
        assert (JOINT_NAMES[j], "rotation") not in tracks
        q = gltf["nodes"][j].get("rotation", [0, 0, 0, 1])
        assert_same_rotations(np.array([q]), rotvec_to_quat(body.body[:1, j]))
    np.testing.assert_allclose(gltf["nodes"][0]["translation"], body.root_pos[0] * 0.01, atol=1e-7)

    from scipy.spatial.transform import Rotation

    for e, eye in enumerate(("LeftEye", "RightEye")):
        _, q = tracks[(eye, "rotation")]  # R = Ry(-yaw) Rx(pitch) Rz(roll), as the preview turns the eyes
        expected = Rotation.from_euler("YXZ", face.eyes[:, 3 * e:3 * e + 3] * [-1, 1, 1]).as_quat()
        assert_same_rotations(q, expected)
    # positive LeftEyeYaw is the gaze towards the character's right (-X), with EyeLookInLeft
    f = int(np.argmax(face.eyes[:, 0]))
    gaze = Rotation.from_quat(tracks[("LeftEye", "rotation")][1][f]).apply([0, 0, 1])
    assert face.eyes[f, 0] > 0.05 and gaze[0] < -0.05


def test_glb_accessors_are_well_formed(glb):
    gltf, bin_ = read_glb(glb)
    for i, acc in enumerate(gltf["accessors"]):
        if "min" in acc:  # the bounds are those of the data, exactly
            a = accessor(gltf, bin_, i)
            np.testing.assert_array_equal(acc["min"], a.min(axis=0))
            np.testing.assert_array_equal(acc["max"], a.max(axis=0))
    for mesh in gltf["meshes"]:
        for prim in mesh["primitives"]:
            assert "min" in gltf["accessors"][prim["attributes"]["POSITION"]]
            for target in prim.get("targets", []):
                assert "min" in gltf["accessors"][target["POSITION"]]
    (anim,) = gltf["animations"]
    for s in anim["samplers"]:
        assert "min" in gltf["accessors"][s["input"]] and "max" in gltf["accessors"][s["input"]]
    body = gltf["meshes"][0]["primitives"][0]["attributes"]
    w = accessor(gltf, bin_, body["WEIGHTS_0"])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert accessor(gltf, bin_, body["JOINTS_0"]).max() < len(JOINT_NAMES)


def test_a_face_alone_stands_at_rest_with_the_head_on_the_neck(take, tmp_path):
    from umo.animator.gestures import rest_pose
    from umo.skeleton import HEAD_CHAIN_SHARE, head_to_rotvec

    out = convert(take / "face.csv", tmp_path / "face.glb").path
    gltf, bin_ = read_glb(out)
    face = read_livelink(take / "face.csv")
    tracks = channels(gltf, bin_)
    rotated = {name for name, path in tracks if path == "rotation"}
    assert rotated == {"Neck", "Neck1", "Head", "LeftEye", "RightEye"}
    w = head_to_rotvec(face.head)
    for name, share in HEAD_CHAIN_SHARE:
        assert_same_rotations(tracks[(name, "rotation")][1], rotvec_to_quat(share * w))
    rest = rest_pose()
    for j in (JOINT_NAMES.index("RightArm"), JOINT_NAMES.index("LeftForeArm"), JOINT_NAMES.index("RightHandIndex2")):
        assert_same_rotations(np.array([gltf["nodes"][j]["rotation"]]), rotvec_to_quat(rest[j:j + 1]))


def test_embedded_gltf_holds_the_same_as_the_glb(glb, take, tmp_path):
    out = convert(take / "face.csv", tmp_path / "take.gltf", body=take / "body.bvh").path
    a, a_bin = read_glb(glb)
    b, b_bin = read_gltf_embedded(out)
    a["asset"]["extras"].pop("audio")
    a["scenes"][0].pop("name"), b["scenes"][0].pop("name")
    assert a == b and a_bin == b_bin


def test_writing_in_blocks_changes_no_byte(take, tmp_path, monkeypatch):
    import umo.formats.gltf as gltf_module

    whole = convert(take / "face.csv", tmp_path / "a.glb", body=take / "body.bvh").path.read_bytes()
    monkeypatch.setattr(gltf_module, "FRAME_BLOCK", 7)
    blocks = convert(take / "face.csv", tmp_path / "b.glb", body=take / "body.bvh").path.read_bytes()
    assert blocks == whole


# --- the Khronos validator ---------------------------------------------------------------------------------
def _validator_or_skip() -> str:
    """node's path; skips (or fails under CI=true) when node or the validator package is missing."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not VALIDATOR_PACKAGE.is_dir():
        missing = "the npm package gltf-validator is not in .tools/node_modules"
    if missing:
        message = f"{missing}: run bash scripts/install-gltf-validator.sh (make test does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    return node


def validate(path: Path) -> dict:
    node = _validator_or_skip()
    r = subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("case", ["take.glb", "face.glb", "take.gltf"])
def test_the_khronos_validator_finds_no_errors(case, glb, take, tmp_path):
    if case == "take.glb":
        path = glb
    elif case == "face.glb":
        path = convert(take / "face.csv", tmp_path / case).path
    else:
        path = convert(take / "face.csv", tmp_path / case, body=take / "body.bvh").path
    report = validate(path)
    issues = report["issues"]
    assert issues["numErrors"] == 0, json.dumps(issues["messages"][:20], indent=1)
    assert issues["numWarnings"] == 0, json.dumps(issues["messages"][:20], indent=1)
    info = report["info"]
    assert info["animationCount"] == 1 and info["hasSkins"] and info["hasMorphTargets"]
    assert report["validatorVersion"] == "2.0.0-dev.3.10"  # the version pinned in .tools/package.json


@pytest.mark.parametrize("source", ["umo generate walk", "cmu_01_01.bvh"])
def test_root_motion_is_a_hips_translation_track_that_follows_the_bvh_root(source, tmp_path, fixtures):
    """A body that travels (umo generate's walk and turn; a CMU capture retargeted on reading) gives the
    Hips node a translation track: at every frame's time, the BVH root (after retargeting) in metres;
    the file passes the validator."""
    from umo.convert import read_any
    from umo.formats.bvh import write_animation_bvh
    from umo.motion.actions import synthesize
    from umo.motion.captions import parse_caption

    if source == "cmu_01_01.bvh":
        bvh = fixtures / source
    else:
        walk = synthesize(parse_caption("walks forward 2 meters then turns left then walks forward").specs, 30.0)
        bvh = tmp_path / "walk.bvh"
        write_animation_bvh(walk.animation, bvh)
    body = read_any(bvh)[0]  # on the canonical skeleton, as convert puts it
    assert np.linalg.norm(body.root_pos[-1, [0, 2]] - body.root_pos[0, [0, 2]]) > 100  # it travels a metre or more
    path = convert(bvh, tmp_path / "walk.glb").path
    gltf, bin_ = read_glb(path)
    tracks = channels(gltf, bin_)
    times, trans = tracks[("Hips", "translation")]
    np.testing.assert_allclose(times, np.arange(body.num_frames) / body.fps, atol=1e-6)
    np.testing.assert_allclose(trans, body.root_pos * 0.01, atol=1e-6)  # float32 metres
    assert ("Hips", "rotation") in tracks and ("LeftLeg", "rotation") in tracks  # the heading, the steps
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, json.dumps(report["issues"]["messages"][:20], indent=1)
    assert report["issues"]["numWarnings"] == 0, json.dumps(report["issues"]["messages"][:20], indent=1)


# --- the command line and its errors ------------------------------------------------------------------------
def test_cli_writes_the_glb_and_the_audio_beside_it(take, tmp_path):
    out = tmp_path / "cli" / "take.glb"
    r = subprocess.run([sys.executable, "-m", "umo", "convert", str(take / "face.csv"), str(out),
                        "--body", str(take / "body.bvh"), "--audio", str(take / "speech.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    assert f"umo: audio beside it: {out.with_suffix('.wav')} (glTF holds no sound)" in r.stderr
    assert out.is_file() and out.with_suffix(".wav").is_file()
    assert not list(out.parent.glob(".*partial*"))


def test_the_audio_file_itself_is_never_overwritten(take, tmp_path):
    wav = tmp_path / "speech.wav"
    shutil.copy(take / "speech.wav", wav)
    before = wav.read_bytes()
    result = convert(take / "face.csv", tmp_path / "speech.glb", audio=wav)
    assert result.audio == wav and wav.read_bytes() == before


def test_errors_say_what_is_wrong(take, tmp_path, caplog, fixtures):
    with pytest.raises(UmoError, match="file not found"):
        convert(take / "face.csv", tmp_path / "x.glb", body=take / "missing.bvh")
    with pytest.raises(UmoError, match=r"cannot write \.fbx; use one of .*\.glb, \.gltf"):
        convert(take / "face.csv", tmp_path / "x.fbx")
    with pytest.raises(UmoError, match="holds no body motion"):
        convert(take / "face.csv", tmp_path / "x.glb", body=take / "face.csv")
    with caplog.at_level("WARNING", logger="umo.convert"):  # a body of another length: said, then fitted
        convert(take / "face.csv", tmp_path / "x.glb", body=fixtures / "cmu_01_01.bvh")
    assert "the body is put on the face's frames and it is cut; are they the same take?" in caplog.text


# --- reading back (umo.formats.gltf.read_gltf): umo convert take.glb take.html / .csv / .bvh --------------
def test_read_gltf_gives_the_take_back(glb, take):
    from umo.formats.gltf import read_gltf

    anim = read_gltf(glb)
    face = read_livelink(take / "face.csv")
    body = read_animation_bvh(take / "body.bvh")
    assert anim.fps == 30 and anim.num_frames == face.num_frames
    np.testing.assert_array_equal(anim.face, face.face.astype(np.float32))
    np.testing.assert_allclose(anim.eyes, face.eyes, atol=1e-6)
    np.testing.assert_allclose(anim.body, body.body, atol=1e-6)
    np.testing.assert_allclose(anim.root_pos, body.root_pos, atol=1e-4)
    np.testing.assert_allclose(anim.head, face.head, atol=1e-6)  # umo say's neck chain carries the head alone


def test_read_gltf_resamples_onto_another_rate(glb):
    from umo.formats.gltf import read_gltf

    a, b = read_gltf(glb), read_gltf(glb, fps=60)
    assert b.num_frames == 2 * a.num_frames - 1
    np.testing.assert_allclose(b.face[::2], a.face, atol=1e-6)
    np.testing.assert_allclose(b.face[1::2], 0.5 * (a.face[:-1] + a.face[1:]), atol=1e-6)
    np.testing.assert_allclose(b.body[::2], a.body, atol=1e-5)


def test_a_glb_converts_to_the_preview_and_back_to_csv(glb, tmp_path):
    html = convert(glb, tmp_path / "take.html", audio=glb.with_suffix(".wav")).path
    assert "umoPreview" in html.read_text(encoding="utf-8")
    csv = convert(glb, tmp_path / "take.csv").path
    assert read_livelink(csv).num_frames == read_glb(glb)[0]["asset"]["extras"]["frames"]
    with pytest.raises(UmoError, match="not a readable binary glTF"):
        bad = tmp_path / "bad.glb"
        bad.write_bytes(b"glTF" + b"\0" * 8)
        convert(bad, tmp_path / "x.csv")
