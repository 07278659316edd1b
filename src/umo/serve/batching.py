"""Many live streams, one model: the rounds in which ``umo serve`` advances every busy session.

The model's incremental step (``umo.models.stepper.Stepper``) advances any number of streams in
the same forward passes; this module decides when and with what: each session's queued audio is
cut into rounds (at most ``max_round_s`` per stream), a round waits briefly for the other live
sessions' chunks so they share one batch (``gather_s``), and frames go back to each session by
callback. :class:`Engine` runs the rounds in one worker thread (PyTorch releases the GIL), so an
asyncio server stays responsive: callers ``submit`` audio, ``finish`` a stream, get frames back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from umo.constants import BODIES, DEFAULT_BODY, HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from umo.errors import UmoError
from umo.inference import Frames, frames_from_regions, frames_from_regions_many
from umo.models.phones import PhoneTrack
from umo.models.stepper import Stepper, StreamState

GATHER_S = 0.03  # default Engine.gather_s (umo serve --gather-ms)
MAX_GATHER_S = 0.5  # the longest gather_s a server accepts
LOAD_WINDOW_S = 5.0  # RoundStats.load: the model's busy share over this many seconds
LIVE_S = 0.25  # a stream that sent audio this recently is expected to send more soon (see Engine.wait_s)


def _with_body(h: StreamHandle, regions: dict[str, np.ndarray], pcm: np.ndarray, flush: bool) -> dict[str, np.ndarray]:
    """The model's new frames of a round with their body and hands from the stream's body generator:
    the frames both sides have, in order; what only one side has yet waits in ``h.held`` (the
    generator's frames come one token, stride - 1 frames, after the model's). At the end both have
    every frame of the audio."""
    body = h.body.push(pcm)
    if flush:
        rest = h.body.flush()
        body = {k: np.concatenate([body[k], rest[k]]) for k in body}
    held = h.held or {"face": regions["face"][:0], "body": body["body"][:0], "hands": body["hands"][:0]}
    face = np.concatenate([held["face"], regions["face"]])
    gen = {k: np.concatenate([held[k], body[k]]) for k in ("body", "hands")}
    n = min(len(face), len(gen["body"]))
    h.held = {"face": face[n:], "body": gen["body"][n:], "hands": gen["hands"][n:]}
    return {"face": face[:n], "body": gen["body"][:n], "hands": gen["hands"][:n]}


def lookahead_seconds(cfg) -> float:
    """How far past a frame's time its audio must reach: the model's lookahead plus one feature hop."""
    return cfg.lookahead_frames / MODEL_FPS + HOP_LENGTH / SAMPLE_RATE


# ----------------------------------------------------------------------------------------- engine
class StreamHandle:
    """One stream inside an :class:`Engine`. Methods are thread-safe; ``on_frames`` runs in the worker."""

    def __init__(self, engine: Engine, seed: int, on_frames: Callable[[Frames | None, bool, Exception | None], None],
                 body=None) -> None:
        """body: a ``umo.models.body_gen.BodyStream`` whose body and hands replace the model's, or None."""
        self.engine = engine
        self.state = engine.stepper.new_state(seed)
        self.body = body
        self.held: dict[str, np.ndarray] | None = None  # with a body stream: frames one side has and the other not yet
        self.on_frames = on_frames  # (frames, final, error): called once per round that touched the stream
        self.pending: deque[np.ndarray] = deque()
        self.pending_phones: list[tuple[int, float, float]] = []  # added to the state at its next round
        self.pending_samples = 0
        self.finishing = False
        self.cancelled = False
        self.next_frame = 0
        self.taken = 0  # samples the rounds have consumed so far
        self.last_audio = -1e9  # time.monotonic() of its latest audio

    def submit(self, pcm: np.ndarray) -> None:
        """Queue float32 16 kHz samples (any length)."""
        pcm = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
        with self.engine.cond:
            if self.finishing or self.cancelled:
                raise UmoError("the stream has ended: no more audio can be added")
            if pcm.size:
                self.pending.append(pcm)
                self.pending_samples += pcm.size
                self.last_audio = time.monotonic()
                self.engine.cond.notify()

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones for this stream: (``PHONES`` id, start s, end s) on the audio's clock, in order
        of their starts and after those already added. Frames computed later read them (text tokens);
        send them before their audio."""
        with self.engine.cond:
            if self.finishing or self.cancelled:
                raise UmoError("the stream has ended: no more phones can be added")
            self.pending_phones.extend(phones)

    def finish(self) -> None:
        """No more audio: the engine pads the future with silence, sends the last frames (final=True)."""
        with self.engine.cond:
            self.finishing = True
            self.engine.cond.notify()

    def cancel(self) -> None:
        """Forget the stream (a vanished client): no more callbacks."""
        with self.engine.cond:
            self.cancelled = True
            self.pending.clear()
            self.pending_samples = 0
            if self in self.engine.handles:  # (a flushed stream left the list; its round frees its slot)
                self.engine.handles.remove(self)
                self.engine.ended.append(self.state)  # its KV slot is freed by the worker, between rounds
                self.engine.cond.notify()

    def _take(self, limit: int) -> np.ndarray:
        """Up to ``limit`` queued samples (call under the engine's lock)."""
        parts, n = [], 0
        while self.pending and n < limit:
            x = self.pending.popleft()
            if n + x.size > limit:
                self.pending.appendleft(x[limit - n:])
                x = x[:limit - n]
            parts.append(x)
            n += x.size
        self.pending_samples -= n
        self.taken += n
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


@dataclass
class RoundStats:
    """Bounded history of the worker's rounds (for /healthz and umo bench)."""

    rounds: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=512))  # (batch size, seconds, audio s per stream, ended)
    busy_s: float = 0.0
    streams_stepped: int = 0  # sum of the rounds' batch sizes (differences of two summaries: a window's mean batch)

    def add(self, batch: int, seconds: float, audio_s: float, ended: float | None = None) -> None:
        """A round of ``batch`` streams took ``seconds`` of model time for ``audio_s`` of audio per
        stream and ended at ``ended`` (time.monotonic(); default now)."""
        self.rounds += 1
        self.busy_s += seconds
        self.streams_stepped += batch
        self.recent.append((batch, seconds, audio_s, time.monotonic() if ended is None else ended))

    def load(self, now: float | None = None) -> float:
        """The share of the last ``LOAD_WINDOW_S`` the model spent in rounds: near 1, it is at capacity
        (every round starts as the previous one ends, and latency grows with each session added)."""
        now = time.monotonic() if now is None else now
        start = now - LOAD_WINDOW_S
        busy = sum(min(sec, end - start) for _, sec, _, end in self.recent if end > start)
        return min(1.0, busy / LOAD_WINDOW_S)

    def summary(self) -> dict:
        out = {"rounds": self.rounds, "busy_s": round(self.busy_s, 3), "streams_stepped": self.streams_stepped,
               "load": round(self.load(), 3)}
        if not self.recent:
            return out
        sizes = np.array([r[0] for r in self.recent])
        secs = np.array([r[1] for r in self.recent])
        audio = np.array([r[2] for r in self.recent])
        return {**out, "mean_batch": float(sizes.mean()),
                "max_batch": int(sizes.max()), "round_ms_p50": float(np.median(secs) * 1000),
                "round_ms_p95": float(np.percentile(secs, 95) * 1000),
                "audio_ms_per_stream_p50": float(np.median(audio) * 1000)}


