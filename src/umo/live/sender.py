"""Frames out over UDP to VMC and Live Link receivers: a take in real time, or live streams mirrored.

    with LiveSender(LiveTargets(vmc=Endpoint("127.0.0.1", 39539))) as sender:
        play_animation(anim, sender, loop=True)        # umo send: paced by the wall clock at anim.fps

    mirror = LiveMirror(targets).start()               # umo serve --vmc: every session's frames
    mirror.submit(session_id, frames)                  # from any thread; never blocks
    mirror.end(session_id); mirror.close()

UDP is fire-and-forget: nothing is sent back, a receiver that is not running yet simply misses the
frames until it is, and a send that fails (no route) is reported once per target and retried with
the next frame.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
import queue
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

from umo.animation import Animation
from umo.errors import UmoError
from umo.live import livelink_udp as LL
from umo.live import vmc as V
from umo.live.targets import Endpoint, LiveTargets

Log = Callable[[str], None]
PLAY_BLOCK = 256  # frames of a take encoded at a time (bone poses are computed for a block at once)
MAX_LATE_S = 0.25  # a take's playback this far behind the clock (the machine stalled) goes on from now
PLAYOUT_DELAY_S = 0.1  # the mirror plays a stream's frames this long after the first arrive: jitter room
MAX_LAG_S = 2.0  # a stream that arrives faster than real time is mirrored at most this far behind: it skips ahead


def _quiet(_: str) -> None:
    pass


@dataclass
class EncodedFrame:
    """A frame ready to go: its VMC messages (without the per-send OK and T) and the tail of its
    Live Link packet (curve count and values; the frame time is added when it is sent)."""

    vmc: list[bytes] | None
    livelink: bytes | None


class _Udp:
    """A UDP socket to one endpoint; a failed send is reported once, then retried silently."""

    def __init__(self, endpoint: Endpoint, what: str, log: Log) -> None:
        family, self.address = endpoint.resolve()
        self.endpoint, self.what, self.log = endpoint, what, log
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.failing = False
        self.datagrams = 0

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.address)
            self.datagrams += 1
            self.failing = False
        except OSError as e:
            if not self.failing:
                self.log(f"warning: cannot send {self.what} to {self.endpoint}: {e.strerror or e} (still trying)")
            self.failing = True

    def close(self) -> None:
        self.sock.close()


class LiveSender:
    """The sockets to a :class:`LiveTargets` and the encoding of frames for them."""

    def __init__(self, targets: LiveTargets, log: Log = _quiet) -> None:
        if targets.empty:
            raise UmoError("nowhere to send to: give --vmc HOST:PORT (VMC receiver) and/or --livelink HOST:PORT "
                           "(Unreal Live Link Face)")
        self.targets = targets
        self.vmc = _Udp(targets.vmc, "VMC", log) if targets.vmc is not None else None
        self.livelink = _Udp(targets.livelink, "Live Link", log) if targets.livelink is not None else None
        self.livelink_header = LL.packet_header(targets.device_id, targets.livelink_subject)
        self.started = time.monotonic()
        self.frames = 0

    def encode(self, anim: Animation) -> list[EncodedFrame]:
        """anim's frames, each ready for :meth:`send`."""
        n = anim.num_frames
        vmc = V.frame_messages(anim) if self.vmc is not None else [None] * n
        if self.livelink is not None:
            curves = LL.packet_values(np.concatenate([np.clip(anim.face, 0.0, 1.0), anim.head, anim.eyes], axis=1))
            livelink = [LL.encode_values(c) for c in curves]
        else:
            livelink = [None] * n
        return [EncodedFrame(v, ll) for v, ll in zip(vmc, livelink)]

    def send(self, frame: EncodedFrame, fps: float) -> None:
        """Send one frame now: VMC bundles (OK, T, then the frame), a Live Link packet stamped with the
        time of day at ``fps`` (the iPhone app's default timecode is the clock too)."""
        if self.vmc is not None and frame.vmc is not None:
            for datagram in V.bundles(V.status_messages(time.monotonic() - self.started) + frame.vmc):
                self.vmc.send(datagram)
        if self.livelink is not None and frame.livelink is not None:
            now = datetime.datetime.now()
            seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond * 1e-6
            self.livelink.send(self.livelink_header + LL.encode_frame_time(LL.FrameTime.from_seconds(seconds, fps))
                               + frame.livelink)
        self.frames += 1

    def close(self) -> None:
        for s in (self.vmc, self.livelink):
            if s is not None:
                s.close()

    def __enter__(self) -> LiveSender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def frame_slice(anim: Animation, a: int, b: int) -> Animation:
    """Frames a..b-1 of anim (its audio and timecodes left behind)."""
    return anim.copy(face=anim.face[a:b], head=anim.head[a:b], eyes=anim.eyes[a:b],
                     body=None if anim.body is None else anim.body[a:b],
                     root_pos=None if anim.root_pos is None else anim.root_pos[a:b],
                     audio=None, timecodes=None)


@dataclass(frozen=True)
class PlayResult:
    frames: int  # frames sent, every pass together
    passes: int  # whole passes through the take
    seconds: float  # wall time


