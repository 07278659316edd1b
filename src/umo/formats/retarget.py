"""Retarget body motion from one skeleton onto another (by default umo's canonical skeleton).

**Which joint drives which.** Each skeleton's joints are given *roles*: the canonical joint
(``umo.constants.JOINT_NAMES``) each one plays (:func:`infer_roles`). A target joint takes its
motion from the source joint of the same role. Roles come from the names, normalised, and from the
hierarchy where a name is ambiguous or unknown:

- a name is split into words: ``mixamorig:LeftForeArm``, ``Bip01 L Forearm``, ``lowerarm_l``,
  ``leftLowerArm``, ``left_elbow`` and ``Forearm.L`` all read as (Left, forearm). Namespaces
  (``rig:``) and rig prefixes (``mixamorig1_``, ``Bip001``, ``J_Bip_``, ``CC_Base_``, ``DEF-``, SMPL's
  FBX ``m_avg_``/``f_avg_``) are dropped; a side word (Left/Right, L/R, _l/_r, .L/.R) gives the
  side; the rest is looked up in one
  table of synonyms (:data:`KIND_PATTERNS`: upper arm = UpperArm/UpArm/Arm/humerus, forearm =
  ForeArm/LowerArm/Elbow, hand = Hand/Wrist, thigh = UpLeg/Thigh/side+Hip, ...);
- the structure decides the rest. An arm is found from its hand up: the forearm is the joint above
  the hand (twist and roll helpers skipped) unless one further up says forearm, the upper arm the
  next one up unless one says upper arm, the clavicle the next if it is on that side. So
  ``LeftShoulder`` is the **upper arm** under ``LeftCollar`` (the Collar/Shoulder/Elbow/Wrist naming
  of old MotionBuilder and 3ds Max exports, SMPL's left_collar/left_shoulder/left_elbow) and the
  **clavicle** above ``LeftArm`` (BEAT, CMU, Mixamo). Legs are found likewise from the foot up.
  The spine is the path from the hips to the head: joints named neck form the neck, the others
  (spine, chest, back, or unknown names at or below where the arms branch off) the spine; they are
  spread over the canonical Spine..Spine3 (first to Spine, last to Spine3) and Neck, Neck1. Fingers
  are found in the hand's subtree by finger name (thumb, index, middle, ring, pinky/little, Biped's
  Finger0..4, CMU's Fingers) and numbered from the hand out.

:func:`map_joints` returns the pairing as a :class:`JointMapping`, which is also the report: the
pairs, the source joints left unused, the target joints left at rest, and the essential parts
(:data:`ESSENTIAL_PARTS`: spine, head, both arms down to the hands) that found no source joint.
:func:`retarget` refuses a mapping that misses an essential part unless ``allow_partial``: a take
whose arms stay still is wrong data, not a conversion.

**How motion is transferred.** So each target bone points where its source bone points, whatever
the two rest poses (T-pose, A-pose): for each paired joint a constant **rest-alignment** rotation
``C_j`` takes the target's rest bone directions onto the source's (a least-squares fit over the
directions to the next paired joints below it, Wahba's problem), then per frame

    G_target_j = G_source_j @ C_j          (global rotations)
    R_target_j = G_target_parent(j)^T @ G_target_j   (back to local)

so ``G_target_j @ d_target = G_source_j @ d_source``: the bone turns with the source's. Target joints
without a partner keep their rest (local) rotation. A source whose axes differ from the target's
(Z up, facing -Z: the rest pose's hips-to-head and right-to-left directions say so) is first turned
by the axis-aligned rotation that matches them. The root follows the source's hips, scaled by the
ratio of the two skeletons' hip heights.

Dimension letters: T frames, J joints.
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from umo.animation import Animation
from umo.constants import JOINT_INDEX
from umo.errors import UmoError
from umo.skeleton import (
    Skeleton,
    canonical_skeleton,
    forward_kinematics,
    matrix_to_rotvec,
    rest_root_position,
    rotvec_to_matrix,
)

SIDES = ("Left", "Right")


@dataclass(frozen=True)
class EssentialPart:
    """A part of the body a take is useless without: ``joints`` (canonical names) must all map, or
    with ``any_of`` at least one (a spine of 1 to 5 joints fills Spine..Spine3 in part)."""

    name: str
    joints: tuple[str, ...]
    any_of: bool = False


ESSENTIAL_PARTS: tuple[EssentialPart, ...] = (
    EssentialPart("spine", ("Spine", "Spine1", "Spine2", "Spine3"), any_of=True),
    EssentialPart("head", ("Head",)),
    *(EssentialPart(f"{s.lower()} arm", (f"{s}Arm", f"{s}ForeArm", f"{s}Hand")) for s in SIDES),
)

# --- names --------------------------------------------------------------------------------------

_NAMESPACE = re.compile(r"^.*[:|]")  # "mixamorig:LeftArm", Maya paths "|rig|Hips"
_RIG_PREFIX = re.compile(  # prefixes that say which rig, not which joint
    r"^(?:mixamorig\d*_|valvebiped\.bip0*\d+_?|bip0*\d+(?:[\s_]+|$)|j_bip_|cc_base_|(?:def|org|mch)[-_]|[mf]_avg_)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")  # camelCase, snake_case, digits
_LEFT = frozenset({"left", "l", "lft"})
_RIGHT = frozenset({"right", "r", "rt", "rgt"})
# Words that make a joint a helper (twist, roll, IK, props): never the joint of a role, skipped
# when walking a chain.
_HELPER_WORDS = frozenset({"twist", "roll", "ik", "pole", "helper", "corrective", "jiggle", "dummy", "ctrl",
                           "control", "socket", "prop", "weapon", "attach", "target", "share"})

# The kind of joint a name says, from its words without the side, joined ("upperarm", "spine01").
# First match wins. "shoulder" is left ambiguous on purpose: the hierarchy decides.
KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("hips", r"hips?|pelvis"),  # with a side, "hip" is the thigh (SMPL's left_hip, Collar naming's LeftHip)
    ("root", r"|root|reference|armature|skeleton"),  # "" is Biped's bare "Bip01"
    ("spine", r"(?:spine|chest|upperchest|chestupper|lowerback|upperback|back|thorax|abdomen|abdomenlower"
              r"|abdomenupper|torso|waist|lowerspine|midspine|upperspine)\d*"),
    ("neck", r"(?:neck|lowerneck|upperneck|necklower|neckupper)\d*"),
    ("head", r"head"),
    ("headend", r"head(?:top)?\d*(?:end|nub|tip|site)|headtop"),
    ("clavicle", r"clavicle|collar|collarbone|clav"),
    ("shoulder", r"shoulder|shldr"),
    ("upperarm", r"(?:upper|up)?arm\d*|armupper|humerus|shldrbend|shoulderbend"),
    ("forearm", r"forearm|lowerarm|loarm|lowarm|armlower|elbow|radius|ulna|forearmbend"),
    ("hand", r"hand|wrist|fingerbase|palm"),
    ("thigh", r"upleg|upperleg|legupper|thigh|femur|thighbend"),
    ("shin", r"leg|lowerleg|loleg|leglower|calf|shin|knee|tibia|shinbend"),
    ("foot", r"foot|ankle"),
    ("forefoot", r"forefoot|midfoot|metatarsals?"),
    ("toe", r"(?:toe|toes|toebase|ball)\d*"),
    ("toeend", r"(?:toe|toes|toebase|ball|foot)\d*(?:end|nub|tip|site)|toetip"),
))
_FINGER_WORDS: dict[str, str] = {
    "thumb": "Thumb", "index": "Index", "pointer": "Index", "middle": "Middle", "mid": "Middle",
    "ring": "Ring", "pinky": "Pinky", "pinkie": "Pinky", "little": "Pinky", "small": "Pinky",
    "fingers": "Middle",  # CMU's LFingers: one joint for the four fingers
}
_BIPED_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")  # Biped's Finger0..Finger4
_METACARPAL_WORDS = frozenset({"metacarpal", "metacarpals", "meta", "carpal"})
_SEGMENT_WORDS = frozenset({"proximal", "intermediate", "medial", "middle", "distal", "end", "nub", "tip"})


@dataclass(frozen=True)
class JointName:
    """A joint name read for its role: ``Bip01 L UpperArm`` -> side "Left", words ("upper", "arm")."""

    side: str  # "Left", "Right" or ""
    words: tuple[str, ...]  # lower case, without the side word

    @property
    def key(self) -> str:
        return "".join(self.words)

    @property
    def helper(self) -> bool:
        return any(w in _HELPER_WORDS for w in self.words)

    @property
    def kind(self) -> str | None:
        """What the name says the joint is (a :data:`KIND_PATTERNS` kind), None when unknown."""
        if self.helper:
            return None
        key = self.key
        for kind, pattern in KIND_PATTERNS:
            if pattern.fullmatch(key):
                if kind == "hips" and self.side:
                    return "thigh"
                return kind
        return None

    @property
    def finger(self) -> str | None:
        """Canonical finger (Thumb, Index, Middle, Ring, Pinky) the name speaks of, or None."""
        for k, w in enumerate(self.words):
            if w in _FINGER_WORDS:
                return _FINGER_WORDS[w]
            if w == "finger" and k + 1 < len(self.words) and self.words[k + 1].isdigit():
                d = int(self.words[k + 1][0])  # Biped: Finger1 (index), Finger11, Finger12 (its segments)
                return _BIPED_FINGERS[d] if d < len(_BIPED_FINGERS) else None
        return None

    @property
    def numbered(self) -> bool:
        """Says which segment it is (a digit or proximal/distal...): BEAT's bare LeftHandIndex, beside
        LeftHandIndex1..4, is the metacarpal."""
        return any(w.isdigit() or w in _SEGMENT_WORDS for w in self.words)


def parse_name(name: str) -> JointName:
    """Split a joint name into side and words (see the module docstring)."""
    stem = _RIG_PREFIX.sub("", _NAMESPACE.sub("", name.strip()))
    words = [w.lower() for w in _WORD.findall(stem)]
    for k, w in enumerate(words):
        if w in _LEFT or w in _RIGHT:
            side = "Left" if w in _LEFT else "Right"
            return JointName(side, tuple(words[:k] + words[k + 1:]))
    if words:
        first = words[0]
        for glued, side in (("left", "Left"), ("right", "Right")):
            if first.startswith(glued) and len(first) > len(glued):  # "leftupperarm"
                return JointName(side, (first[len(glued):], *words[1:]))
        # ASF/AMC names glue a one-letter side to the bone: "lhumerus", "rfoot"
        if len(first) > 2 and first[0] in "lr":
            rest = JointName("", (first[1:], *words[1:]))
            if rest.kind not in (None, "root") or rest.finger:
                return JointName("Left" if first[0] == "l" else "Right", rest.words)
    return JointName("", tuple(words))


# --- roles --------------------------------------------------------------------------------------


class _Tree:
    """Hierarchy queries on a skeleton, with each joint's parsed name."""

    def __init__(self, sk: Skeleton):
        self.sk = sk
        self.names = [parse_name(n) for n in sk.names]
        self.kinds = [n.kind for n in self.names]
        self.children = [sk.children(j) for j in range(sk.num_joints)]
        self.depth = [0] * sk.num_joints
        for j in range(1, sk.num_joints):
            self.depth[j] = self.depth[sk.parents[j]] + 1

    def proximal(self, joints) -> int | None:
        """The joint nearest the root (ties: file order)."""
        return min(joints, key=lambda j: (self.depth[j], j), default=None)

    def up(self, j: int, stop: int | None) -> list[int]:
        """Ancestors of j, nearest first, helpers skipped, ending before ``stop``."""
        out = []
        p = self.sk.parents[j]
        while p >= 0 and p != stop:
            if not self.names[p].helper:
                out.append(p)
            p = self.sk.parents[p]
        return out

    def below(self, j: int) -> list[int]:
        """Descendants of j, nearest first (breadth first), helpers left out."""
        out, todo = [], list(self.children[j])
        while todo:
            c = todo.pop(0)
            if not self.names[c].helper:
                out.append(c)
            todo += self.children[c]
        return out

    def is_ancestor(self, a: int, b: int) -> bool:
        return _is_ancestor(self.sk, a, b)


