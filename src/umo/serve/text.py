"""Text sessions of ``umo serve``: a chat model's reply in, its speech and the frames for it out.

    client: {"type": "start", "input": "text", "voice": "en-us"}, {"type": "text", "text": "Hel"},
            {"type": "text", "text": "lo there. How"}, ..., {"type": "end"}
    server: ready, then per clause {"type": "audio", "start": s, "samples": n, ...} + its PCM (binary),
            and the frames of that audio as an audio session gets them; done

The cascade (docs/protocol.md, "Text sessions"): the pieces go through a
:class:`~umo.speech.clauses.ClauseSplitter`; each complete clause is synthesised with espeak in a
worker thread (:func:`~umo.speech.clauses.synthesize_clause`, never on the event loop), quantised to
the s16le the client gets, and handed to the session's model stream with its phones, exactly as an
audio session's audio and ``phones`` are: the clauses lie end to end on one timeline (each starts at
the previous one's last sample + 1), so the frames equal the offline model on the joined speech
(:func:`~umo.speech.clauses.speak_text`) with its phones. One task per session speaks the clauses in
order; while the model has ``limits.max_backlog_s`` of its speech to catch up on, it waits (the text
is still read and queued, up to ``limits.max_text_chars``).

An ``emotion`` message takes its place in the text: it applies from the first frame of the next
clause spoken (the clause that holds any text after it), ramped in as in an audio session, so a
reply's "I'm sorry. [happy] But good news!" changes at "But" however far ahead of the speech the
text has come.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from umo.constants import MODEL_FPS, SAMPLE_RATE
from umo.emotion import EmotionSetting
from umo.errors import UmoError
from umo.serve import protocol as P
from umo.speech.clauses import ClauseConfig, ClauseSplitter, synthesize_clause
from umo.speech.units import timed_phone_ids

if TYPE_CHECKING:
    from umo.inference import Frames
    from umo.serve.server import Session

_END = None  # the speaker's queue: clause texts, EmotionSettings, then _END


class TextSpeaker:
    """A text session's state: the clause splitter, the speaking task, the timeline and the emotion
    changes placed on it. Lives on the session's event loop."""

    def __init__(self, session: Session, voice: str, clauses: ClauseConfig | None = None) -> None:
        self.s = session
        self.voice = voice
        self.splitter = ClauseSplitter(clauses)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.samples = 0  # the timeline: samples spoken so far (the next clause starts here)
        self.clauses = 0
        self.last_phone_start = 0.0
        self.changes: deque[tuple[int, EmotionSetting]] = deque()  # (first frame, setting), in order
        # loop times for done.latency_ms: the first complete clause received, its audio queued, its first frames
        self.first_clause_at: float | None = None
        self.first_audio_at: float | None = None
        self.first_frames_at: float | None = None
        self.task = asyncio.create_task(self._speak())

    # ---- the reader's side (the session's message loop)
    async def run(self) -> None:
        """The session's messages after "ready", until "end" has been spoken (or the session failed)."""
        s = self.s
        if s.req.text:
            self.feed(s.req.text)
        while s.error is None:
            msg = await s.server._recv(s, 'text or {"type": "end"}')
            if s.error is not None:
                break
            if isinstance(msg, bytes):
                raise UmoError('binary audio in a text session: it takes {"type": "text"} messages (start without '
                               '"input": "text" to animate audio)')
            m = P.parse_json(msg)
            kind = m["type"]
            if kind == "text":
                self.feed(P.parse_text(m))
            elif kind == "emotion":  # at the start of the next clause spoken (the module doc)
                self.queue.put_nowait(P.parse_emotion(m))
            elif kind == "end":
                P.parse_end(m)
                self.end()
                # the reply is spoken (or the client left, or the session failed): the handler finishes
                await asyncio.wait({self.task, s.sender_task}, return_when=asyncio.FIRST_COMPLETED)
                return
            elif kind == "phones":
                raise UmoError("phones in a text session: the server makes the speech, and its phones with it")
            elif kind == "start":
                raise UmoError('"start" was already received: one stream per connection (send "end" first)')
            else:
                raise UmoError(f'unknown message type {P.shown(kind)}: a text session takes {{"type": "text"}}, '
                               '{"type": "emotion"} and {"type": "end"}')

    def feed(self, text: str) -> None:
        if not text:
            raise UmoError('empty text: a {"type": "text"} message carries the next characters of the reply')
        self.s.add_text(text)  # counted against limits.max_text_chars
        self.s.last_audio = self.s.loop.time()  # text is a text session's input: it keeps it open
        for clause in self.splitter.feed(text):
            self._queue_clause(clause)

    def end(self) -> None:
        for clause in self.splitter.flush():
            self._queue_clause(clause)
        self.queue.put_nowait(_END)

    def _queue_clause(self, clause: str) -> None:
        if self.first_clause_at is None:
            self.first_clause_at = self.s.loop.time()
        self.queue.put_nowait(clause)

    def cancel(self) -> None:
        self.task.cancel()

    # ---- the speaking task
    async def _speak(self) -> None:
        s = self.s
        try:
            while (item := await self.queue.get()) is not _END:
                if isinstance(item, EmotionSetting):
                    frame = math.ceil(self.samples * MODEL_FPS / SAMPLE_RATE)  # the next clause's first frame
                    self.changes.append((frame, item))
                    continue
                speech = await asyncio.to_thread(synthesize_clause, item, self.voice)
                if s.error is not None:
                    return
                self._send(item, speech.audio, speech.timing)
                if s.handle.pending_samples > s.server.backlog_samples:
                    s.drained.clear()
                    await s.drained.wait()  # the model catches up before the next clause is spoken
            if s.error is not None:
                return
            if self.samples == 0:
                raise UmoError('nothing to say before {"type": "end"}: send text with at least one word')
            s.handle.finish()
        except UmoError as e:
            s.fail(str(e))
        except Exception as e:  # noqa: BLE001 - a bug: the client gets an error, the log the traceback
            s.server.internal_error(s, e)

    def _send(self, clause: str, audio: np.ndarray, timing) -> None:
        """One clause's speech onto the timeline: its header and PCM to the client, its phones and
        (the same, quantised) samples to the model."""
        s, lim = self.s, self.s.server.limits
        pcm = P.encode_pcm16(audio)  # what the client gets, and so what the model animates
        if self.samples + pcm.size > lim.max_stream_s * SAMPLE_RATE:
            raise UmoError(f"the reply's speech is longer than {lim.max_stream_s:.0f} s: end the session and start a "
                           "new one")
        t0 = self.samples / SAMPLE_RATE
        ids = timed_phone_ids([(p.symbol, p.start + t0, p.end + t0) for p in timing.phones], after=self.last_phone_start)
        s.out.put_nowait(P.audio_message(self.samples, pcm.size, clause, timing))
        s.out.put_nowait(pcm.tobytes())
        if self.first_audio_at is None:
            self.first_audio_at = s.loop.time()
        if ids:
            s.phones += len(ids)
            self.last_phone_start = ids[-1][1]
            s.handle.add_phones(ids)
        s.handle.submit(pcm.astype(np.float32) / 32768.0)
        self.samples += pcm.size
        self.clauses += 1
        s.samples_in = self.samples

    # ---- the frames' side (Session._deliver)
    def apply_emotion(self, frames: Frames) -> Frames:
        """The session's frames with its emotion, each change from its frame on (``changes``)."""
        if self.first_frames_at is None:
            self.first_frames_at = self.s.loop.time()
        layer = self.s.emotion
        end = frames.start + len(frames)
        if not self.changes or self.changes[0][0] >= end:
            return layer.apply(frames)
        from umo.inference import Frames

        parts, at = [], 0
        while self.changes and self.changes[0][0] < end:
            frame, setting = self.changes.popleft()
            cut = max(frame - frames.start, at)
            if cut > at:
                parts.append(layer.apply(_frames_slice(frames, at, cut)))
            layer.set(setting)
            at = cut
        if at < len(frames):
            parts.append(layer.apply(_frames_slice(frames, at, len(frames))))
        return Frames(frames.start, frames.fps, *(np.concatenate([getattr(p, k) for p in parts])
                                                  for k in ("face", "head", "eyes", "body")))

    def summary(self) -> dict:
        """What a text session adds to "done": clauses spoken, and the server's time from the first
        complete clause received to its first audio queued and to its first frames (ms)."""
        def ms(t: float | None) -> float | None:
            return None if t is None or self.first_clause_at is None else round(1000 * (t - self.first_clause_at), 1)
        return {"clauses": self.clauses, "latency_ms": {"audio": ms(self.first_audio_at), "frames": ms(self.first_frames_at)}}


def _frames_slice(frames: Frames, a: int, b: int) -> Frames:
    from umo.inference import Frames

    return Frames(frames.start + a, frames.fps, frames.face[a:b], frames.head[a:b], frames.eyes[a:b], frames.body[a:b])
