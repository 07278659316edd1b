"""Long input end to end (issue 18): any length of audio decodes, animates and previews without a
crash, in bounded working memory, and an interrupted or failed run never leaves a file that looks
complete (nor new files beside old ones)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from umo.animation import Animation
from umo.formats import audio as audio_mod
from umo.formats.audio import load_audio, prepare_audio


def speechlike(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """(S, C) float32: noise bursts at a syllable rate, like speech's envelope."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    env = (np.sin(2 * np.pi * 4.0 * np.arange(n) / rate) > 0).astype(np.float32)
    return (rng.standard_normal((n, channels)) * 0.1 * env[:, None]).astype(np.float32)


@pytest.mark.parametrize("frames", [3 * 4096, 3 * 4096 + 17])  # a whole number of blocks, and not
def test_block_decoding_equals_one_call(tmp_path, monkeypatch, frames):
    monkeypatch.setattr(audio_mod, "DECODE_BLOCK", 4096)
    x = speechlike(frames / 44100, 44100, channels=2)
    sf.write(tmp_path / "a.flac", x, 44100, subtype="PCM_16")
    stored, rate = sf.read(tmp_path / "a.flac", dtype="float32", always_2d=True)
    np.testing.assert_array_equal(load_audio(tmp_path / "a.flac"), prepare_audio(stored, rate))


def test_preview_of_audio_longer_than_the_vorbis_encoder_takes_in_one_call(tmp_path):
    """libsndfile 1.2.2 crashed (SIGSEGV) encoding more than ~2.2 min of OGG Vorbis in one write:
    run in a child process, so a crash is a failed test, not a dead test run."""
    code = (
        "import numpy as np, io, soundfile as sf\n"
        "from umo.preview.html import _encode_audio\n"
        "a = (np.random.default_rng(0).standard_normal(16000 * 200) * 0.1).astype(np.float32)\n"
        "mime, data = _encode_audio(a, 16000, 'ogg')\n"
        "b, rate = sf.read(io.BytesIO(data))\n"
        "assert mime == 'audio/ogg' and rate == 16000 and abs(len(b) - len(a)) < 2048, (mime, len(b))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])


def test_offline_chunks_equal_one_generate_call(monkeypatch):
    """model_animation walks the clip OFFLINE_CHUNK_S at a time through the incremental step: the
    same frames as UmoModel.generate on the whole clip, with and without phones."""
    FIXTURES = Path(__file__).resolve().parent / "fixtures"
    from models.test_umo_streaming import tiny

    from umo import inference
    from umo.data.motion import regions_to_animation
    from umo.data.synth import rasterize_phones
    from umo.formats.lab import read_lab

    monkeypatch.setattr(inference, "OFFLINE_CHUNK_S", 0.7)
    model = tiny()
    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    timing = read_lab(FIXTURES / "arctic_a0009_phone.lab")
    for t in (None, timing):
        seen = []
        got = inference.model_animation(model, audio, t, seed=2, progress=lambda d, n: seen.append((d, n)))
        assert len(seen) > 3 and [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert seen[-1] == (got.num_frames, got.num_frames)
        phones = None if t is None else torch.as_tensor(rasterize_phones(t, got.num_frames))
        ref = regions_to_animation({k: v.numpy() for k, v in model.generate(torch.from_numpy(audio), phones,
                                                                           seed=2).items()}, fps=30)
        np.testing.assert_allclose(got.face, ref.face, atol=1e-4)
        np.testing.assert_allclose(got.body, ref.body, atol=1e-4)


def _anim(seconds: float = 1.0) -> Animation:
    n = int(seconds * 30)
    return Animation(30, np.full((n, 52), 0.2), np.zeros((n, 3)), np.zeros((n, 6)), body=np.zeros((n, 75, 3)),
                     audio=np.zeros(int(seconds * 16000), np.float32))


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_take_whole(tmp_path, monkeypatch, error):
    """All files are written under temporary names, then renamed: a failure in the last one (the
    preview) leaves the earlier run's face.csv, body.bvh and preview.html as they were, and no
    temporary file behind."""
    import umo.preview.html as html
    from umo.pipeline import write_outputs

    out = tmp_path / "take"
    write_outputs(_anim(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(html, "write_preview", broken)
    changed = _anim(2.0)
    with pytest.raises(type(error)):
        write_outputs(changed, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_files_of_an_earlier_run_are_named(tmp_path):
    from umo.pipeline import write_outputs

    out = tmp_path / "take"
    write_outputs(_anim(), out)
    said = []
    write_outputs(_anim().copy(body=None, root_pos=None), out, preview=False, log=said.append)
    assert len(said) == 1 and "body.bvh" in said[0] and "preview.html" in said[0] and "not from this run" in said[0]
    assert (out / "body.bvh").is_file()  # the user's folder: named, not deleted
