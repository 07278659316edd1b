"""The cross-session batched step equals the single-stream model, however the audio is cut."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from umo.constants import SAMPLE_RATE
from umo.formats.audio import load_audio
from umo.serve import protocol as P
from umo.models.phones import PhoneTrack
from umo.models.stepper import Stepper
from umo.serve.batching import Engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tiny():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return UmoModel(get_config("tiny", window_steps=4)).eval()  # a short window: the KV cache wraps


def _rounds(st, states, clips, rng, sizes, skip: float = 0.0, feed=None) -> list[list[dict]]:
    """Rounds of ``st.advance`` over the clips in chunks drawn from ``sizes`` (a stream sits out a
    round with probability ``skip``; ``feed(k, end sample)`` runs before stream k's chunk); the last
    chunk of each flushes. -> per clip its rounds' outputs."""
    outs: list[list[dict]] = [[] for _ in clips]
    pos, done = [0] * len(clips), [False] * len(clips)
    while not all(done):
        idx = [k for k in range(len(clips)) if not done[k] and rng.random() >= skip]
        pcms, flush = [], []
        for k in idx:
            n = int(rng.choice(sizes))
            if feed is not None:
                feed(k, pos[k] + n)
            pcms.append(clips[k][pos[k]:pos[k] + n])
            pos[k] += n
            flush.append(pos[k] >= len(clips[k]))
        for k, out, fl in zip(idx, st.advance([states[k] for k in idx], pcms, flush), flush):
            outs[k].append(out)
            done[k] = fl
    return outs


def _assert_equal(outs: list[list[dict]], ref: list[dict]) -> None:
    for k, (parts, want) in enumerate(zip(outs, ref)):
        for r in ("face", "body", "hands"):
            got = np.concatenate([o[r] for o in parts])
            np.testing.assert_allclose(got, want[r].numpy(), atol=1e-5, err_msg=f"clip {k} {r}")


def test_batched_rounds_equal_generate_for_any_chunking(tiny):
    clips = [load_audio(FIXTURES / n)[: int(s * SAMPLE_RATE)]
             for n, s in (("jfk.flac", 2.5), ("arctic_a0009.wav", 1.7), ("arctic_a0007.wav", 0.9))]
    ref = [tiny.generate(torch.from_numpy(a), seed=k) for k, a in enumerate(clips)]
    st = Stepper(tiny)
    states = [st.new_state(k) for k in range(3)]
    outs = _rounds(st, states, clips, np.random.default_rng(1), [0, 17, 160, 533, 1600, 5000], skip=0.2)
    _assert_equal(outs, ref)
    for k in range(3):
        assert states[k].key.steps > 4  # more steps than the ring's W = 4: it wrapped
    assert st.pool.in_use() == 3 and st.pool.k[0].shape[2] == 4 * 5  # a slot per stream, W steps of 5 tokens
    for s in states:
        st.release(s)
    assert st.pool.in_use() == 0


def _phones(timing) -> list[tuple[int, float, float]]:
    from umo.speech.units import PHONES

    return [(PHONES.index(p.symbol), p.start, p.end) for p in timing.phones]


def test_timed_phones_streamed_with_the_audio_equal_generate_with_phones(tiny):
    """Streams that send timed phones (a little ahead of their audio, in pieces) get the frames of
    ``generate(audio, phones)``; a stream without phones in the same rounds keeps the audio-only
    frames. One stream's phones are real (ARCTIC a0009's labels), the other's overlap and leave gaps."""
    from umo.data.synth import rasterize_phones
    from umo.formats.lab import read_lab
    from umo.models.features import num_motion_frames
    from umo.speech.units import Phone, Timing

    clips = [load_audio(FIXTURES / "arctic_a0009.wav")[: int(1.7 * SAMPLE_RATE)],
             load_audio(FIXTURES / "jfk.flac")[: int(2.2 * SAMPLE_RATE)],
             load_audio(FIXTURES / "arctic_a0007.wav")[: int(0.9 * SAMPLE_RATE)]]
    odd = Timing(phones=[Phone("AA", 0.10, 0.30), Phone("M", 0.25, 0.31), Phone("IY", 0.50, 0.90),
                         Phone("S", 0.50, 0.60), Phone("UW", 1.20, 2.00)])  # overlaps, same starts, gaps
    timings = [read_lab(FIXTURES / "arctic_a0009_phone.lab"), odd, None]
    ref = [tiny.generate(torch.from_numpy(a), None if t is None else
                         torch.as_tensor(rasterize_phones(t, num_motion_frames(len(a)))), seed=k)
           for k, (a, t) in enumerate(zip(clips, timings))]
    assert not torch.allclose(ref[0]["face"], tiny.generate(torch.from_numpy(clips[0]), seed=0)["face"])  # phones matter
    st = Stepper(tiny)
    states = [st.new_state(k) for k in range(3)]
    todo = [[] if t is None else _phones(t) for t in timings]

    def feed(k: int, end: int) -> None:  # the phones of this chunk's audio and a little more, first
        send = [p for p in todo[k] if p[1] < end / SAMPLE_RATE + 0.2]
        todo[k] = todo[k][len(send):]
        if send:
            states[k].phones = states[k].phones or PhoneTrack()
            states[k].phones.add(send)

    _assert_equal(_rounds(st, states, clips, np.random.default_rng(2), [17, 533, 1600, 4000], feed=feed), ref)
    assert len(states[0].phones.starts) < len(_phones(timings[0])) // 2  # the track forgot what no frame reads


def test_engine_delivers_in_order_and_cuts_long_pushes(tiny):
    audio = load_audio(FIXTURES / "jfk.flac")[: 3 * SAMPLE_RATE]
    got, final = [], threading.Event()
    eng = Engine(tiny, max_round_s=0.1).start()
    try:
        h = eng.open(lambda fr, last, err: (got.append(fr), final.set() if last else None))
        h.submit(audio)  # 3 s at once: worked off in rounds of 0.1 s
        h.finish()
        assert final.wait(60)
    finally:
        eng.stop()
    assert eng.stepper.pool.in_use() == 0  # the finished stream gave its KV slot back
    frames = [f for f in got if f is not None and len(f)]
    assert [f.start for f in frames] == sorted(f.start for f in frames)
    assert sum(len(f) for f in frames) == 90 and eng.stats.rounds >= 30
    ref = tiny.generate(torch.from_numpy(audio))
    from umo.data.motion import regions_to_animation

    anim = regions_to_animation({k: v.numpy() for k, v in ref.items()})
    np.testing.assert_allclose(np.concatenate([f.face for f in frames]), anim.face, atol=1e-5)


def test_engine_streams_the_body_generator_beside_the_model(tiny):
    """body="gen": the body and hands of every frame come from the continuous body generator (its
    frames come a token after the model's; each frame goes out once both have it): the frames equal
    the model's face and the generator's offline body for the same seed; a plain stream alongside
    keeps the model's own body."""
    from umo.inference import frames_from_regions
    from umo.models.body_gen import BodyGenerator, get_body_config

    torch.manual_seed(0)
    gen = BodyGenerator(get_body_config("tiny")).eval()
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: int(2.3 * SAMPLE_RATE)]
    got = {"gen": [], "animator": []}
    done = {k: threading.Event() for k in got}
    eng = Engine(tiny, max_round_s=0.05, body_gen=gen).start()
    try:
        hs = {k: eng.open(lambda fr, last, err, k=k: (got[k].append((fr, err)), done[k].set() if last else None),
                          seed=3, body=k) for k in got}
        for i in range(0, len(audio), 700):
            for h in hs.values():
                h.submit(audio[i:i + 700])
        for h in hs.values():
            h.finish()
        assert all(e.wait(60) for e in done.values())
    finally:
        eng.stop()
    ref_face = tiny.generate(torch.from_numpy(audio), seed=3)
    ref_body = gen.generate(audio, seed=3)
    want = {"gen": frames_from_regions({"face": ref_face["face"].numpy(), **ref_body}, 0),
            "animator": frames_from_regions({k: v.numpy() for k, v in ref_face.items()}, 0)}
    for k in got:
        assert all(err is None for _, err in got[k])
        frames = [f for f, _ in got[k] if f is not None and len(f)]
        assert [f.start for f in frames] == list(np.cumsum([0] + [len(f) for f in frames[:-1]]))  # in order, no gap
        for part in ("face", "head", "body"):
            np.testing.assert_allclose(np.concatenate([getattr(f, part) for f in frames]), getattr(want[k], part),
                                       atol=1e-5, err_msg=f"{k} {part}")
    assert not np.allclose(want["gen"].body, want["animator"].body)  # the two bodies do differ
    with pytest.raises(Exception, match="body must be one of"):
        eng.open(lambda *a: None, body="dance")