def _pick(chain: list[int], tree: _Tree, want: str, barrier: frozenset[str],
          fallback: frozenset[str | None]) -> int | None:
    """Index in ``chain`` of the nearest joint named ``want`` before one of a ``barrier`` kind; else
    0 when the first joint's kind is in ``fallback`` (the structure speaks: the joint above a hand
    is its forearm whatever its name); else None."""
    for k, j in enumerate(chain):
        kind = tree.kinds[j]
        if kind == want:
            return k
        if kind in barrier:
            break
    return 0 if chain and tree.kinds[chain[0]] in fallback else None


_TRUNK = frozenset({"hips", "root", "spine", "neck", "head"})


def infer_roles(skeleton: Skeleton) -> dict[int, str]:
    """joint index -> the canonical joint it plays, for the joints whose role is found (see the
    module docstring). Every canonical joint is played by one joint at most."""
    tree = _Tree(skeleton)
    n = skeleton.num_joints
    roles: dict[int, str] = {}

    def assign(j: int | None, role: str) -> None:
        if j is not None and j not in roles and role not in roles.values():
            roles[j] = role

    hips = tree.proximal(j for j in range(n) if tree.kinds[j] == "hips")
    if hips is None:  # no joint says hips: the root, or its only child under a "root"/"Reference" joint
        kids = [c for c in tree.children[0] if not tree.names[c].helper]
        hips = kids[0] if tree.kinds[0] == "root" and len(kids) == 1 else 0
    assign(hips, "Hips")

    arm_tops: list[int] = []
    for side in SIDES:
        top = _arm(tree, side, hips, assign)
        if top is not None:
            arm_tops.append(top)

    for side in SIDES:
        feet = [j for j in range(n) if tree.names[j].side == side and tree.kinds[j] == "foot"]
        foot = tree.proximal(feet)
        if foot is None:
            continue
        assign(foot, f"{side}Foot")
        below = tree.below(foot)
        for kinds, role in ((("forefoot",), "ForeFoot"), (("toe", "foot"), "ToeBase"), (("toeend",), "ToeBaseEnd")):
            assign(next((j for j in below if tree.kinds[j] in kinds), None), f"{side}{role}")
        chain = tree.up(foot, hips)
        k = _pick(chain, tree, "shin", frozenset({"thigh"}) | _TRUNK, frozenset({None}))
        if k is None:
            continue
        assign(chain[k], f"{side}Leg")
        chain = chain[k + 1:]
        k = _pick(chain, tree, "thigh", _TRUNK, frozenset({None}))
        if k is not None:
            assign(chain[k], f"{side}UpLeg")

    head = tree.proximal(j for j in range(n) if tree.kinds[j] == "head" and not tree.names[j].side)
    if head is not None:
        assign(head, "Head")
        assign(next((j for j in tree.below(head) if tree.kinds[j] == "headend"), None), "HeadEnd")
    # Where the arms branch off the trunk: the chest, the spine's top unless names say otherwise.
    branch = None
    if arm_tops:
        branch = skeleton.parents[arm_tops[0]]
        while branch > 0 and not all(b == branch or tree.is_ancestor(branch, b) for b in arm_tops):
            branch = skeleton.parents[branch]
    top = head if head is not None else branch
    if top is not None and top != hips and tree.is_ancestor(hips, top):
        path = [top] if head is None else []
        path = [j for j in tree.up(top, hips)[::-1] if j not in roles] + path  # hips (exclusive) to top
        spine, neck = [], []
        for j in path:
            kind = tree.kinds[j]
            at_or_below_branch = branch is not None and (j == branch or tree.is_ancestor(j, branch))
            if kind == "neck" or (kind != "spine" and not at_or_below_branch and branch is not None):
                neck.append(j)
            else:
                spine.append(j)
        for chain, slots in ((spine, ("Spine", "Spine1", "Spine2", "Spine3")), (neck, ("Neck", "Neck1"))):
            for j, slot in _spread(chain, slots):
                assign(j, slot)
    return roles


