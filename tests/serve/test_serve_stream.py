"""umo serve over a real socket: real speech in, frames out, equal to the offline model; errors."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from umo.constants import SAMPLE_RATE
from umo.formats.audio import load_audio
from umo.inference import model_animation
from umo.serve import protocol as P
from umo.serve.server import running_server
from umo.serve.worker import STATS_INTERVAL_S

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 2e-4  # float rounding of batched vs single-stream maths, plus the 6-decimal JSON numbers


@pytest.fixture(scope="module")
def model():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)  # the server's worker uses one thread too; more only oversubscribe a small CPU
    torch.manual_seed(0)
    return UmoModel(get_config("default")).eval()


@pytest.fixture(scope="module")
def server(model):
    with running_server(model, max_sessions=4) as srv:
        yield srv


def pcm16(x: np.ndarray) -> bytes:
    return P.encode_pcm16(x).tobytes()


def stream(url: str, audio: np.ndarray, start: dict | None = None, chunks=(320, 4000), seed: int = 1,
           encode=pcm16, token: str | None = None, texts: tuple[str, ...] = (), phones: list | None = None):
    """Send audio in random-sized chunks (``texts`` as "text" messages, one after each of the first
    chunks; ``phones`` [symbol, start, end] as "phones" messages, each before the chunk whose audio it
    reaches, 0.2 s ahead); -> (ready, frames messages, done, other messages)."""
    phones = list(phones or [])
    rng = np.random.default_rng(seed)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with connect(url, additional_headers=headers, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, **(start or {})}))
        ready = json.loads(ws.recv())
        i = 0
        while i < len(audio):
            n = int(rng.integers(chunks[0], chunks[1]))
            send = [p for p in phones if p[1] < (i + n) / SAMPLE_RATE + 0.2]
            if send:
                ws.send(json.dumps({"type": "phones", "phones": send}))
                phones = phones[len(send):]
            ws.send(encode(audio[i:i + n]))
            i += n
            if texts:
                ws.send(json.dumps({"type": "text", "text": texts[0]}))
                texts = texts[1:]
        if phones:  # those past the audio's end too, as a client sends a whole utterance's
            ws.send(json.dumps({"type": "phones", "phones": phones}))
        ws.send(json.dumps({"type": "end"}))
        frames, other = [], []
        while True:
            m = ws.recv(timeout=60)
            if isinstance(m, bytes):
                frames.append(P.parse_frames_binary(m))
                continue
            m = json.loads(m)
            if m["type"] == "frames":
                frames.append(m)
            elif m["type"] == "done":
                return ready, frames, m, other
            else:
                other.append(m)
                if m["type"] == "error":
                    return ready, frames, None, other


def collect(frames: list[dict]) -> dict[str, np.ndarray]:
    rows = [f for msg in frames for f in msg["frames"]]
    return {"t": np.array([r["t"] for r in rows]), "face": np.array([r["face"] for r in rows]),
            "head": np.array([r["head"] for r in rows]), "eyes": np.array([r["eyes"] for r in rows]),
            "body": np.array([r["body"] for r in rows])}


def quantised(audio: np.ndarray) -> np.ndarray:
    """What the server decodes from pcm16(audio)."""
    return np.frombuffer(pcm16(audio), "<i2").astype(np.float32) / 32768.0


@pytest.mark.parametrize("name", ["jfk.flac", "arctic_a0009.wav"])
def test_stream_equals_offline(server, model, name):
    audio = load_audio(FIXTURES / name)
    ready, frames, done, other = stream(server.url, audio)
    assert ready["type"] == "ready" and ready["fps"] == 30 and len(ready["blendshapes"]) == 52
    assert len(ready["joints"]) == 75 and not other
    got = collect(frames)
    ref = model_animation(model, quantised(audio))
    n = ref.num_frames
    assert n == int(np.ceil(len(audio) / SAMPLE_RATE * 30))
    assert done["frames"] == n and got["face"].shape == (n, 52)
    np.testing.assert_allclose(got["t"], np.arange(n) / 30, atol=1e-6)  # complete and in order
    starts = [m["start"] for m in frames]
    assert starts == sorted(starts) and starts[0] == 0
    for key in ("face", "head", "eyes", "body"):
        np.testing.assert_allclose(got[key], getattr(ref, key), atol=TOL, err_msg=key)


def test_a_text_stream_alongside_is_accepted_and_counted(server, model):
    """Transcript pieces sent while the audio streams (a chat model's reply, word by word): the
    session goes on, "done" counts them, and the frames are those of the audio alone (the live
    model does not read text: ready.text_used is false)."""
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 2 * SAMPLE_RATE]
    words = ("Author ", "of the ", "danger ", "trail, ", "Philip ", "Steels, ", "etc.")
    ready, frames, done, other = stream(server.url, audio, start={"text": "Author"}, texts=words)
    assert ready["text_used"] is False and ready["limits"]["max_text_chars"] > 0
    assert done is not None and done["text_chars"] == len("Author") + sum(map(len, words)), other
    np.testing.assert_allclose(collect(frames)["face"], model_animation(model, quantised(audio)).face, atol=TOL)


def test_timed_phones_alongside_the_audio_equal_offline_with_them(server, model):
    """A client that knows the phone timing (e.g. from the TTS that made the audio) sends it as it
    streams: the frames equal the model's offline frames with those phones, not the audio-only ones."""
    from umo.formats.lab import read_lab

    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 2 * SAMPLE_RATE]
    timing = read_lab(FIXTURES / "arctic_a0009_phone.lab")
    sent = [[p.symbol.lower() + ("1" if p.symbol in ("AA", "AH") else ""), p.start, p.end] for p in timing.phones]
    ready, frames, done, other = stream(server.url, audio, phones=sent)
    assert ready["phones_used"] and "DH" in ready["phone_set"]
    assert done is not None and done["phones"] == len(sent), other
    got = collect(frames)["face"]
    with_phones = model_animation(model, quantised(audio), timing).face
    np.testing.assert_allclose(got, with_phones, atol=TOL)
    assert np.abs(got - model_animation(model, quantised(audio)).face).max() > 100 * TOL  # the phones were read


