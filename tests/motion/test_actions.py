"""The rule-based action library and its caption parser: every action does what it says, on its
own clip and not on the others', with feet on (never below) the floor and bounded skating."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from umo.errors import UmoError
from umo.eval.motion import ACTION_PROMPTS, FLOOR_TOLERANCE_CM, action_check, foot_stats
from umo.motion.actions import ACTIONS, ActionSpec, fit_duration, synthesize
from umo.motion.captions import PHRASES, parse_caption

FPS = 30.0


@pytest.fixture(scope="module")
def clips():
    out = {}
    for name, prompt in ACTION_PROMPTS.items():
        spec = parse_caption(prompt).specs[0]
        anim = synthesize([spec], FPS, seed=3).animation
        out[name] = (spec, anim.joint_positions(), anim.root_pos)
    return out


def test_every_action_has_a_prompt_and_phrasings():
    assert set(ACTION_PROMPTS) == set(ACTIONS) == set(PHRASES)
    assert all(len(PHRASES[a]) >= 3 for a in ACTIONS)


@pytest.mark.parametrize("name", ACTIONS)
def test_action_check_passes_and_feet_stay_on_the_floor(clips, name):
    spec, pos, root = clips[name]
    ok, figure = action_check(name, spec.side, pos, root, FPS)
    assert ok, figure
    fs = foot_stats(pos, FPS)
    assert fs.penetration_cm <= FLOOR_TOLERANCE_CM
    assert fs.skate_cm_s < 3.0 and fs.skate_ratio < 0.05, fs


def test_checks_tell_actions_apart(clips):
    """A hand, walk or bow check passes on its own clip and fails on the others' clips."""
    for name in ("wave", "walk", "bow", "jump", "sit_down", "clap", "raise_arms"):
        spec = clips[name][0]
        passing = [o for o, (_, p, r) in clips.items() if o != name and action_check(name, spec.side, p, r, FPS)[0]]
        assert len(passing) <= 1, (name, passing)


def test_right_wave_moves_the_right_hand_far_more_and_left_mirrors():
    for side, main, other in (("right", "RightHand", "LeftHand"), ("left", "LeftHand", "RightHand")):
        anim = synthesize(parse_caption(f"a person waves with the {side} hand").specs, FPS, seed=1).animation
        pos = anim.joint_positions()
        from umo.constants import JOINT_INDEX as J

        path = {j: np.linalg.norm(np.diff(pos[:, J[j]], axis=0), axis=1).sum() for j in (main, other)}
        assert path[main] > 5 * path[other]


def test_walk_forward_moves_the_root_over_a_metre_in_four_seconds():
    motion = synthesize(parse_caption("walks forward").specs, FPS, seed=0)
    motion, how = fit_duration(motion, 4.0)
    root = motion.animation.root_pos
    assert motion.animation.num_frames == 120 and "time-scaled" in how or "padded" in how
    assert root[-1, 2] - root[0, 2] > 100.0  # forward is +Z at heading 0


def test_sequence_and_seconds_padding_and_seeds():
    specs = parse_caption("waves with the right hand, then bows").specs
    a = synthesize(specs, FPS, seed=0)
    assert [s.spec.name for s in a.segments] == ["wave", "bow"]
    assert a.segments[0].end <= a.segments[1].start
    padded, how = fit_duration(a, a.animation.duration + 3.0)
    assert "padded" in how and padded.animation.num_frames == a.animation.num_frames + 90
    b = synthesize(specs, FPS, seed=1).animation
    again = synthesize(specs, FPS, seed=0).animation
    assert np.array_equal(a.animation.body, again.body)
    assert a.animation.num_frames != b.num_frames or not np.allclose(a.animation.body, b.body)


def test_transitions_are_smooth():
    """No jumps between actions: the largest frame-to-frame joint move stays bounded."""
    anim = synthesize(parse_caption("walks forward, turns left, jumps, sits down, then stands up and waves").specs,
                      FPS, seed=2).animation
    pos = anim.joint_positions()
    from umo.constants import JOINT_INDEX as J

    main = [J[n] for n in ("Hips", "Head", "RightHand", "LeftHand", "RightFoot", "LeftFoot")]
    step = np.linalg.norm(np.diff(pos[:, main], axis=0), axis=2).max()
    assert step < 20.0  # cm per frame at 30 fps (6 m/s: a wrist's swing on a jump's take-off); an IK flip is 40+
    assert foot_stats(pos, FPS).penetration_cm <= FLOOR_TOLERANCE_CM


@pytest.mark.parametrize("prompt, names", [
    ("a person waves with the right hand, then bows", ["wave", "bow"]),
    ("walks forward slowly and turns left", ["walk", "turn"]),
    ("jumps twice", ["jump"]),
    ("Someone happily claps three times and then sits down.", ["clap", "sit_down"]),
    ("the man kicks to the side with his left leg; nods", ["kick", "nod"]),
    ("gets up, squats, then raises both arms", ["stand_up", "crouch", "raise_arms"]),
])
def test_caption_parsing(prompt, names):
    assert [s.name for s in parse_caption(prompt).specs] == names


def test_caption_modifiers():
    wave, bow = parse_caption("a person waves with the left hand, then bows deeply").specs
    assert wave.side == "left" and bow.energy > 1
    walk, turn = parse_caption("walks forward slowly and turns right").specs
    assert walk.direction == "forward" and walk.speed < 1 and turn.direction == "right"
    (jump,) = parse_caption("jumps twice").specs
    assert jump.count == 2
    (clap,) = parse_caption("claps 4 times quickly").specs
    assert clap.count == 4 and clap.speed > 1
    (walk,) = parse_caption("walks 3 meters backwards").specs
    assert walk.distance_cm == 300 and walk.direction == "backward"
    (kick,) = parse_caption("kicks to the side with the left leg").specs
    assert kick.side == "left" and kick.direction == "side"


def test_unknown_words_are_named_and_no_action_is_an_error():
    parsed = parse_caption("a person waves and does a cartwheel")
    assert [s.name for s in parsed.specs] == ["wave"] and "cartwheel" in parsed.unknown
    with pytest.raises(UmoError, match="no action recognised.*walk.*wave.*sit down"):
        parse_caption("a person flies to the moon")
    with pytest.raises(UmoError, match="empty"):
        parse_caption("   ")


def test_bad_specs_are_errors():
    with pytest.raises(UmoError, match="unknown action"):
        ActionSpec("fly")
    with pytest.raises(UmoError, match="count"):
        ActionSpec("jump", count=0)


def test_sitting_then_other_actions_stands_up_first(caplog):
    caplog.set_level(logging.INFO, logger="umo")
    m = synthesize(parse_caption("sits down then jumps").specs, FPS, seed=0)
    root = m.animation.root_pos
    assert root[:, 1].min() < 60 and root[-1, 1] > 90  # seated, then standing again to jump
    assert foot_stats(m.animation.joint_positions(), FPS).penetration_cm <= FLOOR_TOLERANCE_CM
