"""Audio in and out: every signal becomes float32 mono at ``SAMPLE_RATE`` here, once.

Files are decoded by libsndfile (through ``soundfile``): WAV (PCM 8/16/24/32, float), FLAC, OGG
Vorbis/Opus, MP3 and the other formats libsndfile reads. Channels are averaged, then the signal is
resampled **exactly once** with soxr (high quality), so a file and the same samples passed as an
array (:func:`prepare_audio`) give identical results.

Dimension letters: S samples, C channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = "wav, flac, ogg (Vorbis/Opus), mp3, aiff"  # what the error messages promise
MIN_SAMPLE_RATE = 4_000  # Hz: below this speech is unintelligible; a lower rate is a mistake
MAX_SAMPLE_RATE = 384_000  # Hz: the highest rate real converters use
MAX_CHANNELS = 32  # more "channels" than this in an array means (C, S) was passed as (S, C)
FLOAT_PEAK_LIMIT = 2.0  # float input louder than this holds integer sample values, not [-1, 1]


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int  # Hz, as stored in the file
    channels: int
    frames: int  # samples per channel
    duration: float  # seconds
    format: str  # libsndfile's container name, e.g. "WAV", "FLAC", "OGG", "MP3"
    subtype: str  # sample encoding, e.g. "PCM_16", "FLOAT", "VORBIS"


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UmoError(f"audio file not found: {path} (check the path)")
    if path.is_dir():
        raise UmoError(f"{path} is a directory, not an audio file: pass one {SUPPORTED_FORMATS} file")
    return path


def _check_rate(rate: float, what: str) -> None:
    if not (MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
        raise UmoError(
            f"{what} has a sample rate of {rate} Hz; umo accepts {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz "
            "(re-export the audio at a standard rate such as 16000, 44100 or 48000 Hz)"
        )


def audio_info(path: str | Path) -> AudioInfo:
    """Rate, channels, length and encoding of an audio file, read from its header (no decoding)."""
    import soundfile as sf

    path = _check_path(path)
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile raises LibsndfileError / RuntimeError for unknown data
        raise UmoError(
            f"cannot read {path} as audio ({e}); supported formats: {SUPPORTED_FORMATS}. "
            "Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 out.wav`"
        ) from None
    return AudioInfo(
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=float(info.frames) / info.samplerate if info.samplerate else 0.0,
        format=str(info.format),
        subtype=str(info.subtype),
    )


DECODE_BLOCK = 1 << 18  # samples per channel decoded at a time: memory stays ~ the 16 kHz result


def _check_samples(x: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(x)):
        raise UmoError(f"{what} contains NaN or infinite samples: the file or array is corrupt; re-export it")


def _to_mono_resampled(x: np.ndarray, rate: int, target: int, what: str) -> np.ndarray:
    """(S, C) float -> (S',) float32 at ``target``: mean over channels, one soxr resampling."""
    import soxr

    if x.shape[0] == 0:
        raise UmoError(f"{what} holds no audio samples (zero length): pass a recording that is not empty")
    _check_samples(x, what)
    mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != target:
        mono = soxr.resample(mono, rate, target, quality="HQ").astype(np.float32, copy=False)
    return mono


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an audio file to float32 mono at ``sample_rate``.

    returns (S,) float32, S = round(duration * sample_rate) within a sample.

    The file is decoded ``DECODE_BLOCK`` samples at a time through soxr's streaming resampler (the
    same samples as one call on the whole signal), so an hour of 48 kHz stereo never sits in memory
    at its own rate: the peak is about the 16 kHz result.
    """
    import soundfile as sf
    import soxr

    _check_rate(sample_rate, "the requested output")
    info = audio_info(path)
    _check_rate(info.sample_rate, str(path))
    if info.channels < 1:
        raise UmoError(f"{path} has no audio channels")
    resampler = None if info.sample_rate == sample_rate else soxr.ResampleStream(
        info.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    parts: list[np.ndarray] = []
    decoded = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                x = f.read(DECODE_BLOCK, dtype="float32", always_2d=True)  # (s, C)
                last = x.shape[0] < DECODE_BLOCK
                decoded += x.shape[0]
                _check_samples(x, str(path))
                mono = np.ascontiguousarray(x.mean(axis=1) if x.shape[1] > 1 else x[:, 0], dtype=np.float32)
                parts.append(mono if resampler is None else resampler.resample_chunk(mono, last=last))
                if last:
                    break
    except UmoError:
        raise
    except Exception as e:
        raise UmoError(
            f"cannot decode {path} ({e}); supported formats: {SUPPORTED_FORMATS}. "
            "Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 out.wav`"
        ) from None
    if decoded == 0:
        raise UmoError(f"{path} holds no audio samples (zero length): pass a recording that is not empty")
    promised = _wav_promised_bytes(Path(path)) if info.format == "WAV" else None
    if promised is not None and promised > Path(path).stat().st_size:
        log.warning(f"{path}: its header promises {promised - Path(path).stat().st_size} more bytes of audio than the "
                    f"file holds: it looks truncated; the output covers the {decoded / info.sample_rate:.2f} s read")
    return np.concatenate(parts)


def _wav_promised_bytes(path: Path) -> int | None:
    """The file size a RIFF WAV's header implies (offset of its data chunk + the chunk's declared
    size), None if it cannot tell. libsndfile silently reads a cut-short WAV as a shorter one."""
    import struct

    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                return None if size in (0, 0xFFFFFFFF) else pos + 8 + size  # (0 / -1: streamed, size unknown)
            pos += 8 + size + (size & 1)
            f.seek(pos)


def prepare_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """An in-memory signal -> (S',) float32 mono at ``SAMPLE_RATE``, as :func:`load_audio` would give.

    audio: (S,) or (S, C); int16/int32/uint8 PCM or float in [-1, 1]. sample_rate: its rate in Hz.
    """
    a = np.asarray(audio)
    _check_rate(sample_rate, "the audio array")
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim != 2:
        raise UmoError(f"audio must be (samples,) or (samples, channels), got shape {a.shape}")
    if a.shape[1] > MAX_CHANNELS:
        raise UmoError(
            f"audio of shape {a.shape} would have {a.shape[1]} channels: it looks like (channels, samples); "
            "pass audio.T"
        )
    if a.dtype == np.int16:
        x = a.astype(np.float32) / 32768.0
    elif a.dtype == np.int32:
        x = (a.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif a.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        x = (a.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32)
        peak = float(np.max(np.abs(x))) if x.size and np.all(np.isfinite(x)) else 0.0
        if peak > FLOAT_PEAK_LIMIT:
            raise UmoError(
                f"float audio should lie in [-1, 1] but peaks at {peak:.1f}: if it holds int16 sample values, "
                "divide by 32768 (or pass the int16 array itself)"
            )
    else:
        raise UmoError(f"audio samples of type {a.dtype} are not supported: pass int16 PCM or float in [-1, 1]")
    return _to_mono_resampled(x, int(sample_rate), SAMPLE_RATE, "the audio array")


def save_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write (S,) float audio in [-1, 1] as 16-bit PCM WAV (values beyond ±1 are clipped)."""
    import soundfile as sf

    a = np.asarray(audio, dtype=np.float32)
    if a.ndim != 1:
        raise UmoError(f"save_wav writes mono audio: expected shape (samples,), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise UmoError("cannot save audio with NaN or infinite samples")
    _check_rate(sample_rate, "the audio to save")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(a, -1.0, 1.0), int(sample_rate), subtype="PCM_16", format="WAV")