class Engine:
    """A worker thread that advances every busy stream in shared batched rounds.

    max_round_s: audio taken from one stream per round (a 10 s upload is cut into rounds of this
    much, so it never holds back the real-time streams in the same batch for long).
    gather_s: how long a round may wait, after the first stream's audio arrived, for the audio of
    the other live streams (see :meth:`wait_s`); 0 runs a round as soon as any stream has audio.
    """

    def __init__(self, model, threads: int | None = 1, max_round_s: float = 0.25,
                 gather_s: float = GATHER_S, graph=None, body_gen=None) -> None:
        """graph: the model's ONNX keyframe step (``umo.models.onnx_step.KeyframeGraph``) or None (PyTorch).
        body_gen: the continuous body generator for streams opened with body="gen" (None: the bundled
        one, loaded at the first such stream)."""
        self.stepper = Stepper(model, graph)
        self.body_gen = body_gen
        self.threads = threads
        self.gather_s = float(gather_s)
        self._busy_since: float | None = None  # when the first audio of the next round arrived
        self.max_round_samples = int(max_round_s * SAMPLE_RATE)
        self.cond = threading.Condition()
        self.handles: list[StreamHandle] = []
        self.ended: list[StreamState] = []  # cancelled streams whose KV slots the worker frees
        self.stats = RoundStats()
        self.on_round_done: Callable[[], None] | None = None  # called in the worker after each round's callbacks
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def fps(self) -> int:
        return MODEL_FPS

    @property
    def lookahead_s(self) -> float:
        return lookahead_seconds(self.stepper.model.cfg)

    def status(self) -> dict:
        """Open streams and the KV-cache slots they hold (a cancelled stream's slot is freed by the
        worker, between rounds)."""
        with self.cond:
            return {"streams": len(self.handles), "kv_slots_in_use": self.stepper.pool.in_use(),
                    "kv_slots": self.stepper.pool.slots}

    def open(self, on_frames, seed: int = 0, body: str = DEFAULT_BODY) -> StreamHandle:
        """A new stream; body "gen": its body and hands from the continuous body generator (the same
        seed), streamed beside the model (each frame is sent once both have it)."""
        if body not in BODIES:
            raise UmoError(f"body must be one of {', '.join(BODIES)} (got {body!r})")
        stream = None
        if body == "gen":
            if self.body_gen is None:
                from umo.models.body_gen import default_body_generator

                self.body_gen = default_body_generator()
            stream = self.body_gen.stream(seed=seed)
        h = StreamHandle(self, seed, on_frames, stream)
        with self.cond:
            self.handles.append(h)
        return h

    def warm_up(self, seconds: float = 1.0) -> None:
        """Run a throwaway stream (and a batch of two), so that the first client does not pay for
        first calls (PyTorch's allocations, lazy imports: hundreds of ms)."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        noise = (0.05 * np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
        states = [self.stepper.new_state(0), self.stepper.new_state(1)]
        half = noise.size // 2
        self.stepper.advance(states, [noise[:half], noise[:half // 3]], [False, False])
        out = self.stepper.advance(states, [noise[half:], noise[half // 3:]], [True, True])
        frames_from_regions(out[0], 0)  # its first call imports the animator's conversions (~0.7 s)
        for st in states:
            self.stepper.release(st)

    def start(self) -> Engine:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="umo-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _busy(self) -> list[StreamHandle]:
        return [h for h in self.handles if h.pending_samples or h.finishing]

    def wait_s(self) -> float | None:
        """When the next round should run: None (no stream has work), 0 (now), or in how many
        seconds at the latest (call under ``cond``, again whenever audio arrives).

        Live streams (audio within ``LIVE_S``) send their chunks at staggered times; a round run as
        soon as the first one arrives would carry a few streams, and the next round a few others,
        each paying the per-round and per-wave costs that batching is there to share (on 2 cores,
        32 streams cut into halves cost 1.5x the model time of one batch, into quarters 2.7x). So
        a round waits until every live stream has audio queued, or ``gather_s`` after the first
        one's arrived. A lone stream never waits; a loaded engine, whose rounds take longer than
        the clients' chunks, finds every stream's audio already queued and does not wait either."""
        busy = self._busy()
        if not busy:
            self._busy_since = None
            return 0.0 if self.ended else None
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        waiting = any(not (h.pending_samples or h.finishing) and now - h.last_audio < LIVE_S for h in self.handles)
        return max(0.0, self._busy_since + self.gather_s - now) if waiting else 0.0

    def _run(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        while True:
            with self.cond:
                while not self._stop:
                    wait = self.wait_s()
                    if wait == 0.0:
                        break
                    self.cond.wait(wait)
                if self._stop:
                    return
            self.step()

    def step(self) -> bool:
        """One round over every stream with pending audio (and the KV slots of cancelled streams
        freed), in the calling thread: the worker thread's loop, or a model process's own loop
        (umo.serve.worker). -> False when no stream had work."""
        with self.cond:
            self._busy_since = None
            for st in self.ended:
                self.stepper.release(st)
            self.ended.clear()
            batch = self._busy()
            if not batch:
                return False
            pcms = [h._take(self.max_round_samples) for h in batch]
            flush = [h.finishing and not h.pending for h in batch]
            for h, fl in zip(batch, flush):
                if h.pending_phones:  # before the audio they came with
                    h.state.phones = h.state.phones or PhoneTrack()
                    h.state.phones.add(h.pending_phones)
                    h.pending_phones = []
                if fl:
                    self.handles.remove(h)
        t0 = time.perf_counter()
        try:
            regions = self.stepper.advance([h.state for h in batch], pcms, flush)
            regions = [r if h.body is None else _with_body(h, r, pcm, fl)
                       for h, r, pcm, fl in zip(batch, regions, pcms, flush)]
            frames = frames_from_regions_many(regions, [h.next_frame for h in batch])
        except Exception as e:  # noqa: BLE001 - a model failure ends the streams of this round, not the server
            regions = None
            for h in batch:
                h.cancel()
                h.on_frames(None, True, e)
        for h, fl in zip(batch, flush):
            if fl:  # (a cancelled stream's slot is freed through `ended`; a flushed one has left the list)
                self.stepper.release(h.state)
        if regions is not None:
            self.stats.add(len(batch), time.perf_counter() - t0, sum(p.size for p in pcms) / len(batch) / SAMPLE_RATE)
            for h, fr, fl in zip(batch, frames, flush):
                if h.cancelled:
                    continue
                h.next_frame += len(fr)
                h.on_frames(fr, fl, None)
        self._round_done()
        return True

    def _round_done(self) -> None:
        if self.on_round_done is not None:
            self.on_round_done()
