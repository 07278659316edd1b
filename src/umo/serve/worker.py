"""The batched model in a process of its own: :class:`ProcessEngine`, the :class:`Engine` API over pipes.

In one process the asyncio server and the model worker share one interpreter lock: PyTorch releases
it inside each operation, but a round's Python between operations (hundreds of small steps per round
at 32 sessions) and the server's message handling take turns on one core. Here the rounds run in a
child process (``spawn``), so the server's event loop and the model each have a core of their own:

    server process                                   model process
    ProcessEngine.open / submit / finish / cancel -> pipe -> one loop: take what arrived, Engine.step()
    reader thread: frames -> each stream's callback  <- pipe <- one message per round: every stream's frames

The child also sends its statistics (rounds, batch sizes, open streams, KV slots in use) a few
times a second, so ``status()`` answers without a round trip. It ignores Ctrl-C (the parent stops
it) and exits when the parent's end of the pipe closes, so it never outlives the server. If it
dies, every open stream ends with an error and new streams are refused with a clear message.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import pickle
import threading
import time
from collections.abc import Callable

import numpy as np

from umo.constants import BODIES, DEFAULT_BODY, MODEL_FPS
from umo.errors import UmoError

ENGINES = ("process", "thread")  # where umo serve runs the model: this module's child process, or a thread
START_TIMEOUT_S = 120.0  # spawn + imports + model + warm-up; a loaded 2-core machine takes ~10 s
STATS_INTERVAL_S = 0.2


# ----------------------------------------------------------------------------------------- child
def _child_main(conn_in, conn_out, model_bytes: bytes, threads: int | None, max_round_s: float,
                gather_s: float, graph_path: str | None = None) -> None:
    """The model process: an Engine fed from conn_in; results and statistics to conn_out."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    import torch

    from umo.serve.batching import Engine

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        model = pickle.loads(model_bytes)
        graph = None
        if graph_path is not None:  # the keyframe step in onnxruntime (the parent checked it matches the model)
            from umo.models.onnx_step import KeyframeGraph

            graph = KeyframeGraph(graph_path, None, threads or 1)
        engine = Engine(model, threads=threads, max_round_s=max_round_s, gather_s=gather_s, graph=graph)
        engine.warm_up()
        gc.collect()
        gc.freeze()  # the model and the imports: never scanned again by the cyclic collector during rounds
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn_out.send(("failed", f"{type(e).__name__}: {e}"))
        return
    handles: dict[int, object] = {}
    done: list[tuple] = []  # this round's (sid, frames, final, error, samples taken so far)

    def callback(sid: int) -> Callable:
        def on_frames(frames, final: bool, error: Exception | None) -> None:
            h = handles.get(sid)
            done.append((sid, frames, final, None if error is None else str(error), 0 if h is None else h.taken))
            if final:
                handles.pop(sid, None)
        return on_frames

    def round_done() -> None:  # after every round's callbacks: one message for the whole round
        if done:
            batch = done[:]
            done.clear()
            conn_out.send(("frames", batch))

    def stats() -> dict:
        return {**engine.status(), "rounds": engine.stats.summary()}

    engine.on_round_done = round_done
    last, last_sent = None, 0.0
    conn_out.send(("ready", stats()))
    # one thread does everything: take every message that has arrived, run one round over every
    # stream with pending audio when Engine.wait_s says so (at once, or once the other live streams'
    # audio is in: it gathers staggered chunks into one round), repeat. No lock or interpreter-lock
    # hand-offs between a reader and a worker, and each round sees all the audio that came in
    # while the previous one ran.
    try:
        while True:
            with engine.cond:
                wait = engine.wait_s()
            try:  # wait for the parent while idle or gathering; after that only what has arrived
                if conn_in.poll(STATS_INTERVAL_S if wait is None else wait):
                    while True:
                        if not _dispatch(conn_in.recv(), engine, handles, callback):
                            return
                        if not conn_in.poll(0):
                            break
                    if wait != 0.0:
                        continue  # new audio: ask wait_s again
            except (EOFError, OSError):
                return  # the parent is gone
            if wait is not None:
                engine.step()
            now = time.monotonic()
            if now - last_sent >= STATS_INTERVAL_S:
                st = stats()
                if st != last:
                    conn_out.send(("stats", st))
                    last = st
                last_sent = now
    finally:
        conn_out.close()