# An arm from the hand up: per level, the kind its name may say, the kinds that stop the search
# for that name, and the kinds the joint in that place may have when no joint says it (the structure
# decides: the joint above a hand is its forearm whatever its name, unless it is named otherwise).
_ARM_LEVELS: tuple[tuple[str, str, frozenset[str], frozenset[str | None]], ...] = (
    ("Hand", "hand", frozenset(), frozenset()),
    ("ForeArm", "forearm", frozenset({"upperarm", "shoulder", "clavicle"}) | _TRUNK, frozenset({None})),
    ("Arm", "upperarm", frozenset({"clavicle"}) | _TRUNK, frozenset({None, "shoulder"})),
)


def _arm(tree: _Tree, side: str, hips: int, assign) -> int | None:
    """Give one side's arm its roles (clavicle, upper arm, forearm, hand, fingers); returns the arm's
    top joint (where it leaves the trunk), None when no arm is found.

    The arm is anchored on the lowest joint its name places (a hand, else a forearm, else an upper
    arm); below it, lone children of unknown names fill the places a name did not (a hand called
    "Paw" under an "Elbow"); above it, the chain up to the trunk fills the rest."""
    n = tree.sk.num_joints
    level, anchor = None, None
    for k, (_, kind, _, _) in enumerate(_ARM_LEVELS):
        anchor = tree.proximal(j for j in range(n) if tree.names[j].side == side and tree.kinds[j] == kind)
        if anchor is not None:
            level = k
            break
    if anchor is None:
        return None
    while level > 0:  # down through lone children of unknown names
        kids = [c for c in tree.children[anchor] if not tree.names[c].helper]
        if len(kids) != 1 or tree.kinds[kids[0]] is not None:
            break
        anchor, level = kids[0], level - 1
    if level == 0:
        hand = anchor
        while True:  # CMU: LeftHand sits on the wrist with LeftFingerBase on top of it, which carries the palm
            on_top = [c for c in tree.children[hand] if tree.kinds[c] == "hand" and tree.names[c].side == side
                      and np.linalg.norm(tree.sk.offsets[c]) < 1e-9]
            if not on_top:
                break
            hand = on_top[0]
        assign(hand, f"{side}Hand")
        _fingers(tree, anchor, side, assign)
    else:
        assign(anchor, f"{side}{_ARM_LEVELS[level][0]}")
    top = anchor
    chain = tree.up(anchor, hips)
    for role, want, barrier, fallback in _ARM_LEVELS[level + 1:]:
        k = _pick(chain, tree, want, barrier, fallback)
        if k is None:
            return top
        assign(chain[k], f"{side}{role}")
        top, chain = chain[k], chain[k + 1:]
    if chain and tree.kinds[chain[0]] in ("clavicle", "shoulder", None) and tree.names[chain[0]].side == side:
        assign(chain[0], f"{side}Shoulder")
        top = chain[0]
    return top