def test_protocol_start_defaults_and_binary_round_trip():
    req = P.parse_start({"type": "start"})
    assert req.sample_rate == 16000 and req.outputs == P.OUTPUTS and req.format == "json" and req.body is None
    assert P.parse_start({"type": "start", "body": "gen"}).body == "gen"
    with pytest.raises(Exception, match="body 'dance': use one of"):
        P.parse_start({"type": "start", "body": "dance"})
    from umo.inference import Frames

    rng = np.random.default_rng(0)
    fr = Frames(7, 30, rng.random((3, 52)), rng.random((3, 3)), rng.random((3, 6)), rng.random((3, 75, 3)))
    back = P.parse_frames_binary(P.frames_binary(fr, ("face", "body")))
    assert back["start"] == 7 and "head" not in back
    np.testing.assert_allclose(back["body"], fr.body, atol=1e-6)
    rows = __import__("json").loads(P.frames_json(fr, P.OUTPUTS))["frames"]
    assert [r["t"] for r in rows] == [round(i / 30, 6) for i in (7, 8, 9)] and len(rows[0]["body"]) == 75


def test_serve_parser():
    from umo.serve.cli import add_serve_parser

    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers(dest="command"))
    a = parser.parse_args(["serve", "--port", "0", "--max-sessions", "4", "--token", "t"])
    assert (a.host, a.port, a.max_sessions, a.token) == ("127.0.0.1", 0, 4, "t") and callable(a.func)
    assert a.allowed_origins == [] and a.max_session_seconds == P.Limits.max_session_s
    assert a.audio_idle_timeout == P.Limits.audio_idle_timeout_s
    a = parser.parse_args(["serve", "--allowed-origins", "https://a.example", "*", "--max-session-seconds", "60",
                           "--audio-idle-timeout", "5"])
    assert a.allowed_origins == ["https://a.example", "*"] and (a.max_session_seconds, a.audio_idle_timeout) == (60, 5)
    assert (a.worker, a.engine, a.onnx) == ("process", "auto", None)
    a = parser.parse_args(["serve", "--worker", "thread", "--engine", "onnx", "--onnx", "m.onnx"])
    assert (a.worker, a.engine, a.onnx) == ("thread", "onnx", "m.onnx")
    assert parser.parse_args(["serve", "--engine", "thread"]).engine == "thread"  # the old spelling of --worker