def test_text_and_phones_beyond_their_limits_end_the_session(model):
    with running_server(model, engine="thread", limits=P.Limits(max_text_chars=10, max_phones=2)) as srv:
        expect_error(srv.url, [START, {"type": "text", "text": "twelve chars"}], "more than 10 characters")
        three = [["HH", 0.1, 0.2], ["AY", 0.2, 0.4], ["SIL", 0.4, 0.6]]
        expect_error(srv.url, [START, {"type": "phones", "phones": three}], "more than 2 phones")


def test_thread_engine_equals_offline(model):
    """--engine thread: the same rounds in the server's own process, the same frames."""
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 2 * SAMPLE_RATE]
    with running_server(model, engine="thread") as srv:
        _, frames, done, _ = stream(srv.url, audio)
        assert srv.status()["model"]["runs_in"] == "thread"
    np.testing.assert_allclose(collect(frames)["face"], model_animation(model, quantised(audio)).face, atol=TOL)


def test_onnx_keyframe_steps_in_the_model_process_equal_offline(tmp_path):
    """umo serve --engine onnx: the model process loads the graph and steps every session with it;
    the frames equal the PyTorch offline path's."""
    pytest.importorskip("onnxruntime")
    from umo.models import UmoModel, get_config
    from umo.models.onnx_step import KeyframeGraph, export_keyframes

    torch.manual_seed(3)
    tiny = UmoModel(get_config("tiny", window_steps=4)).eval()
    graph = KeyframeGraph(export_keyframes(tiny, tmp_path / "tiny.onnx"), tiny)
    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    with running_server(tiny, graph=graph) as srv:
        _, frames, done, _ = stream(srv.url, audio)
        model_info = srv.status()["model"]
        assert model_info["runs_in"] == "process" and model_info["keyframe_steps"] == "onnx"
    ref = model_animation(tiny, quantised(audio))
    assert done["frames"] == ref.num_frames
    for key in ("face", "body"):
        np.testing.assert_allclose(collect(frames)[key], getattr(ref, key), atol=TOL, err_msg=key)


