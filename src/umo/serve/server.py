"""``umo serve``: one asyncio process, many WebSocket sessions, one shared model batched across them.

    server = UmoServer(model, host="127.0.0.1", port=8765)
    asyncio.run(server.serve_forever())

    with running_server(model, port=0) as url:      # tests, benchmarks: a server in a thread
        ...                                          # url = "ws://127.0.0.1:PORT/stream"

The model runs in a child process started with ``spawn`` (engine="process", the default), which
imports the calling script's main module again: a script that starts a server must do so under
``if __name__ == "__main__":``, as with any multiprocessing code (or pass engine="thread").

Routes (one port): ``/stream`` the WebSocket protocol (docs/protocol.md), ``/`` the live page,
``/static/*`` its scripts, ``/api/info`` the names and skeleton the page builds its character from,
``/healthz`` a JSON status (sessions, batching statistics).

With ``live`` targets (``umo serve --vmc HOST:PORT --livelink HOST:PORT``) every session's frames
are mirrored to a VMC receiver and/or Unreal's Live Link Face source by a
:class:`~umo.live.sender.LiveMirror`: its own thread encodes, paces and sends them over UDP, so the
event loop only hands it each batch of frames.

Flow per session: the handler reads messages, decodes and (if needed) resamples audio with a
streaming soxr resampler, and queues it on the :class:`~umo.serve.batching.Engine`; the engine's
worker thread advances every busy session in one batched round and hands each its frames by a
callback, which the event loop turns into messages on that session's own send queue. A slow
client therefore only fills its own queue (bounded: past ``max_queued_messages`` it is dropped with
an error), and a client that sends faster than the model runs is paused by not reading its socket
(TCP back-pressure) once ``max_backlog_s`` of audio waits. Keep-alive pings close vanished clients.
A text session (``"input": "text"``) makes its audio on the server instead: :mod:`umo.serve.text`
speaks its text clause by clause and feeds the same engine stream.

Errors: every way a session can fail ends in :meth:`Session.fail` (a message and a close code): a
UmoError is the client's (1008), anything else a fault of the server's own, whose traceback goes
to the server's log and never to the client (1011, :meth:`UmoServer.internal_error`). The
sender task, the only writer after the handshake, sends the error after what was queued, then
closes. Browser pages may open a WebSocket only from the server's own host and port or from
``allowed_origins``; each session's start and end are logged (``log``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import http
import itertools
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from umo.avatar import page_data as avatar_page_data
from umo.constants import BODIES, DEFAULT_BODY, MODEL_FPS, SAMPLE_RATE
from umo.emotion import EmotionLayer
from umo.errors import UmoError
from umo.live.sender import LiveMirror
from umo.live.targets import LiveTargets
from umo.serve import protocol as P
from umo.serve.batching import GATHER_S, LOAD_WINDOW_S, MAX_GATHER_S, Engine
from umo.serve.text import TextSpeaker
from umo.serve.worker import ENGINES, ProcessEngine

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_SESSIONS = 32
CAPACITY_LOAD = 0.95  # the model's busy share (RoundStats.load) above which the server warns it is at capacity
CAPACITY_WARN_EVERY_S = 60.0
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
# WebSocket close codes (RFC 6455 7.4.1): after "done"; after an error in what the client sent or a
# limit it passed; after a fault of the server's own (a bug, the model failing); when the server is full
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_INTERNAL, CLOSE_TRY_LATER = 1000, 1008, 1011, 1013
ERROR_GRACE_S = 2.0  # after an error, how long the queued messages and the error may take to go out
ANY_ORIGIN = "*"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOGGER = logging.getLogger("umo.serve")  # where the server's log goes when it is given no ``log``


def _static_files() -> dict[str, tuple[bytes, str]]:
    """URL path -> (bytes, content type): the live page, its script, and the preview's shared assets."""
    serve = resources.files("umo.serve").joinpath("static")
    prev = resources.files("umo.preview").joinpath("assets")
    files = {"/": serve.joinpath("live.html")}
    for name in ("live.js", "live.css"):
        files[f"/static/{name}"] = serve.joinpath(name)
    for name in ("three.min.js", "scene.js", "avatar.js", "preview.css"):
        files[f"/static/{name}"] = prev.joinpath(name)
    out = {}
    for url, res in files.items():
        suffix = "." + res.name.rsplit(".", 1)[-1]
        out[url] = (res.read_bytes(), STATIC_TYPES[suffix])
    return out


