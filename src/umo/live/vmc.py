"""umo frames as VMC protocol messages (OSC over UDP), as a VMC "Performer" sends them to a
"Marionette" (VSeeFace, Warudo, VNyan, VMagicMirror, EVMC4U ...). Spec: https://protocol.vmc.info

Per frame, in this order (docs/live.md has the whole description):

    /VMC/Ext/OK        (int) 1 loaded, (int) 3 calibrated, (int) 0 normal mode, (int) 1 tracking   [v2.7]
    /VMC/Ext/T         (float) the sender's time, s
    /VMC/Ext/Root/Pos  (string) "root", (float) p.x p.y p.z, q.x q.y q.z q.w    the root on the floor, unrotated
    /VMC/Ext/Bone/Pos  (string) bone, (float) p.x p.y p.z, q.x q.y q.z q.w      per bone of VMC_BONES sent
    /VMC/Ext/Blend/Val (string) name, (float) value                          52 ARKit names, then VRM_PRESETS
    /VMC/Ext/Blend/Apply

Bones are Unity ``HumanBodyBones`` names (the VRM humanoid); each carries its local position (m)
and local rotation relative to the T-pose, as a normalised VRM model's bones take them (every rest
rotation the identity, i.e. each bone's frame aligned with the avatar's at rest, as umo's canonical
skeleton's are). The legs are sent only when the take moves them (LEG_BONES, :func:`sent_bones`).

Travel: the root position is split as receivers apply it. Root/Pos carries its point on the floor
(x, 0, z), which moves the whole avatar (EVMC4U's RootPositionSynchronize, "room-scale" movement, on by
default); the Hips bone carries the rest, its height (0, y, 0), which only receivers that apply bone
positions use. Together they put the hips at the root position; a receiver that keeps its own bone
positions still walks, at its avatar's own hip height.

Coordinates: umo is right-handed (Y up, the character faces +Z, its left is +X, cm); VMC uses
Unity's left-handed frame (Y up, the character faces +Z, its right is +X, m). The change of frame is
the mirror x -> -x: a position (x, y, z) cm is sent as (-x, y, z) / 100 m, a rotation quaternion
(x, y, z, w) as (x, -y, -z, w) (a mirror turns rotations about the axes it keeps the other way).

A frame's messages go in OSC bundles of at most MAX_DATAGRAM_BYTES each, in order, so that no
datagram is split by the network (one frame is ~8 KB in all): a lost datagram costs a part of one
frame, which the next frame replaces.

The messages are built from python-osc's encoding: each message's fixed part (address, type tags,
name) is built once by ``OscMessageBuilder``, and a frame appends its big-endian float32 values.

Dimension letters: T frames, B bones.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, ARKIT_NAMES, JOINT_INDEX, NUM_BLENDSHAPES
from umo.errors import UmoError

MAX_DATAGRAM_BYTES = 1400  # under Ethernet's 1500-byte MTU: no IP fragments, and within every receiver's buffer
ROOT_NAME = "root"  # the spec's fixed name of /VMC/Ext/Root/Pos
OK_ARGS = (1, 3, 0, 1)  # /VMC/Ext/OK: avatar loaded, calibrated, normal (not MR) mode, tracking fine
CM_PER_M = 100.0

# --- bones -------------------------------------------------------------------------------------
# (VRM humanoid bone, canonical joint whose pose it takes, VRM parent). A bone's local rotation is
# its joint's global rotation relative to the parent bone's joint, so canonical joints with no VRM
# bone of their own (Spine1, Neck1, the hand's HandIndex/HandRing/HandPinky roots, the 4th finger
# joints, the ForeFoot) pass their rotation on to the next bone down. The legs go last and only
# when the take moves them: a talking take keeps them at rest, and receivers keep their own (a
# seated avatar stays seated). A model without UpperChest (optional in VRM) loses Spine3's share
# of the bend.
_FINGERS = (("Thumb", "Thumb"), ("Index", "Index"), ("Middle", "Middle"), ("Ring", "Ring"), ("Little", "Pinky"))
_SEGMENTS = ("Proximal", "Intermediate", "Distal")  # the canonical finger joints 1, 2, 3


def _arm(side: str) -> tuple[tuple[str, str, str], ...]:
    rows = [
        (f"{side}Shoulder", f"{side}Shoulder", "UpperChest"),
        (f"{side}UpperArm", f"{side}Arm", f"{side}Shoulder"),
        (f"{side}LowerArm", f"{side}ForeArm", f"{side}UpperArm"),
        (f"{side}Hand", f"{side}Hand", f"{side}LowerArm"),
    ]
    for vrm, ours in _FINGERS:
        parent = f"{side}Hand"
        for k, seg in enumerate(_SEGMENTS, start=1):
            rows.append((f"{side}{vrm}{seg}", f"{side}Hand{ours}{k}", parent))
            parent = f"{side}{vrm}{seg}"
    return tuple(rows)


def _leg(side: str) -> tuple[tuple[str, str, str], ...]:
    return (
        (f"{side}UpperLeg", f"{side}UpLeg", "Hips"),
        (f"{side}LowerLeg", f"{side}Leg", f"{side}UpperLeg"),
        (f"{side}Foot", f"{side}Foot", f"{side}LowerLeg"),
        (f"{side}Toes", f"{side}ToeBase", f"{side}Foot"),
    )


EYE_BONES = ("LeftEye", "RightEye")
LEG_ROWS = (*_leg("Left"), *_leg("Right"))
LEG_BONES: tuple[str, ...] = tuple(b for b, _, _ in LEG_ROWS)
VMC_BONES: tuple[tuple[str, str | None, str | None], ...] = (
    ("Hips", "Hips", None),
    ("Spine", "Spine", "Hips"),
    ("Chest", "Spine2", "Spine"),
    ("UpperChest", "Spine3", "Chest"),
    ("Neck", "Neck", "UpperChest"),
    ("Head", "Head", "Neck"),
    ("LeftEye", None, "Head"),  # from the eye angles, not the skeleton
    ("RightEye", None, "Head"),
    *_arm("Left"),
    *_arm("Right"),
    *LEG_ROWS,
)
BONE_NAMES: tuple[str, ...] = tuple(b for b, _, _ in VMC_BONES)
# Where the eyes sit relative to the Head joint (cm, umo's frame): the canonical skeleton has no eye
# joints. Receivers keep their own avatar's bone positions; these only complete the messages.
EYE_OFFSET_CM = {"LeftEye": (3.2, 6.5, 8.5), "RightEye": (-3.2, 6.5, 8.5)}

# --- blendshapes -------------------------------------------------------------------------------
# VRM 0.x expression presets (BlendShapeClip names), driven from the ARKit weights by vrm_presets.
VRM_PRESETS: tuple[str, ...] = ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R", "Joy", "Angry", "Sorrow", "Fun")
BLEND_NAMES: tuple[str, ...] = ARKIT_NAMES + VRM_PRESETS  # every /VMC/Ext/Blend/Val of a frame, in order
VISEME_JAW_GAIN = 2.0  # JawOpen 0.5 (a wide-open mouth in ARKit's range for speech) is a full VRM "A"
EMOTION_ONSET = 0.25  # an emotion preset starts above this much of its ARKit evidence (speech moves the
EMOTION_FULL = 0.75  # same channels a little) and is full at this much


def vrm_presets(face: np.ndarray) -> np.ndarray:
    """VRM expression presets from ARKit weights, each in [0, 1]. face: (T, 52) -> (T, 12), VRM_PRESETS order.

    Mouth (the five vowels), from the jaw's opening and the lips' shape:
        open = clip(VISEME_JAW_GAIN * JawOpen)
        round = max(MouthFunnel, MouthPucker)
        spread = clip(mean(MouthStretchLeft/Right) + mean(MouthSmileLeft/Right))
        A = open (1 - round)(1 - spread)   E = open spread   I = (1 - open) spread
        O = open round                     U = (1 - open) round
    Eyes: Blink = min(EyeBlinkLeft, EyeBlinkRight); Blink_L = EyeBlinkLeft - Blink, Blink_R =
    EyeBlinkRight - Blink (receivers add Blink and Blink_L on the same eye: sending both whole would
    close it twice).
    Emotions, each on(x) = clip((x - EMOTION_ONSET) / (EMOTION_FULL - EMOTION_ONSET)):
        smile = on(mean(MouthSmileLeft/Right)), squint = clip(2 mean(CheekSquintLeft/Right))
        Joy = smile squint (a smile that narrows the eyes)   Fun = smile (1 - squint)
        Angry = on(mean(BrowDownLeft/Right) + 0.5 mean(NoseSneerLeft/Right))
        Sorrow = on(mean(MouthFrownLeft/Right) + max(0, BrowInnerUp - mean(BrowOuterUpLeft/Right)))
    """
    face = np.clip(np.asarray(face, dtype=np.float64), 0.0, 1.0)
    if face.ndim != 2 or face.shape[1] != NUM_BLENDSHAPES:
        raise ValueError(f"face must be (T, {NUM_BLENDSHAPES}), got {face.shape}")

    def w(name: str) -> np.ndarray:
        return face[:, ARKIT_INDEX[name]]

    def pair(stem: str) -> np.ndarray:
        return 0.5 * (w(f"{stem}Left") + w(f"{stem}Right"))

    def on(x: np.ndarray) -> np.ndarray:
        return np.clip((x - EMOTION_ONSET) / (EMOTION_FULL - EMOTION_ONSET), 0.0, 1.0)

    opening = np.clip(VISEME_JAW_GAIN * w("JawOpen"), 0.0, 1.0)
    rounding = np.maximum(w("MouthFunnel"), w("MouthPucker"))
    spread = np.clip(pair("MouthStretch") + pair("MouthSmile"), 0.0, 1.0)
    blink = np.minimum(w("EyeBlinkLeft"), w("EyeBlinkRight"))
    smile = on(pair("MouthSmile"))
    squint = np.clip(2.0 * pair("CheekSquint"), 0.0, 1.0)
    presets = {
        "A": opening * (1.0 - rounding) * (1.0 - spread),
        "I": (1.0 - opening) * spread,
        "U": (1.0 - opening) * rounding,
        "E": opening * spread,
        "O": opening * rounding,
        "Blink": blink,
        "Blink_L": w("EyeBlinkLeft") - blink,
        "Blink_R": w("EyeBlinkRight") - blink,
        "Joy": smile * squint,
        "Angry": on(pair("BrowDown") + 0.5 * pair("NoseSneer")),
        "Sorrow": on(pair("MouthFrown") + np.maximum(0.0, w("BrowInnerUp") - pair("BrowOuterUp"))),
        "Fun": smile * (1.0 - squint),
    }
    return np.clip(np.stack([presets[n] for n in VRM_PRESETS], axis=1), 0.0, 1.0)


def blend_values(face: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights -> (T, 64) every Blend/Val value of a frame, BLEND_NAMES order."""
    return np.concatenate([np.clip(face, 0.0, 1.0), vrm_presets(face)], axis=1)


