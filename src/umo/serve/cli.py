"""``umo serve``: argument parsing over :class:`umo.serve.server.UmoServer`.

umo.cli calls :func:`add_serve_parser` on its subparsers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from umo.errors import UmoError
from umo.serve.worker import ENGINES as WORKERS  # where the model runs: "process" or "thread"

SERVE_HELP = """\
Stream speech in, get face + body frames out, over a WebSocket (protocol: docs/protocol.md).

  umo serve                              ws://127.0.0.1:8765/stream, the live page at http://127.0.0.1:8765/
  umo serve --host 0.0.0.0 --token T     reachable from other machines; clients must send the token
  umo serve --weights my.safetensors     another model
  umo serve --vmc 127.0.0.1:39539        every session's frames to VSeeFace/Warudo too (VMC receiver)
  umo serve --livelink 192.168.1.20      ... or to Unreal's Live Link Face source (port 11111); both work

A session sends audio to animate, or text to speak ({"type": "start", "input": "text"}): the server
then synthesises it clause by clause (espeak) and sends the speech back with its frames.

Every session's pending audio advances in shared batched forward passes of one model, which runs in
a process of its own beside the server's event loop (--worker thread: in the server's process). Its
keyframe steps run in onnxruntime when a graph of the weights is at hand (--engine, --onnx).
The token may also come from the UMO_SERVE_TOKEN environment variable (it then stays out of `ps`).
Browser pages may open a WebSocket only from the server's own host and port, or from --allowed-origins.
Every session's start and end, and every server fault with its traceback, go to stderr.
"""


def _log(msg: str) -> None:
    print(f"umo: {msg}", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from umo.inference import load_model
    from umo.live.targets import LiveTargets
    from umo.serve.protocol import Limits
    from umo.serve.server import UmoServer

    if not 0 <= args.port <= 65535:
        raise UmoError(f"--port must be in 0-65535 (got {args.port})")
    if args.threads < 1:
        raise UmoError(f"--threads must be at least 1 (got {args.threads})")
    from umo.serve.batching import MAX_GATHER_S

    if not 0 <= args.gather_ms <= 1000 * MAX_GATHER_S:
        raise UmoError(f"--gather-ms must be within 0 to {1000 * MAX_GATHER_S:g} (got {args.gather_ms:g})")
    live = LiveTargets.from_options(args.vmc, args.livelink, args.livelink_subject)
    token = args.token or os.environ.get("UMO_SERVE_TOKEN") or None
    if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
        _log(f"warning: listening on {args.host} without --token: anyone who can reach this port can use it")
    limits = Limits(idle_timeout_s=args.idle_timeout, max_session_s=args.max_session_seconds,
                    audio_idle_timeout_s=args.audio_idle_timeout, max_text_chars=args.max_text_chars)
    worker, engine = args.worker, args.engine
    if engine in WORKERS:  # the old spelling: --engine process|thread named the worker
        _log(f"note: --engine {engine} is now --worker {engine} (--engine picks torch or onnx)")
        worker, engine = engine, "auto"
    import torch

    from umo.inference import keyframe_graph

    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    graph = keyframe_graph(model, engine, args.weights, args.onnx, args.threads)
    _log("keyframe steps: " + ("onnxruntime" if graph is not None else "PyTorch"))
    server = UmoServer(model, host=args.host, port=args.port, token=token, max_sessions=args.max_sessions,
                       limits=limits, threads=args.threads, engine=worker, gather_s=args.gather_ms / 1000,
                       log=_log, allowed_origins=args.allowed_origins, live=live, graph=graph, body=args.body)

    async def main() -> None:
        await server.start()
        host = args.host if ":" not in args.host else f"[{args.host}]"
        _log(f"serving ws://{host}:{server.bound_port}/stream and the live page at http://{host}:{server.bound_port}/"
             + (" (token required)" if token else "") + f"; up to {args.max_sessions} sessions; Ctrl-C stops")
        try:
            await asyncio.Future()
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        _log("stopped")
    except OSError as e:
        raise UmoError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e}): pick another --port") from None
    return 0


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    from umo.live.targets import DEFAULT_SUBJECT, LIVELINK_PORT, VMC_PORT
    from umo.serve.server import DEFAULT_HOST, DEFAULT_MAX_SESSIONS, DEFAULT_PORT
    from umo.serve.batching import GATHER_S
    from umo.serve.protocol import Limits
    from umo.constants import BODIES, DEFAULT_BODY, ENGINES

    p = subparsers.add_parser("serve", help="the streaming server (WebSocket) and its live page",
                              description=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--token", help="require this bearer token (header 'Authorization: Bearer T' or ?token=T)")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                   help=f"concurrent sessions; more are refused with an error (default {DEFAULT_MAX_SESSIONS})")
    p.add_argument("--idle-timeout", type=float, default=Limits.idle_timeout_s,
                   help=f"seconds a client may send nothing (default {Limits.idle_timeout_s:g})")
    p.add_argument("--audio-idle-timeout", type=float, default=Limits.audio_idle_timeout_s,
                   help="seconds a started session may go without a non-empty audio message (silence is audio; "
                        f"default {Limits.audio_idle_timeout_s:g})")
    p.add_argument("--max-session-seconds", type=float, default=Limits.max_session_s,
                   help="wall-clock seconds a session may stay open after its start, whatever it sends "
                        f"(default {Limits.max_session_s:g}; its audio is limited to {Limits.max_stream_s:g} s too)")
    p.add_argument("--max-text-chars", type=int, default=Limits.max_text_chars, metavar="N",
                   help="characters of text a session may send: a text session's reply to speak, or an audio "
                        f"session's transcript (default {Limits.max_text_chars})")
    p.add_argument("--allowed-origins", nargs="+", default=[], metavar="ORIGIN",
                   help="browser origins (https://app.example.com) whose pages may open a WebSocket besides the "
                        "server's own page (same host and port); * allows any. Clients that send no Origin "
                        "(not browsers) are not concerned")
    p.add_argument("--weights", help="model checkpoint or inference file (default: the bundled model)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the model worker (default 1)")
    p.add_argument("--worker", choices=WORKERS, default="process",
                   help="where the model runs: its own process (default; the server and the model each get a "
                        "core) or a thread of the server's process")
    p.add_argument("--engine", choices=ENGINES + WORKERS, default="auto",
                   help="what runs the keyframe steps: onnx (onnxruntime, several times faster), torch, or auto: "
                        "onnx when a graph of the weights is at hand (the bundled model's is), else torch (default "
                        "auto). process/thread: the old spelling of --worker")
    p.add_argument("--onnx", metavar="FILE", help="the weights' keyframe step as ONNX (umo export --format onnx)")
    p.add_argument("--body", choices=BODIES, default=DEFAULT_BODY,
                   help="where a session's body comes from unless its start message says (\"body\"): animator "
                        "(the model's own, default) or gen (the continuous body generator; one frame more latency)")
    p.add_argument("--gather-ms", type=float, default=1000 * GATHER_S,
                   help="how long a round of the model may wait for the other live sessions' audio once one "
                        f"session's has arrived, so that they share one batch (default {1000 * GATHER_S:.0f}; "
                        "0: a round as soon as any audio arrives)")
    p.add_argument("--vmc", metavar="HOST:PORT",
                   help=f"mirror every session's frames to this VMC receiver (VSeeFace, Warudo ...; usual port {VMC_PORT})")
    p.add_argument("--livelink", metavar="HOST:PORT",
                   help=f"mirror every session's frames to Unreal's Live Link Face source (usual port {LIVELINK_PORT})")
    p.add_argument("--livelink-subject", default=DEFAULT_SUBJECT, metavar="NAME",
                   help=f"the Live Link subject name (default {DEFAULT_SUBJECT!r})")
    p.set_defaults(func=cmd_serve)
    return p
