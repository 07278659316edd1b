"""umo serve's error path, limits and HTTP hardening (issue 18): one error path for every fault
(clear message + close code, traceback only in the server's log), wrong types and unknown fields
refused by every message, HEAD without a body, the Origin check, /healthz without the token, the
session and audio-idle limits, and a log line per session."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import numpy as np
import pytest
import torch

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.serve import protocol as P
from umo.serve.server import (CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY, UmoServer, _host_matches, _origin_key,
                              running_server)

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect

START = {"type": "start", "sample_rate": SAMPLE_RATE}
SILENCE = np.zeros(SAMPLE_RATE // 50, "<i2").tobytes()  # 20 ms of s16le


@pytest.fixture(scope="module")
def tiny():
    from umo.models import UmoModel, get_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return UmoModel(get_config("tiny")).eval()


@pytest.fixture(scope="module")
def logged():
    return []


@pytest.fixture(scope="module")
def server(tiny, logged):
    with running_server(tiny, engine="thread", log=logged.append) as srv:
        yield srv


def session(url: str, messages: list, timeout: float = 30, **connect_kw) -> tuple[list, int | None]:
    """Send ``messages`` (dicts as JSON, str and bytes as they are), read until the server closes ->
    (the text messages received, decoded; the close code)."""
    with connect(url, **connect_kw) as ws:
        for m in messages:
            ws.send(json.dumps(m) if isinstance(m, dict) else m)
        seen = []
        try:
            while True:
                m = ws.recv(timeout=timeout)
                if isinstance(m, str):
                    seen.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass
        return seen, ws.close_code


def assert_error(seen: list, code: int | None, match: str, expect_code: int = CLOSE_POLICY) -> str:
    errors = [m for m in seen if m["type"] == "error"]
    assert len(errors) == 1 and seen[-1] is errors[0], seen  # one error, and nothing after it
    assert match in errors[0]["message"], errors[0]["message"]
    assert "Traceback" not in errors[0]["message"] and 'File "' not in errors[0]["message"]
    assert code == expect_code, (code, seen)
    return errors[0]["message"]


# ------------------------------------------------------------------------------- protocol types
DEEP = "[" * 1500 + "]" * 1500  # deeper than Python's JSON decoder recurses


@pytest.mark.parametrize("messages, match", [
    ([{**START, "encoding": []}], "encoding [] is not supported"),
    ([{**START, "encoding": {"a": 1}}], "encoding"),
    ([{**START, "format": ["json"]}], "format"),
    ([{**START, "outputs": [["face"]]}], "outputs must be"),
    ([{**START, "outputs": "face"}], "outputs must be"),
    ([{**START, "outputs": [{"face": 1}]}], "outputs must be"),
    ([{**START, "sample_rate": True}], "sample_rate must be"),
    ([{**START, "sample_rate": None}], "sample_rate must be"),
    (['{"type": "start", "sample_rate": 1' + "0" * 400 + "}"], "sample_rate must be"),  # beyond a float
    (['{"type": "start", "sample_rate": NaN}'], "sample_rate must be"),
    ([{**START, "fps": "30"}], "30 fps"),
    ([{**START, "fps": [30]}], "30 fps"),
    ([{**START, "seed": 1.5}], "seed must be"),
    ([{**START, "seed": "1"}], "seed must be"),
    ([{**START, "text": ["hi"]}], "text must be a string"),
    ([DEEP], "nested too deeply"),
    (['{"type": "start", "x": ' + DEEP + "}"], "nested too deeply"),
    (['{"type": "start", "seed": 1' + "0" * 5000 + "}"], "must be JSON"),  # more digits than Python converts
    ([START, SILENCE, DEEP], "nested too deeply"),
    ([START, SILENCE, {"type": "end", "flush": True}], "unknown field(s) in the end message"),
    ([START, SILENCE, {"type": "phones", "phones": [["AA", 0.1, 0.2]], "x": 1}], "unknown field"),
    ([START, {"type": "phones", "phones": [["AA", float("inf"), 0.2]]}], "expected [symbol"),
    (['{"type": "start"}', '{"type": "phones", "phones": [["AA", 1' + "0" * 400 + ', 2]]}'], "expected [symbol"),
    ([START, {"type": "phones", "phones": [[1, 0.1, 0.2]]}], "expected [symbol"),
    ([START, {"type": "phones", "phones": [["AA", True, 0.2]]}], "expected [symbol"),
    ([START, {"type": "phones", "phones": [5]}], "expected [symbol"),
    ([START, {"type": "phones", "phones": [[]]}], "expected [symbol"),
    ([START, {"type": "text", "text": None}], 'needs "text"'),
    ([START, {"type": 5}], 'with a "type"'),
])
def test_wrong_types_and_unknown_fields_get_a_clear_error_and_1008(server, messages, match):
    """These once ended the session with a normal close and no message ("encoding": [], deep JSON,
    huge numbers), or were accepted (unknown fields in "end")."""
    assert_error(*session(server.url, messages), match)


@pytest.mark.parametrize("kind, msg", [
    ("start", {"type": "start", "colour": 1}), ("end", {"type": "end", "colour": 1}),
    ("text", {"type": "text", "text": "a", "colour": 1}),
    ("phones", {"type": "phones", "phones": [["AA", 0, 1]], "colour": 1}),
])
def test_every_message_type_refuses_unknown_fields(kind, msg):
    parse = {"start": P.parse_start, "end": P.parse_end, "text": P.parse_text,
             "phones": lambda m: P.parse_phones(m, 10.0)}[kind]
    with pytest.raises(UmoError, match=r"unknown field\(s\) in the .* message: \['colour'\]"):
        parse(msg)
    parse({k: v for k, v in msg.items() if k != "colour"})  # and is fine without it


# ------------------------------------------------------------------------------ the error path
def test_an_unexpected_exception_is_an_internal_error_logged_with_its_traceback(tiny, monkeypatch):
    """A bug in the server (here: a parser that raises something other than UmoError): the client
    gets a plain error and close code 1011; the traceback goes to the server's log only."""
    log: list[str] = []

    def broken(msg):
        raise RuntimeError("secret internal detail")

    with running_server(tiny, engine="thread", log=log.append) as srv:
        monkeypatch.setattr(P, "parse_text", broken)
        msg = assert_error(*session(srv.url, [START, {"type": "text", "text": "hi"}]), "internal server error",
                           expect_code=CLOSE_INTERNAL)
        assert "secret internal detail" not in msg and "RuntimeError" in msg
        # and the server goes on: the next session is served
        seen, code = session(srv.url, [START, SILENCE * 50, {"type": "end"}])
        assert seen[-1]["type"] == "done" and code == CLOSE_NORMAL
    (trace,) = [line for line in log if "internal error" in line]
    assert "Traceback" in trace and "secret internal detail" in trace and "parse_text" not in msg


