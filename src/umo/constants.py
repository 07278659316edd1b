"""Names, orders and rates used everywhere in umo: defined here once, imported everywhere else.

Face: umo's internal blendshape order is the **Live Link Face** order (the column order of the
iPhone app's CSV export), with Live Link's PascalCase names. Apple's ARKit API spells the same 52
shapes in camelCase (``eyeBlinkLeft``); :func:`arkit_camel` converts. Other orders (BEAT JSON,
FACEGOOD) are converted at the edges, in ``umo.formats``.

Angles: head and eye rotations are radians, as Live Link Face writes them. Body joint rotations are
local axis-angle vectors in radians relative to the skeleton's rest pose (see ``umo.skeleton``).
"""

from __future__ import annotations

# --- rates -----------------------------------------------------------------------------------
SAMPLE_RATE = 16_000  # Hz: every audio signal is resampled to this once, on load
DEFAULT_FPS = 30  # animation frames per second (60 on request)
SUPPORTED_FPS = (24, 25, 30, 50, 60)
HOP_LENGTH = 160  # samples between feature frames at SAMPLE_RATE: 16000 / 160 = 100 Hz
FEATURE_RATE = SAMPLE_RATE // HOP_LENGTH  # 100 feature frames per second

# --- face: the 52 ARKit blendshapes in Live Link Face order ----------------------------------
ARKIT_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
NUM_BLENDSHAPES = len(ARKIT_NAMES)  # 52
ARKIT_INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT_NAMES)}

# Head and eye rotations, the 9 columns that follow the blendshapes in a Live Link CSV (radians).
HEAD_NAMES: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll")
EYE_NAMES: tuple[str, ...] = (
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVELINK_CURVES: tuple[str, ...] = ARKIT_NAMES + HEAD_NAMES + EYE_NAMES  # 61 curves
LIVELINK_COLUMNS: tuple[str, ...] = ("Timecode", "BlendshapeCount") + LIVELINK_CURVES  # 63
LIVELINK_BLENDSHAPE_COUNT = len(LIVELINK_CURVES)  # the value of the BlendshapeCount column: 61

# Channel groups (indices into ARKIT_NAMES).
JAW_MOUTH_NAMES: tuple[str, ...] = tuple(
    n for n in ARKIT_NAMES if n.startswith(("Jaw", "Mouth")) or n in ("CheekPuff", "TongueOut")
)
JAW_MOUTH_INDICES: tuple[int, ...] = tuple(ARKIT_INDEX[n] for n in JAW_MOUTH_NAMES)
UPPER_FACE_NAMES: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith(("Eye", "Brow")))


# --- the learned model's runtime: what runs its keyframe steps (umo.inference.keyframe_graph); "auto"
# picks onnx when a graph of the weights is at hand, else torch ----------------------------------------
ENGINES: tuple[str, ...] = ("auto", "torch", "onnx")

# --- where the body comes from: "animator" (the chosen animator's own: the rules' gestures or the token
# model's body) or "gen" (the continuous body generator, umo.models.body_gen) ---------------------------
BODIES: tuple[str, ...] = ("animator", "gen")
DEFAULT_BODY = "animator"

# --- expression: the emotions the expression layer (umo.emotion) knows, neutral first --------------
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised", "afraid", "disgusted")


def arkit_camel(name: str) -> str:
    """Live Link PascalCase -> Apple ARKit camelCase: ``EyeBlinkLeft`` -> ``eyeBlinkLeft``."""
    return name[0].lower() + name[1:]


def lip_aperture(face):
    """The lip aperture curve used by every sync metric: JawOpen - MouthClose + mean(LowerDown).

    face: (..., 52) weights in ARKIT_NAMES order -> (...,)
    """
    i = ARKIT_INDEX
    return (
        face[..., i["JawOpen"]]
        - face[..., i["MouthClose"]]
        + 0.5 * (face[..., i["MouthLowerDownLeft"]] + face[..., i["MouthLowerDownRight"]])
    )


