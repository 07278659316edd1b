"""The ``umo serve`` WebSocket protocol: message parsing, validation and frame encoding.

docs/protocol.md is the user-facing description; this module is its one implementation. Nothing
here does I/O, so every rule is testable without a socket.

client -> server   {"type": "start", "sample_rate": 16000, ...}   then binary PCM chunks (and any
                   {"type": "phones", ...}, {"type": "text", ...} or {"type": "emotion", ...}), then
                   {"type": "end"}
                   or a text session: {"type": "start", "input": "text", "voice": ...}, then
                   {"type": "text", ...} pieces (and any {"type": "emotion", ...}), then {"type": "end"}
server -> client   {"type": "ready", ...}, {"type": "frames", ...} (or binary frames), {"type": "done", ...},
                   {"type": "warning", ...}, {"type": "error", "message": ...} (then the server closes);
                   in a text session also {"type": "audio", ...} each followed by one binary PCM message
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np
import orjson

from umo.constants import ARKIT_NAMES, BODIES, DEFAULT_BODY, EMOTIONS, EYE_NAMES, HEAD_NAMES, MODEL_FPS, SAMPLE_RATE
from umo.emotion import DEFAULT_INTENSITY, EmotionSetting
from umo.errors import UmoError
from umo.inference import Frames
from umo.speech.units import PHONES, timed_phone_ids

PROTOCOL_VERSION = 1
OUTPUTS: tuple[str, ...] = ("face", "head", "eyes", "body")
ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4}  # bytes per sample
FORMATS = ("json", "binary")
INPUTS = ("audio", "text")  # what a session sends: audio to animate, or text to speak and animate
TEXT_AUDIO_ENCODING = "pcm_s16le"  # the speech a text session sends back, at SAMPLE_RATE
DEFAULT_VOICE = "en-us"
MIN_RATE, MAX_RATE = 8_000, 48_000  # Hz accepted from clients (resampled to 16 kHz on the server)
# every field each client message may carry: anything else is an error, so a typo never silently does nothing
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "start": frozenset({"type", "sample_rate", "encoding", "fps", "outputs", "format", "text", "voice", "seed",
                        "emotion", "intensity", "input", "body"}),
    "phones": frozenset({"type", "phones"}),
    "text": frozenset({"type", "text"}),
    "emotion": frozenset({"type", "emotion", "intensity"}),
    "end": frozenset({"type"}),
}
MAX_TEXT_MESSAGE_CHARS = 65_536  # a JSON control message; audio goes as binary messages
SHOWN_CHARS = 60  # how much of a client's bad value an error message repeats
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
CLIP_FRACTION = 0.01  # a chunk with more clipped samples than this draws one warning per session
FLOAT_PEAK_LIMIT = 1.5  # pcm_f32le beyond this is not normalised audio (int16 values sent as float?)
MAX_PHONES_PER_MESSAGE = 10_000
DECIMALS = 6  # JSON numbers: 1e-6 rad / weight resolution, far below what the model can tell apart

# binary frames: magic, version, output flags, reserved, start frame, frame count, fps
BINARY_MAGIC = b"UMOF"
BINARY_HEADER = struct.Struct("<4sBBHIIf")  # 20 bytes, little-endian
OUTPUT_DIMS = {"face": len(ARKIT_NAMES), "head": len(HEAD_NAMES), "eyes": len(EYE_NAMES), "body": 75 * 3}


@dataclass(frozen=True)
class Limits:
    """Server-side limits; every one is reported to the client in the "ready" message."""

    max_message_bytes: int = 1 << 20  # one binary chunk: 32 s of 16 kHz s16le
    max_stream_s: float = 3600.0  # audio per session (seconds of samples received)
    max_session_s: float = 3600.0  # wall-clock time a session may stay open after "start", whatever it sends
    idle_timeout_s: float = 30.0  # longest silence between two client messages
    audio_idle_timeout_s: float = 60.0  # longest time after "start" without a non-empty audio message
    max_backlog_s: float = 10.0  # received but not yet animated audio before the server stops reading
    max_queued_messages: int = 256  # frames messages a client may leave unread before it is dropped
    max_text_chars: int = 1 << 20  # transcript text a session may stream ("text" messages and start's "text")
    max_phones: int = 200_000  # timed phones a session may send (about 5 hours of speech)

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not value > 0:
                raise UmoError(f"limit {name} must be positive (got {value})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class StartRequest:
    sample_rate: int = SAMPLE_RATE
    encoding: str = "pcm_s16le"
    fps: int = MODEL_FPS
    outputs: tuple[str, ...] = OUTPUTS
    format: str = "json"
    text: str | None = None
    seed: int = 0
    input: str = "audio"  # one of INPUTS
    voice: str | None = None  # a text session's espeak voice (canonical name), None for audio
    emotion: EmotionSetting = field(default_factory=EmotionSetting)  # from the first frame on
    body: str | None = None  # "animator" or "gen" (umo.constants.BODIES); None: the server's default
    extra: dict = field(default_factory=dict)


def shown(value) -> str:
    """A client's value as an error message repeats it: its repr, cut short."""
    r = repr(value)
    return r if len(r) <= SHOWN_CHARS else r[:SHOWN_CHARS] + "..."