def test_body_generator_streams_through_the_model_process(server, model):
    """{"body": "gen"}: the model process streams the bundled continuous body generator beside the
    model; the frames equal the offline face with the generator's offline body (same seed)."""
    from umo.models.body_gen import DEFAULT_BODY_WEIGHTS, default_body_generator, with_generated_body

    if not DEFAULT_BODY_WEIGHTS.is_file():
        pytest.skip("no bundled body generator in this install")
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 2 * SAMPLE_RATE]
    ready, frames, done, other = stream(server.url, audio, start={"body": "gen", "seed": 2}, seed=2)
    assert ready["body"] == "gen" and not other
    q = quantised(audio)
    ref = with_generated_body(model_animation(model, q, seed=2), q, default_body_generator(), seed=2)
    got = collect(frames)
    assert done["frames"] == ref.num_frames == len(got["face"])
    for key in ("face", "body"):
        np.testing.assert_allclose(got[key], getattr(ref, key), atol=TOL, err_msg=key)


def test_a_saturated_model_is_reported_and_logged(model):
    """With sessions open and the model busy nearly all of the last seconds, the server says it is at
    capacity: once in its log (not once per second), and as the load in /healthz."""
    logged = []
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[:SAMPLE_RATE]
    with running_server(model, engine="thread", log=logged.append) as srv:
        assert srv.capacity_warning() is None  # idle
        with connect(srv.url) as ws:
            ws.send(json.dumps(START))
            assert json.loads(ws.recv())["type"] == "ready"
            ws.send(pcm16(audio))
            time.sleep(0.5)
            assert srv.capacity_warning() is None  # one session: the model is mostly idle
            health = json.loads(urllib.request.urlopen(srv.url.replace("ws:", "http:").replace("/stream", "/healthz")).read())
            assert 0 < health["engine"]["load"] < 0.95
            now = time.monotonic()
            for i in range(60):  # as if rounds had run back to back for the last 6 s
                srv.engine.stats.add(32, 0.1, 0.1, ended=now - 0.1 * i)
            msg = srv.capacity_warning()
            assert msg is not None and "at capacity" in msg and "1 sessions" in msg
            for _ in range(25):  # and go on so for 2.5 s: the watcher checks every second, logs once a minute at most
                time.sleep(0.1)
                srv.engine.stats.add(32, 0.1, 0.1)
            warned = [line for line in logged if "at capacity" in line]  # the others: the session's start
            assert len(warned) == 1, logged
            ws.send(json.dumps({"type": "end"}))


def test_model_process_crash_ends_streams_with_an_error(model):
    """The model process dies mid-stream (killed): the open session gets an error, new ones a clear refusal."""
    audio = load_audio(FIXTURES / "jfk.flac")
    with running_server(model) as srv:
        with connect(srv.url) as ws:
            ws.send(json.dumps(START))
            ws.recv()
            ws.send(pcm16(audio[:SAMPLE_RATE]))
            srv.engine._proc.kill()
            seen = []
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    m = ws.recv(timeout=30)
                    if isinstance(m, str):
                        seen.append(json.loads(m))
        assert seen[-1]["type"] == "error" and "model" in seen[-1]["message"], seen
        expect_error(srv.url, [START], "restart umo serve")


def test_binary_format_and_output_selection(server, model):
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: SAMPLE_RATE]
    _, frames, done, _ = stream(server.url, audio, {"format": "binary", "outputs": ["face", "body"]})
    face = np.concatenate([f["face"] for f in frames])
    body = np.concatenate([f["body"] for f in frames])
    assert all("head" not in f for f in frames) and frames[0]["start"] == 0
    ref = model_animation(model, quantised(audio))
    assert done["frames"] == ref.num_frames == face.shape[0]
    np.testing.assert_allclose(face, ref.face, atol=TOL)
    np.testing.assert_allclose(body, ref.body, atol=TOL)


def test_resampled_stream_matches_offline_resampling(server, model):
    """44.1 kHz float audio: resampled on the server (streaming soxr) like load_audio does offline."""
    import soxr

    audio16 = load_audio(FIXTURES / "arctic_a0009.wav")
    audio44 = soxr.resample(audio16, SAMPLE_RATE, 44100).astype(np.float32)
    _, frames, done, _ = stream(server.url, audio44, {"sample_rate": 44100, "encoding": "pcm_f32le"},
                                chunks=(441, 8820), encode=lambda x: x.astype("<f4").tobytes())
    got = collect(frames)
    ref = model_animation(model, soxr.resample(audio44, 44100, SAMPLE_RATE).astype(np.float32))
    assert got["face"].shape[0] == ref.num_frames == done["frames"]
    # the streaming and one-shot resamplers differ by float rounding; sampled codes may then differ
    # on a rare near tie, so compare typical error, not the worst frame
    assert float(np.median(np.abs(got["face"] - ref.face))) < 1e-3