def _fingers(tree: _Tree, hand: int, side: str, assign) -> None:
    """Name each finger's joints in the hand's subtree from the hand out: the metacarpal (named so, or
    BEAT's bare LeftHandIndex beside LeftHandIndex1..) to the canonical metacarpal, then 1, 2, 3, 4."""
    groups: dict[str, list[int]] = {}
    for j in tree.below(hand):
        name = tree.names[j]
        if name.side in (side, "") and name.finger and tree.kinds[j] is None:
            groups.setdefault(name.finger, []).append(j)
    for finger, joints in groups.items():
        joints.sort(key=lambda j: (tree.depth[j], j))
        names = [tree.names[j] for j in joints]
        metas = [j for j, nm in zip(joints, names) if any(w in _METACARPAL_WORDS for w in nm.words)]
        if not metas and len(joints) > 1 and not names[0].numbered and all(nm.numbered for nm in names[1:]):
            metas = joints[:1]
        meta_role = f"{side}Hand{finger}"
        if meta_role not in JOINT_INDEX:  # thumb, middle: no canonical metacarpal
            if finger == "Thumb":
                metas = []  # a thumb "metacarpal" (VRM 1.0) is its first joint: canonical Thumb1
            meta_role = None
        if meta_role and metas:
            assign(metas[0], meta_role)
        phalanges = [j for j in joints if j not in metas]
        for k, j in enumerate(phalanges[:4]):
            assign(j, f"{side}Hand{finger}{k + 1}")