# --- coordinates -------------------------------------------------------------------------------
def to_unity_position(p_cm: np.ndarray) -> np.ndarray:
    """(..., 3) umo positions, cm -> Unity positions, m (the mirror x -> -x)."""
    out = np.asarray(p_cm, dtype=np.float64) / CM_PER_M
    return out * np.array([-1.0, 1.0, 1.0]) + 0.0  # + 0.0: no -0.0 from the mirror


def to_unity_quaternion(q: np.ndarray) -> np.ndarray:
    """(..., 4) umo rotations as quaternions (x, y, z, w) -> Unity's (x, -y, -z, w), w >= 0."""
    out = np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, 1.0])
    return np.where(out[..., 3:4] < 0, -out, out)


def eye_rotations(eyes: np.ndarray) -> np.ndarray:
    """(T, 6) eye angles (radians, EYE_NAMES order) -> (T, 2, 3, 3) rotations of the left and right eye
    relative to the head, in umo's frame.

    Live Link's eye angles, as in the iPhone's takes: yaw > 0 turns the left eye towards the nose
    (LeftEyeYaw follows EyeLookInLeft - EyeLookOutLeft, r = 0.98 over the iPhone takes in
    data/livelink_noaudio), i.e. towards the character's right, which is a turn about -Y here;
    pitch > 0 looks down, a turn about +X. Roll (eye torsion, a few hundredths of a radian) is left out.
    """
    from scipy.spatial.transform import Rotation

    eyes = np.asarray(eyes, dtype=np.float64)
    t = eyes.shape[0]
    angles = np.zeros((t, 2, 3))
    angles[:, :, 0] = -eyes[:, [0, 3]]  # yaw, as a turn about +Y (applied first: YXZ like the head)
    angles[:, :, 1] = eyes[:, [1, 4]]  # pitch
    return Rotation.from_euler("YXZ", angles.reshape(-1, 3)).as_matrix().reshape(t, 2, 3, 3)


