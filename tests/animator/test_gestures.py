"""Rule-based body animator: rest pose, beat timing, gesture phases, limits, smoothness, hand shapes."""

from __future__ import annotations

import numpy as np
import pytest

from umo.animator.gestures import GestureConfig, animate_body, find_phrases, rest_pose
from umo.animator.handshapes import (
    FINGER_FLEX_MAX_DEG,
    SHAPE_NAMES,
    hand_joint_names,
    mirror_rotvec,
    one_hot,
    right_hand_rotvecs,
)
from umo.animator.idle import IdleConfig
from umo.constants import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from umo.skeleton import canonical_skeleton, forward_kinematics, rest_root_position, rotvec_to_matrix
from umo.speech.prosody import Accent, Prosody, compute_prosody, find_accents
from umo.speech.units import Timing, Word

FPS = 30.0
SK = canonical_skeleton()
WRISTS = {"right": JOINT_INDEX["RightHand"], "left": JOINT_INDEX["LeftHand"]}


def _prosody(duration: float, speech: list[tuple[float, float]], fps: float = FPS) -> Prosody:
    """A synthetic Prosody: loud voiced speech in the given spans, silence elsewhere."""
    t = np.arange(int(round(duration * fps))) / fps
    on = np.zeros(len(t), bool)
    for a, b in speech:
        on |= (t >= a) & (t < b)
    return Prosody(fps, np.where(on, -20.0, -80.0), on * 0.8, np.where(on, 120.0, 0.0), on)


# Two phrases with a 5 s pause between them; accents chained inside each phrase.
SPEECH = [(0.5, 4.2), (9.0, 12.5)]
ACCENTS = [Accent(t, s) for t, s in [(1.0, 0.9), (1.7, 0.6), (2.4, 1.0), (3.0, 0.5), (3.8, 0.8),
                                       (9.6, 0.9), (10.5, 0.7), (11.2, 1.0), (12.0, 0.6)]]
DURATION = 14.0


def _animate(seed: int = 0, cfg: GestureConfig = GestureConfig(), fps: float = FPS):
    n = int(round(DURATION * fps))
    return animate_body(None, _prosody(DURATION, SPEECH, fps), ACCENTS, n, fps, np.random.default_rng(seed), cfg)


@pytest.fixture(scope="module")
def tracks():
    return [_animate(seed) for seed in range(6)]


def _positions(track):
    return forward_kinematics(SK, track.rotations, track.root_pos)


def _speed(p: np.ndarray, fps: float) -> np.ndarray:
    """(T,) central-difference speed of a (T, 3) path, cm/s (0 at the ends)."""
    v = np.zeros(len(p))
    v[1:-1] = np.linalg.norm(p[2:] - p[:-2], axis=1) * fps / 2
    return v


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# --- rest pose ---------------------------------------------------------------------------------------
def test_rest_pose_hands_beside_hips_palms_to_thighs():
    pos, glob = forward_kinematics(SK, rest_pose()[None])
    pos, glob = pos[0], glob[0]
    hips_y = pos[JOINT_INDEX["Hips"], 1]
    for side, sign in (("Right", -1.0), ("Left", 1.0)):
        wrist = pos[JOINT_INDEX[f"{side}Hand"]]
        shoulder = pos[JOINT_INDEX[f"{side}Arm"]]
        elbow = pos[JOINT_INDEX[f"{side}ForeArm"]]
        thigh = pos[JOINT_INDEX[f"{side}UpLeg"]]
        assert shoulder[1] - wrist[1] > 45.0  # arm hangs: wrist ~half a metre below the shoulder
        assert abs(wrist[1] - hips_y) < 10.0  # ... at hip height
        assert sign * wrist[0] > abs(thigh[0]) + 8.0  # beside the thigh, not in it
        assert sign * wrist[0] < 32.0  # not held out from the body
        assert abs(wrist[2]) < 10.0  # neither in front of nor behind the body
        # The upper arm is rotated 70-80 degrees down from the T-pose.
        upper = elbow - shoulder
        below_horizontal = np.degrees(np.arctan2(-upper[1], np.hypot(upper[0], upper[2])))
        assert 70.0 <= below_horizontal <= 82.0
        # Slight elbow bend (not locked straight, not flexed).
        bend = _angle_deg(elbow - shoulder, wrist - elbow)
        assert 5.0 < bend < 35.0
        # Palm (-Y of the hand in its T-pose frame) faces the thigh: towards the midline.
        palm = glob[JOINT_INDEX[f"{side}Hand"]] @ np.array([0.0, -1.0, 0.0])
        assert -sign * palm[0] > 0.6
        # Fingers curled: fingertips below the knuckles (a T-pose hand would point them sideways).
        knuckle = pos[JOINT_INDEX[f"{side}HandMiddle1"]]
        tip = pos[JOINT_INDEX[f"{side}HandMiddle4"]]
        assert tip[1] < knuckle[1] - 3.0