def _warm_espeak() -> list[str]:
    """Load espeak and speak once (its first synthesis pays for loading its data), so that the first
    text session does not; -> the voices' language codes, for /api/info."""
    from umo.speech.espeak import list_voices
    from umo.speech.tts import synthesize

    synthesize("Hi.", voice=P.DEFAULT_VOICE)
    return sorted({v.language for v in list_voices() if v.language})


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """An origin ("https://Example.com") -> (scheme, host, port) with the scheme's default port filled
    in, for comparison; None for anything that is not scheme://host[:port] (e.g. "null")."""
    try:
        u = urlsplit(origin.strip().lower())
        port = u.port
    except ValueError:  # a port that is not a number
        return None
    if u.scheme not in DEFAULT_PORTS or not u.hostname or u.path not in ("", "/") or u.query or u.username:
        return None
    return u.scheme, u.hostname, port if port is not None else DEFAULT_PORTS[u.scheme]


def _host_matches(origin: tuple[str, str, int], host_header: str) -> bool:
    """Whether an origin names the host:port a request was sent to (its Host header; without a port,
    the origin scheme's default, as a browser writes it)."""
    try:
        u = urlsplit("//" + host_header.strip().lower())
        port = u.port
    except ValueError:
        return False
    return u.hostname == origin[1] and (port if port is not None else DEFAULT_PORTS[origin[0]]) == origin[2]


