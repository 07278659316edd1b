"""Emotion in live sessions through a real server on real speech: the start message's emotion and
a mid-stream {"type": "emotion"} change, applied causally (after the message, never before) and ramped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from umo.constants import EMOTIONS, SAMPLE_RATE
from umo.emotion import RAMP_S, EmotionSetting, apply_emotion
from umo.errors import UmoError
from umo.formats.audio import load_audio
from umo.inference import model_animation
from umo.serve import protocol as P
from umo.serve.server import running_server

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 2e-4  # batched vs single-stream float rounding, plus the 6-decimal JSON numbers (as test_serve_stream)
CHUNK = 320  # 20 ms


@pytest.fixture(scope="module")
def model():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return UmoModel(get_config("default")).eval()


@pytest.fixture(scope="module")
def server(model):
    with running_server(model, max_sessions=2) as srv:
        yield srv


def pcm16(x: np.ndarray) -> bytes:
    return P.encode_pcm16(x).tobytes()


def quantised(audio: np.ndarray) -> np.ndarray:
    return np.frombuffer(pcm16(audio), "<i2").astype(np.float32) / 32768.0


def frames_of(msg) -> list[dict]:
    m = json.loads(msg)
    assert m["type"] in ("frames", "done"), m
    return m.get("frames", [])


def test_start_emotion_equals_the_offline_overlay(server, model):
    """A session started with an emotion: every frame equals the model's offline frames with the
    same emotion overlaid (`umo animate --emotion sad --intensity 0.7`), from the first frame."""
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 2 * SAMPLE_RATE]
    rows = []
    with connect(server.url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "emotion": "sad", "intensity": 0.7}))
        ready = json.loads(ws.recv())
        assert ready["emotions"] == list(EMOTIONS)
        for i in range(0, len(audio), 4 * CHUNK):
            ws.send(pcm16(audio[i:i + 4 * CHUNK]))
        ws.send(json.dumps({"type": "end"}))
        while (m := ws.recv(timeout=60)) and json.loads(m)["type"] != "done":
            rows += frames_of(m)
    ref = model_animation(model, quantised(audio))
    want = apply_emotion(ref, EmotionSetting("sad", 0.7))
    for key in ("face", "head", "body"):
        np.testing.assert_allclose(np.array([r[key] for r in rows]), getattr(want, key), atol=TOL, err_msg=key)
    assert np.abs(want.face - ref.face).max() > 0.1


def test_emotion_change_mid_stream_shows_after_the_message_and_not_before(server, model):
    """Stream 1.5 s, wait for the frames that audio makes, send {"type": "emotion", "emotion":
    "happy"}, stream the rest. The frames received before the message are the neutral ones; the
    change starts at the first frame made after it (no later than the first frame that needs audio
    sent after it), and from there the stream equals the offline animation with that change,
    ramped over RAMP_S."""
    audio = load_audio(FIXTURES / "jfk.flac")[: 4 * SAMPLE_RATE]
    cut = int(1.5 * SAMPLE_RATE)
    rows: list[dict] = []
    with connect(server.url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE}))
        ready = json.loads(ws.recv())
        for i in range(0, cut, CHUNK):
            ws.send(pcm16(audio[i:min(i + CHUNK, cut)]))
        final_before = int((1.5 - ready["lookahead_s"]) * 30) - 1  # frames that audio surely makes final
        while len(rows) < final_before:
            rows += frames_of(ws.recv(timeout=60))
        before = len(rows)
        ws.send(json.dumps({"type": "emotion", "emotion": "happy"}))
        for i in range(cut, len(audio), CHUNK):
            ws.send(pcm16(audio[i:i + CHUNK]))
        ws.send(json.dumps({"type": "end"}))
        while (m := ws.recv(timeout=60)) and json.loads(m)["type"] != "done":
            rows += frames_of(m)
    got = np.array([r["face"] for r in rows])
    ref = model_animation(model, quantised(audio))
    assert got.shape == ref.face.shape
    changed = np.flatnonzero(np.abs(got - ref.face).max(axis=1) > 10 * TOL)
    first = int(changed[0])
    # not before the message; no later than the first frame that audio sent after it is needed for
    assert before <= first <= int(np.ceil(1.5 * 30)), (before, first)
    np.testing.assert_allclose(got[:first], ref.face[:first], atol=TOL)
    want = apply_emotion(ref, EmotionSetting(), [(first / 30, EmotionSetting("happy"))])
    np.testing.assert_allclose(got, want.face, atol=TOL)
    smile = got[:, [23, 24]].mean(axis=1) - ref.face[:, [23, 24]].mean(axis=1)  # MouthSmileLeft/Right
    ramp = round(RAMP_S * 30)
    # in over the ramp, then held (less only where the smile reaches 1)
    assert 0 < smile[first] < 0.1 and np.median(smile[first + ramp:]) > 0.39
    # (the ramp's smoothness is the offline layer's, tested in tests/test_emotion.py; here a smile
    # that reaches 1 clips the differences)


@pytest.mark.parametrize("msg, error", [
    ({"type": "start", "emotion": "glad"}, "unknown emotion 'glad': choose one of neutral, happy, sad"),
    ({"type": "start", "emotion": "sad", "intensity": 2}, "intensity must be a number from 0 to 1, got 2"),
    ({"type": "start", "intensity": 0.5}, 'the start message has "intensity" without "emotion"'),
    ({"type": "start", "emotion": 3}, "unknown emotion 3"),
])
def test_start_emotion_errors(msg, error):
    with pytest.raises(UmoError, match=error.replace("(", r"\(")):
        P.parse_start(msg)


@pytest.mark.parametrize("msg, error", [
    ({"type": "emotion"}, 'an emotion message needs "emotion": one of neutral, happy'),
    ({"type": "emotion", "emotion": "happy", "intensity": "high"}, "intensity must be a number from 0 to 1"),
    ({"type": "emotion", "emotion": "happy", "ramp": 1}, r"unknown field\(s\) in the emotion message: \['ramp'\]"),
])
def test_emotion_message_errors(msg, error):
    with pytest.raises(UmoError, match=error):
        P.parse_emotion(msg)


def test_emotion_message_defaults():
    assert P.parse_emotion({"type": "emotion", "emotion": "Sad"}) == EmotionSetting("sad", 1.0)
    assert P.parse_start({"type": "start"}).emotion.is_neutral


def test_a_bad_emotion_mid_stream_ends_the_session_with_a_clear_error(server):
    with connect(server.url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE}))
        json.loads(ws.recv())
        ws.send(pcm16(np.zeros(CHUNK, np.float32)))
        ws.send(json.dumps({"type": "emotion", "emotion": "bored"}))
        kinds = []
        try:
            while True:
                m = json.loads(ws.recv(timeout=30))
                kinds.append(m["type"])
                if m["type"] == "error":
                    assert "unknown emotion 'bored': choose one of neutral" in m["message"]
        except websockets.ConnectionClosed:
            pass
        assert kinds[-1] == "error" and ws.close_code == 1008