def test_rest_pose_keeps_head_root_and_legs_at_rest():
    rot = rest_pose()
    moving = {JOINT_NAMES[j] for j in range(NUM_JOINTS) if np.linalg.norm(rot[j]) > 1e-9}
    assert not any(n.startswith(("Hips", "Neck", "Head", "RightUpLeg", "LeftUpLeg", "RightLeg", "LeftLeg",
                                 "RightFoot", "LeftFoot", "RightToe", "LeftToe", "Spine")) for n in moving)


# --- beats ---------------------------------------------------------------------------------------------
def test_stroke_speed_peaks_on_accents(tracks):
    """The definition: a stroke's wrist speed peaks at its accent. Checked within +-1 frame (33 ms)."""
    offsets = []
    for track in tracks:
        pos, _ = _positions(track)
        assert track.strokes, "the synthetic speech must get strokes"
        for s in track.strokes:
            for hand, j in WRISTS.items():
                if not s.uses(hand):
                    continue
                v = _speed(pos[:, j], FPS)
                k = int(round(s.time * FPS))
                window = slice(k - 5, k + 6)  # +-167 ms: the whole stroke
                peak = k - 5 + int(np.argmax(v[window]))
                offsets.append((peak - s.time * FPS) / FPS)
                assert v[peak] > 60.0, "a stroke is a fast movement (> 60 cm/s)"
    offsets = np.abs(offsets)
    assert offsets.max() <= 0.060 + 1e-9
    assert np.mean(offsets <= 1.0 / FPS + 1e-9) == 1.0


def test_strokes_land_on_given_accents_and_scale_with_strength(tracks):
    times = {a.time: a.strength for a in ACCENTS}
    amp = []
    for track in tracks:
        assert all(s.time in times for s in track.strokes)
        assert len(track.strokes) >= 5  # most accents of chained speech get a beat
        amp += [(s.strength, s.amplitude_cm) for s in track.strokes]
    strength, size = np.array(amp).T
    assert np.corrcoef(strength, size)[0, 1] > 0.5


def test_strokes_vary_in_hands_kinds_and_shapes():
    hands, kinds, shapes = set(), set(), set()
    for seed in range(12):
        for s in _animate(seed).strokes:
            hands.add(s.hands)
            kinds.add(s.kind)
            shapes.add(s.shape)
    assert hands == {"right", "left", "both"}
    assert kinds == {"down_beat", "sweep", "offer"}
    assert len(shapes) >= 4


def test_preparation_chaining_and_retraction(tracks):
    rest_wrist = forward_kinematics(SK, rest_pose()[None])[0][0]
    for track in tracks:
        pos, _ = _positions(track)
        t = np.arange(len(pos)) / FPS
        for hand, j in WRISTS.items():
            lift = pos[:, j, 1] - rest_wrist[j, 1]  # (T,) cm above the rest height
            from_rest = np.linalg.norm(pos[:, j] - rest_wrist[j], axis=1)
            mine = [s for s in track.strokes if s.uses(hand)]
            # Before any speech the hand is at rest.
            assert from_rest[t < 0.3].max() < 4.0
            # In the long pause (phrase ends at 4.2 s, next starts at 9.0 s) it has retracted to rest.
            assert from_rest[(t > 6.0) & (t < 7.5)].max() < 4.0
            for s in mine:
                # Preparation: the hand is up in gesture space when the stroke starts.
                k0 = int(round((s.time - GestureConfig().stroke_s / 2) * FPS))
                assert lift[k0] > 8.0
            # Chained strokes of one phrase do not retract in between.
            for a, b in zip(mine, mine[1:]):
                if b.time - a.time < 1.0 and (a.time < 4.2) == (b.time < 4.2):
                    seg = (t > a.time) & (t < b.time)
                    assert from_rest[seg].min() > 10.0


