"""The emotion layer (umo.emotion): directions on the written files, intensity 0, ramps, errors,
the learned model's overlay, and the calibration table against the real Live Link takes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from umo.animation import Animation
from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
from umo.cli import main
from umo.constants import ARKIT_INDEX, EMOTIONS, JOINT_INDEX
from umo.emotion import (
    DERIVED_OFFSETS, NUM_PARAMS, PROFILES, RAMP_S, EmotionLayer, EmotionSetting, apply_emotion, params_for,
)
from umo.errors import UmoError
from umo.formats.audio import load_audio
from umo.formats.bvh import read_animation_bvh
from umo.formats.lab import read_lab
from umo.formats.livelink import read_livelink
from umo.skeleton import HEAD_CHAIN_SHARE, add_head_to_body, canonical_skeleton, head_to_rotvec

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SENTENCE = "I can't believe it"
WRISTS = ("LeftHand", "RightHand")


def smile(face: np.ndarray) -> float:
    return float(face[:, [ARKIT_INDEX["MouthSmileLeft"], ARKIT_INDEX["MouthSmileRight"]]].mean())


def say(tmp_path: Path, *args: str) -> tuple[Animation, Animation]:
    """`umo say SENTENCE ARGS` -> (face.csv, body.bvh) as written."""
    out = tmp_path / "_".join(a.lstrip("-") for a in args) if args else tmp_path / "plain"
    assert main(["say", SENTENCE, "-o", str(out), "--no-preview", *args]) == 0
    return read_livelink(out / "face.csv"), read_animation_bvh(out / "body.bvh")


def gesture_energy(body: Animation) -> tuple[float, float]:
    """(mean wrist distance from the relaxed pose's wrists, cm; mean wrist speed, cm/s) from a BVH."""
    pos = body.joint_positions()  # (T, J, 3)
    sk = body.skeleton
    from umo.animator.gestures import rest_pose
    from umo.skeleton import forward_kinematics

    rest = forward_kinematics(canonical_skeleton(), rest_pose()[None], body.root_pos[:1])[0][0]
    idx = [sk.index(w) for w in WRISTS]
    away = np.linalg.norm(pos[:, idx] - rest[[JOINT_INDEX[w] for w in WRISTS]][None], axis=-1).mean()
    speed = np.linalg.norm(np.diff(pos[:, idx], axis=0), axis=-1).mean() * body.fps
    return float(away), float(speed)


@pytest.fixture(scope="module")
def arctic():
    return load_audio(FIXTURES / "arctic_a0009.wav"), read_lab(FIXTURES / "arctic_a0009_phone.lab")


def test_say_happy_vs_sad_directions(tmp_path):
    """The issue's check on the files `umo say` writes: smile higher for happy; inner brows higher,
    head lower (chin down) and less body motion for sad."""
    happy_face, happy_body = say(tmp_path, "--emotion", "happy")
    sad_face, sad_body = say(tmp_path, "--emotion", "sad")
    neutral_face, neutral_body = say(tmp_path)
    assert smile(happy_face.face) > smile(sad_face.face) + 0.25
    assert smile(happy_face.face) > smile(neutral_face.face) + 0.25
    brow = ARKIT_INDEX["BrowInnerUp"]
    assert sad_face.face[:, brow].mean() > happy_face.face[:, brow].mean() + 0.15
    pitch = lambda a: a.head[:, 1].mean()  # noqa: E731 - positive: chin down
    assert pitch(sad_face) > pitch(neutral_face) + 0.08 and pitch(sad_face) > pitch(happy_face) + 0.08
    (away_h, speed_h), (away_s, speed_s), (away_n, speed_n) = map(gesture_energy, (happy_body, sad_body, neutral_body))
    assert away_s < 0.7 * away_n < 0.7 * away_h and speed_s < 0.7 * speed_n < 0.7 * speed_h
    # the BVH's head (its neck chain) is the face.csv's head
    for face, body in ((happy_face, happy_body), (sad_face, sad_body)):
        for name, share in HEAD_CHAIN_SHARE:
            got = body.body[:, body.skeleton.index(name)]
            np.testing.assert_allclose(got, share * head_to_rotvec(face.head), atol=2e-4, err_msg=name)


def test_intensity_zero_is_neutral(tmp_path, arctic):
    audio, timing = arctic
    plain = RuleAnimator().animate(audio, timing)
    for e in EMOTIONS:
        anim = RuleAnimator(RuleAnimatorConfig(emotion=EmotionSetting(e, 0.0))).animate(audio, timing)
        for key in ("face", "head", "eyes", "body"):
            np.testing.assert_array_equal(getattr(anim, key), getattr(plain, key), err_msg=f"{e} {key}")
    # the written files (`umo animate` with the rules: espeak's output for `umo say` varies by a few
    # samples from one call to the next, so two `say` runs are not the same speech)
    wav, lab = str(FIXTURES / "arctic_a0009.wav"), str(FIXTURES / "arctic_a0009_phone.lab")
    a, b = tmp_path / "zero", tmp_path / "neutral"
    common = [wav, "--transcript", lab, "--animator", "rules", "--no-preview"]
    assert main(["animate", *common, "-o", str(a), "--emotion", "sad", "--intensity", "0"]) == 0
    assert main(["animate", *common, "-o", str(b)]) == 0
    for name in ("face.csv", "body.bvh"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_intensity_scales_linearly():
    full, half = params_for(EmotionSetting("sad", 1.0)), params_for(EmotionSetting("sad", 0.5))
    neutral = params_for(EmotionSetting())
    np.testing.assert_allclose(half, 0.5 * (full + neutral))
    assert full.shape == (NUM_PARAMS,)


def test_every_emotion_moves_its_channels(arctic):
    audio, timing = arctic
    base = RuleAnimator().animate(audio, timing)
    for e in EMOTIONS[1:]:
        anim = apply_emotion(base, EmotionSetting(e))
        assert not np.array_equal(anim.face, base.face), e
        assert anim.face.min() >= 0.0 and anim.face.max() <= 1.0
    # lips shut on a P/B/M stay shut whatever the jaw energy: the aperture channels scale together
    from umo.constants import lip_aperture

    for e in ("angry", "sad"):
        anim = apply_emotion(base, EmotionSetting(e))
        shut = lip_aperture(base.face) <= 1e-9
        assert shut.any() and np.all(lip_aperture(anim.face)[shut] <= 1e-9)


def still(anim: Animation, n: int) -> Animation:
    """n copies of the animation's middle frame: what changes then is the layer alone."""
    k = anim.num_frames // 2
    rep = lambda x: None if x is None else np.repeat(x[k:k + 1], n, axis=0)  # noqa: E731
    return anim.copy(face=rep(anim.face), head=rep(anim.head), eyes=rep(anim.eyes), body=rep(anim.body),
                     root_pos=rep(anim.root_pos), audio=None)


@pytest.mark.parametrize("fps", [30, 60])
def test_ramps_are_smooth(arctic, fps):
    """Each change ramps over RAMP_S: no frame-to-frame step above the smoothstep's steepest
    (1.5 x the change / ramp frames), also when a change comes in the middle of a ramp."""
    audio, timing = arctic
    base = still(RuleAnimator(RuleAnimatorConfig(fps=fps)).animate(audio, timing), 3 * fps)
    changes = [(0.5, EmotionSetting("surprised")), (0.6, EmotionSetting("sad")), (1.5, EmotionSetting("happy", 0.7)),
               (2.5, EmotionSetting())]
    anim = apply_emotion(base, EmotionSetting("angry"), changes)
    ramp = round(RAMP_S * fps)
    biggest = max(np.abs(p.offsets.get(g, 0) - q.offsets.get(g, 0)).max()
                  for p in PROFILES.values() for q in PROFILES.values() for g in p.offsets)
    assert np.abs(np.diff(anim.face, axis=0)).max() <= 1.5 * biggest / ramp + 1e-9
    assert np.abs(np.diff(anim.head, axis=0)).max() <= 1.5 * 0.2 / ramp
    # before the first change: the start emotion in full; RAMP_S after the last: neutral again exactly
    first = round(0.5 * fps)
    np.testing.assert_allclose(anim.face[:first], apply_emotion(base, EmotionSetting("angry")).face[:first])
    back = round(2.5 * fps) + ramp
    np.testing.assert_array_equal(anim.face[back:], base.face[back:])
    np.testing.assert_array_equal(anim.body[back:], base.body[back:])
    # a change moves the very next frame a little, not all the way
    f = anim.face[:, ARKIT_INDEX["BrowInnerUp"]]
    assert 0 < f[first] - f[first - 1] < 0.5 * (PROFILES["surprised"].offsets["BrowInnerUp"] - PROFILES["angry"].offsets["BrowInnerUp"])


def test_live_layer_equals_offline_whatever_the_chunks(arctic):
    """The stream's layer, fed frames in any batches with changes between them, equals the offline
    schedule with each change at the first frame after it (causal: nothing before it moves)."""
    audio, timing = arctic
    base = RuleAnimator().animate(audio, timing)
    rng = np.random.default_rng(0)
    layer = EmotionLayer(EmotionSetting("afraid", 0.6), fps=base.fps)
    parts, at, changes = [], 0, []
    settings = iter([EmotionSetting("happy"), EmotionSetting("disgusted", 0.3), EmotionSetting()])
    while at < base.num_frames:
        n = min(int(rng.integers(1, 12)), base.num_frames - at)
        block = base.copy(face=base.face[at:at + n], head=base.head[at:at + n], eyes=base.eyes[at:at + n],
                          body=base.body[at:at + n], root_pos=base.root_pos[at:at + n], audio=None)
        parts.append(layer.apply(block))
        at += n
        if rng.random() < 0.3 and (s := next(settings, None)) is not None:
            layer.set(s)
            changes.append((at / base.fps, s))
    assert len(changes) == 3
    offline = apply_emotion(base, EmotionSetting("afraid", 0.6), changes)
    for key in ("face", "head", "body"):
        np.testing.assert_allclose(np.concatenate([getattr(p, key) for p in parts]), getattr(offline, key),
                                   atol=1e-12, err_msg=key)


def test_neck_follows_the_new_head():
    n = 20
    rng = np.random.default_rng(1)
    head = rng.normal(0, 0.05, (n, 3))
    anim = Animation.neutral(n)
    add_head_to_body(anim.body, head)
    anim = anim.copy(head=head)
    out = apply_emotion(anim, EmotionSetting("sad"))
    assert np.all(out.head[:, 1] > head[:, 1])
    for name, share in HEAD_CHAIN_SHARE:
        np.testing.assert_allclose(out.body[:, JOINT_INDEX[name]], share * head_to_rotvec(out.head), atol=1e-9)


@pytest.mark.parametrize("emotion, intensity, message", [
    ("glad", 1.0, "unknown emotion 'glad': choose one of neutral, happy, sad, angry, surprised, afraid, disgusted"),
    ("sad", 1.5, "intensity must be a number from 0 to 1, got 1.5"),
    ("sad", -0.1, "intensity must be a number from 0 to 1"),
    ("sad", float("nan"), "intensity must be a number from 0 to 1"),
    ("sad", True, "intensity must be a number from 0 to 1"),
    (None, 1.0, "unknown emotion None"),
])
def test_bad_settings(emotion, intensity, message):
    with pytest.raises(UmoError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")):
        EmotionSetting(emotion, intensity)


def test_names_any_case():
    assert EmotionSetting(" Happy ").emotion == "happy"


@pytest.mark.parametrize("args, message", [
    (["--emotion", "glad"], "umo: error: unknown emotion 'glad': choose one of neutral, happy, sad, angry, "
                            "surprised, afraid, disgusted"),
    (["--emotion", "sad", "--intensity", "2"], "umo: error: emotion intensity must be a number from 0 to 1, got 2.0"),
])
@pytest.mark.parametrize("command", ["say", "animate"])
def test_cli_errors(tmp_path, capsys, command, args, message):
    what = SENTENCE if command == "say" else str(FIXTURES / "arctic_a0009.wav")
    assert main([command, what, "-o", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_model_overlay(tmp_path):
    """`umo animate` with the bundled model: the emotion is an overlay on its output."""
    from umo.inference import default_weights_available

    if not default_weights_available():
        pytest.skip("the bundled model weights are absent")
    wav = str(FIXTURES / "arctic_a0009.wav")
    assert main(["animate", wav, "-o", str(tmp_path / "n"), "--no-preview"]) == 0
    assert main(["animate", wav, "-o", str(tmp_path / "h"), "--no-preview", "--emotion", "happy"]) == 0
    n, h = read_livelink(tmp_path / "n" / "face.csv"), read_livelink(tmp_path / "h" / "face.csv")
    assert smile(h.face) > smile(n.face) + 0.3
    assert h.head[:, 1].mean() < n.head[:, 1].mean()  # happy: chin up a little


def _calibration_script():
    spec = importlib.util.spec_from_file_location("emotion_calibration", REPO / "scripts" / "emotion_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_calibration_table_matches_the_takes(shared_data):
    """scripts/emotion_calibration.py on ../shared/data recomputes umo.emotion.DERIVED_OFFSETS."""
    if not (shared_data / "livelink_noaudio").is_dir():
        pytest.skip("../shared/data/livelink_noaudio is absent (the Live Link takes are not in the repo)")
    script = _calibration_script()
    derived = script.derive_offsets(shared_data)
    assert script.compare(derived, DERIVED_OFFSETS) == []
    # and what the takes say goes the expected way: sad raises the inner brows and frowns; fear widens the eyes
    assert derived["sad"]["BrowInnerUp"] > 0.1 and derived["sad"]["MouthFrown"] > 0.05
    assert derived["afraid"]["EyeWide"] > 0.2 and derived["angry"]["BrowDown"] > 0.1