@lru_cache(maxsize=1)
def _rest_local_positions() -> np.ndarray:
    """(B, 3) each bone's rest position relative to its VRM parent, cm, umo's frame (the root's: 0)."""
    from umo.skeleton import canonical_skeleton, forward_kinematics

    sk = canonical_skeleton()
    pos, _ = forward_kinematics(sk, np.zeros((1, sk.num_joints, 3)))
    pos = pos[0]
    out = np.zeros((len(VMC_BONES), 3))
    for b, (name, joint, parent) in enumerate(VMC_BONES):
        if parent is None:
            continue
        if joint is None:
            out[b] = EYE_OFFSET_CM[name]
        else:
            out[b] = pos[JOINT_INDEX[joint]] - pos[JOINT_INDEX[_joint_of(parent)]]
    return out


def _joint_of(bone: str) -> str:
    return next(j for b, j, _ in VMC_BONES if b == bone)


LEG_MOVES_RAD = 1e-4  # a leg joint turned more than this in some frame: the take moves the legs


def sent_bones(anim: Animation) -> tuple[int, ...]:
    """Indices into VMC_BONES of the bones a take's frames carry: all of them when the body moves a
    leg joint (umo generate, umo dance, a retargeted capture), else all but LEG_BONES."""
    legs = {b for b, _, _ in LEG_ROWS}
    moving = False
    if anim.body is not None and anim.skeleton.is_canonical():
        joints = [JOINT_INDEX[f"{s}{j}"] for s in ("Left", "Right") for j in ("UpLeg", "Leg", "Foot", "ForeFoot", "ToeBase")]
        moving = bool(np.abs(anim.body[:, joints]).max(initial=0.0) > LEG_MOVES_RAD)
    return tuple(b for b, (name, _, _) in enumerate(VMC_BONES) if moving or name not in legs)


