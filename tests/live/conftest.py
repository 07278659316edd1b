"""Real receivers on 127.0.0.1 for the live-output tests: python-osc's OSC server (a VMC receiver)
and a plain UDP socket (Unreal's Live Link Face source), each on a free port, each in a thread; and
a small take written by the rule animator."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from umo.live.livelink_udp import LiveLinkPacket, decode_packet


class VmcReceiver:
    """python-osc's UDP server: every message (arrival time, address, args) in arrival order.

    The blocking server (one request at a time) rather than the threading one: a frame spans
    several datagrams, which the threading server would hand to concurrent threads out of order.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[float, str, list]] = []
        self._lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message)
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _on_message(self, address: str, *args) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), address, list(args)))

    def applies(self) -> int:
        with self._lock:
            return sum(1 for _, a, _ in self.messages if a == "/VMC/Ext/Blend/Apply")

    def frames(self) -> list[list[tuple[float, str, list]]]:
        """The messages cut into frames, each ending with its /VMC/Ext/Blend/Apply."""
        out, cur = [], []
        with self._lock:
            for m in self.messages:
                cur.append(m)
                if m[1] == "/VMC/Ext/Blend/Apply":
                    out.append(cur)
                    cur = []
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class UdpReceiver:
    """A UDP socket collecting (arrival time, datagram)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.datagrams.append((time.monotonic(), data))

    def packets(self) -> list[LiveLinkPacket]:
        return [decode_packet(d) for _, d in list(self.datagrams)]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def _wait_until(condition, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def wait_until():
    """wait_until(condition, timeout=20): poll until condition() holds; whether it did."""
    return _wait_until


@pytest.fixture
def vmc_receiver():
    r = VmcReceiver()
    yield r
    r.close()


@pytest.fixture
def livelink_receiver():
    r = UdpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def take(tmp_path_factory) -> Path:
    """`umo say "Hello there."` by the library: face.csv, body.bvh, speech.wav (about 1 s, 30 fps)."""
    from umo.animator.rules import RuleAnimatorConfig
    from umo.pipeline import say, write_outputs

    out = tmp_path_factory.mktemp("take")
    result = say("Hello there.", config=RuleAnimatorConfig(fps=30, seed=0))
    write_outputs(result.animation, out, speech=True, preview=False)
    return out