# --- body: the canonical skeleton ---------------------------------------------------------------
# Joint names and hierarchy follow the 75-joint convention of the BEAT and ZEGGS captures. The rest
# offsets (cm, T-pose, Y up, facing +Z, the character's left is +X) are umo's own proportions.
# Each row: (joint, parent, rest offset from the parent).
_RIGHT_ARM: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("RightShoulder", "Spine3", (-2.5, 10.5, 2.0)),
    ("RightArm", "RightShoulder", (-15.0, 0.0, 0.0)),
    ("RightForeArm", "RightArm", (-28.0, 0.0, 0.0)),
    ("RightHand", "RightForeArm", (-25.0, 0.0, 0.0)),
    ("RightHandMiddle1", "RightHand", (-9.5, 0.0, 0.0)),
    ("RightHandMiddle2", "RightHandMiddle1", (-4.8, 0.0, 0.0)),
    ("RightHandMiddle3", "RightHandMiddle2", (-3.0, 0.0, 0.0)),
    ("RightHandMiddle4", "RightHandMiddle3", (-2.0, 0.0, 0.0)),
    ("RightHandRing", "RightHand", (-0.3, -0.2, -0.9)),
    ("RightHandRing1", "RightHandRing", (-8.0, 0.0, -0.8)),
    ("RightHandRing2", "RightHandRing1", (-4.4, 0.0, -0.4)),
    ("RightHandRing3", "RightHandRing2", (-2.9, 0.0, -0.3)),
    ("RightHandRing4", "RightHandRing3", (-1.8, 0.0, -0.2)),
    ("RightHandPinky", "RightHandRing", (-0.2, -0.2, -0.9)),
    ("RightHandPinky1", "RightHandPinky", (-6.5, 0.0, -1.5)),
    ("RightHandPinky2", "RightHandPinky1", (-3.5, 0.0, -0.8)),
    ("RightHandPinky3", "RightHandPinky2", (-2.3, 0.0, -0.5)),
    ("RightHandPinky4", "RightHandPinky3", (-1.7, 0.0, -0.4)),
    ("RightHandIndex", "RightHand", (-0.3, -0.2, 0.9)),
    ("RightHandIndex1", "RightHandIndex", (-8.8, 0.0, 1.0)),
    ("RightHandIndex2", "RightHandIndex1", (-4.3, 0.0, 0.4)),
    ("RightHandIndex3", "RightHandIndex2", (-2.6, 0.0, 0.2)),
    ("RightHandIndex4", "RightHandIndex3", (-1.8, 0.0, 0.1)),
    ("RightHandThumb1", "RightHandIndex", (-2.5, -1.2, 2.2)),
    ("RightHandThumb2", "RightHandThumb1", (-3.5, -0.5, 2.5)),
    ("RightHandThumb3", "RightHandThumb2", (-3.0, 0.0, 1.8)),
    ("RightHandThumb4", "RightHandThumb3", (-2.2, 0.0, 1.2)),
)
_RIGHT_LEG: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("RightUpLeg", "Hips", (-9.0, -2.0, 0.0)),
    ("RightLeg", "RightUpLeg", (0.0, -43.0, 0.0)),
    ("RightFoot", "RightLeg", (0.0, -42.0, 0.0)),
    ("RightForeFoot", "RightFoot", (0.0, -6.0, 8.0)),
    ("RightToeBase", "RightForeFoot", (0.0, -2.0, 6.0)),
    ("RightToeBaseEnd", "RightToeBase", (0.0, 0.0, 4.0)),
)


def _mirror(rows):
    """Right side -> left side: rename and negate X."""
    return tuple(
        (j.replace("Right", "Left"), p.replace("Right", "Left"), (-o[0], o[1], o[2])) for j, p, o in rows
    )


CANONICAL_SKELETON_TABLE: tuple[tuple[str, str | None, tuple[float, float, float]], ...] = (
    ("Hips", None, (0.0, 0.0, 0.0)),
    ("Spine", "Hips", (0.0, 7.0, -1.0)),
    ("Spine1", "Spine", (0.0, 11.0, -1.0)),
    ("Spine2", "Spine1", (0.0, 11.0, 0.0)),
    ("Spine3", "Spine2", (0.0, 11.0, 0.5)),
    ("Neck", "Spine3", (0.0, 14.0, 1.0)),
    ("Neck1", "Neck", (0.0, 4.0, 0.5)),
    ("Head", "Neck1", (0.0, 4.0, 0.5)),
    ("HeadEnd", "Head", (0.0, 10.0, 0.0)),
    *_RIGHT_ARM,
    *_mirror(_RIGHT_ARM),
    *_RIGHT_LEG,
    *_mirror(_RIGHT_LEG),
)
JOINT_NAMES: tuple[str, ...] = tuple(r[0] for r in CANONICAL_SKELETON_TABLE)
NUM_JOINTS = len(JOINT_NAMES)  # 75
JOINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}
HIPS_REST_HEIGHT = 95.0  # cm: root position of the rest pose

# Joints that co-speech motion animates; root (Hips) and legs stay at rest.
UPPER_BODY_JOINTS: tuple[str, ...] = tuple(
    n for n in JOINT_NAMES if n != "Hips" and not n.startswith(("RightUpLeg", "RightLeg", "RightFoot",
    "RightForeFoot", "RightToe", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftForeFoot", "LeftToe"))
)
FINGER_JOINTS: tuple[str, ...] = tuple(
    n for n in JOINT_NAMES if any(f in n for f in ("Thumb", "Index", "Middle", "Ring", "Pinky"))
)

# --- the learned model's motion layout --------------------------------------------------------
# The model works at one rate and on three regions, each a flat vector per frame (see umo.data.motion).
MODEL_FPS = 30  # frames per second of the model; other rates are resampled at the edges
SAMPLES_PER_FRAME = SAMPLE_RATE / MODEL_FPS  # 533.33: a window of T frames holds T * 1600 / 3 samples
# face region: 52 blendshapes, then head yaw/pitch/roll, then the 6 eye angles (radians)
FACE_REGION_DIM = NUM_BLENDSHAPES + len(HEAD_NAMES) + len(EYE_NAMES)  # 61
# body region: spine, shoulders, arms and wrists (the neck chain follows the head, which is in the
# face region; root and legs stay at rest), local axis-angle, 3 per joint
BODY_REGION_JOINTS: tuple[str, ...] = (
    "Spine", "Spine1", "Spine2", "Spine3",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
)
BODY_REGION_DIM = 3 * len(BODY_REGION_JOINTS)  # 36
HAND_REGION_JOINTS: tuple[str, ...] = FINGER_JOINTS  # 46 finger joints, both hands
HAND_REGION_DIM = 3 * len(HAND_REGION_JOINTS)  # 138
REGION_DIMS: dict[str, int] = {"face": FACE_REGION_DIM, "body": BODY_REGION_DIM, "hands": HAND_REGION_DIM}
