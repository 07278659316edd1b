"""`umo serve --vmc / --livelink`: a real server (tiny model, in-process engine) streams real speech
to a WebSocket client while its mirror sends the same frames to python-osc's OSC server and a UDP
socket; and the mirror's pacing of a stream faster than real time."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from umo.constants import ARKIT_NAMES, SAMPLE_RATE
from umo.formats.audio import load_audio
from umo.live import vmc as V
from umo.live.sender import LiveMirror
from umo.live.targets import Endpoint, LiveTargets
from umo.serve import protocol as P
from umo.serve.server import running_server

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tiny():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return UmoModel(get_config("tiny")).eval()


def stream_binary(url: str, audio: np.ndarray) -> dict[str, np.ndarray]:
    """Send the audio in 100 ms chunks, binary frames back -> every frame's face, head, eyes, body."""
    pcm = P.encode_pcm16(audio)
    got = []
    with connect(url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "format": "binary"}))
        assert json.loads(ws.recv())["type"] == "ready"
        for i in range(0, len(pcm), SAMPLE_RATE // 10):
            ws.send(pcm[i:i + SAMPLE_RATE // 10].tobytes())
        ws.send(json.dumps({"type": "end"}))
        while True:
            m = ws.recv(timeout=60)
            if isinstance(m, bytes):
                got.append(P.parse_frames_binary(m))
            elif json.loads(m)["type"] in ("done", "error"):
                assert json.loads(m)["type"] == "done", m
                break
    return {k: np.concatenate([g[k] for g in got]) for k in ("face", "head", "eyes", "body")}


def test_serve_mirrors_a_session_to_vmc_and_livelink(tiny, vmc_receiver, livelink_receiver, wait_until):
    live = LiveTargets(vmc=Endpoint("127.0.0.1", vmc_receiver.port),
                       livelink=Endpoint("127.0.0.1", livelink_receiver.port), livelink_subject="mirror")
    log: list[str] = []
    audio = load_audio(FIXTURES / "arctic_a0009.wav")[: 3 * SAMPLE_RATE // 2]
    with running_server(tiny, engine="thread", live=live, log=log.append) as srv:
        client = stream_binary(srv.url, audio)
        n = len(client["face"])
        assert n == int(np.ceil(len(audio) / SAMPLE_RATE * 30))
        assert wait_until(lambda: vmc_receiver.applies() >= n and len(livelink_receiver.datagrams) >= n, 20), (
            vmc_receiver.applies(), len(livelink_receiver.datagrams))
    assert any("mirroring every session's frames: VMC to 127.0.0.1" in line for line in log), log

    frames = vmc_receiver.frames()
    assert len(frames) == n  # every frame once, in order
    for i, frame in enumerate(frames):
        blends = {args[0]: args[1] for _, a, args in frame if a == "/VMC/Ext/Blend/Val"}
        np.testing.assert_allclose([blends[name] for name in ARKIT_NAMES], np.clip(client["face"][i], 0, 1), atol=1e-7)
        # a talking session: face and head, the legs at rest and not sent
        assert [args[0] for _, a, args in frame if a == "/VMC/Ext/Bone/Pos"] == [b for b in V.BONE_NAMES
                                                                                if b not in V.LEG_BONES]
    packets = livelink_receiver.packets()
    assert len(packets) == n and {p.subject for p in packets} == {"mirror"}
    for key in ("face", "head", "eyes"):
        np.testing.assert_allclose(np.array([getattr(p, key) for p in packets]),
                                   np.clip(client[key], 0, 1) if key == "face" else client[key], atol=1e-7)
    # paced at 30 fps, not in the bursts the model's rounds produce them in
    applies = [f[-1][0] for f in frames]
    assert applies[-1] - applies[0] >= 0.8 * (n - 1) / 30


def test_a_stream_faster_than_real_time_skips_ahead(vmc_receiver, wait_until):
    """Two blocks of 60 frames at 100 fps (0.6 s each) handed over at once, with a lag limit of 0.1 s:
    the second arrives 1.2 s ahead of its time, so the first block's waiting frames are dropped and
    the mirror goes on from the second."""
    def block(start: int, n: int = 60):
        return SimpleNamespace(start=start, fps=100.0, face=np.full((n, 52), 0.5), head=np.zeros((n, 3)),
                               eyes=np.zeros((n, 6)), body=np.zeros((n, 75, 3)))

    mirror = LiveMirror(LiveTargets(vmc=Endpoint("127.0.0.1", vmc_receiver.port)), max_lag_s=0.1,
                        playout_delay_s=0.0).start()
    try:
        mirror.submit("s", block(0))
        mirror.submit("s", block(60))
        mirror.end("s")
        assert wait_until(lambda: mirror.frames_sent + mirror.frames_skipped >= 120, 10)
    finally:
        mirror.close()
    assert mirror.frames_skipped > 40 and mirror.frames_sent + mirror.frames_skipped == 120
    assert wait_until(lambda: vmc_receiver.applies() == mirror.frames_sent, 5)
