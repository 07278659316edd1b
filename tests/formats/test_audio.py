"""Audio loading: formats, rates, channels, and the errors a user can cause."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from umo.constants import SAMPLE_RATE
from umo.errors import UmoError
from umo.formats.audio import audio_info, load_audio, prepare_audio, save_wav


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_arctic_wav_is_read_unchanged(fixtures):
    path = fixtures / "arctic_a0009.wav"
    x = load_audio(path)
    raw, sr = sf.read(path, dtype="int16")
    assert sr == SAMPLE_RATE and x.dtype == np.float32 and x.ndim == 1
    np.testing.assert_array_equal(x, raw.astype(np.float32) / 32768.0)  # 16 kHz in: no resampling
    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.frames) == (16000, 1, 49520)
    assert info.duration == pytest.approx(3.095)


def test_jfk_flac_44k_stereo_to_16k_mono(fixtures):
    path = fixtures / "jfk.flac"
    info = audio_info(path)
    assert (info.sample_rate, info.channels) == (44100, 2)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / SAMPLE_RATE - info.duration) < 1e-3
    # Content: the same as averaging then resampling by hand.
    raw, sr = sf.read(path, dtype="float32")
    ref = soxr.resample(raw.mean(axis=1), sr, SAMPLE_RATE)
    assert _corr(x, ref) > 0.999
    assert 0.05 < np.abs(x).max() <= 1.0


def test_beat_float32_wav(shared_data):
    path = shared_data / "beat" / "2_scott_0_1_1.wav"
    assert audio_info(path).subtype == "FLOAT"
    x = load_audio(path)
    assert len(x) == 1025558 and x.dtype == np.float32
    assert 0.1 < np.abs(x).max() <= 1.0


def test_music_ogg(shared_data):
    path = shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.ogg"
    info = audio_info(path)
    assert (info.sample_rate, info.channels) == (44100, 2)
    x = load_audio(path)
    assert abs(len(x) / SAMPLE_RATE - 61.459) < 0.01
    assert np.abs(x).max() > 0.1


@pytest.mark.parametrize(
    "ext, fmt, subtype, rate",
    [
        ("mp3", "MP3", "MPEG_LAYER_III", 44100),
        ("ogg", "OGG", "VORBIS", 22050),
        ("wav", "WAV", "PCM_24", 48000),
        ("wav", "WAV", "PCM_16", 8000),
        ("flac", "FLAC", "PCM_16", 32000),
        ("wav", "WAV", "FLOAT", 16000),
    ],
)
def test_written_formats_keep_content(fixtures, tmp_path, ext, fmt, subtype, rate):
    ref = load_audio(fixtures / "arctic_a0009.wav")  # (S,) at 16 kHz
    clip = soxr.resample(ref, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else ref
    stereo = np.stack([clip, 0.5 * clip], axis=1)  # two channels: checks the downmix too
    path = tmp_path / f"clip_{rate}.{ext}"
    sf.write(path, stereo, rate, format=fmt, subtype=subtype)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    # libsndfile trims the codec delay and padding: lengths match to a few samples.
    assert abs(len(x) - len(ref)) <= 4
    c = _corr(x, ref)
    assert c > 0.95, f"{ext} {rate} Hz: correlation {c:.3f}"


def test_8k_band_limited_but_aligned(fixtures, tmp_path):
    """An 8 kHz file keeps the low band in place: correlation with the low-passed original."""
    ref = load_audio(fixtures / "arctic_a0009.wav")
    path = tmp_path / "c8k.wav"
    sf.write(path, soxr.resample(ref, SAMPLE_RATE, 8000), 8000, subtype="PCM_16")
    low = soxr.resample(soxr.resample(ref, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)
    assert _corr(load_audio(path), low) > 0.99


def test_output_rate_argument(fixtures):
    x = load_audio(fixtures / "arctic_a0009.wav", sample_rate=24000)
    assert abs(len(x) - 3.095 * 24000) <= 1


def test_prepare_audio_matches_load(fixtures):
    raw, sr = sf.read(fixtures / "jfk.flac", dtype="int16")  # (S, 2)
    from_file = load_audio(fixtures / "jfk.flac")
    from_int = prepare_audio(raw, sr)
    assert _corr(from_int, from_file) > 0.9999
    from_float = prepare_audio(raw.astype(np.float64) / 32768.0, sr)
    np.testing.assert_allclose(from_float, from_int, atol=1e-5)
    mono = prepare_audio(raw[:, 0], sr)
    assert mono.shape == from_file.shape


def test_prepare_audio_errors():
    with pytest.raises(UmoError, match="transpose|audio.T"):
        prepare_audio(np.zeros((2, 16000), dtype=np.float32), 16000)
    with pytest.raises(UmoError, match="32768"):
        prepare_audio(np.full(1000, 3000.0), 16000)
    with pytest.raises(UmoError, match="NaN"):
        prepare_audio(np.array([0.0, np.nan, 0.1]), 16000)
    with pytest.raises(UmoError, match="zero length"):
        prepare_audio(np.zeros(0, dtype=np.int16), 16000)
    with pytest.raises(UmoError, match="sample rate"):
        prepare_audio(np.zeros(100), 100)
    with pytest.raises(UmoError, match="not supported"):
        prepare_audio(np.array(["a", "b"]), 16000)


def test_file_errors(tmp_path):
    with pytest.raises(UmoError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(UmoError, match="directory"):
        load_audio(tmp_path)
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n" * 20)
    with pytest.raises(UmoError, match="supported formats") as e:
        load_audio(fake)
    assert "notes.wav" in str(e.value)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(UmoError, match="zero length"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1] * 100, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(UmoError, match="NaN"):
        load_audio(nan)
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(100, dtype=np.float32), 100)
    with pytest.raises(UmoError, match="sample rate"):
        load_audio(slow)


def test_save_wav_round_trip(fixtures, tmp_path):
    x = load_audio(fixtures / "arctic_a0009.wav")
    out = tmp_path / "sub" / "out.wav"
    save_wav(out, x)
    info = audio_info(out)
    assert (info.sample_rate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    np.testing.assert_allclose(load_audio(out), x, atol=1 / 32768)
    with pytest.raises(UmoError):
        save_wav(out, np.zeros((10, 2)))


def test_a_truncated_file_is_read_with_a_warning(tmp_path, fixtures, caplog):
    """A WAV cut short (its header promises more samples than follow) decodes what is there and says so."""
    from umo.formats.audio import load_audio

    data = (fixtures / "arctic_a0009.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with caplog.at_level("WARNING", logger="umo"):
        audio = load_audio(tmp_path / "cut.wav")
    assert 0 < len(audio) < len(load_audio(fixtures / "arctic_a0009.wav"))
    assert any("truncated" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="umo"):
        load_audio(fixtures / "arctic_a0009.wav")
    assert not caplog.records
