"""Text sessions through a real server with real espeak: a reply streamed in pieces cut mid-word
comes back as speech on one contiguous timeline, clause by clause as espeak speaks them offline,
with the frames of exactly that audio and its phones; emotion changes land where they were sent in
the text; every misuse is one clear error."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from umo.constants import MODEL_FPS, SAMPLE_RATE
from umo.emotion import EmotionSetting, apply_emotion
from umo.inference import model_animation
from umo.serve import protocol as P
from umo.serve.server import running_server
from umo.speech.clauses import split_clauses, synthesize_clause
from umo.speech.units import Phone, Timing
from umo.errors import UmoError

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

TOL = 2e-4  # batched vs single-stream float rounding and 6-decimal JSON frames (as test_serve_stream)
REPLY = ("Hello there, it is good to see you again. I looked into your question; the short answer is yes, "
         "but it depends on the weather. Shall we go?")


@pytest.fixture(scope="module")
def model():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return UmoModel(get_config("tiny")).eval()  # the default's paths, 2x faster on these cores


@pytest.fixture(scope="module")
def server(model):
    with running_server(model, max_sessions=2, limits=P.Limits(max_text_chars=2000)) as srv:
        yield srv


def pieces(text: str, seed: int = 0) -> list[str]:
    """The text cut as a chat model streams it: 1-6 characters, mid-word."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        out.append(text[i:i + n])
        i += n
    return out


def talk(url: str, messages: list[dict], start: dict | None = None) -> dict:
    """A text session: start, the messages, end -> ready, audio headers with their PCM, frames, done."""
    out = {"audio": [], "pcm": [], "frames": [], "order": []}
    with connect(url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "input": "text", **(start or {})}))
        out["ready"] = json.loads(ws.recv())
        for m in messages:
            ws.send(json.dumps(m))
        ws.send(json.dumps({"type": "end"}))
        while True:
            m = ws.recv(timeout=60)
            if isinstance(m, bytes):
                assert out["order"][-1] == "audio", "PCM comes right after its audio header"
                out["pcm"].append(np.frombuffer(m, "<i2"))
                out["order"].append("pcm")
                continue
            m = json.loads(m)
            out["order"].append(m["type"])
            if m["type"] == "audio":
                out["audio"].append(m)
            elif m["type"] == "frames":
                out["frames"] += m["frames"]
            else:
                assert m["type"] == "done", m
                out["done"] = m
                return out


def timing_of(audio_msgs: list[dict]) -> Timing:
    return Timing([Phone(s, a, b) for m in audio_msgs for s, a, b in m["phones"]])