def _spread(chain: list[int], slots: tuple[str, ...]) -> list[tuple[int, str]]:
    """Pairs a chain of source joints (root first) with canonical slots (root first): ends to ends,
    the rest in order (3 spine joints -> Spine, Spine1, Spine3); a longer chain keeps evenly spaced ones."""
    n, k = len(chain), len(slots)
    if n == 0:
        return []
    if n == 1:
        return [(chain[0], slots[0])]
    if n <= k:
        return list(zip(chain[:-1], slots[:n - 1])) + [(chain[-1], slots[-1])]
    picks = np.round(np.linspace(0, n - 1, k)).astype(int)
    return [(chain[i], s) for i, s in zip(picks, slots)]


# SMPL / SMPL-H / SMPL-X joint names (left_hip, L_Hip, m_avg_L_Hip): names only SMPL gives a side
SMPL_NAMES = r"^(?:[mf]_avg_)?(?:left|right|l|r)_(?:collar|hip|knee|ankle)$"
_SCHEMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((label, re.compile(p, re.IGNORECASE)) for label, p in (
    ("Mixamo", r"^mixamorig"),
    ("3ds Max Biped", r"^(?:valvebiped\.)?bip0*\d+(?:\s|_|$)"),
    ("VRoid", r"^j_bip_"),
    ("SMPL", SMPL_NAMES),  # left_hip, L_Hip, m_avg_L_Hip
    ("Unreal mannequin", r"^(?:clavicle|upperarm|lowerarm|thigh|calf)_[lr]$"),
    ("VRM humanoid", r"^(?-i:(?:left|right)(?:UpperArm|LowerArm|UpperLeg|LowerLeg))$"),  # camelCase only
    ("CMU (ASF names)", r"^(?:upperback|thorax|[lr]humerus|[lr]radius)$"),
    ("Collar/Shoulder/Elbow/Wrist", r"^(?:left|right|l|r)_?(?:collar|elbow|wrist)$"),
    ("CMU", r"^(?:LowerBack|LeftFingerBase|LHipJoint)$"),
))


def naming_scheme(skeleton: Skeleton) -> str:
    """A label for the report: the naming the joint names look like ("canonical" for umo's own)."""
    if skeleton.is_canonical():
        return "canonical"
    for label, pattern in _SCHEMES:
        if any(pattern.search(n.strip()) for n in skeleton.names):
            return label
    known = sum(n in JOINT_INDEX for n in skeleton.names)
    if known == skeleton.num_joints:
        return "canonical (BEAT/ZEGGS)"
    return "BEAT/ZEGGS-like" if known >= skeleton.num_joints / 2 else "unfamiliar"


# --- the mapping and its report -----------------------------------------------------------------