def test_concurrent_sessions_are_independent(server, model):
    clips = [load_audio(FIXTURES / n)[: 2 * SAMPLE_RATE] for n in ("jfk.flac", "arctic_a0009.wav", "arctic_a0007.wav")]
    results: dict[int, dict] = {}

    def run(k: int) -> None:
        results[k] = collect(stream(server.url, clips[k], {"seed": k}, seed=k)[1])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for k in range(3):
        ref = model_animation(model, quantised(clips[k]), seed=k)
        np.testing.assert_allclose(results[k]["face"], ref.face, atol=TOL)
        np.testing.assert_allclose(results[k]["body"], ref.body, atol=TOL)


# ------------------------------------------------------------------------------------------ errors
def expect_error(url: str, messages: list, match: str, token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with connect(url, additional_headers=headers) as ws:
        for m in messages:
            ws.send(m if isinstance(m, bytes) else json.dumps(m) if isinstance(m, dict) else m)
        seen = []
        while True:
            try:
                m = ws.recv(timeout=30)
            except websockets.ConnectionClosed:
                break
            if isinstance(m, str):
                seen.append(json.loads(m))
    errors = [m for m in seen if m["type"] == "error"]
    assert len(errors) == 1 and match in errors[0]["message"], seen
    assert seen[-1]["type"] == "error"  # nothing after the error: the session closed


START = {"type": "start", "sample_rate": SAMPLE_RATE}


@pytest.mark.parametrize("messages, match", [
    ([b"\x00\x01" * 100], "first message must be"),
    (["not json"], "must be JSON"),
    ([{"type": "hello"}], "first message must be"),
    ([{"type": "start", "sample_rate": 4000}], "8000-48000"),
    ([{"type": "start", "sample_rate": "fast"}], "sample_rate must be"),
    ([{"type": "start", "fps": 60}], "30 fps"),
    ([{"type": "start", "voice": "en-f1"}], "voice is for text sessions"),
    ([{"type": "start", "colour": 1}], "unknown field"),
    ([{"type": "start", "outputs": ["lips"]}], "outputs must be"),
    ([START, b"\x00\x01\x02"], "whole number"),
    ([START, {"type": "end"}], "no audio was received"),
    ([START, {"type": "pause"}], "unknown message type"),
    ([START, {"type": "text", "text": 5}], "needs \"text\""),
    ([START, {"type": "phones", "phones": [["XX", 0.1, 0.2]]}], "not an ARPAbet phone"),
    ([START, {"type": "phones", "phones": [["AA", 0.3, 0.2]]}], "start <= end"),
    ([START, {"type": "phones", "phones": [["AA", 0.3, 0.4], ["B", 0.1, 0.2]]}], "time order"),
    ([START, {"type": "phones", "phones": [["AA", 0.3, 0.4]]}, {"type": "phones", "phones": [["B", 0.1, 0.2]]}], "time order"),
    ([START, {"type": "phones", "phones": "AA"}], "non-empty list"),
    ([START, {"type": "phones", "phones": [["AA", "0.1", 0.2]]}], "expected [symbol"),
    ([START, {"type": "text", "text": "hi", "lang": "en"}], "unknown field"),
    ([START, START], "already received"),
    ([{**START, "encoding": "pcm_f32le"}, np.array([0.1, np.nan], "<f4").tobytes()], "NaN"),
    ([{**START, "encoding": "pcm_f32le"}, np.array([0.1, 300.0], "<f4").tobytes()], "[-1, 1]"),
    ([START, b"\x00" * ((1 << 20) + 2)], "over the limit"),
])
def test_malformed_messages_get_a_clear_error(server, messages, match):
    expect_error(server.url, messages, match)


def test_clipping_warns_but_goes_on(server):
    loud = np.clip(np.sin(np.arange(SAMPLE_RATE) / 5.0) * 4, -1, 1).astype(np.float32)
    _, _, done, other = stream(server.url, loud)
    assert done is not None and done["frames"] == 30
    assert [m["type"] for m in other] == ["warning"] and "clipping" in other[0]["message"]


def test_idle_timeout_session_limit_and_token(model):
    with running_server(model, max_sessions=1, token="s3cret", limits=P.Limits(idle_timeout_s=0.5)) as srv:
        with pytest.raises(websockets.InvalidStatus) as e, connect(srv.url):
            pass
        assert e.value.response.status_code == 401
        expect_error(srv.url, [START], "idle timeout", token="s3cret")
        with connect(srv.url + "?token=s3cret") as first:  # the page passes the token in the URL
            first.send(json.dumps(START))
            assert json.loads(first.recv())["type"] == "ready"
            expect_error(srv.url, [], "server busy", token="s3cret")
        time.sleep(0.2)
        health = f"http://127.0.0.1:{srv.bound_port}/healthz"
        # liveness for anyone; the sessions and load only with the token (header or ?token=)
        assert json.loads(urllib.request.urlopen(health).read()) == {"ok": True}
        assert json.loads(urllib.request.urlopen(health + "?token=wrong").read()) == {"ok": True}
        status = json.loads(urllib.request.urlopen(urllib.request.Request(
            health, headers={"Authorization": "Bearer s3cret"})).read())
        assert status["ok"] and status["sessions"] == 0 and status["total_sessions"] >= 2
        assert json.loads(urllib.request.urlopen(health + "?token=s3cret").read())["max_sessions"] == 1


def test_http_routes(server):
    base = f"http://127.0.0.1:{server.bound_port}"
    page = urllib.request.urlopen(base + "/").read().decode()
    assert "<canvas" in page and "live.js" in page
    for asset in ("live.js", "scene.js", "three.min.js"):
        r = urllib.request.urlopen(f"{base}/static/{asset}")
        assert r.headers["Content-Type"].startswith("text/javascript") and len(r.read()) > 100
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/nope")
    assert e.value.code == 404


def test_vanished_client_is_forgotten(server, model):
    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    with connect(server.url) as ws:
        ws.send(json.dumps(START))
        ws.recv()
        ws.send(pcm16(audio[:SAMPLE_RATE]))
    # closed without "end": its session and model stream go away; others are unaffected
    for _ in range(100):
        health = json.loads(urllib.request.urlopen(server.url.replace("ws:", "http:").replace("/stream", "/healthz")).read())
        if health["sessions"] == 0 and health["model"]["streams"] == 0 and health["model"]["kv_slots_in_use"] == 0:
            break
        time.sleep(0.05)
    assert health["model"]["runs_in"] == "process" and not server.engine.handles
    assert health["sessions"] == 0 and health["model"]["streams"] == 0
    assert health["model"]["kv_slots_in_use"] == 0  # its KV slot came back, though no round ran since
    _, _, done, _ = stream(server.url, audio[:SAMPLE_RATE])
    assert done["frames"] == 30


def test_client_that_stops_reading_is_dropped_without_stalling_others(model):
    """A client that sends audio but never reads its frames: its socket fills, its queue passes the
    limit, and it gets dropped; a session running beside it finishes with the offline frames."""
    import socket

    limits = P.Limits(max_queued_messages=4)
    audio = load_audio(FIXTURES / "jfk.flac")
    with running_server(model, max_sessions=2, limits=limits) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: back-pressure soon
        sock.connect(("127.0.0.1", srv.bound_port))
        with connect(srv.url, sock=sock, max_queue=1) as slow:
            slow.send(json.dumps(START))
            assert json.loads(slow.recv(timeout=30))["type"] == "ready"
            # a congested path: loopback would otherwise buffer megabytes in the kernel first
            (session,) = srv.sessions.values()
            session.ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            for _ in range(4):  # 44 s of speech, sent at once, never read
                slow.send(pcm16(audio))
            for _ in range(400):
                if len(srv.sessions) == 0:
                    break
                time.sleep(0.05)
            assert len(srv.sessions) == 0, "the slow client was not dropped"
            assert "not reading its frames fast enough" in session.error
            time.sleep(2 * STATS_INTERVAL_S)  # the model process's next report
            assert srv.status()["model"]["kv_slots_in_use"] == 0  # its stream and KV slot are gone
            clip = audio[: 2 * SAMPLE_RATE]
            _, frames, done, _ = stream(srv.url, clip)
            np.testing.assert_allclose(collect(frames)["face"], model_animation(model, quantised(clip)).face, atol=TOL)
            with pytest.raises(websockets.ConnectionClosed):  # what was in flight, then the connection is gone
                while True:
                    slow.recv(timeout=30)