def _number(value) -> float | None:
    """A JSON number as a finite float; None for anything else (bool, string, NaN, inf, an integer too
    large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def parse_json(text: str) -> dict:
    """A client text message -> dict with a "type", or UmoError saying what is wrong."""
    if len(text) > MAX_TEXT_MESSAGE_CHARS:
        raise UmoError("text message longer than 64 KiB: send audio as binary messages")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as e:
        raise UmoError(f"text messages must be JSON objects ({e.msg} at character {e.pos})") from None
    except RecursionError:  # the C decoder's guard against deep nesting ([[[[...)
        raise UmoError("text message nested too deeply: messages are flat JSON objects") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise UmoError(f"text messages must be JSON objects ({e})") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise UmoError('a text message must be a JSON object with a "type" ("start", "phones", "text", "emotion" '
                       'or "end")')
    return msg


def check_fields(msg: dict, kind: str) -> None:
    """UmoError unless ``msg`` is a ``kind`` message with only the fields that type has (start,
    phones, text and end alike)."""
    if msg.get("type") != kind:
        raise UmoError(f"expected a {kind} message, got type {shown(msg.get('type'))}")
    known = MESSAGE_FIELDS[kind]
    unknown = sorted(set(msg) - known)
    if unknown:
        raise UmoError(f"unknown field(s) in the {kind} message: {shown(unknown)}; it takes {sorted(known)}")


def parse_end(msg: dict) -> None:
    """{"type": "end"}: no more audio. It has no other field."""
    check_fields(msg, "end")


def parse_text(msg: dict) -> str:
    """A transcript piece sent while the audio streams: {"type": "text", "text": "..."} -> the text."""
    check_fields(msg, "text")
    text = msg.get("text")
    if not isinstance(text, str):
        raise UmoError(f'a text message needs "text": a string (the next words of the transcript), got {shown(text)}')
    return text


def _emotion_setting(msg: dict, kind: str) -> EmotionSetting:
    """The "emotion" (a name) and "intensity" (0..1, default 1) fields of a start or emotion message."""
    name, intensity = msg.get("emotion"), msg.get("intensity", DEFAULT_INTENSITY)
    if name is None:
        if "intensity" in msg:
            raise UmoError(f'the {kind} message has "intensity" without "emotion" (one of {", ".join(EMOTIONS)})')
        return EmotionSetting()
    return EmotionSetting(name, intensity)  # UmoError naming the valid emotions, or the intensity's range


def parse_emotion(msg: dict) -> EmotionSetting:
    """{"type": "emotion", "emotion": "happy", "intensity": 0.8} (intensity optional, default 1): the
    expression from the next frame on, ramped in over umo.emotion.RAMP_S."""
    check_fields(msg, "emotion")
    if "emotion" not in msg:
        raise UmoError(f'an emotion message needs "emotion": one of {", ".join(EMOTIONS)}')
    return _emotion_setting(msg, "emotion")


def parse_phones(msg: dict, max_s: float, after: float = 0.0) -> list[tuple[int, float, float]]:
    """Timed phones for the live model: {"type": "phones", "phones": [["DH", 1.42, 1.46], ...]} ->
    [(PHONES id, start s, end s)], seconds on the audio's clock (0 = the stream's first sample).
    Symbols are ARPAbet or SIL, any case, an ARPAbet stress digit allowed (AH0); starts in order,
    none before ``after`` (the stream's last phone start so far)."""
    check_fields(msg, "phones")
    items = msg.get("phones")
    if not isinstance(items, list) or not items:
        raise UmoError('a phones message needs "phones": a non-empty list of [symbol, start s, end s]')
    if len(items) > MAX_PHONES_PER_MESSAGE:
        raise UmoError(f"{len(items)} phones in one message: send at most {MAX_PHONES_PER_MESSAGE} at a time")
    rows = []
    for n, item in enumerate(items):  # the JSON's shape; the values are checked by timed_phone_ids
        times = [_number(v) for v in item[1:]] if isinstance(item, list) and len(item) == 3 else [None]
        if None in times or not isinstance(item[0], str):
            raise UmoError(f"phone {n}: expected [symbol, start s, end s] (a string and two finite numbers), "
                           f"got {shown(item)}")
        rows.append((item[0], *times))
    return timed_phone_ids(rows, after, max_s)


def parse_start(msg: dict) -> StartRequest:
    """Validate the first message: {"type": "start", "sample_rate": ..., optional fields}, each of
    its own JSON type (a wrong one is an error naming the field)."""
    if msg.get("type") != "start":
        raise UmoError(f'the first message must be {{"type": "start", "sample_rate": 16000}}, got type {shown(msg.get("type"))}')
    check_fields(msg, "start")
    req = StartRequest()
    rate = msg.get("sample_rate", SAMPLE_RATE)
    x = _number(rate)
    if x is None or x != int(x):
        raise UmoError(f"sample_rate must be an integer number of Hz, got {shown(rate)}")
    if not MIN_RATE <= x <= MAX_RATE:
        raise UmoError(f"sample_rate {x:.0f} Hz is not accepted: send {MIN_RATE}-{MAX_RATE} Hz (16000 avoids resampling)")
    req.sample_rate = int(x)
    enc = msg.get("encoding", "pcm_s16le")
    if not isinstance(enc, str) or enc not in ENCODINGS:
        raise UmoError(f"encoding {shown(enc)} is not supported: use one of {sorted(ENCODINGS)} (mono, little-endian)")
    req.encoding = enc
    fps = msg.get("fps", MODEL_FPS)
    if _number(fps) != MODEL_FPS:
        raise UmoError(f"fps {shown(fps)}: live streams run at the model's {MODEL_FPS} fps (resample on the client)")
    outs = msg.get("outputs", list(OUTPUTS))
    if not isinstance(outs, list) or not outs or not all(isinstance(o, str) and o in OUTPUTS for o in outs):
        raise UmoError(f"outputs must be a non-empty list drawn from {list(OUTPUTS)}, got {shown(outs)}")
    req.outputs = tuple(o for o in OUTPUTS if o in outs)
    fmt = msg.get("format", "json")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise UmoError(f"format {shown(fmt)}: use one of {list(FORMATS)}")
    req.format = fmt
    text = msg.get("text")
    if text is not None and not isinstance(text, str):
        raise UmoError(f"text must be a string (the transcript), got {shown(text)}")
    req.text = text
    kind = msg.get("input", "audio")
    if not isinstance(kind, str) or kind not in INPUTS:
        raise UmoError(f"input {shown(kind)}: use \"audio\" (send PCM to animate) or \"text\" (send text to speak)")
    req.input = kind
    if kind == "text":
        _text_session_fields(msg, req)
    elif msg.get("voice") is not None:
        raise UmoError('voice is for text sessions ({"type": "start", "input": "text", "voice": ...}): an audio '
                       "session animates the audio you send")
    seed = msg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise UmoError(f"seed must be an integer in [0, 2^31), got {shown(seed)}")
    req.seed = seed
    req.emotion = _emotion_setting(msg, "start")
    body = msg.get("body")
    if body is not None and (not isinstance(body, str) or body not in BODIES):
        raise UmoError(f"body {shown(body)}: use one of {list(BODIES)} (\"gen\": the continuous body generator)")
    req.body = body
    return req


def _text_session_fields(msg: dict, req: StartRequest) -> None:
    """A text session's voice (checked against the installed espeak voices) and its fixed audio format."""
    from umo.speech.espeak import canonical_voice, find_voice

    if "sample_rate" in msg and req.sample_rate != SAMPLE_RATE or req.encoding != TEXT_AUDIO_ENCODING:
        raise UmoError(f"a text session's speech comes back as {SAMPLE_RATE} Hz {TEXT_AUDIO_ENCODING}: leave out "
                       '"sample_rate" and "encoding" (they describe the audio an audio session sends)')
    voice = msg.get("voice", DEFAULT_VOICE)
    if not isinstance(voice, str):
        raise UmoError(f"voice must be a string such as \"en-us\" or \"en-gb+f3\", got {shown(voice)}")
    voice = canonical_voice(voice)
    find_voice(voice)  # UmoError naming close matches for an unknown one
    req.voice = voice


def audio_message(start_sample: int, samples: int, text: str, timing) -> str:
    """The header of a text session's speech: the binary message that follows holds ``samples``
    s16le samples at SAMPLE_RATE, from sample ``start_sample`` of the session's one timeline (the
    frames' clock); ``timing`` (a umo.speech.units.Timing, seconds from the clause's own start)
    goes along as phones and words on that timeline, the phones the model read. Times are exact
    (JSON floats that read back to the same double): a client can redo the server's animation."""
    t0 = start_sample / SAMPLE_RATE
    return message("audio", sample_rate=SAMPLE_RATE, encoding=TEXT_AUDIO_ENCODING, start=t0, samples=samples,
                   text=text, phones=[[p.symbol, p.start + t0, p.end + t0] for p in timing.phones],
                   words=[[w.text, w.start + t0, w.end + t0] for w in timing.words])


def encode_pcm16(audio: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] -> int16 (little-endian) PCM, rounded and clipped: what a client
    sends as pcm_s16le and a text session sends back; ``decode_pcm`` is its inverse."""
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).round().astype("<i2")


def decode_pcm(data: bytes, encoding: str) -> np.ndarray:
    """A binary message -> float32 samples in [-1, 1]; UmoError for a torn sample or bad floats."""
    width = ENCODINGS[encoding]
    if len(data) % width:
        raise UmoError(f"binary message of {len(data)} bytes is not a whole number of {encoding} samples ({width} bytes each)")
    if encoding == "pcm_s16le":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    x = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise UmoError("audio holds NaN or infinite samples")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > FLOAT_PEAK_LIMIT:
        raise UmoError(f"pcm_f32le audio must lie in [-1, 1] but peaks at {peak:.1f} (int16 values sent as float?)")
    return x


def clipped_fraction(x: np.ndarray) -> float:
    return np.count_nonzero(np.abs(x) >= CLIP_LEVEL) / x.size if x.size else 0.0


def ready_message(req: StartRequest, session: int, lookahead_s: float, limits: Limits) -> dict:
    from umo.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    return {
        "type": "ready", "version": PROTOCOL_VERSION, "session": session, "fps": MODEL_FPS,
        "sample_rate": req.sample_rate, "model_sample_rate": SAMPLE_RATE, "encoding": req.encoding,
        "format": req.format, "outputs": list(req.outputs), "lookahead_s": round(lookahead_s, 4),
        "input": req.input, "voice": req.voice, "body": req.body or DEFAULT_BODY,
        # an audio session's text is counted, not read (the live model takes timed phones); a text session speaks it
        "text_used": req.input == "text",
        "phones_used": True, "phone_set": list(PHONES), "emotions": list(EMOTIONS),
        "blendshapes": list(ARKIT_NAMES), "head": list(HEAD_NAMES), "eyes": list(EYE_NAMES),
        "joints": list(sk.names), "parents": [int(p) for p in sk.parents],
        "offsets": [round(float(v), 4) for v in np.asarray(sk.offsets).reshape(-1)],
        "limits": limits.to_dict(),
    }


def frames_json(frames: Frames, outputs: tuple[str, ...]) -> bytes:
    """{"type": "frames", "fps", "start", "frames": [{"t", "face", "head", "eyes", "body"}, ...]}, UTF-8.

    orjson writes the numpy rows directly (about 7x faster than json + tolist: at 32 sessions this is
    the server's largest cost outside the model)."""
    n = len(frames)
    cols = {o: np.round(np.asarray(getattr(frames, o), dtype=np.float64), DECIMALS) for o in outputs}
    rows = [{"t": round((frames.start + i) / frames.fps, DECIMALS), **{o: cols[o][i] for o in outputs}}
            for i in range(n)]
    return orjson.dumps({"type": "frames", "fps": frames.fps, "start": frames.start, "frames": rows},
                        option=orjson.OPT_SERIALIZE_NUMPY)


def frames_binary(frames: Frames, outputs: tuple[str, ...]) -> bytes:
    """The compact format: a 20-byte header then float32 arrays (n, dim) per output, in OUTPUTS order."""
    flags = sum(1 << i for i, o in enumerate(OUTPUTS) if o in outputs)
    n = len(frames)
    parts = [BINARY_HEADER.pack(BINARY_MAGIC, PROTOCOL_VERSION, flags, 0, frames.start, n, float(frames.fps))]
    for o in OUTPUTS:
        if o in outputs:
            parts.append(np.ascontiguousarray(np.asarray(getattr(frames, o), dtype="<f4").reshape(n, -1)).tobytes())
    return b"".join(parts)


def parse_frames_binary(data: bytes) -> dict[str, np.ndarray | int | float]:
    """The inverse of :func:`frames_binary` (for clients and tests): {"start", "fps", output: (n, dim)}."""
    magic, version, flags, _, start, n, fps = BINARY_HEADER.unpack_from(data)
    if magic != BINARY_MAGIC or version != PROTOCOL_VERSION:
        raise UmoError("not a umo binary frames message")
    out: dict = {"start": start, "fps": fps}
    off = BINARY_HEADER.size
    for i, o in enumerate(OUTPUTS):
        if flags & (1 << i):
            size = n * OUTPUT_DIMS[o] * 4
            a = np.frombuffer(data[off:off + size], dtype="<f4").reshape(n, OUTPUT_DIMS[o])
            out[o] = a.reshape(n, 75, 3) if o == "body" else a
            off += size
    return out


def message(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))
