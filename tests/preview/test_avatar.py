"""Your own character in the preview (umo.avatar, assets/avatar.js): the skinned .glb umo writes, the
same turned into a VRM 1.0 file and a VRM 0.x file (humanoid map, expression presets, no ARKit names,
an A-pose bind; the 0.x one facing -Z as UniVRM 0.x stores models) and a Mixamo-named copy, each shown
with --character in Chromium: the status says what matched, the avatar's bones point where the
canonical skeleton's point, its morphs follow the face."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from umo.avatar import arkit_key, bone_key, read_avatar
from umo.constants import ARKIT_INDEX, JOINT_INDEX, JOINT_NAMES
from umo.errors import UmoError
from umo.formats.gltf import _load

from browser import chromium, chromium_available, open_page

A_POSE = np.deg2rad(40.0)  # the VRM copy's arms hang this much below the T-pose in its bind pose
VRM_EXPRESSIONS = {"aa": "JawOpen", "blink": "EyeBlinkLeft", "happy": "MouthSmileLeft", "ou": "MouthPucker"}
VRM0_PRESET_NAMES = {"aa": "a", "blink": "blink", "happy": "joy", "ou": "u"}  # the same presets as VRM 0.x spells them
VRM0_GROUP_NAMES = {"aa": "A", "blink": "Blink", "happy": "Joy", "ou": "U"}
VRM_THUMB = {"1.0": ("Metacarpal", "Proximal", "Distal"), "0.x": ("Proximal", "Intermediate", "Distal")}
VRM_BONES = 22 + 2 * 6  # the copies' humanoid maps: trunk, eyes, arms, legs; thumb and index
KINDS = ("glb", "vrm", "vrm0", "mixamo", "smpl")
# the SMPL copy: umo's joints renamed as SMPL's FBX rig names them (SMPL-H for the fingers); the joints
# SMPL does not have become anonymous. Its "shoulder" is the upper arm, its "foot" the toes.
SMPL_NAMES = {"Hips": "m_avg_Pelvis", "Spine": "m_avg_Spine1", "Spine1": "m_avg_Spine2", "Spine3": "m_avg_Spine3",
              "Neck": "m_avg_Neck", "Head": "m_avg_Head",
              **{f"{S}{j}": f"m_avg_{S[0]}_{w}" for S in ("Left", "Right") for j, w in (
                  ("Shoulder", "Collar"), ("Arm", "Shoulder"), ("ForeArm", "Elbow"), ("Hand", "Wrist"),
                  ("UpLeg", "Hip"), ("Leg", "Knee"), ("Foot", "Ankle"), ("ToeBase", "Foot"))},
              **{f"{S}Hand{f}{k}": f"m_avg_{S[0]}_{f}{k}" for S in ("Left", "Right")
                 for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3)}}


def _write_glb(path: Path, gltf: dict, blob: bytes) -> Path:
    gltf["buffers"] = [{"byteLength": len(blob)}]
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    blob += b"\0" * (-len(blob) % 4)
    chunks = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(blob), 0x004E4942) + blob
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks)
    return path


def _subtree(root: str) -> list[int]:
    from umo.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    out = [sk.index(root)]
    for j in range(len(sk.names)):
        if sk.parents[j] in out:
            out.append(j)
    return out


def _turn_around(gltf: dict, blob: bytearray) -> None:
    """Turn the model 180 degrees about +Y in place, as VRM 0.x models are stored (facing -Z): every
    node's transform conjugated by the turn, mesh positions and normals (morph targets' too) turned,
    inverse bind matrices conjugated; the animation dropped."""
    turn = np.diag([-1.0, 1.0, -1.0, 1.0])
    for n in gltf["nodes"]:
        if "translation" in n:
            n["translation"] = [-n["translation"][0], n["translation"][1], -n["translation"][2]]
        if "rotation" in n:  # R q R^-1 for a half turn about Y: (x, y, z, w) -> (-x, y, -z, w)
            n["rotation"] = [-n["rotation"][0], n["rotation"][1], -n["rotation"][2], n["rotation"][3]]
        assert "matrix" not in n
    turned = set()
    for mesh in gltf["meshes"]:
        for prim in mesh["primitives"]:
            for attrs in (prim["attributes"], *prim.get("targets", [])):
                turned |= {attrs[k] for k in ("POSITION", "NORMAL") if k in attrs}
    for i in turned:
        acc = gltf["accessors"][i]
        assert acc["type"] == "VEC3" and acc["componentType"] == 5126
        parts = [(acc.get("bufferView"), acc.get("byteOffset", 0), acc["count"])] if "bufferView" in acc else []
        if "sparse" in acc:
            sv = acc["sparse"]["values"]
            parts.append((sv["bufferView"], sv.get("byteOffset", 0), acc["sparse"]["count"]))
        for view, offset, count in parts:
            start = gltf["bufferViews"][view].get("byteOffset", 0) + offset
            v = np.frombuffer(bytes(blob[start:start + 12 * count]), "<f4").reshape(-1, 3) * [-1.0, 1.0, -1.0]
            blob[start:start + 12 * count] = v.astype("<f4").tobytes()
        if "min" in acc:
            lo, hi = acc["min"], acc["max"]
            acc["min"], acc["max"] = [-hi[0], lo[1], -hi[2]], [-lo[0], hi[1], -lo[2]]
    for skin in gltf["skins"]:
        acc = gltf["accessors"][skin["inverseBindMatrices"]]
        off = gltf["bufferViews"][acc["bufferView"]].get("byteOffset", 0) + acc.get("byteOffset", 0)
        ibm = np.frombuffer(bytes(blob[off:off + 64 * acc["count"]]), "<f4").reshape(-1, 4, 4).transpose(0, 2, 1)
        blob[off:off + 64 * acc["count"]] = (turn @ ibm @ turn).transpose(0, 2, 1).astype("<f4").tobytes()
    gltf.pop("animations", None)


def _vrm_copy(glb: Path, dst: Path, version: str = "1.0") -> Path:
    """umo's glb as a VRM avatar: anonymous node names (only the humanoid map says which bone is
    which), morph targets without ARKit names (only the expression presets reach them), and the arms
    bound in an A-pose (their inverse bind matrices turned A_POSE down about the shoulder joints).
    version "1.0": VRMC_vrm (humanBones by name, thumbs Metacarpal/Proximal/Distal, expressions.preset);
    "0.x": the VRM extension as UniVRM 0.x writes it (humanBones a list of {bone, node}, thumbs
    Proximal/Intermediate/Distal, blendShapeMaster groups by presetName with binds of weight 0..100),
    the model turned to face -Z."""
    gltf, buffers = _load(glb)
    blob = bytearray(buffers[0])
    skin = gltf["skins"][0]
    acc = gltf["accessors"][skin["inverseBindMatrices"]]
    view = gltf["bufferViews"][acc["bufferView"]]
    off = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    ibm = np.frombuffer(bytes(blob[off:off + 64 * acc["count"]]), "<f4").reshape(-1, 4, 4).transpose(0, 2, 1).astype(float)
    world = np.linalg.inv(ibm)  # (J, 4, 4) bind pose
    for side, sign in (("Left", -1.0), ("Right", 1.0)):
        arm = skin["joints"].index(JOINT_INDEX[f"{side}Arm"])
        p = world[arm, :3, 3].copy()
        c, s = np.cos(sign * A_POSE), np.sin(sign * A_POSE)
        turn = np.eye(4)
        turn[:2, :2] = [[c, -s], [s, c]]  # about +Z through the shoulder joint
        turn[:3, 3] = p - turn[:3, :3] @ p
        for j in _subtree(f"{side}Arm"):
            k = skin["joints"].index(j)
            world[k] = turn @ world[k]
    blob[off:off + 64 * acc["count"]] = np.linalg.inv(world).transpose(0, 2, 1).astype("<f4").tobytes()
    if version == "0.x":
        _turn_around(gltf, blob)

    nodes = gltf["nodes"]
    index = {n.get("name"): i for i, n in enumerate(nodes)}
    thumb = VRM_THUMB[version]
    human = {"hips": "Hips", "spine": "Spine", "chest": "Spine2", "upperChest": "Spine3", "neck": "Neck",
             "head": "Head", "leftEye": "LeftEye", "rightEye": "RightEye"}
    for side in ("left", "right"):
        S = side.capitalize()
        human.update({f"{side}Shoulder": f"{S}Shoulder", f"{side}UpperArm": f"{S}Arm", f"{side}LowerArm": f"{S}ForeArm",
                      f"{side}Hand": f"{S}Hand", f"{side}UpperLeg": f"{S}UpLeg", f"{side}LowerLeg": f"{S}Leg",
                      f"{side}Foot": f"{S}Foot"})
        human.update({f"{side}Thumb{seg}": f"{S}HandThumb{k}" for k, seg in enumerate(thumb, start=1)})
        human.update({f"{side}Index{seg}": f"{S}HandIndex{k}" for k, seg in enumerate(("Proximal", "Intermediate", "Distal"), 1)})
    head_node = next(i for i, n in enumerate(nodes) if "mesh" in n and "targetNames" in (gltf["meshes"][n["mesh"]].get("extras") or {}))
    head_mesh = nodes[head_node]["mesh"]
    names = gltf["meshes"][head_mesh]["extras"]["targetNames"]
    gltf["meshes"][head_mesh]["extras"]["targetNames"] = [f"shape{k}" for k in range(len(names))]
    if version == "1.0":
        presets = {e: {"morphTargetBinds": [{"node": head_node, "index": names.index(a), "weight": 1.0}]}
                   for e, a in VRM_EXPRESSIONS.items()}
        ext = {"VRMC_vrm": {
            "specVersion": "1.0", "meta": {"name": "umo test", "licenseUrl": "https://vrm.dev/licenses/1.0/"},
            "humanoid": {"humanBones": {b: {"node": index[j]} for b, j in human.items()}},
            "expressions": {"preset": presets},
        }}
    else:
        groups = [{"name": VRM0_GROUP_NAMES[e], "presetName": VRM0_PRESET_NAMES[e], "isBinary": False,
                   "binds": [{"mesh": head_mesh, "index": names.index(a), "weight": 100}], "materialValues": []}
                  for e, a in VRM_EXPRESSIONS.items()]
        groups.append({"name": "Neutral", "presetName": "neutral", "binds": [], "materialValues": []})  # nothing to drive
        ext = {"VRM": {
            "exporterVersion": "UniVRM-0.99.0", "specVersion": "0.0",
            "meta": {"title": "umo test", "version": "1", "author": "umo", "allowedUserName": "Everyone",
                     "licenseName": "CC0"},
            "humanoid": {"humanBones": [{"bone": b, "node": index[j], "useDefaultValues": True} for b, j in human.items()]},
            "blendShapeMaster": {"blendShapeGroups": groups},
        }}
    gltf["extensionsUsed"] = sorted(set(gltf.get("extensionsUsed", [])) | set(ext))
    gltf.setdefault("extensions", {}).update(ext)
    for i, n in enumerate(nodes):
        n["name"] = f"n{i}"
    return _write_glb(dst, gltf, bytes(blob))


def _mixamo_copy(glb: Path, dst: Path) -> Path:
    gltf, buffers = _load(glb)
    for n in gltf["nodes"]:
        if n.get("name") in JOINT_INDEX:
            n["name"] = "mixamorig:" + n["name"]
    return _write_glb(dst, gltf, buffers[0])


def _smpl_copy(glb: Path, dst: Path) -> Path:
    gltf, buffers = _load(glb)
    for i, n in enumerate(gltf["nodes"]):
        if n.get("name") in JOINT_INDEX:
            n["name"] = SMPL_NAMES.get(n["name"], f"x{i}")
    return _write_glb(dst, gltf, buffers[0])


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """A `umo say` take, its skinned glb, the VRM and Mixamo copies, the animation."""
    from umo.convert import convert
    from umo.pipeline import read_take, say, write_outputs

    root = tmp_path_factory.mktemp("avatar")
    result = say("Hello! I wave and point at you.")
    write_outputs(result.animation, root / "take", preview=False)
    glb = convert(root / "take" / "face.csv", root / "umo.glb", body=root / "take" / "body.bvh").path
    return {"dir": root, "glb": glb, "vrm": _vrm_copy(glb, root / "umo.vrm"), "vrm0": _vrm_copy(glb, root / "umo0.vrm", "0.x"),
            "mixamo": _mixamo_copy(glb, root / "mixamo.glb"), "smpl": _smpl_copy(glb, root / "smpl.glb"),
            "anim": read_take(root / "take")}


# --- Python side -----------------------------------------------------------------------------------


def test_read_avatar_reports_the_matches(take):
    assert read_avatar(take["glb"]).summary() == "52 of 52 ARKit morphs, 77 bones of 77"
    assert read_avatar(take["mixamo"]).summary() == "52 of 52 ARKit morphs, 77 bones of 77"
    smpl = read_avatar(take["smpl"])  # SMPL's names: its shoulder is the upper arm, its foot the toes
    eyes = {n: j for n, j in read_avatar(take["glb"]).bones.items() if j in ("LeftEye", "RightEye")}
    assert smpl.summary() == f"52 of 52 ARKit morphs, {len(SMPL_NAMES) + len(eyes)} bones of 77"
    assert smpl.bones == {**{v: k for k, v in SMPL_NAMES.items()}, **eyes}
    for kind, version in (("vrm", "1.0"), ("vrm0", "0.x")):
        vrm = read_avatar(take[kind])
        assert vrm.vrm_version == version and not vrm.arkit and len(vrm.bones) == VRM_BONES
        assert vrm.summary() == f"0 of 52 ARKit morphs, {VRM_BONES} bones of 77, VRM presets used: A U Blink Joy"
        assert vrm.vrm_presets == ("A", "U", "Blink", "Joy")
        # the humanoid map, not the (anonymous) names, says which node is which: the file's own node of
        # each canonical joint, the thumb counted from VRM 1.0's Metacarpal or VRM 0.x's Proximal
        gltf, _ = _load(take[kind])
        for joint in ("Hips", "LeftArm", "RightForeArm", "LeftUpLeg", "LeftHandThumb1", "RightHandThumb3", "LeftHandIndex2"):
            assert vrm.bones[gltf["nodes"][JOINT_INDEX[joint]]["name"]] == joint, (kind, joint)


@pytest.mark.parametrize("name, key", [
    ("mixamorig:LeftForeArm", "leftforearm"), ("lowerarm_l", "leftlowerarm"), ("J_Bip_L_LowerArm", "leftlowerarm"),
    ("Bip01 L Forearm", "leftforearm"), ("forearm.L", "leftforearm"), ("J_Bip_C_Spine", "spine"),
])
def test_bone_keys(name, key):
    assert bone_key(name) == key


def test_arkit_keys():
    assert arkit_key("blendShape1.jawOpen") == arkit_key("JawOpen") == "jawopen"
    assert arkit_key("eyeBlink_L") == arkit_key("EyeBlinkLeft")


def test_bad_character_files_are_refused(take, tmp_path):
    from umo.cli import main

    text = tmp_path / "notes.glb"
    text.write_text("hello")
    with pytest.raises(UmoError, match="not a glTF"):
        read_avatar(text)
    with pytest.raises(UmoError, match=r"\.glb, \.vrm or \.gltf"):
        read_avatar(take["dir"] / "take" / "face.csv")
    with pytest.raises(UmoError, match="not found"):
        read_avatar(tmp_path / "missing.vrm")
    gltf, buffers = _load(take["glb"])  # nothing umo knows: no ARKit names, no VRM, unknown bone names
    for n in gltf["nodes"]:
        n["name"] = "thing"
    for m in gltf["meshes"]:
        m.pop("extras", None)
    blank = _write_glb(tmp_path / "blank.glb", gltf, buffers[0])
    with pytest.raises(UmoError, match="nothing umo can drive"):
        read_avatar(blank)
    out = tmp_path / "x.html"
    assert main(["convert", str(take["dir"] / "take" / "face.csv"), str(out), "--character", str(blank)]) == 2
    assert not out.exists()
    assert main(["convert", str(take["dir"] / "take" / "face.csv"), str(tmp_path / "x.bvh"),
                 "--character", str(take["glb"])]) == 2


# --- in Chromium ------------------------------------------------------------------------------------


def _direction(pos: np.ndarray, a: str, b: str) -> np.ndarray:
    d = pos[JOINT_INDEX[b]] - pos[JOINT_INDEX[a]]
    return d / np.linalg.norm(d)


@pytest.mark.skipif(not chromium_available(), reason="/usr/bin/chromium is absent: run scripts/install-browser.sh")
def test_characters_follow_the_animation_in_the_preview(take):
    from umo.convert import convert
    from umo.live.vmc import VRM_PRESETS, vrm_presets
    from umo.skeleton import forward_kinematics

    anim = take["anim"]
    pos, _ = forward_kinematics(anim.skeleton, anim.body, anim.root_pos)  # (T, J, 3) the canonical skeleton
    face = np.rint(np.clip(anim.face, 0, 1) * 255) / 255  # as the page holds it
    frames = [anim.num_frames // 3, 2 * anim.num_frames // 3, anim.num_frames - 2]
    pages = {}
    for kind in KINDS:
        pages[kind] = convert(take["dir"] / "take" / "face.csv", take["dir"] / f"{kind}.html",
                              body=take["dir"] / "take" / "body.bvh", character=take[kind]).path
    with chromium() as browser:
        for kind, page_path in pages.items():
            page, errors = open_page(browser, 900, 600)
            page.goto(page_path.as_uri())
            page.wait_for_function("window.umoPreview && window.umoPreview.ready", timeout=30_000)
            assert read_avatar(take[kind]).summary() in page.inner_text("#character-status")
            if kind == "smpl":  # the page reads SMPL's names as umo.avatar does
                st = page.evaluate("(t) => umoPreview.seek(t)", 0.5)
                got = {j: b["node"] for j, b in st["avatar"]["bones"].items() if j not in ("LeftEye", "RightEye")}
                assert got == SMPL_NAMES, {j: (got.get(j), n) for j, n in SMPL_NAMES.items() if got.get(j) != n}
                assert not errors, errors
                page.close()
                continue
            if kind == "glb":  # the page computes the same name keys as umo.avatar
                names = ["mixamorig:LeftForeArm", "lowerarm_l", "J_Bip_L_LowerArm", "Bip01 L Forearm", "upper_arm.R",
                         "leftUpperArm", "J_Bip_C_Spine", "spine_01", *JOINT_NAMES]
                keys = page.evaluate("""(names) => { const k = UmoAvatar.nameKeys(JSON.parse(
                    document.getElementById('umo-data').textContent).avatar); return names.map((n) => k.bone(n)); }""", names)
                assert keys == [bone_key(n) for n in names]
            for f in frames:
                st = page.evaluate("(t) => umoPreview.seek(t)", (f + 0.5) / anim.fps)
                assert st["frame"] == f
                bones = {j: np.array(b["position"]) for j, b in st["avatar"]["bones"].items()}
                for a, b in (("RightArm", "RightForeArm"), ("RightForeArm", "RightHand"), ("LeftArm", "LeftForeArm"),
                             ("LeftForeArm", "LeftHand"), ("Spine", "Neck"), ("Neck", "Head"), ("LeftUpLeg", "LeftLeg"),
                             ("LeftHandIndex1", "LeftHandIndex2")):
                    got = bones[b] - bones[a]
                    got /= np.linalg.norm(got)
                    assert np.dot(got, _direction(pos[f], a, b)) > np.cos(np.deg2rad(3)), (kind, f, a, b)
                if kind in ("vrm", "vrm0"):  # the humanoid map's nodes, the thumb counted as the VRM version counts it
                    for joint in ("LeftHandThumb1", "RightHandThumb2", "LeftHandIndex1", "Hips"):
                        assert st["avatar"]["bones"][joint]["node"] == f"n{JOINT_INDEX[joint]}", (kind, joint)
                    want = dict(zip(VRM_PRESETS, vrm_presets(face[f:f + 1])[0]))
                    assert set(st["avatar"]["preset"]) == {"A", "U", "Blink", "Joy"}
                    for p, v in st["avatar"]["preset"].items():
                        assert v == pytest.approx(want[p], abs=1e-5), (f, p)
                    assert not st["avatar"]["morph"]
                else:
                    assert len(st["avatar"]["morph"]) == 52
                    for n, v in st["avatar"]["morph"].items():
                        assert v == pytest.approx(face[f, ARKIT_INDEX[n]], abs=1e-5), (kind, f, n)
            assert not errors, errors
            page.close()