@dataclass(frozen=True)
class JointMapping:
    """Which target joint takes its motion from which source joint; also the report of what mapped."""

    source: Skeleton
    target: Skeleton
    pairs: dict[int, int]  # target joint index -> source joint index
    naming: str  # how the source names read: "canonical", "Mixamo", "CMU", ... or "explicit" (a joint_map)
    target_roles: dict[int, str]  # target joint -> the canonical joint it plays (its name on the canonical skeleton)

    @property
    def unmapped_target(self) -> tuple[str, ...]:
        """Target joints that stay at rest."""
        return tuple(n for j, n in enumerate(self.target.names) if j not in self.pairs)

    @property
    def unused_source(self) -> tuple[str, ...]:
        """Source joints whose motion is not transferred on its own (it may still reach the target
        through a paired joint's global rotation)."""
        used = set(self.pairs.values())
        return tuple(n for j, n in enumerate(self.source.names) if j not in used)

    def named_pairs(self) -> dict[str, str]:
        """source name -> target name."""
        return {self.source.names[s]: self.target.names[t] for t, s in self.pairs.items()}

    @cached_property
    def missing_essential(self) -> dict[str, tuple[str, ...]]:
        """Essential part -> its canonical joints that no source joint drives (empty: all mapped)."""
        played = {self.target_roles[t] for t in self.pairs if t in self.target_roles}
        out = {}
        for part in ESSENTIAL_PARTS:
            missing = tuple(j for j in part.joints if j not in played)
            if (len(missing) == len(part.joints)) if part.any_of else missing:
                out[part.name] = missing
        return out

    @property
    def complete(self) -> bool:
        """Every essential part maps."""
        return not self.missing_essential

    def summary(self) -> str:
        """One line: what mapped, what did not."""
        s, t = self.source.num_joints, self.target.num_joints
        line = (f"{self.naming} skeleton: {len(self.pairs)} of {s} source joints drive "
                f"{len(self.pairs)} of {t} target joints")
        if self.unused_source:
            line += f"; unused: {_abbreviate(self.unused_source)}"
        if self.unmapped_target:
            line += f"; at rest: {_abbreviate(self.unmapped_target)}"
        if self.missing_essential:
            line += f"; MISSING {self.missing_text()}"
        return line

    def missing_text(self) -> str:
        """``left arm (LeftForeArm, LeftHand), head (Head)``."""
        return ", ".join(f"{part} ({', '.join(joints)})" for part, joints in self.missing_essential.items())

    def refusal(self) -> str:
        """Why a retarget with this mapping is refused, and what to do."""
        unused = _abbreviate(self.unused_source, 12) if self.unused_source else "none"
        return (f"the {self.naming} skeleton does not map onto the target: no source joint for the "
                f"{self.missing_text()}, which would stay still. Source joints not mapped: {unused}. "
                "Give joint_map={source name: canonical name} for the missing joints, or allow_partial=True "
                "(umo convert --allow-partial) to convert anyway with them at rest")


def _abbreviate(names: tuple[str, ...], keep: int = 6) -> str:
    """Joint names for one line: finger joints counted, the rest listed up to ``keep``."""
    fingers = [n for n in names if parse_name(n).finger and parse_name(n).kind is None]
    others = [n for n in names if n not in fingers]
    parts = others[:keep] + ([f"+{len(others) - keep} more"] if len(others) > keep else [])
    if fingers:
        parts.append(f"{len(fingers)} finger joints")
    return ", ".join(parts)


def map_joints(source: Skeleton, target: Skeleton, joint_map: dict[str, str] | None = None) -> JointMapping:
    """Pair target joints with source joints: by ``joint_map`` (source name -> target name) when
    given, else by role (:func:`infer_roles` on both skeletons; see the module docstring)."""
    target_roles = {j: n for j, n in enumerate(target.names)} if target.is_canonical() else infer_roles(target)
    if joint_map is not None:
        pairs: dict[int, int] = {}
        for s_name, t_name in joint_map.items():
            if s_name not in source.names:
                raise UmoError(f"joint_map names source joint {s_name!r}, which the source skeleton lacks "
                               f"(it has {', '.join(source.names[:6])}, ...)")
            if t_name not in target.names:
                raise UmoError(f"joint_map names target joint {t_name!r}, which the target skeleton lacks "
                               f"(it has {', '.join(target.names[:6])}, ...)")
            t = target.index(t_name)
            if t in pairs:
                raise UmoError(f"joint_map sends two source joints to target {t_name!r}; give each target one source")
            pairs[t] = source.index(s_name)
        return JointMapping(source, target, pairs, "explicit", target_roles)
    by_role = {role: j for j, role in infer_roles(source).items()}
    pairs = {t: by_role[role] for t, role in target_roles.items() if role in by_role}
    return JointMapping(source, target, pairs, naming_scheme(source), target_roles)


# --- transfer -----------------------------------------------------------------------------------