def test_phrases_from_pauses():
    pro = _prosody(DURATION, [(0.5, 2.0), (2.3, 4.2), (9.0, 12.5)])
    phrases = find_phrases(None, pro)
    assert len(phrases) == 2  # the 0.3 s gap does not split a phrase, the 4.8 s pause does
    assert phrases[0][0] == pytest.approx(0.5, abs=0.05) and phrases[1][1] == pytest.approx(12.5, abs=0.05)
    words = Timing(words=[Word("a", 0.5, 1.0), Word("b", 1.2, 2.0), Word("c", 3.0, 3.5)])
    assert [(a, b) for a, b in find_phrases(words, pro)] == [(0.5, 2.0), (3.0, 3.5)]


# --- idle ------------------------------------------------------------------------------------------------
def test_arms_never_frozen_even_in_silence():
    n = int(20 * FPS)
    silent = _prosody(20.0, [])
    track = animate_body(None, silent, [], n, FPS, np.random.default_rng(3))
    assert not track.strokes
    pos, _ = _positions(track)
    win = int(3 * FPS)
    for j in list(WRISTS.values()) + [JOINT_INDEX["RightForeArm"], JOINT_INDEX["LeftForeArm"]]:
        v = _speed(pos[:, j], FPS)[1:-1]
        means = np.convolve(v, np.ones(win) / win, mode="valid")  # every 3 s window
        assert means.min() > 0.5, "cm/s: an arm froze"
        assert v.max() < 20.0, "idle is calm, no gestures in silence"
    # Breathing lifts the shoulders a few millimetres, about 15 times a minute.
    lift = pos[:, JOINT_INDEX["RightArm"], 1]
    assert 0.1 < np.ptp(lift) < 3.0
    spectrum = np.abs(np.fft.rfft(lift - lift.mean()))
    freqs = np.fft.rfftfreq(len(lift), 1.0 / FPS)
    assert 0.15 <= freqs[np.argmax(spectrum)] <= 0.4


# --- limits, smoothness, determinism ---------------------------------------------------------------------
def _all_tracks(tracks):
    silent = animate_body(None, _prosody(10.0, []), [], int(10 * FPS), FPS, np.random.default_rng(1))
    return tracks + [silent]


def test_shapes_finite_and_root_constant(tracks):
    for track in _all_tracks(tracks):
        assert track.rotations.shape == (track.num_frames, NUM_JOINTS, 3)
        assert np.isfinite(track.rotations).all()
        np.testing.assert_allclose(track.root_pos, np.tile(rest_root_position(), (track.num_frames, 1)))
        still = [JOINT_INDEX[n] for n in JOINT_NAMES
                 if n == "Hips" or n.startswith(("Neck", "Head")) or "Leg" in n or "Foot" in n or "Toe" in n]
        assert np.abs(track.rotations[:, still]).max() == 0.0