def test_a_reply_streamed_mid_word_comes_back_as_contiguous_speech_and_its_frames(server, model):
    r = talk(server.url, [{"type": "text", "text": p} for p in pieces(REPLY)])
    assert r["ready"]["input"] == "text" and r["ready"]["voice"] == "en-us" and r["ready"]["text_used"]
    clauses = split_clauses(REPLY)
    assert [m["text"] for m in r["audio"]] == clauses and len(clauses) == 5
    # one timeline: each clause starts where the previous one's samples end, and holds the samples its header says
    at = 0
    for m, pcm in zip(r["audio"], r["pcm"]):
        assert m["sample_rate"] == SAMPLE_RATE and m["encoding"] == "pcm_s16le"
        assert m["start"] == at / SAMPLE_RATE and m["samples"] == pcm.size
        at += pcm.size
        # the clause as espeak speaks it offline (espeak varies by a few samples from call to call)
        # espeak does not repeat itself to the sample (up to ~0.6 % seen between two syntheses)
        ref = synthesize_clause(m["text"]).audio.size
        assert abs(pcm.size - ref) < max(80, 0.02 * ref)
        assert m["phones"][0][1] == m["start"] and m["phones"][-1][2] == pytest.approx(m["start"] + pcm.size / SAMPLE_RATE)
        assert [w[0] for w in m["words"]][:2] == m["text"].replace(",", "").split()[:2]
    audio = np.concatenate(r["pcm"]).astype(np.float32) / 32768.0
    done = r["done"]
    assert done["duration_s"] == pytest.approx(audio.size / SAMPLE_RATE) and done["clauses"] == 5
    assert done["text_chars"] == len(REPLY) and done["phones"] == sum(len(m["phones"]) for m in r["audio"])
    assert done["latency_ms"]["audio"] is not None and done["latency_ms"]["frames"] >= done["latency_ms"]["audio"]
    # every frame of the audio, once, in order; equal to the offline model on that audio with those phones
    n = -(-audio.size * MODEL_FPS // SAMPLE_RATE)
    assert [f["t"] for f in r["frames"]] == [round(i / MODEL_FPS, 6) for i in range(n)] and done["frames"] == n
    ref = model_animation(model, audio, timing_of(r["audio"]))
    for key in ("face", "head", "eyes", "body"):
        np.testing.assert_allclose(np.array([f[key] for f in r["frames"]]), getattr(ref, key), atol=TOL, err_msg=key)
    # the phones were read: not the audio-only frames
    assert np.abs(ref.face - model_animation(model, audio).face).max() > 100 * TOL
    # each clause's audio is on the wire before any frame at its time
    first_frames = r["order"].index("frames")
    assert r["order"][:2] == ["audio", "pcm"] and first_frames > 1


def test_an_emotion_change_lands_where_it_was_sent_in_the_text(server, model):
    """Start sad at 0.5; {"type": "emotion", "emotion": "happy"} sent mid-word in the second clause
    (its first piece already sent) turns happy from that clause's first frame: the frames equal the
    offline overlay with that change, and the smile rises there and not before."""
    first, second = "I am so sorry to hear about your cat. ", "But I have some wonderful news for you!"
    msgs = [{"type": "text", "text": p} for p in pieces(first + second[:5], seed=3)]
    msgs += [{"type": "emotion", "emotion": "happy"}, {"type": "text", "text": second[5:]}]
    r = talk(server.url, msgs, start={"emotion": "sad", "intensity": 0.5})
    assert [m["text"] for m in r["audio"]] == [first.strip(), second]
    audio = np.concatenate(r["pcm"]).astype(np.float32) / 32768.0
    ref = model_animation(model, audio, timing_of(r["audio"]))
    at = r["audio"][1]["start"]
    want = apply_emotion(ref, EmotionSetting("sad", 0.5), [(at, EmotionSetting("happy"))])
    got = np.array([f["face"] for f in r["frames"]])
    np.testing.assert_allclose(got, want.face, atol=TOL)
    k = int(np.ceil(at * MODEL_FPS))
    sad = apply_emotion(ref, EmotionSetting("sad", 0.5))
    np.testing.assert_allclose(got[:k], sad.face[:k], atol=TOL)  # sad until the second clause
    smile = got[:, [23, 24]].mean(axis=1) - sad.face[:, [23, 24]].mean(axis=1)  # MouthSmileLeft/Right
    assert np.abs(smile[:k]).max() < TOL and np.median(smile[k + 15:]) > 0.3


def expect_error(url: str, messages: list, match: str) -> None:
    with connect(url) as ws:
        for m in messages:
            ws.send(m if isinstance(m, bytes) else json.dumps(m))
        seen = []
        while True:
            try:
                m = ws.recv(timeout=30)
            except websockets.ConnectionClosed:
                break
            if isinstance(m, str):
                seen.append(json.loads(m))
        code = ws.close_code
    errors = [m for m in seen if m["type"] == "error"]
    assert len(errors) == 1 and match in errors[0]["message"] and seen[-1]["type"] == "error", seen
    assert code == 1008, code


TEXT = {"type": "start", "input": "text"}


@pytest.mark.parametrize("messages, match", [
    ([TEXT, b"\x00\x01" * 160], "binary audio in a text session"),
    ([TEXT, {"type": "text", "text": ""}], "empty text"),
    ([TEXT, {"type": "text", "text": 3}], 'needs "text"'),
    ([TEXT, {"type": "end"}], "nothing to say"),
    ([TEXT, {"type": "text", "text": "... ** --"}, {"type": "end"}], "nothing to say"),
    ([TEXT, {"type": "text", "text": "x" * 2001}], "more than 2000 characters of text"),
    ([TEXT, {"type": "text", "text": "Hi. "}, {"type": "phones", "phones": [["AA", 0, 0.1]]}], "phones in a text session"),
    ([TEXT, {"type": "emotion", "emotion": "bored"}], "unknown emotion 'bored'"),
    ([TEXT, {"type": "speak", "text": "hi"}], "a text session takes"),
    ([{**TEXT, "voice": "xx-nope"}], "unknown voice 'xx-nope'"),
    ([{**TEXT, "voice": "en-us+nosuch"}], "unknown voice variant"),
    ([{**TEXT, "voice": 7}], "voice must be a string"),
    ([{**TEXT, "sample_rate": 44100}], "leave out \"sample_rate\""),
    ([{"type": "start", "input": "video"}], 'input \'video\': use "audio"'),
    ([{"type": "start", "voice": "en-us"}], "voice is for text sessions"),
])
def test_misuse_is_one_clear_error(server, messages, match):
    expect_error(server.url, messages, match)


def test_start_text_is_spoken_and_a_voice_is_used(server):
    r = talk(server.url, [], start={"text": "Bonjour, comment allez-vous?", "voice": "fr"})
    assert r["ready"]["voice"] == "fr" and [m["text"] for m in r["audio"]] == ["Bonjour, comment allez-vous?"]
    assert r["done"]["frames"] > 30


def test_a_long_reply_faster_than_speech_keeps_one_timeline_and_back_pressure(model):
    """A reply of ~10 s of speech sent at once with a backlog limit of 1 s: the speaker waits for the
    model between clauses, and the timeline stays contiguous to the last sample."""
    text = " ".join(f"This is sentence number {i}, spoken in its turn." for i in range(5))
    with running_server(model, engine="thread", limits=P.Limits(max_backlog_s=1.0)) as srv:
        r = talk(srv.url, [{"type": "text", "text": text}])
    starts = [m["start"] for m in r["audio"]]
    ends = np.cumsum([p.size for p in r["pcm"]]) / SAMPLE_RATE
    assert starts == [0.0, *ends[:-1].tolist()] and len(starts) == len(split_clauses(text))
    assert r["done"]["frames"] == -(-int(ends[-1] * SAMPLE_RATE) * MODEL_FPS // SAMPLE_RATE) and ends[-1] > 8


@pytest.mark.parametrize("msg, error", [
    ({"type": "start", "input": "text", "encoding": "pcm_f32le"}, "leave out"),
    ({"type": "start", "input": "text", "voice": ""}, "voice is empty"),
    ({"type": "start", "input": 1}, "input 1"),
])
def test_start_parse_errors(msg, error):
    with pytest.raises(UmoError, match=error):
        P.parse_start(msg)


def test_start_parse_text_session_defaults():
    req = P.parse_start({"type": "start", "input": "text", "voice": "zh", "sample_rate": 16000})
    assert (req.input, req.voice, req.sample_rate, req.encoding) == ("text", "cmn", SAMPLE_RATE, "pcm_s16le")
    assert P.parse_start({"type": "start"}).input == "audio"


def test_the_example_client_writes_the_speech_and_frames(server, tmp_path):
    """examples/live_text_client.py, as docs/protocol.md shows it, against the real server."""
    import subprocess
    import sys
    import wave
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "live_text_client.py"
    out = subprocess.run([sys.executable, str(script), "Hello there! How can I help you today?", "--url", server.url,
                          "--piece-ms", "5", "--emotion", "happy", "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "2 clauses" in out.stdout and "first clause complete -> its audio" in out.stdout
    with wave.open(str(tmp_path / "speech.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        n = w.getnframes()
    frames = json.loads((tmp_path / "frames.json").read_text())
    clauses = json.loads((tmp_path / "clauses.json").read_text())
    assert len(frames["frames"]) == -(-n * MODEL_FPS // SAMPLE_RATE) and len(frames["blendshapes"]) == 52
    assert [c["text"] for c in clauses] == ["Hello there!", "How can I help you today?"]
    assert clauses[1]["start"] == clauses[0]["samples"] / SAMPLE_RATE and n == sum(c["samples"] for c in clauses)