class Session:
    """One client's stream: decoding, resampling, limits and the outgoing queue."""

    def __init__(self, server: UmoServer, ws, sid: int) -> None:
        self.server, self.ws, self.id = server, ws, sid
        self.loop = asyncio.get_running_loop()
        self.out: asyncio.Queue = asyncio.Queue()
        self.drained = asyncio.Event()
        self.final = asyncio.Event()
        self.error: str | None = None
        self.close_code = CLOSE_NORMAL
        self.gone = False  # the client closed the connection before the session's end
        self.done_sent = False
        self.handle = None
        self.req: P.StartRequest | None = None
        self.resampler = None
        self.opened = self.loop.time()
        self.started: float | None = None  # loop time of "start" (the session limits count from it)
        self.last_audio = 0.0  # loop time of the last non-empty audio message (or of "start")
        self.samples_in = 0  # at the client's rate
        self.warned_clip = False
        self.frames_sent = 0
        self.text_chars = 0  # transcript received (start's "text" and "text" messages)
        self.phones = 0  # timed phones received
        self.last_phone_start = 0.0
        self.sender_task: asyncio.Task | None = None
        self.emotion: EmotionLayer | None = None  # the expression layer over this stream's frames
        self.text: TextSpeaker | None = None  # a text session's speaker (umo.serve.text)

    @property
    def peer(self) -> str:
        addr = getattr(self.ws, "remote_address", None)
        return "?" if not addr else f"[{addr[0]}]:{addr[1]}" if ":" in str(addr[0]) else f"{addr[0]}:{addr[1]}"

    # ---- called in the engine's worker thread
    def on_frames(self, frames, final: bool, error: Exception | None) -> None:
        self.loop.call_soon_threadsafe(self._deliver, frames, final, error)

    # ---- event loop
    def _deliver(self, frames, final: bool, error: Exception | None) -> None:
        try:
            if error is not None:  # the model's fault, not the client's
                self.server.log_line(f"session {self.id}: the model failed on this stream: {error!r}", logging.ERROR)
                self.fail(f"the model failed on this stream: {error}", CLOSE_INTERNAL)
                return
            if frames is not None and len(frames):
                if self.text is not None:  # its emotion changes are placed on the text's timeline
                    frames = self.text.apply_emotion(frames)
                elif self.emotion is not None:  # causal: the settings received before these frames
                    frames = self.emotion.apply(frames)
                if self.out.qsize() >= self.server.limits.max_queued_messages:
                    self.fail("the client is not reading its frames fast enough: session dropped")
                    return
                self.out.put_nowait(frames)
                if self.server.mirror is not None:
                    self.server.mirror.submit(self.id, frames)
            if self.handle is not None and self.handle.pending_samples <= self.server.backlog_samples:
                self.drained.set()
            if final:
                self.out.put_nowait(None)
                self.final.set()
        except Exception as e:  # noqa: BLE001 - a bug here must end this session, not go unnoticed
            self.server.internal_error(self, e)

    def fail(self, msg: str, code: int = CLOSE_POLICY) -> None:
        """End the session with an error message and close code: the one way every session error
        reaches its client (the sender sends it after what is queued, then closes)."""
        if self.error is None:
            self.error, self.close_code = msg, code
            if self.handle is not None:
                self.handle.cancel()
            self.out.put_nowait(("error", msg))
            self.final.set()
            self.drained.set()

    async def sender(self) -> None:
        """Sends everything after the handshake ("ready", frames, warnings, then "done" or "error"
        and the close), in order; the only task that writes to the socket."""
        while True:
            item = await self.out.get()
            if item is None:
                await self.ws.send(P.message("done", frames=self.frames_sent,
                                             duration_s=round(self.samples_in / self.req.sample_rate, 6),
                                             text_chars=self.text_chars, phones=self.phones,
                                             **(self.text.summary() if self.text is not None else {})))
                self.done_sent = True
                await self.ws.close(CLOSE_NORMAL, "done")
                return
            if isinstance(item, tuple):
                await self.ws.send(P.message(item[0], message=item[1]))
                await self.ws.close(self.close_code, "error")  # also ends a handler waiting in recv()
                return
            if isinstance(item, (str, bytes)):  # a JSON message, or a text session's PCM
                await self.ws.send(item)
                continue
            self.frames_sent += len(item)
            if self.req.format == "binary":
                await self.ws.send(P.frames_binary(item, self.req.outputs))
            else:
                await self.ws.send(P.frames_json(item, self.req.outputs), text=True)  # UTF-8 bytes sent as a text message

    def audio(self, data: bytes) -> None:
        lim = self.server.limits
        if len(data) > lim.max_message_bytes:
            raise UmoError(f"binary message of {len(data)} bytes is over the limit of {lim.max_message_bytes}: "
                           "send smaller chunks (20-100 ms is typical)")
        x = P.decode_pcm(data, self.req.encoding)
        if x.size:  # an empty message does not count as audio for limits.audio_idle_timeout_s
            self.last_audio = self.loop.time()
        self.samples_in += x.size
        if self.samples_in > lim.max_stream_s * self.req.sample_rate:
            raise UmoError(f"the stream is longer than {lim.max_stream_s:.0f} s of audio: end it and start a new one")
        if not self.warned_clip and P.clipped_fraction(x) > P.CLIP_FRACTION:
            self.warned_clip = True
            self.out.put_nowait(P.message("warning", message=(
                f"audio is clipping ({100 * P.clipped_fraction(x):.0f}% of a chunk at full scale): "
                "lower the input gain for better lip sync")))
        if self.resampler is not None:
            x = self.resampler.resample_chunk(x)
        self.handle.submit(x)

    def add_text(self, text: str) -> None:
        """Transcript text for this stream. The live model animates from the audio alone today
        (ready.text_used is false), so it is only counted, within ``limits.max_text_chars``."""
        self.text_chars += len(text)
        limit = self.server.limits.max_text_chars
        if self.text_chars > limit:
            raise UmoError(f"more than {limit} characters of text in one session: send the transcript, not a document")

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones for the live model (text tokens of the frames computed after they arrive),
        checked by ``P.parse_phones`` against ``last_phone_start``."""
        self.phones += len(phones)
        if self.phones > self.server.limits.max_phones:
            raise UmoError(f"more than {self.server.limits.max_phones} phones in one session")
        self.last_phone_start = phones[-1][1]
        self.handle.add_phones(phones)

    def end(self) -> None:
        if self.samples_in == 0:
            raise UmoError('no audio was received before {"type": "end"}: send binary PCM chunks first')
        if self.resampler is not None:
            tail = self.resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if tail.size:
                self.handle.submit(tail)
        self.handle.finish()

    def deadline(self) -> tuple[float, str]:
        """The loop time by which the next client message must arrive, and which limit that is:
        "idle" (limits.idle_timeout_s), and once started, "audio" (limits.audio_idle_timeout_s) and
        "session" (limits.max_session_s)."""
        lim = self.server.limits
        soonest = (self.loop.time() + lim.idle_timeout_s, "idle")
        if self.started is not None:
            soonest = min(soonest, (self.last_audio + lim.audio_idle_timeout_s, "audio"),
                          (self.started + lim.max_session_s, "session"))
        return soonest

    def limit_error(self, which: str, waiting_for: str) -> UmoError:
        lim = self.server.limits
        if which == "audio" and self.text is not None:
            return UmoError(f"text idle timeout: no text for {lim.audio_idle_timeout_s:g} s (end the session)")
        if which == "audio":
            return UmoError(f"audio idle timeout: no audio for {lim.audio_idle_timeout_s:g} s "
                            "(silence is audio too: send it, or end the session)")
        if which == "session":
            return UmoError(f"session time limit: a session may stay open {lim.max_session_s:g} s: "
                            "end it and start a new one")
        return UmoError(f"idle timeout: no message for {lim.idle_timeout_s:g} s while waiting for {waiting_for}")

    def outcome(self) -> str:
        if self.done_sent:
            return "done"
        return f"error: {self.error}" if self.error is not None else "the client left"


class UmoServer:
    def __init__(self, model, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS, limits: P.Limits | None = None,
                 threads: int | None = 1, ping_interval: float | None = 20.0, engine: str = "process",
                 gather_s: float = GATHER_S, log: Callable[[str], None] | None = None,
                 allowed_origins: Sequence[str] = (), live: LiveTargets | None = None, graph=None,
                 body: str = DEFAULT_BODY) -> None:
        """engine: where the model's rounds run, "process" or "thread"; graph: the model's ONNX keyframe
        step (``umo.inference.keyframe_graph``), or None for PyTorch. body: where a session's body comes from
        unless its start message says ("animator": the model's; "gen": the continuous body generator). allowed_origins: the browser origins ("https://app.example.com") whose pages may open a
        WebSocket besides this server's own (same host and port); ``"*"``: any. Clients that send
        no Origin header (not browsers) are not concerned. live: where every session's frames are
        mirrored (VMC, Live Link Face), or None."""
        if max_sessions < 1:
            raise UmoError(f"max_sessions must be at least 1 (got {max_sessions})")
        if engine not in ENGINES:
            raise UmoError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
        self.any_origin = ANY_ORIGIN in allowed_origins
        self.allowed_origins: set[tuple[str, str, int]] = set()
        for o in allowed_origins:
            if o == ANY_ORIGIN:
                continue
            key = _origin_key(o)
            if key is None:
                raise UmoError(f"allowed origin {o!r} is not scheme://host[:port] (e.g. https://app.example.com) or *")
            self.allowed_origins.add(key)
        self.host, self.port, self.token = host, port, token or None
        self.max_sessions = max_sessions
        self.limits = limits or P.Limits()
        self.backlog_samples = int(self.limits.max_backlog_s * SAMPLE_RATE)
        # "process": the model's rounds in a child process, so they and this event loop each get a core
        # (umo.serve.worker); "thread": in a worker thread of this process (one interpreter lock)
        if not 0.0 <= gather_s <= MAX_GATHER_S:
            raise UmoError(f"gather_s must be within 0 to {MAX_GATHER_S} s (got {gather_s})")
        self.live = None if live is None or live.empty else live
        # its hosts resolved here: a wrong one is an error before the engine starts; started by start()
        self.mirror = None if self.live is None else LiveMirror(self.live, log=self.log_line)
        kind = ProcessEngine if engine == "process" else Engine
        self.engine = kind(model, threads=threads, gather_s=gather_s, graph=graph)
        self.engine_kind = engine
        self.runtime = "torch" if graph is None else "onnx"
        if body not in BODIES:
            raise UmoError(f"body must be one of {', '.join(BODIES)} (got {body!r})")
        self.body = body
        self.ping_interval = ping_interval
        self.log = log  # the server's log (umo serve: stderr); None: the "umo.serve" logging logger
        self._monitor: asyncio.Task | None = None
        self.sessions: dict[int, Session] = {}
        self._ids = itertools.count(1)
        self._static = _static_files()
        self._server = None
        self._voices: list[str] = []  # espeak's voices for text sessions, /api/info (filled by start)
        self.bound_port: int | None = None
        self.total_sessions = 0

    def log_line(self, msg: str, level: int = logging.INFO) -> None:
        if self.log is not None:
            self.log(msg)
        else:
            LOGGER.log(level, msg)

    def internal_error(self, s: Session, exc: BaseException) -> None:
        """A fault of the server's own in a session: its traceback to the server's log, a plain message
        and close code 1011 to the client (never the traceback: it is no use there, and tells too much)."""
        trace = "".join(traceback.format_exception(exc)).rstrip()
        self.log_line(f"session {s.id}: internal error, closing it with code {CLOSE_INTERNAL}:\n{trace}", logging.ERROR)
        s.fail(f"internal server error ({type(exc).__name__}) in session {s.id}: the server's log has the details; "
               "please report it", CLOSE_INTERNAL)

    # ------------------------------------------------------------------ HTTP side
    def _authorised(self, request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else None
        if given is None:
            given = (parse_qs(urlsplit(request.path).query).get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _origin_allowed(self, request) -> bool:
        """Browsers send the page's Origin with every WebSocket handshake, and the same-origin policy
        does not apply to WebSockets: without this check any web page a user visits could use a server
        on their machine. Requests without an Origin are not from a browser page."""
        origin = request.headers.get("Origin")
        if origin is None or self.any_origin:
            return True
        key = _origin_key(origin)
        if key is None:
            return False
        return key in self.allowed_origins or _host_matches(key, request.headers.get("Host", ""))

    def _process_request(self, connection, request):
        # older websockets releases parse GET requests only, with no Request.method
        method = getattr(request, "method", "GET")
        response = self._route(connection, request, method)
        if method == "HEAD" and response is not None:
            # a GET's status and headers (Content-Length included) without its body (RFC 9110 9.3.2)
            response = dataclasses.replace(response, body=b"")
        return response

    def _route(self, connection, request, method: str):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        path = urlsplit(request.path).path
        if method not in ("GET", "HEAD") or (path == "/stream" and method != "GET"):
            allowed = "GET" if path == "/stream" else "GET, HEAD"
            response = connection.respond(http.HTTPStatus.METHOD_NOT_ALLOWED,
                                          f"{method} is not served here: use {allowed}\n")
            response.headers["Allow"] = allowed
            return response
        if path == "/stream":
            if not self._origin_allowed(request):
                origin = request.headers.get("Origin", "")[:200]
                return connection.respond(http.HTTPStatus.FORBIDDEN,
                                          f"origin {origin!r} may not open a WebSocket here: this server accepts pages "
                                          "from its own host and port (umo serve --allowed-origins ORIGIN, or *, "
                                          "allows others)\n")
            if not self._authorised(request):
                return connection.respond(http.HTTPStatus.UNAUTHORIZED,
                                          "missing or wrong token: send 'Authorization: Bearer TOKEN' or ?token=TOKEN\n")
            return None  # go on with the WebSocket handshake
        if path == "/healthz":  # liveness for anyone; the details (sessions, load) with the token only
            body = json.dumps(self.status() if self._authorised(request) else {"ok": True}).encode()
            return Response(200, "OK", Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                                ("Cache-Control", "no-store")]), body)
        if path == "/favicon.ico":
            return Response(204, "No Content", Headers([("Content-Length", "0")]), b"")
        if path == "/api/info":  # what the page needs before a session: names, skeleton, rates
            info = P.ready_message(P.StartRequest(), 0, self.engine.lookahead_s, self.limits)
            info.update(type="info", token_required=self.token is not None, voices=self._voices)
            info["avatar"] = avatar_page_data()  # names, rest pose, VRM presets for the page's avatar.js
            body = json.dumps(info).encode()
            return Response(200, "OK", Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))]), body)
        if path in self._static:
            body, ctype = self._static[path]
            return Response(200, "OK", Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                                                ("Cache-Control", "no-cache")]), body)
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such page: {path} (try / or ws://.../stream)\n")

    def status(self) -> dict:
        return {"ok": True, "sessions": len(self.sessions), "max_sessions": self.max_sessions,
                "total_sessions": self.total_sessions, "engine": self.engine.stats.summary(),
                "model": {"runs_in": self.engine_kind, "keyframe_steps": self.runtime, **self.engine.status()}}

    # ------------------------------------------------------------------ WebSocket side
    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        s = Session(self, ws, next(self._ids))
        s.sender_task = asyncio.create_task(s.sender())
        busy = len(self.sessions) >= self.max_sessions
        if busy:
            s.fail(f"server busy: {self.max_sessions} sessions are running; try later", CLOSE_TRY_LATER)
        else:
            self.sessions[s.id] = s
            self.total_sessions += 1
        try:
            if not busy:
                try:
                    await self._run_session(s)
                except UmoError as e:
                    s.fail(str(e))
                except ConnectionClosed:
                    s.gone = s.error is None  # else: the close that followed our error
                except Exception as e:  # noqa: BLE001 - a bug: the client gets an error, the log the traceback
                    self.internal_error(s, e)
            await self._finish(s)
        finally:
            if s.handle is not None:
                s.handle.cancel()
            if s.text is not None:
                s.text.cancel()
            if self.mirror is not None:
                self.mirror.end(s.id)
            self.sessions.pop(s.id, None)
            audio_s = s.samples_in / s.req.sample_rate if s.req is not None else 0.0
            self.log_line(f"session {s.id} from {s.peer} ended: {s.frames_sent} frames, {audio_s:.2f} s of audio, "
                          f"open {s.loop.time() - s.opened:.1f} s; {s.outcome()}",
                          logging.INFO if s.close_code == CLOSE_NORMAL else logging.WARNING)

    async def _finish(self, s: Session) -> None:
        """Let the sender deliver what is queued and close; a client that left, or that stops
        reading, is cut off."""
        from websockets.exceptions import ConnectionClosed

        if s.gone:
            s.sender_task.cancel()
            return
        grace = self.limits.idle_timeout_s if s.error is None else min(ERROR_GRACE_S, self.limits.idle_timeout_s)
        try:
            await asyncio.wait_for(s.sender_task, timeout=grace)
        except asyncio.TimeoutError:  # its socket is full: no close handshake can get through either
            s.ws.transport.abort()
        except ConnectionClosed:  # the client left while we were sending
            pass
        except Exception as e:  # noqa: BLE001 - the sender failed: say so on the socket it left open
            self.internal_error(s, e)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(ERROR_GRACE_S):
                    await s.ws.send(P.message("error", message=s.error))
                    await s.ws.close(s.close_code, "error")

    async def _recv(self, s: Session, what: str):
        deadline, which = s.deadline()
        if deadline <= s.loop.time():  # messages keep coming, but a session limit has passed
            raise s.limit_error(which, what)
        try:  # asyncio.timeout_at, not wait_for: no Task per message (Python 3.11's wait_for makes one)
            async with asyncio.timeout_at(deadline):
                return await s.ws.recv()
        except TimeoutError:
            raise s.limit_error(which, what) from None

    async def _run_session(self, s: Session):
        first = await self._recv(s, 'the {"type": "start"} message')
        if not isinstance(first, str):
            raise UmoError('the first message must be the JSON {"type": "start", "sample_rate": 16000}, not binary audio')
        s.req = P.parse_start(P.parse_json(first))
        s.emotion = EmotionLayer(s.req.emotion, fps=MODEL_FPS)
        if s.req.text and s.req.input == "audio":
            s.add_text(s.req.text)
        if s.req.sample_rate != SAMPLE_RATE:
            import soxr

            s.resampler = soxr.ResampleStream(s.req.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        s.req.body = s.req.body or self.body
        s.handle = self.engine.open(s.on_frames, seed=s.req.seed, body=s.req.body)
        s.started = s.last_audio = s.loop.time()
        source = (f"text in, voice {s.req.voice}" if s.req.input == "text" else
                  f"{s.req.sample_rate} Hz {s.req.encoding}")
        self.log_line(f"session {s.id} from {s.peer} started: {source}, {s.req.format} frames")
        s.out.put_nowait(json.dumps(P.ready_message(s.req, s.id, self.engine.lookahead_s, self.limits),
                                    separators=(",", ":")))
        if s.req.input == "text":  # text to speak: its own message loop (umo.serve.text)
            s.text = TextSpeaker(s, s.req.voice)
            await s.text.run()
            return
        while s.error is None:
            msg = await self._recv(s, "audio or {\"type\": \"end\"}")
            if s.error is not None:
                break
            if isinstance(msg, bytes):
                s.audio(msg)
                if s.handle.pending_samples > self.backlog_samples:
                    s.drained.clear()
                    await s.drained.wait()  # stop reading: TCP back-pressure on a too-fast sender
                    s.last_audio = s.loop.time()  # the wait was the server's, not an idle client's
                continue
            m = P.parse_json(msg)
            kind = m["type"]
            if kind == "end":
                P.parse_end(m)
                s.end()
                break
            if kind == "phones":  # timed phones (e.g. from the TTS that made the audio): the model reads them
                s.add_phones(P.parse_phones(m, self.limits.max_stream_s, after=s.last_phone_start))
            elif kind == "text":  # the transcript as it comes (e.g. a chat model's reply): counted, bounded
                s.add_text(P.parse_text(m))
            elif kind == "emotion":  # from the next frame made on, ramped in (umo.emotion.RAMP_S)
                s.emotion.set(P.parse_emotion(m))
            elif kind == "start":
                raise UmoError('"start" was already received: one stream per connection (send "end" first)')
            else:
                raise UmoError(f'unknown message type {P.shown(kind)}: expected binary audio, {{"type": "phones"}}, '
                               '{"type": "text"}, {"type": "emotion"} or {"type": "end"}')

    # ------------------------------------------------------------------ lifecycle
    async def start(self):
        from websockets.asyncio.server import serve

        await asyncio.to_thread(self.engine.warm_up)
        self._voices = await asyncio.to_thread(_warm_espeak)
        self.engine.start()
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._process_request,
            max_size=2 * self.limits.max_message_bytes, ping_interval=self.ping_interval, ping_timeout=20,
            max_queue=64, compression=None,  # PCM and float frames hardly compress; deflate cost a fifth of the loop's CPU
        )
        self.bound_port = self._server.sockets[0].getsockname()[1]
        if self.mirror is not None:
            self.mirror.start()
            self.log_line(f"mirroring every session's frames: {self.live.describe()}")
        if self.log is not None:
            self._monitor = asyncio.create_task(self._watch_capacity())
        return self

    def capacity_warning(self) -> str | None:
        """A warning when the model was busy nearly all of the last few seconds with sessions open:
        the server is at capacity, and every session's latency grows as more are added."""
        load = self.engine.stats.summary().get("load", 0.0)
        if load < CAPACITY_LOAD or not self.sessions:
            return None
        return (f"warning: the model was busy {100 * load:.0f} % of the last {LOAD_WINDOW_S:.0f} s with "
                f"{len(self.sessions)} sessions: this machine is at capacity (latency is higher than with "
                "fewer sessions, and more would fall behind; lower --max-sessions, or see /healthz)")

    async def _watch_capacity(self) -> None:
        """Log ``capacity_warning`` at most once per ``CAPACITY_WARN_EVERY_S``."""
        last = -CAPACITY_WARN_EVERY_S
        while True:
            await asyncio.sleep(1.0)
            msg = self.capacity_warning()
            if msg is not None and time.monotonic() - last >= CAPACITY_WARN_EVERY_S:
                self.log(msg)
                last = time.monotonic()

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            self._monitor = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.engine.stop()
        if self.mirror is not None:
            self.mirror.close()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"ws://{host}:{self.bound_port}/stream"


@contextlib.contextmanager
def running_server(model, **kwargs):
    """A server on its own event loop in a thread (port=0: any free port); yields the UmoServer."""
    kwargs.setdefault("port", 0)
    server = UmoServer(model, **kwargs)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as e:  # noqa: BLE001 - reported to the caller below
            failure.append(e)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    t = threading.Thread(target=run, name="umo-serve", daemon=True)
    t.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(timeout=30)