def test_joint_limits(tracks):
    for track in _all_tracks(tracks):
        rot = track.rotations
        for side, bone, hinge in (("Right", [-1.0, 0, 0], [0, 1.0, 0]), ("Left", [1.0, 0, 0], [0, -1.0, 0])):
            bone, hinge = np.array(bone), np.array(hinge)
            # Elbow: flexion 0-150 degrees, only one way (the forearm swings about +hinge).
            fore = rotvec_to_matrix(rot[:, JOINT_INDEX[f"{side}ForeArm"]]) @ bone  # (T, 3)
            flex = _angle_deg(np.broadcast_to(bone, fore.shape), fore)
            assert flex.max() <= 150.0 + 1e-6
            assert (np.cross(bone, fore) @ hinge >= -1e-9).all(), "elbow hyperextended"
            # Wrist: flexion within +-70, deviation within +-30 degrees.
            hand = rotvec_to_matrix(rot[:, JOINT_INDEX[f"{side}Hand"]]) @ bone
            wflex = np.degrees(np.arcsin(np.clip(np.abs(hand[:, 1]), 0, 1)))
            wdev = np.degrees(np.arcsin(np.clip(np.abs(hand[:, 2]), 0, 1)))
            assert wflex.max() <= 70.0 + 1e-6 and wdev.max() <= 30.0 + 1e-6
            # Shoulder: the upper arm stays below shoulder height + 30 deg, not far behind the body,
            # and the clavicle moves little.
            pos, glob = _positions(track)
            upper = pos[:, JOINT_INDEX[f"{side}ForeArm"]] - pos[:, JOINT_INDEX[f"{side}Arm"]]
            elevation = np.degrees(np.arcsin(upper[:, 1] / np.linalg.norm(upper, axis=1)))
            assert elevation.max() < 30.0
            assert (upper[:, 2] / np.linalg.norm(upper, axis=1)).min() > -0.71  # extension < 45 deg
            assert np.degrees(np.linalg.norm(rot[:, JOINT_INDEX[f"{side}Shoulder"]], axis=1)).max() < 25.0
            # Fingers: flexion in [0, 100] degrees, never bent backwards.
            sign = 1.0 if side == "Right" else -1.0
            for name in hand_joint_names(side):
                if "Thumb" in name:
                    continue
                flexion = np.degrees(sign * rot[:, JOINT_INDEX[name], 2])
                assert flexion.min() >= 0.0 and flexion.max() <= FINGER_FLEX_MAX_DEG + 1e-6
        # Spine: a few degrees of sway and lean per joint, never a bend.
        for n in ("Spine", "Spine1", "Spine2", "Spine3"):
            assert np.degrees(np.linalg.norm(rot[:, JOINT_INDEX[n]], axis=1)).max() < 5.0


def test_hands_stay_out_of_the_torso(tracks):
    for track in tracks:
        pos, glob = _positions(track)
        spine3 = pos[:, JOINT_INDEX["Spine3"]]
        inv = np.transpose(glob[:, JOINT_INDEX["Spine3"]], (0, 2, 1))
        for j in list(WRISTS.values()) + [JOINT_INDEX["RightForeArm"], JOINT_INDEX["LeftForeArm"]]:
            local = np.einsum("tij,tj->ti", inv, pos[:, j] - spine3)  # in the chest frame
            inside = (local[:, 0] / 13.0) ** 2 + ((local[:, 2] + 1.0) / 11.0) ** 2 < 1.0
            assert not inside.any()


def test_angular_speed_and_acceleration_bounded(tracks):
    """No velocity spikes: joint angular speeds stay in the range of real gestures (BEAT's forearms
    peak at ~700 deg/s at 15 fps), and speed changes smoothly from frame to frame."""
    for track in _all_tracks(tracks):
        r = rotvec_to_matrix(track.rotations)  # (T, J, 3, 3)
        rel = np.einsum("tjik,tjil->tjkl", r[:-1], r[1:])
        cos = (np.trace(rel, axis1=2, axis2=3) - 1.0) / 2.0
        speed = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) * FPS  # (T-1, J) deg/s
        assert speed.max() < 1000.0
        fingers = [JOINT_INDEX[n] for side in ("Right", "Left") for n in hand_joint_names(side)]
        assert speed[:, fingers].max() < 600.0
        accel = np.abs(np.diff(speed, axis=0)) * FPS  # deg/s^2
        assert accel.max() < 30000.0


def test_deterministic_for_a_seed():
    a, b, c = _animate(7), _animate(7), _animate(8)
    np.testing.assert_array_equal(a.rotations, b.rotations)
    assert a.strokes == b.strokes
    assert not np.allclose(a.rotations, c.rotations)