def _dispatch(msgs: list[tuple], engine, handles: dict, callback) -> bool:
    """Apply the parent's messages to the engine; False on "stop"."""
    for msg in msgs:
        kind = msg[0]
        if kind in ("audio", "phones"):
            h = handles.get(msg[1])
            if h is not None and not h.cancelled:
                try:
                    (h.submit if kind == "audio" else h.add_phones)(msg[2])
                except UmoError:
                    pass  # a stream that ended in an error: its session is closing
        elif kind == "open":
            handles[msg[1]] = engine.open(callback(msg[1]), seed=msg[2], body=msg[3])
        elif kind == "finish":
            if msg[1] in handles:
                handles[msg[1]].finish()
        elif kind == "cancel":
            h = handles.pop(msg[1], None)
            if h is not None:
                h.cancel()
        elif kind == "stop":
            return False
    return True


# ----------------------------------------------------------------------------------------- parent
class ProcessStreamHandle:
    """One stream in the model process; the methods of :class:`~umo.serve.batching.StreamHandle`."""

    def __init__(self, engine: ProcessEngine, sid: int, on_frames) -> None:
        self.engine, self.sid, self.on_frames = engine, sid, on_frames
        self.submitted = 0  # samples sent to the model process
        self.taken = 0  # of those, samples its rounds have consumed
        self.finishing = False
        self.cancelled = False

    @property
    def pending_samples(self) -> int:
        """Samples sent and not yet consumed by a round (the server's back-pressure reads this)."""
        return self.submitted - self.taken

    def submit(self, pcm: np.ndarray) -> None:
        """Queue float32 16 kHz samples (any length)."""
        pcm = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
        if self.finishing or self.cancelled:
            raise UmoError("the stream has ended: no more audio can be added")
        if pcm.size:
            self.submitted += pcm.size
            self.engine._send(("audio", self.sid, pcm))

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones (see ``StreamHandle.add_phones``), in order with the audio around them."""
        if self.finishing or self.cancelled:
            raise UmoError("the stream has ended: no more phones can be added")
        self.engine._send(("phones", self.sid, phones))

    def finish(self) -> None:
        if not self.finishing and not self.cancelled:
            self.finishing = True
            self.engine._send(("finish", self.sid))

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.engine._forget(self)


class _Stats:
    """``engine.stats.summary()`` as the model process last reported it."""

    def __init__(self) -> None:
        self.last: dict = {}

    def summary(self) -> dict:
        return dict(self.last.get("rounds", {}))


class ProcessEngine:
    """:class:`~umo.serve.batching.Engine`'s API (open, warm_up, start, stop, stats, status) with its
    rounds in a child process (see the module doc). ``warm_up`` starts the child and waits until its
    model is warm; ``start`` is then a no-op, so servers call the two in the same order either way."""

    def __init__(self, model, threads: int | None = 1, max_round_s: float = 0.25, gather_s: float | None = None,
                 graph=None) -> None:
        """graph: the model's ONNX keyframe step (``KeyframeGraph``): the child loads the same file."""
        from umo.serve.batching import GATHER_S, lookahead_seconds

        self.lookahead_s = lookahead_seconds(model.cfg)
        self._model_bytes = pickle.dumps(model)
        self.threads, self.max_round_s = threads, max_round_s
        self.graph_path = None if graph is None else str(graph.path)
        self.gather_s = GATHER_S if gather_s is None else float(gather_s)
        self.stats = _Stats()
        self.handles: dict[int, ProcessStreamHandle] = {}
        self._lock = threading.Lock()  # the handles and the outbox (event loop, reader and callers' threads)
        self._outbox: list[tuple] = []  # messages for the child, written in one pickle by the writer thread
        self._wake = threading.Condition(self._lock)
        self._ids = iter(range(1, 1 << 62))
        self._proc = None
        self._conn = None  # parent -> child
        self._reader = None
        self._stopping = False
        self.dead: str | None = None  # why the model process is gone, once it is

    @property
    def fps(self) -> int:
        return MODEL_FPS

    # ---- lifecycle
    def warm_up(self) -> None:
        if self._proc is not None:
            return
        ctx = mp.get_context("spawn")
        child_in, self._conn = ctx.Pipe(duplex=False)  # (reader end, writer end)
        self._results, child_out = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, name="umo-model",
                                 args=(child_in, child_out, self._model_bytes, self.threads, self.max_round_s, self.gather_s,
                                       self.graph_path),
                                 daemon=True)
        self._proc.start()
        child_in.close()
        child_out.close()
        if not self._results.poll(START_TIMEOUT_S):
            self._proc.kill()
            raise UmoError(f"the model process did not start within {START_TIMEOUT_S:.0f} s")
        try:
            kind, payload = self._results.recv()
        except EOFError:
            raise UmoError(f"the model process exited while starting (exit code {self._proc.exitcode})") from None
        if kind == "failed":
            raise UmoError(f"the model process failed to start: {payload}")
        self.stats.last = payload
        self._reader = threading.Thread(target=self._read, name="umo-model-results", daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write, name="umo-model-input", daemon=True)
        self._writer.start()

    def start(self) -> ProcessEngine:
        self.warm_up()
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._stopping = True
        try:
            self._send(("stop",))
        except UmoError:
            pass
        self._writer.join(timeout=10)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
        self._conn.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._proc = None

    # ---- streams
    def open(self, on_frames, seed: int = 0, body: str = DEFAULT_BODY) -> ProcessStreamHandle:
        if self.dead is not None:
            raise UmoError(f"the model is not running ({self.dead}): restart umo serve")
        if body not in BODIES:
            raise UmoError(f"body must be one of {', '.join(BODIES)} (got {body!r})")
        h = ProcessStreamHandle(self, next(self._ids), on_frames)
        with self._lock:
            self.handles[h.sid] = h
        self._send(("open", h.sid, int(seed), body))
        return h

    def status(self) -> dict:
        """Streams and KV slots the model process holds, as it last reported (every 0.2 s at most)."""
        return {k: v for k, v in self.stats.last.items() if k != "rounds"}

    def _forget(self, h: ProcessStreamHandle) -> None:
        with self._lock:
            known = self.handles.pop(h.sid, None) is not None
        if known:
            self._send(("cancel", h.sid))

    def _send(self, msg) -> None:
        """Queue a message for the child; never blocks the caller (the event loop) on the pipe."""
        if self.dead is not None:
            raise UmoError(f"the model is not running ({self.dead}): restart umo serve")
        with self._wake:
            self._outbox.append(msg)
            self._wake.notify()

    def _write(self) -> None:
        """Writer thread: everything queued since its last write goes out as one message (at 32
        sessions x 50 chunks/s, one pickle and one pipe write per batch instead of per chunk)."""
        while True:
            with self._wake:
                while not self._outbox:
                    self._wake.wait()
                batch, self._outbox = self._outbox, []
            try:
                self._conn.send(batch)
            except (OSError, ValueError):
                return  # the child is gone: the reader reports it
            if batch[-1][0] == "stop":
                return

    def _read(self) -> None:
        """Results from the child -> each stream's callback (in this thread, as Engine's worker does)."""
        while True:
            try:
                msg = self._results.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "stats":
                self.stats.last = msg[1]
                continue
            for sid, frames, final, error, taken in msg[1]:
                h = self.handles.get(sid)
                if h is None:
                    continue  # cancelled meanwhile
                h.taken = taken
                if final:
                    with self._lock:
                        self.handles.pop(sid, None)
                h.on_frames(frames, final, None if error is None else UmoError(error))
        proc = self._proc
        if proc is not None:
            proc.join(timeout=1)
        code = None if proc is None else proc.exitcode
        self.dead = "its process stopped" + (f" with exit code {code}" if code not in (None, 0) else "")
        with self._lock:
            orphans = list(self.handles.values())
            self.handles.clear()
        if not self._stopping:  # a crash: every open stream ends with an error
            for h in orphans:
                h.on_frames(None, True, UmoError(f"the model failed: {self.dead}"))