def root_positions(anim: Animation) -> np.ndarray:
    """(T, 3) the Root/Pos position, m, Unity's frame: the root's point on the floor (its x and z, y = 0);
    the origin for a take without body motion."""
    if anim.body is None:
        return np.zeros((anim.num_frames, 3))
    return to_unity_position(anim.root_pos * np.array([1.0, 0.0, 1.0]))


def bone_poses(anim: Animation) -> tuple[np.ndarray, np.ndarray]:
    """Local positions (T, B, 3) m and rotations (T, B, 4) quaternions (x, y, z, w) of VMC_BONES, in
    Unity's frame, for an animation on the canonical skeleton. Without body motion the spine and
    arms stay at rest and the neck and head turn by the head angles (umo.skeleton.add_head_to_body).
    The Hips' position is the root's height (0, y, 0), relative to Root/Pos (:func:`root_positions`).
    """
    from scipy.spatial.transform import Rotation

    from umo.skeleton import add_head_to_body, canonical_skeleton, forward_kinematics, rest_root_position

    sk = canonical_skeleton()
    t = anim.num_frames
    if anim.body is None:
        body = np.zeros((t, sk.num_joints, 3))
        add_head_to_body(body, anim.head)
        root = np.tile(rest_root_position(), (t, 1))
    else:
        if not anim.skeleton.is_canonical():
            raise UmoError("VMC bones are sent from the canonical skeleton: retarget the body first "
                           "(umo convert BODY.bvh canonical.bvh)")
        body, root = anim.body, anim.root_pos
    _, glob = forward_kinematics(sk, body, root)  # (T, J, 3, 3)
    eyes = eye_rotations(anim.eyes)  # (T, 2, 3, 3)
    local = np.empty((t, len(VMC_BONES), 3, 3))
    for b, (name, joint, parent) in enumerate(VMC_BONES):
        if joint is None:
            local[:, b] = eyes[:, EYE_BONES.index(name)]
        elif parent is None:
            local[:, b] = glob[:, JOINT_INDEX[joint]]
        else:
            g_parent = glob[:, JOINT_INDEX[_joint_of(parent)]]
            local[:, b] = np.swapaxes(g_parent, -1, -2) @ glob[:, JOINT_INDEX[joint]]
    quat = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(t, len(VMC_BONES), 4)
    pos = np.tile(_rest_local_positions(), (t, 1, 1))
    pos[:, 0] = root * np.array([0.0, 1.0, 0.0])  # Hips: the root's height above Root/Pos's floor point
    return to_unity_position(pos), to_unity_quaternion(quat)