def play_animation(anim: Animation, sender: LiveSender, loop: bool = False,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   block: int = PLAY_BLOCK) -> PlayResult:
    """Send anim's frames in real time: frame k at start + k / fps by ``clock``, once or (``loop``)
    until interrupted. Playback that falls more than MAX_LATE_S behind (the machine stalled) goes on
    from the current frame rather than rushing the missed ones out."""
    n = anim.num_frames
    if n == 0:
        raise UmoError("the take has no frames")
    start = t0 = clock()
    sent = passes = 0
    while True:
        for a in range(0, n, block):
            for frame in sender.encode(frame_slice(anim, a, a + block)):
                wait = t0 + sent / anim.fps - clock()
                if wait > 0:
                    sleep(wait)
                elif wait < -MAX_LATE_S:
                    t0 = clock() - sent / anim.fps
                sender.send(frame, anim.fps)
                sent += 1
        passes += 1
        if not loop:
            return PlayResult(sent, passes, clock() - start)


@dataclass
class _Pace:
    anchor: float  # clock time at which frame ``first`` is due
    first: int
    fps: float

    def due(self, k: int) -> float:
        return self.anchor + (k - self.first) / self.fps


class LiveMirror:
    """Sends the frames of live streams (umo serve's sessions) to the targets from a thread of its
    own, each stream paced at its frame rate.

    A stream's first frames go out PLAYOUT_DELAY_S after they arrive and the rest at the stream's
    rate after them; frames that arrive late go out at once and the pace starts again from them. A
    stream that arrives faster than real time is shown at most ``max_lag_s`` behind: past that, its
    waiting frames are dropped and it goes on from the newest. Several streams at once all reach the
    same receiver (one avatar), their frames interleaved.

    submit and end never block: they queue work for the thread (encoding included).
    """

    def __init__(self, targets: LiveTargets, log: Log = _quiet, playout_delay_s: float = PLAYOUT_DELAY_S,
                 max_lag_s: float = MAX_LAG_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = LiveSender(targets, log)
        self.log, self.playout_delay_s, self.max_lag_s, self.clock = log, playout_delay_s, max_lag_s, clock
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="umo-live-mirror", daemon=True)
        self._streams: dict[object, _Pace] = {}
        self._heap: list[tuple[float, int, object, EncodedFrame, float]] = []  # (due, seq, stream, frame, fps)
        self._seq = itertools.count()
        self.frames_skipped = 0

    @property
    def frames_sent(self) -> int:
        return self.sender.frames

    def start(self) -> LiveMirror:
        self._thread.start()
        return self

    def submit(self, stream, frames) -> None:
        """Frames of a stream: anything with ``start``, ``fps``, ``face`` (n, 52), ``head`` (n, 3),
        ``eyes`` (n, 6) and ``body`` (n, 75, 3) or None (umo.inference.Frames)."""
        if len(frames.face):
            self._inbox.put(("frames", stream, frames))

    def end(self, stream) -> None:
        """The stream has ended: its waiting frames still go out."""
        self._inbox.put(("end", stream, None))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (frames still waiting are dropped) and close the sockets."""
        if self._thread.is_alive():
            self._inbox.put(("stop", None, None))
            self._thread.join(timeout)
        self.sender.close()

    def _run(self) -> None:
        while True:
            timeout = max(0.0, self._heap[0][0] - self.clock()) if self._heap else None
            try:
                kind, stream, frames = self._inbox.get(timeout=timeout)
            except queue.Empty:
                kind = None
            try:
                if kind == "stop":
                    return
                if kind == "frames":
                    self._schedule(stream, frames)
                elif kind == "end":
                    self._streams.pop(stream, None)
                now = self.clock()
                while self._heap and self._heap[0][0] <= now:
                    _, _, _, frame, fps = heapq.heappop(self._heap)
                    self.sender.send(frame, fps)
            except Exception as e:  # noqa: BLE001 - a bug here must be seen, and must not stop the mirror
                trace = traceback.format_exc().rstrip()
                self.log(f"error: the live mirror failed on a stream's frames: {e!r}\n{trace}")

    def _schedule(self, stream, frames) -> None:
        n = len(frames.face)
        anim = Animation(fps=frames.fps, face=frames.face, head=frames.head, eyes=frames.eyes, body=frames.body)
        encoded = self.sender.encode(anim)
        now = self.clock()
        pace = self._streams.get(stream)
        if pace is None:
            pace = self._streams[stream] = _Pace(now + self.playout_delay_s, frames.start, frames.fps)
        elif pace.due(frames.start) < now:  # late: go on from these frames
            pace = self._streams[stream] = _Pace(now, frames.start, frames.fps)
        if pace.due(frames.start + n - 1) > now + self.max_lag_s:  # ahead of real time: skip to these frames
            kept = [item for item in self._heap if item[2] != stream]
            self.frames_skipped += len(self._heap) - len(kept)
            self._heap = kept
            heapq.heapify(self._heap)
            pace = self._streams[stream] = _Pace(now, frames.start, frames.fps)
        for k, frame in enumerate(encoded):
            heapq.heappush(self._heap, (pace.due(frames.start + k), next(self._seq), stream, frame, frames.fps))