def test_a_round_waits_for_the_other_live_streams_at_most_gather_s(tiny, monkeypatch):
    """Engine.wait_s: a lone stream's audio is stepped at once; with several live streams, the
    first one's audio waits (at most gather_s) for the others', so that they share one round."""
    import umo.serve.batching as batching

    clock = [100.0]
    monkeypatch.setattr(batching.time, "monotonic", lambda: clock[0])
    eng = Engine(tiny, gather_s=0.03)
    noop = lambda *a: None  # noqa: E731
    a, b = eng.open(noop), eng.open(noop, seed=1)
    chunk = np.zeros(320, np.float32)
    with eng.cond:
        assert eng.wait_s() is None  # nothing to do
    a.submit(chunk)  # b has never sent audio: it is not waited for
    with eng.cond:
        assert eng.wait_s() == 0.0
    eng.step()
    b.submit(chunk)
    eng.step()
    clock[0] += 0.01
    a.submit(chunk)  # both live now: a's audio waits for b's ...
    with eng.cond:
        assert eng.wait_s() == pytest.approx(0.03)
    clock[0] += 0.02
    with eng.cond:
        assert eng.wait_s() == pytest.approx(0.01)  # ... gather_s after it arrived at most
    clock[0] += 0.02
    with eng.cond:
        assert eng.wait_s() == 0.0
    clock[0] -= 0.02
    b.submit(chunk)  # or until b's arrives
    with eng.cond:
        assert eng.wait_s() == 0.0
    eng.step()
    clock[0] += 1.0  # b fell silent for longer than LIVE_S: a no longer waits for it
    a.submit(chunk)
    with eng.cond:
        assert eng.wait_s() == 0.0
    eng.step()
    clock[0] += 0.01
    b.submit(chunk)
    eng.gather_s = 0.0  # --gather-ms 0: never waits
    clock[0] += 0.01
    a.submit(chunk)
    b.finish()  # a finishing stream is never waited for either
    with eng.cond:
        assert eng.wait_s() == 0.0


def test_load_is_the_busy_share_of_the_last_window():
    from umo.serve.batching import LOAD_WINDOW_S, RoundStats

    st = RoundStats()
    assert st.load() == 0.0 and st.summary()["load"] == 0.0
    now = 1000.0
    st.add(4, 1.0, 0.1, ended=now - 0.5)
    st.add(4, 2.0, 0.1, ended=now - LOAD_WINDOW_S + 0.5)  # only its last 0.5 s fall in the window
    st.add(4, 1.0, 0.1, ended=now - LOAD_WINDOW_S - 1)  # before the window
    assert st.load(now) == pytest.approx(1.5 / LOAD_WINDOW_S)
    assert st.rounds == 3 and st.streams_stepped == 12 and st.busy_s == pytest.approx(4.0)
    busy = RoundStats()
    for i in range(100):  # back to back: every 0.1 s a round of 0.1 s
        busy.add(32, 0.1, 0.1, ended=now - 0.1 * i)
    assert busy.load(now) == pytest.approx(1.0)