def test_a_failure_while_sending_frames_is_an_internal_error_too(tiny, monkeypatch):
    log: list[str] = []

    def broken(frames, outputs):
        raise ValueError("cannot encode")

    with running_server(tiny, engine="thread", log=log.append) as srv:
        monkeypatch.setattr(P, "frames_json", broken)
        seen, code = session(srv.url, [START, SILENCE * 50, {"type": "end"}])
        assert_error(seen, code, "internal server error (ValueError)", expect_code=CLOSE_INTERNAL)
    assert any("Traceback" in line and "cannot encode" in line for line in log)


# ------------------------------------------------------------------------------ limits
def test_empty_audio_cannot_hold_a_session_open(tiny):
    """Empty binary messages reset the idle timeout but are no audio: the audio-idle limit ends the
    session; non-empty audio (silence) keeps it going until the session's wall-clock limit."""
    limits = P.Limits(idle_timeout_s=5.0, audio_idle_timeout_s=0.6, max_session_s=1.5)
    with running_server(tiny, engine="thread", limits=limits) as srv, connect(srv.url) as ws:
        ws.send(json.dumps(START))
        ready = json.loads(ws.recv(timeout=10))
        assert ready["limits"]["audio_idle_timeout_s"] == 0.6 and ready["limits"]["max_session_s"] == 1.5
        t0 = time.monotonic()
        error = _send_until_error(ws, b"")
        assert "audio idle timeout" in error["message"] and 0.5 < time.monotonic() - t0 < 3.0
        assert ws.close_code == CLOSE_POLICY
    with running_server(tiny, engine="thread", limits=limits) as srv, connect(srv.url) as ws:
        ws.send(json.dumps(START))
        ws.recv(timeout=10)
        t0 = time.monotonic()
        error = _send_until_error(ws, SILENCE)
        assert "session time limit" in error["message"] and 1.4 < time.monotonic() - t0 < 4.0
        assert ws.close_code == CLOSE_POLICY


