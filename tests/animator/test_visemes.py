"""Viseme table: every phone maps, poses stay on the mouth, dominance and jaw follow phonetics."""

import numpy as np
import pytest

from umo.animator.visemes import (
    BILABIALS,
    PHONE_VISEMES,
    ROUNDED_PHONES,
    VISEMES,
    viseme_of,
    viseme_segments,
)
from umo.constants import ARKIT_INDEX, JAW_MOUTH_NAMES
from umo.speech.units import PHONES, Phone


def test_every_phone_has_a_viseme():
    assert set(PHONE_VISEMES) == set(PHONES)
    for p in PHONES:
        assert 1 <= len(viseme_of(p)) <= 2


def test_poses_are_mouth_only_and_in_range():
    mouth = set(JAW_MOUTH_NAMES)
    for v in VISEMES.values():
        assert set(v.pose) <= mouth, v.name
        t = v.target()
        assert t.shape == (52,) and t.min() >= 0 and t.max() <= 1
        assert 0 < v.lip_dominance <= 1 and 0 < v.jaw_dominance <= 1
        assert v.onset_s > 0 and v.offset_s > 0
        # Symmetric shapes: left and right halves equal.
        for name in v.pose:
            if name.endswith("Left"):
                assert v.pose[name] == v.pose.get(name[:-4] + "Right"), (v.name, name)


def test_vowel_jaw_opening_follows_height():
    jaw = {p: viseme_of(p)[0].pose["JawOpen"] for p in ("AA", "AE", "AH", "EH", "IH", "IY", "UW", "AO")}
    assert jaw["AA"] > jaw["AE"] >= jaw["AH"] > jaw["EH"] > jaw["IH"] > jaw["IY"]
    assert jaw["AO"] > jaw["UW"]
    assert min(jaw["IY"], jaw["UW"]) == min(jaw.values())


def test_dominance_orders_articulators():
    pbm, fv = viseme_of("M")[0], viseme_of("F")[0]
    hh, schwa = viseme_of("HH")[0], viseme_of("AH", stress=0)[0]
    for strong in (pbm, fv):
        for weak in (hh, schwa):
            assert strong.lip_dominance > 2 * weak.lip_dominance
    assert all(viseme_of(p)[0].closure for p in BILABIALS)
    assert not any(v.closure for p in set(PHONES) - BILABIALS for v in viseme_of(p))
    assert {"UW", "OW", "W", "UH", "AO"} <= ROUNDED_PHONES
    assert not {"IY", "AA", "T", "M"} & ROUNDED_PHONES
    # Dental fricatives show a little tongue; nothing else does.
    assert 0 < viseme_of("TH")[0].pose["TongueOut"] < 0.4
    assert viseme_of("S")[0].target()[ARKIT_INDEX["TongueOut"]] == 0


def test_diphthongs_split_and_stress():
    phones = [Phone("SIL", 0.0, 0.1), Phone("AY", 0.1, 0.3, stress=1), Phone("AH", 0.3, 0.35, stress=0)]
    segs = viseme_segments(phones)
    assert [s.viseme.name for s in segs] == ["rest", "AA", "IY", "AX"]
    assert segs[1].start == 0.1 and segs[2].end == 0.3 and segs[1].end == pytest.approx(segs[2].start)
    assert segs[1].end - segs[1].start > segs[2].end - segs[2].start  # the nucleus is longer
    # Without stress marks (every phone 0) AH stays a full vowel, not a schwa.
    unmarked = viseme_segments([Phone("AH", 0.0, 0.1), Phone("T", 0.1, 0.2)])
    assert unmarked[0].viseme.name == "AH"
    with pytest.raises(ValueError):
        viseme_of("XX")


def test_targets_are_copies():
    t = VISEMES["AA"].target()
    t[:] = 1.0
    assert np.isclose(VISEMES["AA"].target()[ARKIT_INDEX["JawOpen"]], VISEMES["AA"].pose["JawOpen"])