# --- OSC ---------------------------------------------------------------------------------------
def _prefix(address: str, name: str | None, floats: int) -> bytes:
    """The bytes of an OSC message up to its float values (address, type tags, the name string),
    built by python-osc with placeholder floats that are cut off again."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address)
    if name is not None:
        b.add_arg(name, OscMessageBuilder.ARG_TYPE_STRING)
    for _ in range(floats):
        b.add_arg(0.0, OscMessageBuilder.ARG_TYPE_FLOAT)
    dgram = b.build().dgram
    return dgram[:len(dgram) - 4 * floats]


@lru_cache(maxsize=1)
def _prefixes() -> dict[str, object]:
    from pythonosc.osc_message_builder import OscMessageBuilder

    ok = OscMessageBuilder("/VMC/Ext/OK")
    for v in OK_ARGS:
        ok.add_arg(v, OscMessageBuilder.ARG_TYPE_INT)
    return {
        "root": _prefix("/VMC/Ext/Root/Pos", ROOT_NAME, 7),
        "bones": [_prefix("/VMC/Ext/Bone/Pos", name, 7) for name in BONE_NAMES],
        "blends": [_prefix("/VMC/Ext/Blend/Val", name, 1) for name in BLEND_NAMES],
        "apply": OscMessageBuilder("/VMC/Ext/Blend/Apply").build().dgram,
        "ok": ok.build().dgram,
        "time": _prefix("/VMC/Ext/T", None, 1),
    }


_UNROTATED = np.array([0.0, 0.0, 0.0, 1.0])


def frame_messages(anim: Animation) -> list[list[bytes]]:
    """Each frame's OSC messages: Root/Pos, a Bone/Pos per bone of :func:`sent_bones` (VMC_BONES order),
    a Blend/Val per BLEND_NAMES, Blend/Apply. anim: T frames on the canonical skeleton (or without
    body) -> T lists of messages."""
    pre = _prefixes()
    pos, quat = bone_poses(anim)
    sent = list(sent_bones(anim))
    bones = np.concatenate([pos, quat], axis=-1)[:, sent].astype(">f4")  # (T, B', 7) big-endian, as OSC wants
    bone_pre = [pre["bones"][b] for b in sent]
    t = anim.num_frames
    roots = np.concatenate([root_positions(anim), np.tile(_UNROTATED, (t, 1))], axis=1).astype(">f4")  # (T, 7)
    blends = blend_values(anim.face).astype(">f4")  # (T, 64)
    out = []
    for i in range(t):
        msgs = [pre["root"] + roots[i].tobytes()]
        msgs += [p + v.tobytes() for p, v in zip(bone_pre, bones[i])]
        row = blends[i].tobytes()  # the row's bytes: a numpy scalar would be in the machine's byte order
        msgs += [p + row[4 * k:4 * k + 4] for k, p in enumerate(pre["blends"])]
        msgs.append(pre["apply"])
        out.append(msgs)
    return out


def status_messages(time_s: float) -> list[bytes]:
    """/VMC/Ext/OK and /VMC/Ext/T (the sender's time, s), sent before each frame."""
    pre = _prefixes()
    return [pre["ok"], pre["time"] + struct.pack(">f", time_s)]


_BUNDLE_HEAD = b"#bundle\x00" + struct.pack(">Q", 1)  # OSC 1.0 bundle, time tag 1: "immediately"


def bundles(messages: list[bytes], max_bytes: int = MAX_DATAGRAM_BYTES) -> list[bytes]:
    """Messages in order, packed into as few OSC bundles (each a datagram) of at most max_bytes as fit."""
    out: list[bytes] = []
    parts: list[bytes] = []
    size = len(_BUNDLE_HEAD)
    for m in messages:
        need = 4 + len(m)  # each element: its int32 size, then the message
        if parts and size + need > max_bytes:
            out.append(b"".join([_BUNDLE_HEAD, *parts]))
            parts, size = [], len(_BUNDLE_HEAD)
        parts.append(struct.pack(">i", len(m)) + m)
        size += need
    if parts:
        out.append(b"".join([_BUNDLE_HEAD, *parts]))
    return out
