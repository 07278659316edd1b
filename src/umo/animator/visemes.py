"""Phones to visemes to mouth poses: the targets the face animator blends with coarticulation.

Every ARPAbet phone (``umo.speech.units``) belongs to one viseme class: phones that look alike on
the lips (P/B/M, F/V, ...). A :class:`Viseme` holds

- a **target pose** over the jaw/mouth ARKit channels (weights in [0, 1]);
- its **dominance** in the Cohen–Massaro sense (Cohen & Massaro 1993, "Modeling coarticulation in
  synthetic visual speech"): how strongly the segment imposes its target on its neighbours and
  resists theirs. Lips and jaw are separate articulators, so each viseme has one dominance for the
  lip channels and one for the jaw: an alveolar T leaves the lips free to take the next vowel's
  rounding but holds the jaw fairly high; a bilabial holds the lips firmly;
- per-viseme **onset / offset time constants** (seconds): how far before its centre a segment's
  influence starts (anticipation) and how long it lingers after (carry-over). Rounded segments
  have a long lip onset: lips round about 0.1 s ahead, across intervening consonants.

Diphthongs (AW AY EY OW OY) move between two targets, so they map to two visemes, each covering a
share of the phone (:func:`viseme_segments`).

The poses are hand-set from the ARKit shape definitions and phonetics (vowel jaw opening follows
vowel height: AA widest ... IY/UW smallest). Their scale follows the real Live Link captures
(``umo.animator.calibration``): ARKit opens the lips with MouthLowerDown about as much as with
JawOpen (real p95: LowerDown 0.54, JawOpen 0.19, lip aperture 0.60), and MouthPucker stays small
(real p95 0.06, max 0.10), so vowels split their opening between the two and rounding leans on
MouthFunnel (real p95 0.34).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np

from umo.constants import ARKIT_INDEX, NUM_BLENDSHAPES
from umo.speech.units import SILENCE, Phone

# Channels the jaw articulator owns; every other mouth channel belongs to the lips.
JAW_CHANNEL_NAMES: tuple[str, ...] = ("JawOpen",)


@dataclass(frozen=True)
class Viseme:
    name: str
    pose: Mapping[str, float]  # target ARKit weights; channels not named are 0
    lip_dominance: float  # 0..1: strength over the lip channels (every mouth channel but JawOpen)
    jaw_dominance: float  # 0..1: strength over JawOpen
    onset_s: float  # s: decay constant of the influence before the segment's core (anticipation)
    offset_s: float  # s: decay constant after the core (carry-over)
    rounded: bool = False  # lips round: lip onset is widened to FaceConfig.rounding_anticipation_s
    closure: bool = False  # bilabial: the lips must meet (hard constraint in umo.animator.face)

    def target(self) -> np.ndarray:
        """(52,) the pose as a vector in ARKIT_NAMES order."""
        v = np.zeros(NUM_BLENDSHAPES)
        for name, w in self.pose.items():
            v[ARKIT_INDEX[name]] = w
        return v


def _v(name: str, pose: dict[str, float], lip: float, jaw: float, onset: float, offset: float,
       rounded: bool = False, closure: bool = False) -> Viseme:
    for ch in pose:
        if ch not in ARKIT_INDEX:
            raise ValueError(f"viseme {name}: unknown ARKit channel {ch!r}")
    return Viseme(name, MappingProxyType(dict(pose)), lip, jaw, onset, offset, rounded, closure)


def _lr(prefix: str, w: float) -> dict[str, float]:
    """A symmetric pair: MouthSmile -> MouthSmileLeft, MouthSmileRight."""
    return {f"{prefix}Left": w, f"{prefix}Right": w}


# The rest pose: jaw barely dropped, lips lightly together (aperture 0), a trace of press.
REST = _v("rest", {"JawOpen": 0.03, "MouthClose": 0.03, **_lr("MouthPress", 0.08)},
          lip=0.3, jaw=0.3, onset=0.08, offset=0.08)

# Visemes. Time constants: consonants are quick (20-40 ms), vowels slower (50-70 ms); see module doc.
VISEMES: Mapping[str, Viseme] = MappingProxyType({v.name: v for v in (
    REST,
    # --- consonants ---
    _v("PBM", {"JawOpen": 0.07, "MouthClose": 0.07, **_lr("MouthPress", 0.35), "MouthRollLower": 0.15,
               "MouthRollUpper": 0.10, "MouthShrugLower": 0.15},
       lip=1.0, jaw=0.6, onset=0.030, offset=0.025, closure=True),
    _v("FV", {"JawOpen": 0.06, "MouthClose": 0.02, "MouthRollLower": 0.55, **_lr("MouthUpperUp", 0.18),
              "MouthShrugUpper": 0.10, **_lr("MouthPress", 0.10)},
       lip=0.9, jaw=0.6, onset=0.035, offset=0.030),
    _v("TH", {"JawOpen": 0.12, "TongueOut": 0.22, **_lr("MouthLowerDown", 0.10), **_lr("MouthUpperUp", 0.06)},
       lip=0.5, jaw=0.6, onset=0.035, offset=0.030),
    _v("TDNL", {"JawOpen": 0.10, **_lr("MouthLowerDown", 0.08), **_lr("MouthStretch", 0.05)},
       lip=0.2, jaw=0.5, onset=0.030, offset=0.030),
    _v("SZ", {"JawOpen": 0.04, **_lr("MouthStretch", 0.22), **_lr("MouthUpperUp", 0.15),
              **_lr("MouthLowerDown", 0.15), **_lr("MouthSmile", 0.08)},
       lip=0.5, jaw=0.85, onset=0.035, offset=0.030),
    # Postalveolars protrude the lips: a funnel, but they do not drive vowel-style anticipation.
    _v("SHCH", {"JawOpen": 0.06, "MouthFunnel": 0.38, "MouthPucker": 0.15, "MouthShrugUpper": 0.18,
                **_lr("MouthUpperUp", 0.12)},
       lip=0.75, jaw=0.8, onset=0.045, offset=0.035),
    _v("KG", {"JawOpen": 0.13, **_lr("MouthLowerDown", 0.05)}, lip=0.15, jaw=0.4, onset=0.030, offset=0.030),
    _v("R", {"JawOpen": 0.08, "MouthPucker": 0.22, "MouthFunnel": 0.20, "MouthShrugUpper": 0.08},
       lip=0.55, jaw=0.4, onset=0.045, offset=0.040),
    _v("W", {"JawOpen": 0.05, "MouthPucker": 0.60, "MouthFunnel": 0.25, "MouthShrugUpper": 0.05},
       lip=0.9, jaw=0.5, onset=0.05, offset=0.04, rounded=True),
    _v("Y", {"JawOpen": 0.06, **_lr("MouthStretch", 0.22), **_lr("MouthSmile", 0.12)},
       lip=0.4, jaw=0.5, onset=0.035, offset=0.030),
    # H takes the shape of its neighbours almost entirely.
    _v("HH", {"JawOpen": 0.15, **_lr("MouthLowerDown", 0.05)}, lip=0.05, jaw=0.05, onset=0.03, offset=0.03),
    # --- vowels: jaw opening by height ---
    _v("AA", {"JawOpen": 0.45, **_lr("MouthLowerDown", 0.40), **_lr("MouthUpperUp", 0.08)},
       lip=0.5, jaw=0.8, onset=0.060, offset=0.060),
    _v("AE", {"JawOpen": 0.38, **_lr("MouthLowerDown", 0.42), **_lr("MouthStretch", 0.22),
              **_lr("MouthUpperUp", 0.18)},
       lip=0.5, jaw=0.8, onset=0.060, offset=0.060),
    _v("AH", {"JawOpen": 0.30, **_lr("MouthLowerDown", 0.28)}, lip=0.4, jaw=0.7, onset=0.055, offset=0.055),
    # Schwa: short, reduced, weak; it borrows most of its shape from the context.
    _v("AX", {"JawOpen": 0.17, **_lr("MouthLowerDown", 0.12)}, lip=0.15, jaw=0.3, onset=0.04, offset=0.04),
    _v("AO", {"JawOpen": 0.38, "MouthFunnel": 0.38, "MouthPucker": 0.08, **_lr("MouthLowerDown", 0.18)},
       lip=0.7, jaw=0.8, onset=0.060, offset=0.060, rounded=True),
    _v("EH", {"JawOpen": 0.25, **_lr("MouthLowerDown", 0.32), **_lr("MouthStretch", 0.18)},
       lip=0.45, jaw=0.75, onset=0.055, offset=0.055),
    _v("ER", {"JawOpen": 0.17, "MouthFunnel": 0.25, "MouthPucker": 0.15, "MouthShrugUpper": 0.08,
              **_lr("MouthLowerDown", 0.08)},
       lip=0.55, jaw=0.6, onset=0.055, offset=0.055),
    _v("IH", {"JawOpen": 0.17, **_lr("MouthStretch", 0.22), **_lr("MouthSmile", 0.08),
              **_lr("MouthLowerDown", 0.18)},
       lip=0.45, jaw=0.7, onset=0.050, offset=0.050),
    _v("IY", {"JawOpen": 0.10, **_lr("MouthStretch", 0.30), **_lr("MouthSmile", 0.18),
              **_lr("MouthUpperUp", 0.12), **_lr("MouthLowerDown", 0.15)},
       lip=0.6, jaw=0.75, onset=0.055, offset=0.055),
    _v("UH", {"JawOpen": 0.17, "MouthPucker": 0.30, "MouthFunnel": 0.30, **_lr("MouthLowerDown", 0.08)},
       lip=0.7, jaw=0.7, onset=0.055, offset=0.055, rounded=True),
    _v("UW", {"JawOpen": 0.10, "MouthPucker": 0.55, "MouthFunnel": 0.35, "MouthShrugUpper": 0.05},
       lip=0.85, jaw=0.75, onset=0.060, offset=0.055, rounded=True),
    _v("OW", {"JawOpen": 0.28, "MouthFunnel": 0.45, "MouthPucker": 0.22, **_lr("MouthLowerDown", 0.12)},
       lip=0.8, jaw=0.8, onset=0.060, offset=0.055, rounded=True),
)})

# Phone -> viseme name(s). Diphthongs: (first, second) targets, the first covering DIPHTHONG_SPLIT.
PHONE_VISEMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    SILENCE: ("rest",),
    "P": ("PBM",), "B": ("PBM",), "M": ("PBM",),
    "F": ("FV",), "V": ("FV",),
    "TH": ("TH",), "DH": ("TH",),
    "T": ("TDNL",), "D": ("TDNL",), "N": ("TDNL",), "L": ("TDNL",),
    "S": ("SZ",), "Z": ("SZ",),
    "SH": ("SHCH",), "ZH": ("SHCH",), "CH": ("SHCH",), "JH": ("SHCH",),
    "K": ("KG",), "G": ("KG",), "NG": ("KG",),
    "R": ("R",), "W": ("W",), "Y": ("Y",), "HH": ("HH",),
    "AA": ("AA",), "AE": ("AE",), "AH": ("AH",), "AO": ("AO",), "EH": ("EH",), "ER": ("ER",),
    "IH": ("IH",), "IY": ("IY",), "UH": ("UH",), "UW": ("UW",),
    "AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("OW", "UW"), "OY": ("AO", "IY"),
})
DIPHTHONG_SPLIT = 0.6  # share of a diphthong spent on its first target (the nucleus is longer)
BILABIALS: frozenset[str] = frozenset(("P", "B", "M"))
ROUNDED_PHONES: frozenset[str] = frozenset(
    p for p, vs in PHONE_VISEMES.items() if any(VISEMES[v].rounded for v in vs)
)


@dataclass(frozen=True)
class VisemeSegment:
    """One viseme over a time span: a phone, or one half of a diphthong."""

    viseme: Viseme
    start: float  # s
    end: float  # s
    phone: str  # the ARPAbet phone it came from
    stress: int = -1  # 0/1/2 for vowels when known, -1 when unknown

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


def viseme_of(phone: str, stress: int = -1) -> tuple[Viseme, ...]:
    """The viseme(s) of an ARPAbet phone; an unstressed AH (stress 0) is the schwa."""
    if phone not in PHONE_VISEMES:
        raise ValueError(f"unknown phone {phone!r}: expected an ARPAbet phone or SIL (umo.speech.units.PHONES)")
    if phone == "AH" and stress == 0:
        return (VISEMES["AX"],)
    return tuple(VISEMES[v] for v in PHONE_VISEMES[phone])


def viseme_segments(phones: list[Phone], stress_known: bool | None = None) -> list[VisemeSegment]:
    """Phones -> viseme segments, diphthongs split in two.

    stress_known: whether the phones' stress marks mean anything (None: yes if any vowel has stress
    1 or 2; sources without stress leave every phone at 0, which must not turn every AH into schwa).
    """
    if stress_known is None:
        stress_known = any(p.stress > 0 for p in phones)
    out: list[VisemeSegment] = []
    for p in phones:
        stress = p.stress if stress_known else -1
        vs = viseme_of(p.symbol, stress)
        if len(vs) == 1:
            out.append(VisemeSegment(vs[0], p.start, p.end, p.symbol, stress))
        else:
            mid = p.start + DIPHTHONG_SPLIT * (p.end - p.start)
            out.append(VisemeSegment(vs[0], p.start, mid, p.symbol, stress))
            out.append(VisemeSegment(vs[1], mid, p.end, p.symbol, stress))
    return out