def retarget(anim: Animation, target: Skeleton | None = None, joint_map: dict[str, str] | None = None,
             allow_partial: bool = False) -> Animation:
    """``anim``'s body motion on ``target`` (the canonical skeleton when None).

    joint_map: source joint name -> target joint name; None pairs joints by role (see
    :func:`map_joints`, whose :class:`JointMapping` reports what maps). A mapping that leaves an
    essential part (spine, head, an arm down to the hand) without a source joint raises UmoError,
    or with ``allow_partial`` warns and leaves that part at rest. Face, head, eyes and audio are
    kept; the result's skeleton is ``target``.
    """
    if anim.body is None:
        raise UmoError("this animation has no body motion to retarget")
    target = canonical_skeleton() if target is None else target
    mapping = map_joints(anim.skeleton, target, joint_map)
    if len(mapping.pairs) < 2:
        raise UmoError(f"only {len(mapping.pairs)} joint(s) of the source skeleton could be paired with the "
                       f"target (source joints: {', '.join(anim.skeleton.names[:8])}, ...); pass joint_map="
                       "{source name: target name}")
    if mapping.missing_essential:
        if not allow_partial:
            raise UmoError(mapping.refusal())
        warnings.warn(f"partial retarget of the {mapping.naming} skeleton: no source joint for the "
                      f"{mapping.missing_text()}; they stay at rest", stacklevel=2)
    if 0 not in mapping.pairs:
        warnings.warn(f"the target root {target.names[0]!r} has no source joint: the body keeps its rest "
                      "orientation and position; add it to joint_map", stacklevel=2)

    turn = world_alignment(mapping)
    src = anim
    if not np.array_equal(turn, np.eye(3)):  # express the source in the target's axes first
        sk = anim.skeleton
        turned = Skeleton(sk.names, sk.parents, sk.offsets @ turn.T, {j: turn @ e for j, e in sk.end_sites.items()})
        # R -> turn R turn^T for every joint: the rotation's axis turns, its angle stays
        src = anim.copy(body=anim.body @ turn.T, root_pos=anim.root_pos @ turn.T, skeleton=turned)
        mapping = replace(mapping, source=turned)

    corrections = rest_alignment(mapping)  # (Jt, 3, 3)
    p_src, g_src = forward_kinematics(src.skeleton, src.body, src.root_pos)  # (T, Js, 3), (T, Js, 3, 3)
    t, jt = anim.num_frames, target.num_joints
    g_tgt = np.empty((t, jt, 3, 3))
    local = np.broadcast_to(np.eye(3), (t, jt, 3, 3)).copy()
    for j in range(jt):
        p = target.parents[j]
        if j in mapping.pairs:
            g_tgt[:, j] = g_src[:, mapping.pairs[j]] @ corrections[j]
            local[:, j] = g_tgt[:, j] if p < 0 else np.swapaxes(g_tgt[:, p], -1, -2) @ g_tgt[:, j]
        else:
            g_tgt[:, j] = np.eye(3) if p < 0 else g_tgt[:, p]

    if 0 in mapping.pairs:
        hips = mapping.pairs[0]  # the root follows the source's hips, wherever the source's root is
        root_pos = p_src[:, hips] * (hip_height(target) / hip_height(src.skeleton, hips))
    else:
        root_pos = np.tile(_rest_root(target), (t, 1))
    return anim.copy(body=matrix_to_rotvec(local), root_pos=root_pos, skeleton=target)


def _axis_rotations() -> np.ndarray:
    """(24, 3, 3) the rotations that permute the axes, signs included."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if np.linalg.det(m) > 0:
                out.append(m)
    return np.array(out)


_AXIS_ROTATIONS = _axis_rotations()


def world_alignment(mapping: JointMapping) -> np.ndarray:
    """(3, 3) the axis-aligned rotation taking the source's world axes onto the target's, read from
    the rest poses: up is hips to head (or spine top), left is right to left upper arm (or thigh).
    Identity when the joints to tell are not mapped or the axes already agree (Y up, facing +Z)."""
    src = _body_axes(mapping.source, {mapping.target_roles[t]: s for t, s in mapping.pairs.items()
                                      if t in mapping.target_roles})
    tgt = _body_axes(mapping.target, {role: t for t, role in mapping.target_roles.items()})
    if src is None or tgt is None:
        return np.eye(3)
    fit = _fit_rotation(np.array(src), np.array(tgt))  # fit @ source axis ~ target axis
    scores = np.einsum("nij,ij->n", _AXIS_ROTATIONS, fit)
    return _AXIS_ROTATIONS[int(np.argmax(scores))]


def _body_axes(sk: Skeleton, joint_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """(up, left) rest directions of a skeleton whose joints play the given canonical roles."""
    rest = _rest_positions(sk)

    def first(*roles: str) -> int | None:
        return next((joint_of[r] for r in roles if r in joint_of), None)

    hips, top = first("Hips"), first("Head", "Neck", "Spine3", "Spine2", "Spine1")
    pairs = [(first("LeftArm", "LeftShoulder"), first("RightArm", "RightShoulder")),
             (first("LeftUpLeg"), first("RightUpLeg"))]
    left = next((rest[a] - rest[b] for a, b in pairs if a is not None and b is not None), None)
    if hips is None or top is None or left is None:
        return None
    up = rest[top] - rest[hips]
    if min(np.linalg.norm(up), np.linalg.norm(left)) < 1e-9:
        return None
    return up, left


def rest_alignment(mapping: JointMapping) -> np.ndarray:
    """(Jt, 3, 3) per target joint, the rotation C taking its rest bone directions onto its source
    joint's: ``C @ d_target ≈ d_source``. A paired joint with no usable direction inherits its nearest
    paired ancestor's C (unpaired joints carry it down; retarget does not use theirs).
    """
    src, tgt = mapping.source, mapping.target
    rest_s, rest_t = _rest_positions(src), _rest_positions(tgt)
    out = np.broadcast_to(np.eye(3), (tgt.num_joints, 3, 3)).copy()
    for j in range(tgt.num_joints):  # parents first, so an inherited C is already known
        if j not in mapping.pairs:
            if tgt.parents[j] >= 0:
                out[j] = out[tgt.parents[j]]  # passes a correction down to paired descendants
            continue
        s = mapping.pairs[j]
        d_t, d_s = [], []
        todo = _nearest_paired_descendants(tgt, j, mapping.pairs)
        while todo:
            k = todo.pop()
            m = mapping.pairs[k]
            if not _is_ancestor(src, s, m):
                continue
            v_t, v_s = rest_t[k] - rest_t[j], rest_s[m] - rest_s[s]
            if min(np.linalg.norm(v_t), np.linalg.norm(v_s)) > 1e-9:
                d_t.append(v_t)
                d_s.append(v_s)
            else:  # a joint on top of this one (CMU's LowerBack on the Hips): look one pair further
                todo += _nearest_paired_descendants(tgt, k, mapping.pairs)
        if not _usable(d_t, d_s):
            # A chain end (a fingertip, the head): its own bone, to a child or an End Site.
            d_t, d_s = [_bone_vector(tgt, j)], [_bone_vector(src, s)]
        if _usable(d_t, d_s):
            out[j] = _fit_rotation(np.array(d_t), np.array(d_s))
        elif tgt.parents[j] >= 0:
            out[j] = out[tgt.parents[j]]
    return out


def hip_height(skeleton: Skeleton, joint: int = 0) -> float:
    """Rest height of ``joint`` (the hips; by default the root) above the lowest joint or End Site
    (Y up). Skeletons without legs (upper body only) use their total rest height instead, so the
    ratio still compares sizes."""
    rest = _rest_positions(skeleton)
    ends = [rest[j] + off for j, off in skeleton.end_sites.items()]
    ys = np.concatenate([rest[:, 1], np.array(ends).reshape(-1, 3)[:, 1]])
    height = rest[joint, 1] - ys.min()
    extent = ys.max() - ys.min()
    if height > 0.2 * extent:
        return float(height)
    if extent > 0:
        return float(extent)
    raise UmoError("the skeleton has no height in its rest pose (all joints at one level): cannot scale "
                   "the root; is it Y up?")


def _rest_positions(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) joint positions of the rest pose with the root at the origin."""
    zeros = np.zeros((1, skeleton.num_joints, 3))
    return forward_kinematics(skeleton, zeros, np.zeros((1, 3)))[0][0]


