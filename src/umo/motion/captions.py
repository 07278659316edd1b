"""A small caption parser: "a person waves with the right hand, then bows" -> [ActionSpec, ...].

Clauses are split at "then", "and then", "after that", "and", ",", ";" and "."; in each clause the
first phrase that names an action (several phrasings each, see ``PHRASES``) picks the action, and
the clause's other words set its parameters: sides (left/right/both), speed (slowly/quickly ...),
manner (happily/sadly ...), counts (once, twice, three times, 4 times), directions (forward,
backward, left, right, around, up, to the side) and a walk's distance ("3 meters", "five steps").
Words that are neither (nor filler such as "a person", "with the") are reported in ``unknown``;
a caption with no action at all is an error that lists the actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from umo.errors import UmoError
from umo.motion.actions import ACTIONS, ActionSpec

# Phrases naming each action, longest first within an action where they overlap. Matched on whole words.
PHRASES: dict[str, tuple[str, ...]] = {
    "sit_down": ("sits down", "sit down", "sitting down", "takes a seat", "take a seat", "sits", "sit", "sitting"),
    "stand_up": ("stands up", "stand up", "standing up", "gets up", "get up", "rises", "rise"),
    "raise_arms": ("raises", "raise", "raising", "lifts", "lift", "lifting", "arms up", "hands up", "puts up",
                   "throws up"),
    "walk": ("walks", "walk", "walking", "strolls", "stroll", "steps", "step", "stepping", "moves", "goes",
             "runs", "run", "running", "jogs", "jog", "marches", "paces"),
    "turn": ("turns", "turn", "turning", "spins", "spin", "rotates", "pivots"),
    "wave": ("waves", "wave", "waving", "waved", "greets", "greet", "says hello", "says hi"),
    "point": ("points", "point", "pointing", "indicates", "gestures at", "gestures to"),
    "clap": ("claps", "clap", "clapping", "applauds", "applaud"),
    "bow": ("bows", "bow", "bowing", "bends forward", "bends over", "leans forward"),
    "nod": ("nods", "nod", "nodding", "agrees"),
    "shrug": ("shrugs", "shrug", "shrugging"),
    "jump": ("jumps", "jump", "jumping", "hops", "hop", "leaps", "leap"),
    "crouch": ("crouches", "crouch", "crouching", "squats", "squat", "squatting", "ducks", "kneels", "bends down"),
    "kick": ("kicks", "kick", "kicking"),
    "idle": ("stands still", "stands", "stand", "waits", "wait", "idles", "idle", "pauses", "rests", "stays"),
}
SPEED_WORDS: dict[str, float] = {
    "slowly": 0.7, "slow": 0.7, "leisurely": 0.7, "carefully": 0.8, "gently": 0.85, "calmly": 0.85,
    "quickly": 1.45, "fast": 1.45, "quick": 1.45, "briskly": 1.3, "rapidly": 1.45, "hurriedly": 1.45,
}
MANNER_WORDS: dict[str, float] = {  # energy (amplitude) factors
    "happily": 1.25, "excitedly": 1.35, "energetically": 1.35, "enthusiastically": 1.35, "cheerfully": 1.2,
    "wildly": 1.4, "proudly": 1.15, "deeply": 1.35, "high": 1.3, "big": 1.25,
    "sadly": 0.7, "tiredly": 0.7, "lazily": 0.7, "shyly": 0.7, "slightly": 0.65, "little": 0.7, "small": 0.7,
    "politely": 0.9, "softly": 0.8,
}
COUNT_WORDS: dict[str, int] = {"once": 1, "twice": 2, "thrice": 3}
NUMBERS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "a": 1, "an": 1, "couple": 2, "few": 3, "several": 4,
}
SIDE_WORDS = {"right": "right", "left": "left", "both": "both"}
DIRECTION_WORDS = {"forward": "forward", "forwards": "forward", "ahead": "forward", "straight": "forward",
                   "backward": "backward", "backwards": "backward", "back": "backward", "around": "around",
                   "sideways": "side", "side": "side", "up": "up", "upward": "up", "overhead": "up", "down": "down",
                   "front": "forward"}
UNITS_CM = {"meter": 100.0, "meters": 100.0, "metre": 100.0, "metres": 100.0, "m": 100.0, "step": 60.0,
            "steps": 60.0, "foot": 30.0, "feet": 30.0, "yards": 91.0, "yard": 91.0}
FILLER = frozenset("""
a an the person man woman someone somebody he she they it character figure guy girl boy his her their its
with using by to at in on of into onto from towards toward over then and after that while is are does do
hand hands arm arms leg legs foot head body hello hi goodbye bye for time times again also just
in place then hip hips knee knees chair seat way direction someone's the people audience crowd camera
friend somebody something him them me you your my first finally next before afterwards
""".split())
_SPLIT = re.compile(r"\s*(?:,|;|\.|\band then\b|\bthen\b|\bafter that\b|\bafterwards\b|\band\b)\s*")


@dataclass(frozen=True)
class Parsed:
    specs: list[ActionSpec]
    unknown: tuple[str, ...]  # words neither understood nor filler, in order of appearance
    clauses_without_action: tuple[str, ...]


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?", text.lower())


def _find_action(words: list[str]) -> tuple[str, int, int] | None:
    """(action, start, end) of the first action phrase in the clause (earliest, then longest)."""
    best = None
    for action, phrases in PHRASES.items():
        for phrase in phrases:
            pw = phrase.split()
            for i in range(len(words) - len(pw) + 1):
                if words[i:i + len(pw)] == pw:
                    key = (i, -len(pw))
                    if best is None or key < best[0]:
                        best = (key, action, i, i + len(pw))
                    break
    return None if best is None else best[1:]


def _number(word: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", word):
        return float(word)
    return NUMBERS.get(word)


def parse_clause(clause: str) -> tuple[ActionSpec | None, list[str]]:
    """One clause -> its action (None when it names none) and the words it did not understand."""
    words = _tokens(clause)
    found = _find_action(words)
    if found is None:
        return None, [w for w in words if w not in FILLER and not _known_modifier(w)]
    action, a, b = found
    used = set(range(a, b))
    spec = ActionSpec(action)
    unknown: list[str] = []
    i = 0
    while i < len(words):
        if i in used:
            i += 1
            continue
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        num = _number(w)
        if num is not None and nxt in ("times", "time"):
            spec = replace(spec, count=max(1, min(20, int(num))))
            i += 2
            continue
        if num is not None and nxt in UNITS_CM:
            spec = replace(spec, distance_cm=num * UNITS_CM[nxt])
            i += 2
            continue
        if num is not None and nxt in ("degrees", "degree"):
            spec = replace(spec, angle_deg=num)
            i += 2
            continue
        if w in COUNT_WORDS:
            spec = replace(spec, count=COUNT_WORDS[w])
        elif w in SPEED_WORDS:
            spec = replace(spec, speed=spec.speed * SPEED_WORDS[w])
        elif w in MANNER_WORDS:
            spec = replace(spec, energy=spec.energy * MANNER_WORDS[w])
        elif w in SIDE_WORDS:
            side = SIDE_WORDS[w]
            if action in ("walk", "turn") or (action in ("point", "kick") and side != "both"
                                              and nxt not in ("hand", "arm", "leg", "foot")):
                # "turns left", "walks left", "points left": a direction; "with the left hand": a side
                if action in ("walk", "turn"):
                    spec = replace(spec, direction=side)
                elif action == "point":
                    spec = replace(spec, side=side, direction="side")
                else:
                    spec = replace(spec, side=side)
            else:
                spec = replace(spec, side=side)
        elif w in DIRECTION_WORDS:
            d = DIRECTION_WORDS[w]
            if action == "turn" and d == "backward":
                d = "around"
            if action == "kick" and d != "side":
                d = None if d != "forward" else "forward"
            if action in ("walk", "turn", "point", "raise_arms", "kick", "jump") and d is not None:
                spec = replace(spec, direction=d)
        elif num is not None or w in FILLER:
            pass
        else:
            unknown.append(w)
        i += 1
    if spec.name == "turn" and spec.direction is None:
        spec = replace(spec, direction="left")
    return spec, unknown


def _known_modifier(w: str) -> bool:
    return (w in SPEED_WORDS or w in MANNER_WORDS or w in COUNT_WORDS or w in SIDE_WORDS or w in DIRECTION_WORDS
            or w in UNITS_CM or _number(w) is not None)


def parse_caption(text: str) -> Parsed:
    """A caption -> the action sequence. Raises UmoError when no action is recognised."""
    if not text or not text.strip():
        raise UmoError(f"the prompt is empty: describe actions, e.g. \"a person waves with the right hand, then "
                       f"bows\"; the actions are: {action_list()}")
    specs: list[ActionSpec] = []
    unknown: list[str] = []
    empty: list[str] = []
    for clause in _SPLIT.split(text.strip()):
        if not clause or not clause.strip():
            continue
        spec, unk = parse_clause(clause)
        unknown += unk
        if spec is None:
            if any(w not in FILLER for w in _tokens(clause)):
                empty.append(clause.strip())
            continue
        specs.append(spec)
    if not specs:
        raise UmoError(f"no action recognised in {text!r}: the actions are {action_list()} "
                       "(e.g. \"walks forward slowly and turns left\", \"jumps twice\")")
    return Parsed(specs, tuple(dict.fromkeys(unknown)), tuple(empty))


def action_list() -> str:
    """The actions with one phrasing each, for error messages and help."""
    return ", ".join(f"{a.replace('_', ' ')} ({PHRASES[a][0]!r})" for a in ACTIONS)
