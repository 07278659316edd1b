"""A user's own character (glTF 2.0 / VRM) driven by umo: which of its bones and morph targets umo drives.

The preview page (``--character``) and the live page's character button load the file in the
browser (``preview/assets/avatar.js``, shared by both); this module holds what the two pages and the
command line must agree on, defined once and handed to the pages as data (:func:`page_data`):

- **bones**: an avatar joint takes the motion of the canonical joint its name says. A name is
  reduced to a key (:func:`bone_key`: the retargeter's namespace and rig prefixes dropped, as
  ``umo.formats.retarget`` drops them; a side word or letter (``_l``, ``.R``, ``Left``) moved to the
  front; lower case, letters and digits only) and looked up in :data:`BONE_KEYS`, built from the
  canonical names (which Mixamo's ``mixamorig:`` names and BEAT's share), the VRM humanoid bone names
  of the VMC sender (``umo.live.vmc.VMC_BONES``) and :data:`SYNONYMS` (Unreal mannequin, 3ds Max
  Biped, Blender and VRoid spellings). A VRM file's own humanoid map (VRM 1.0
  ``VRMC_vrm.humanoid.humanBones``, VRM 0.x ``VRM.humanoid.humanBones``, a list of {bone, node})
  wins over names; VRM 1.0's thumb is named one segment further in (:data:`VRM1_THUMBS`). A VRM 0.x
  model faces -Z (1.0 and umo: +Z): the page turns it by its bones' rest directions;
- **face**: morph targets named as ARKit blendshapes (any case, an exporter's ``blendShape1.``
  prefix and a ``_L``/``_R`` side suffix allowed) take the face weights; an avatar with none of
  them but with VRM expressions gets the VRM presets, computed from the ARKit weights by the
  formulas of ``umo.live.vmc.vrm_presets`` (:data:`VRM_PRESET_NAMES` pairs its VRM 0.x names with
  VRM 1.0's);
- **rest pose**: the rule animator's relaxed standing pose (``umo.animator.gestures.rest_pose``),
  which the live page shows before frames come.

How the page moves a bone (avatar.js): every matched avatar bone turns in world space as its
canonical joint does, after a constant rest alignment: with ``D_j`` the canonical joint's world
rotation (its rest is the identity: the canonical rest frames are all aligned with the world),
``R_b`` the avatar bone's world rotation in its bind pose (from the skin's inverse bind matrices),
and ``C_b`` the rotation that takes the avatar bone's rest direction (to its next matched joint) onto
the canonical one's (a T-pose and an A-pose differ here), the bone's world rotation is
``W_b = D_j C_b R_b`` and its local rotation ``W_parent^-1 W_b``; unmatched bones keep their bind
pose locally. At rest (``D = I``) the avatar stands in the canonical T-pose; in a frame its bones
point where the canonical bones point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from umo.constants import ARKIT_NAMES, JOINT_NAMES, NUM_BLENDSHAPES
from umo.errors import UmoError

SUFFIXES = (".glb", ".vrm", ".gltf")
EYE_JOINTS = ("LeftEye", "RightEye")  # not canonical joints: the page's eyes, turned by the eye angles
_SIDE_WORDS = {"l": "left", "left": "left", "r": "right", "right": "right"}
_SIDE_AFFIX = re.compile(r"^(?:(l|r|left|right)[\s_.\-]+)?(.*?)(?:[\s_.\-]+(l|r|left|right))?$", re.IGNORECASE)
_CENTRE = re.compile(r"^c[\s_.\-]+", re.IGNORECASE)  # VRoid's J_Bip_C_Spine: the centre line

# Spellings the canonical and VRM names do not cover, per kind of joint (a side is added to the
# sided ones). Unreal mannequin (pelvis, spine_01, clavicle_l, thigh_l, calf_l, ball_l, index_01_l),
# 3ds Max Biped (Bip01 L Clavicle, L Thigh, L Calf), Blender (upper_arm.L, shin.L).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "Hips": ("pelvis", "hip", "root_hips"),
    "Spine": ("spine01", "spine_01", "abdomen", "waist"),
    "Spine1": ("spine02", "spine_02"),
    "Spine2": ("spine03", "spine_03", "chest"),
    "Spine3": ("spine04", "spine_04", "spine05", "spine_05", "upperchest", "chest2", "spine3"),
    "Neck": ("neck01", "neck_01"),
    "Neck1": ("neck02", "neck_02"),
    "Shoulder": ("clavicle", "collar", "collarbone"),
    "Arm": ("upperarm", "upper_arm"),
    "ForeArm": ("lowerarm", "forearm", "lower_arm"),
    "Hand": ("wrist",),
    "UpLeg": ("thigh", "upperleg", "upper_leg"),
    "Leg": ("calf", "shin", "lowerleg", "lower_leg", "knee"),
    "Foot": ("ankle",),
    "ToeBase": ("ball", "toe", "toes"),
}
_FINGERS = (("Thumb", ("thumb",)), ("Index", ("index",)), ("Middle", ("middle",)), ("Ring", ("ring",)),
            ("Pinky", ("pinky", "little")))
_SEGMENTS = (("1", ("01", "1", "proximal")), ("2", ("02", "2", "intermediate")), ("3", ("03", "3", "distal")))

# SMPL's names (SMPL, SMPL-H, SMPL-X; the FBX rig's m_avg_ prefix) say other joints than the same words
# elsewhere: its "shoulder" is the upper arm (the clavicle is its "collar"), "elbow" the forearm, "hip"
# the thigh, "foot" the toes, "hand" the knuckles' end, and its three spine joints spread over umo's
# four as the retargeter spreads them. A character whose names are SMPL's (retarget.SMPL_NAMES) is read
# through this table first; its fingers (L_Index1, left_thumb3 ...) are the common spellings.
SMPL_JOINTS: dict[str, str | None] = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine3", "neck": "Neck", "head": "Head",
    **{f"{s}_{w}": (f"{S}{j}" if j else None) for s, S in (("l", "Left"), ("r", "Right")) for w, j in (
        ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"), ("hand", None),
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"))},
}

# VRM expression presets: the VMC sender's VRM 0.x names (umo.live.vmc.VRM_PRESETS, the order of
# vrm_presets' columns) -> (VRM 1.0 preset, VRM 0.x presetName as the file spells it).
VRM_PRESET_NAMES: dict[str, tuple[str, str]] = {
    "A": ("aa", "a"), "I": ("ih", "i"), "U": ("ou", "u"), "E": ("ee", "e"), "O": ("oh", "o"),
    "Blink": ("blink", "blink"), "Blink_L": ("blinkLeft", "blink_l"), "Blink_R": ("blinkRight", "blink_r"),
    "Joy": ("happy", "joy"), "Angry": ("angry", "angry"), "Sorrow": ("sad", "sorrow"), "Fun": ("relaxed", "fun"),
}


# VRM 1.0 renamed the thumb's bones: its thumbMetacarpal, thumbProximal, thumbDistal are VRM 0.x's
# (and Unity's HumanBodyBones') thumbProximal, thumbIntermediate, thumbDistal, i.e. the canonical
# HandThumb1..3. A VRM 1.0 humanoid map is read through this table first.
VRM1_THUMBS: dict[str, str] = {
    f"{side.lower()}Thumb{seg}": f"{side}HandThumb{k}"
    for side in ("Left", "Right") for k, seg in enumerate(("Metacarpal", "Proximal", "Distal"), start=1)
}


def _side_split(name: str) -> tuple[str, str]:
    m = _SIDE_AFFIX.match(name)
    side = m.group(1) or m.group(3)
    return (_SIDE_WORDS[side.lower()] if side else ""), m.group(2)


def bone_key(name: str) -> str:
    """A joint name -> the key :data:`BONE_KEYS` is looked up by ("mixamorig:LeftForeArm",
    "lowerarm_l", "J_Bip_L_LowerArm", "Bip01 L Forearm", "forearm.L" -> "leftforearm" / "leftlowerarm")."""
    from umo.formats.retarget import _NAMESPACE, _RIG_PREFIX

    stem = _CENTRE.sub("", _RIG_PREFIX.sub("", _NAMESPACE.sub("", name.strip())))
    side, rest = _side_split(stem)
    return side + re.sub(r"[^a-z0-9]", "", rest.lower())


@lru_cache(maxsize=1)
def bone_keys() -> dict[str, str]:
    """key -> canonical joint (or "LeftEye"/"RightEye"): every spelling umo recognises."""
    from umo.live.vmc import VMC_BONES

    table: dict[str, str] = {}

    def add(name: str, joint: str) -> None:
        table.setdefault(bone_key(name), joint)

    for j in JOINT_NAMES:
        add(j, j)
    for vrm, joint, _ in VMC_BONES:
        if joint is not None:
            add(vrm, joint)
    for side in ("Left", "Right"):
        add(side + "Eye", side + "Eye")
        add(side[0] + "_eye", side + "Eye")
    for joint, names in SYNONYMS.items():
        sided = joint not in ("Hips", "Spine", "Spine1", "Spine2", "Spine3", "Neck", "Neck1")
        for n in names:
            if sided:
                for side in ("Left", "Right"):
                    add(f"{n}_{side[0]}", side + joint)
            else:
                add(n, joint)
    for side in ("Left", "Right"):
        for finger, words in _FINGERS:
            for seg, segs in _SEGMENTS:
                for w in words:
                    for s in segs:
                        add(f"{w}{s}_{side[0]}", f"{side}Hand{finger}{seg}")
                        add(f"{w}_{s}_{side[0]}", f"{side}Hand{finger}{seg}")
    return table


@lru_cache(maxsize=1)
def smpl_keys() -> dict[str, str]:
    """key -> canonical joint for SMPL's names ("" where SMPL's joint plays none: its hand end)."""
    return {bone_key(n): j or "" for n, j in SMPL_JOINTS.items()}


def smpl_naming(names) -> bool:
    """Whether a character's joint names are SMPL's (see :data:`SMPL_JOINTS`)."""
    from umo.formats.retarget import SMPL_NAMES

    pattern = re.compile(SMPL_NAMES, re.IGNORECASE)
    return any(pattern.search(str(n).strip()) for n in names)


def match_bone(name: str, smpl: bool = False) -> str | None:
    """A joint name -> its canonical joint (or LeftEye/RightEye); smpl: the character's names are SMPL's."""
    key = bone_key(name)
    if smpl and key in smpl_keys():
        return smpl_keys()[key] or None
    return bone_keys().get(key)


def match_vrm_bone(bone: str, version: str) -> str | None:
    """A VRM humanoid bone name ("leftUpperArm") of a file of ``version`` ("1.0" or "0.x") -> its canonical joint."""
    return VRM1_THUMBS.get(bone) if version == "1.0" and bone in VRM1_THUMBS else match_bone(bone)


def arkit_key(name: str) -> str:
    """A morph target name -> its key among the ARKit names ("blendShape1.jawOpen", "JawOpen",
    "eyeBlink_L" -> "jawopen", "jawopen", "eyeblinkleft")."""
    stem = name.rsplit(".", 1)[-1].strip()
    m = re.match(r"^(.*?)[_\-\s]?(L|R)$", stem)
    if m and m.group(1):
        stem = m.group(1) + ("Left" if m.group(2) == "L" else "Right")
    return re.sub(r"[^a-z0-9]", "", stem.lower())


@lru_cache(maxsize=1)
def page_data() -> dict:
    """What avatar.js needs, as JSON: the name tables, the canonical skeleton, the rest pose, and
    the VRM preset formulas' constants. The pages compute the same keys as :func:`bone_key` and
    :func:`arkit_key` (the browser tests check it)."""
    from umo.animator.gestures import rest_pose
    from umo.formats.retarget import _NAMESPACE, _RIG_PREFIX, SMPL_NAMES
    from umo.live import vmc
    from umo.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    return {
        "boneKeys": bone_keys(),
        "smplKeys": smpl_keys(),
        "smplNames": SMPL_NAMES,
        "vrm1Thumbs": VRM1_THUMBS,
        "namespace": _NAMESPACE.pattern,
        "rigPrefix": _RIG_PREFIX.pattern,
        "sideAffix": _SIDE_AFFIX.pattern,
        "centre": _CENTRE.pattern,
        "arkit": list(ARKIT_NAMES),
        "skeleton": {"names": list(sk.names), "parents": list(sk.parents),
                     "offsets": [round(float(v), 4) for v in sk.offsets.reshape(-1)]},
        "restPose": [round(float(v), 6) for v in rest_pose().reshape(-1)],
        "vrm": {
            "presets": list(vmc.VRM_PRESETS),
            "names": {k: list(v) for k, v in VRM_PRESET_NAMES.items()},
            "jawGain": vmc.VISEME_JAW_GAIN, "onset": vmc.EMOTION_ONSET, "full": vmc.EMOTION_FULL,
        },
    }


# --- what a file offers -------------------------------------------------------------------------


@dataclass(frozen=True)
class AvatarMatch:
    """What umo drives on an avatar."""

    path: Path
    arkit: tuple[str, ...]  # the ARKit names some morph target answers, ARKit order
    bones: dict[str, str]  # avatar joint name -> canonical joint (or LeftEye/RightEye)
    num_joints: int  # the avatar's joints (skin joints; named nodes when it has no skin)
    vrm_version: str | None  # "1.0", "0.x" or None
    vrm_presets: tuple[str, ...]  # the VRM presets (VMC names) driven; empty when ARKit morphs drive the face

    @property
    def drives_anything(self) -> bool:
        return bool(self.arkit or self.bones or self.vrm_presets)

    def summary(self) -> str:
        """The line both the command and the page show."""
        text = f"{len(self.arkit)} of {NUM_BLENDSHAPES} ARKit morphs, {len(self.bones)} bones of {self.num_joints}"
        if self.vrm_presets:
            text += f", VRM presets used: {' '.join(self.vrm_presets)}"
        return text


def read_avatar(path: str | Path) -> AvatarMatch:
    """Read a .glb / .vrm / .gltf's JSON and report what umo would drive; UmoError for a file that is
    not glTF 2.0, or that has nothing umo can move (no ARKit morphs, no VRM expressions, no known bones)."""
    from umo.formats.gltf import _load

    path = Path(path)
    if not path.is_file():
        raise UmoError(f"character file not found: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise UmoError(f"{path}: a character must be a .glb, .vrm or .gltf file")
    gltf, _ = _load(path)
    if not isinstance(gltf, dict) or str(gltf.get("asset", {}).get("version", "")).split(".")[0] != "2":
        raise UmoError(f"{path}: not a glTF 2.0 file (asset.version 2.0 missing)")
    nodes = gltf.get("nodes", [])
    meshes = gltf.get("meshes", [])

    # morph targets: names in mesh.extras.targetNames (or a primitive's extras)
    keys = {arkit_key(n): n for n in ARKIT_NAMES}
    found: set[str] = set()
    for mesh in meshes:
        names = list((mesh.get("extras") or {}).get("targetNames") or [])
        for prim in mesh.get("primitives", []):
            names += list((prim.get("extras") or {}).get("targetNames") or [])
        found.update(keys[k] for k in map(arkit_key, map(str, names)) if k in keys)
    arkit = tuple(n for n in ARKIT_NAMES if n in found)

    joints = sorted({j for skin in gltf.get("skins", []) for j in skin.get("joints", [])})
    if not joints:
        joints = [i for i, n in enumerate(nodes) if n.get("name") and "mesh" not in n]
    else:  # eyes are often plain nodes under the head, outside the skin
        joints = sorted(set(joints) | {i for i, n in enumerate(nodes) if match_bone(str(n.get("name", ""))) in EYE_JOINTS})
    ext = gltf.get("extensions") or {}
    vrm1, vrm0 = ext.get("VRMC_vrm"), ext.get("VRM")
    human: dict[int, str] = {}  # node -> canonical joint, from the VRM humanoid
    if vrm1:
        for bone, spec in ((vrm1.get("humanoid") or {}).get("humanBones") or {}).items():
            if isinstance(spec, dict) and "node" in spec and match_vrm_bone(bone, "1.0"):
                human[spec["node"]] = match_vrm_bone(bone, "1.0")
    elif vrm0:
        for spec in (vrm0.get("humanoid") or {}).get("humanBones") or []:
            if isinstance(spec, dict) and "node" in spec and match_vrm_bone(str(spec.get("bone", "")), "0.x"):
                human[spec["node"]] = match_vrm_bone(str(spec["bone"]), "0.x")
    bones: dict[str, str] = {}
    taken: set[str] = set()
    smpl = not (vrm1 or vrm0) and smpl_naming(nodes[i].get("name", "") for i in joints if i < len(nodes))
    for i in sorted(set(joints) | set(human)):
        if i >= len(nodes):
            continue
        joint = human.get(i) if human else match_bone(str(nodes[i].get("name", "")), smpl)
        if joint and joint not in taken:
            taken.add(joint)
            bones[str(nodes[i].get("name", f"node{i}"))] = joint

    presets: tuple[str, ...] = ()
    if not arkit:
        offered = set()
        if vrm1:
            for name, spec in ((vrm1.get("expressions") or {}).get("preset") or {}).items():
                if spec.get("morphTargetBinds"):
                    offered.add(name)
            presets = tuple(p for p, (v1, _) in VRM_PRESET_NAMES.items() if v1 in offered)
        elif vrm0:
            for group in (vrm0.get("blendShapeMaster") or {}).get("blendShapeGroups") or []:
                if group.get("binds"):
                    offered.add(str(group.get("presetName", "")).lower())
            presets = tuple(p for p, (_, v0) in VRM_PRESET_NAMES.items() if v0 in offered)
    match = AvatarMatch(path, arkit, bones, len(set(joints) | set(human)), "1.0" if vrm1 else "0.x" if vrm0 else None, presets)
    if not match.drives_anything:
        raise UmoError(f"{path}: nothing umo can drive: no morph target has an ARKit name, no VRM expression "
                       f"presets, and no joint name umo knows (canonical/Mixamo, VRM humanoid, Unreal, Biped)")
    return match