def _rest_root(skeleton: Skeleton) -> np.ndarray:
    return rest_root_position() if skeleton.is_canonical() else skeleton.offsets[0]


def _nearest_paired_descendants(sk: Skeleton, j: int, pairs: dict[int, int]) -> list[int]:
    out, todo = [], sk.children(j)
    while todo:
        c = todo.pop()
        if c in pairs:
            out.append(c)
        else:
            todo += sk.children(c)
    return out


def _is_ancestor(sk: Skeleton, a: int, b: int) -> bool:
    while b >= 0:
        b = sk.parents[b]
        if b == a:
            return True
    return False


def _bone_vector(sk: Skeleton, j: int) -> np.ndarray:
    """Direction of joint j's own bone: the mean of its children's non-zero offsets, else its End
    Site; through zero-length children (CMU's FingerBase sits on the wrist) when that is all there is."""
    kids = sk.children(j)
    long = [sk.offsets[c] for c in kids if np.linalg.norm(sk.offsets[c]) > 1e-9]
    if long:
        return np.mean(long, axis=0)
    if j in sk.end_sites and np.linalg.norm(sk.end_sites[j]) > 1e-9:
        return np.asarray(sk.end_sites[j], dtype=np.float64)
    for c in kids:
        v = _bone_vector(sk, c)
        if np.linalg.norm(v) > 1e-9:
            return v
    return np.zeros(3)


def _usable(d_t: list[np.ndarray], d_s: list[np.ndarray]) -> bool:
    return any(np.linalg.norm(a) > 1e-9 and np.linalg.norm(b) > 1e-9 for a, b in zip(d_t, d_s))


def _fit_rotation(d_t: np.ndarray, d_s: np.ndarray) -> np.ndarray:
    """The rotation C minimising sum ||C a_i - b_i||^2 over unit directions (Wahba / Kabsch).

    d_t, d_s: (N, 3) matching target and source directions. With one direction (or parallel ones)
    the twist about it is free: the shortest arc is taken.
    """
    keep = (np.linalg.norm(d_t, axis=1) > 1e-9) & (np.linalg.norm(d_s, axis=1) > 1e-9)
    a = d_t[keep] / np.linalg.norm(d_t[keep], axis=1, keepdims=True)
    b = d_s[keep] / np.linalg.norm(d_s[keep], axis=1, keepdims=True)
    h = b.T @ a  # (3, 3) sum of b_i a_i^T
    u, sv, vt = np.linalg.svd(h)
    if len(a) >= 2 and sv[1] > 1e-6 * sv[0]:
        d = np.sign(np.linalg.det(u @ vt))
        return u @ np.diag([1.0, 1.0, d]) @ vt
    return _shortest_arc(a.mean(axis=0), b.mean(axis=0))


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation taking direction a onto direction b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # Opposite directions: half a turn about any axis perpendicular to a.
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    return rotvec_to_matrix(axis / s * np.arctan2(s, c))