def test_real_audio_with_prosody_accents(fixtures):
    """End to end on a real recording: prosody accents, phrases from loudness, 60 fps."""
    from umo.animation import num_frames_for
    from umo.constants import SAMPLE_RATE
    from umo.formats.audio import load_audio

    audio = load_audio(fixtures / "arctic_a0009.wav")
    fps = 60.0
    n = num_frames_for(len(audio) / SAMPLE_RATE, fps)
    pro = compute_prosody(audio, n, fps)
    accents = find_accents(pro)
    track = animate_body(None, pro, accents, n, fps, np.random.default_rng(0))
    assert track.rotations.shape == (n, NUM_JOINTS, 3) and np.isfinite(track.rotations).all()
    assert len(track.phrases) >= 1 and len(track.strokes) >= 2
    pos, _ = _positions(track)
    for s in track.strokes:
        for hand, j in WRISTS.items():
            if s.uses(hand):
                v = _speed(pos[:, j], fps)
                k = int(round(s.time * fps))
                peak = k - 8 + int(np.argmax(v[k - 8:k + 9]))
                assert abs(peak - s.time * fps) / fps <= 0.060


def test_config_validation():
    with pytest.raises(ValueError, match="hand_probs"):
        GestureConfig(hand_probs=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="min_stroke_gap_s"):
        GestureConfig(min_stroke_gap_s=0.1)
    with pytest.raises(ValueError, match="elbow_range"):
        GestureConfig(elbow_range=(-10.0, 150.0))
    with pytest.raises(ValueError, match="breath_hz"):
        IdleConfig(breath_hz=0.0)


# --- hand shapes -------------------------------------------------------------------------------------------
def _hand_points(shape_weights: np.ndarray, side: str) -> dict[str, np.ndarray]:
    rot = np.zeros((1, NUM_JOINTS, 3))
    rv = right_hand_rotvecs(shape_weights[None])[0]
    if side == "Left":
        rv = mirror_rotvec(rv)
    for name, r in zip(hand_joint_names(side), rv):
        rot[0, JOINT_INDEX[name]] = r
    pos = forward_kinematics(SK, rot)[0][0]
    palm = 0.5 * (pos[JOINT_INDEX[f"{side}Hand"]] + pos[JOINT_INDEX[f"{side}HandMiddle1"]])
    tips = {f: pos[JOINT_INDEX[f"{side}Hand{f}4"]] for f in ("Thumb", "Index", "Middle", "Ring", "Pinky")}
    return {"palm": palm, **tips}


@pytest.mark.parametrize("side", ["Right", "Left"])
def test_hand_shapes_geometry(side):
    def tip(shape, finger):
        p = _hand_points(one_hot(shape), side)
        return np.linalg.norm(p[finger] - p["palm"])

    for f in ("Index", "Middle", "Ring"):
        assert tip("fist", f) < 7.0 < tip("open", f)  # a fist closes, an open hand does not
    assert tip("point", "Index") > 11.0 and tip("point", "Middle") < 6.0
    p = _hand_points(one_hot("pinch"), side)
    assert np.linalg.norm(p["Thumb"] - p["Index"]) < 2.5  # precision grip: thumb meets index
    # Fingers curl towards the palm (-Y in the T-pose), never backwards.
    wrist_y = forward_kinematics(SK, np.zeros((1, NUM_JOINTS, 3)))[0][0, JOINT_INDEX[f"{side}Hand"], 1]
    for shape in SHAPE_NAMES:
        p = _hand_points(one_hot(shape), side)
        assert all(p[f][1] <= wrist_y + 0.5 for f in ("Index", "Middle", "Ring", "Pinky"))


def test_hand_shape_blend_is_between():
    w = np.linspace(0, 1, 11)[:, None] * one_hot("fist") + (1 - np.linspace(0, 1, 11))[:, None] * one_hot("open")
    rv = right_hand_rotvecs(w)  # (11, 15, 3)
    mcp = np.degrees(rv[:, 3, 2])  # Middle1 flexion
    assert np.all(np.diff(mcp) > 0)  # monotone from open to fist
    assert right_hand_rotvecs(one_hot("relaxed")[None], curl_offset_deg=500.0)[..., 2].max() <= np.radians(100.0) + 1e-9


def test_hand_shapes_change_with_gestures(tracks):
    j = JOINT_INDEX["RightHandMiddle1"]
    spans = [np.ptp(t.rotations[:, j, 2]) for t in tracks]
    assert max(spans) > np.radians(30.0)  # from relaxed/open to a fist or point and back