def _send_until_error(ws, chunk: bytes, every_s: float = 0.05, within_s: float = 10.0) -> dict:
    """Send ``chunk`` every ``every_s`` until the server sends an error (-> it) and closes. The server
    may close while a send is on its way: the error it sent first is then still to be read."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            ws.send(chunk)
        except websockets.ConnectionClosed:
            break
        try:
            m = ws.recv(timeout=every_s)
        except TimeoutError:
            continue
        except websockets.ConnectionClosed:
            break
        if isinstance(m, str) and json.loads(m)["type"] == "error":
            with pytest.raises(websockets.ConnectionClosed):
                ws.recv(timeout=5)
            return json.loads(m)
    while True:  # closed: the messages that arrived before the close are still readable
        try:
            m = ws.recv(timeout=5)
        except (websockets.ConnectionClosed, TimeoutError):
            raise AssertionError("no error from the server") from None
        if isinstance(m, str) and json.loads(m)["type"] == "error":
            return json.loads(m)


def test_limits_are_validated():
    with pytest.raises(UmoError, match="max_session_s must be positive"):
        P.Limits(max_session_s=0)


# ------------------------------------------------------------------------------ logging
def test_each_session_logs_its_start_and_end(server, logged):
    n = len(logged)
    seen, code = session(server.url, [START, SILENCE * 50, {"type": "end"}])
    assert seen[-1]["type"] == "done" and seen[-1]["frames"] == 30 and code == CLOSE_NORMAL
    assert_error(*session(server.url, [{**START, "fps": 60}]), "30 fps")
    for _ in range(100):  # the end is logged once the handler has finished, just after the close
        if sum("ended" in line for line in logged[n:]) >= 2:
            break
        time.sleep(0.05)
    lines = logged[n:]
    sid = seen[0]["session"]
    assert any(line.startswith(f"session {sid} from 127.0.0.1:") and "started: 16000 Hz" in line for line in lines), lines
    (end,) = [line for line in lines if line.startswith(f"session {sid} ") and "ended" in line]
    assert "30 frames, 1.00 s of audio" in end and end.endswith("; done")
    assert any("ended: 0 frames" in line and "error: fps 60" in line for line in lines), lines


# ------------------------------------------------------------------------------ HTTP
def raw_http(port: int, request: str) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 request over a plain socket, read until the server closes -> (status line,
    headers, body): urllib would not show a body that a HEAD response should not have."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    return status, {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}, body


@pytest.mark.parametrize("path, status", [("/", 200), ("/healthz", 200), ("/api/info", 200),
                                          ("/static/live.js", 200), ("/nope", 404), ("/stream", 405)])
def test_head_requests_get_headers_without_a_body(server, path, status):
    port = server.bound_port
    head_status, headers, body = raw_http(port, f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
    assert head_status.split()[1] == str(status) and body == b""
    if path != "/stream":  # the GET's headers: same length and type
        get_status, get_headers, get_body = raw_http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        assert get_status == head_status and len(get_body) > 0
        assert headers["content-length"] == get_headers["content-length"] == str(len(get_body))
        assert headers["content-type"] == get_headers["content-type"]


def test_other_methods_are_refused(server):
    status, headers, body = raw_http(server.bound_port, f"DELETE / HTTP/1.1\r\nHost: 127.0.0.1:{server.bound_port}\r\n\r\n")
    assert status.split()[1] == "405" and headers["allow"] == "GET, HEAD" and b"DELETE" in body


def test_websocket_origin_is_checked(tiny, server):
    """Browsers always send Origin; a page from another site must not drive a server on this machine."""
    own = f"http://127.0.0.1:{server.bound_port}"
    for origin in (own, None):  # the server's own page; a client that is not a browser
        seen, code = session(server.url, [START, SILENCE * 5, {"type": "end"}], origin=origin)
        assert seen[-1]["type"] == "done", (origin, seen)
    for origin in ("http://evil.example", f"http://localhost:{server.bound_port}", "http://127.0.0.1:1", "null"):
        with pytest.raises(websockets.InvalidStatus) as e, connect(server.url, origin=origin):
            pass
        assert e.value.response.status_code == 403, origin
        assert b"may not open a WebSocket here" in e.value.response.body and b"--allowed-origins" in e.value.response.body
    with running_server(tiny, engine="thread", allowed_origins=["https://App.example.com"]) as srv:
        for origin, ok in (("https://app.example.com", True), ("https://app.example.com:443", True),
                           ("http://app.example.com", False), (f"http://127.0.0.1:{srv.bound_port}", True)):
            if ok:
                with connect(srv.url, origin=origin):
                    pass
            else:
                with pytest.raises(websockets.InvalidStatus), connect(srv.url, origin=origin):
                    pass
    with running_server(tiny, engine="thread", allowed_origins=["*"]) as srv, connect(srv.url, origin="http://evil.example"):
        pass
    with pytest.raises(UmoError, match="allowed origin"):
        UmoServer(tiny, engine="thread", allowed_origins=["example.com"])


def test_origin_keys_and_host_matching():
    assert _origin_key("HTTPS://Example.com") == ("https", "example.com", 443)
    assert _origin_key("http://[::1]:8765") == ("http", "::1", 8765)
    assert _origin_key("null") is None and _origin_key("http://a:port") is None and _origin_key("a.com") is None
    assert _host_matches(("http", "127.0.0.1", 8765), "127.0.0.1:8765")
    assert _host_matches(("https", "example.com", 443), "Example.com")  # no port in Host: the scheme's default
    assert _host_matches(("http", "::1", 8765), "[::1]:8765")
    assert not _host_matches(("http", "127.0.0.1", 8765), "127.0.0.1:8766")
    assert not _host_matches(("http", "localhost", 8765), "127.0.0.1:8765")
