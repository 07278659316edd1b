"""The bundled learned model as a user runs it: offline, live (push/flush), and through the CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from umo import Animator
from umo.constants import lip_aperture
from umo.formats.audio import load_audio
from umo.inference import DEFAULT_WEIGHTS, ModelAnimator
from umo.speech.prosody import compute_prosody


@pytest.fixture(scope="module")
def jfk():
    FIXTURES = Path(__file__).resolve().parent / "fixtures"

    return load_audio(FIXTURES / "jfk.flac")


@pytest.fixture(scope="module")
def model():
    assert DEFAULT_WEIGHTS.is_file(), "the bundled model must ship with the package (make train-default)"
    return ModelAnimator()


def test_bundled_weights_are_small():
    assert DEFAULT_WEIGHTS.stat().st_size < 20 * 2**20


def test_offline_frame_count_and_ranges(model, jfk):
    anim = model.animate(jfk)
    assert anim.num_frames == math.ceil(len(jfk) / 16000 * 30 - 1e-6)
    assert anim.body.shape == (anim.num_frames, 75, 3)
    assert np.isfinite(anim.face).all() and anim.face.min() >= 0 and anim.face.max() <= 1
    assert np.isfinite(anim.body).all()


def test_mouth_follows_real_speech_without_a_transcript(model, jfk):
    """Sanity on a real recording the model never saw: the lips open with the speech."""
    anim = model.animate(jfk)
    loud = compute_prosody(jfk, anim.num_frames, anim.fps).loudness
    r = np.corrcoef(lip_aperture(anim.face), loud)[0, 1]
    assert r > 0.3, r


@pytest.mark.parametrize("chunking", ["mic20ms", "random"])
def test_streaming_equals_offline(model, jfk, chunking):
    audio = jfk[: 16000 * 4]
    offline = model.animate(audio)
    live = model.stream()
    rng = np.random.default_rng(0)
    parts, i = [], 0
    while i < len(audio):
        n = 320 if chunking == "mic20ms" else int(rng.integers(1, 3000))
        parts.append(live.push(audio[i:i + n]))
        i += n
    parts.append(live.flush())
    starts = [p.start for p in parts if len(p)]
    assert starts == sorted(starts)
    face = np.concatenate([p.face for p in parts])
    body = np.concatenate([p.body for p in parts])
    assert face.shape == offline.face.shape
    np.testing.assert_allclose(face, offline.face, atol=1e-4)
    np.testing.assert_allclose(body, offline.body, atol=1e-4)


def test_live_phones_equal_offline_with_the_transcript(model):
    """ModelStream.add_phones (Phone objects or (symbol, start, end), stress digits allowed): the
    frames of the model reading the same timing offline; bad phones are clear errors."""
    FIXTURES = Path(__file__).resolve().parent / "fixtures"

    from umo.errors import UmoError
    from umo.formats.lab import read_lab

    audio = load_audio(FIXTURES / "arctic_a0009.wav")
    timing = read_lab(FIXTURES / "arctic_a0009_phone.lab")
    offline = model.animate(audio, timing)
    live = model.stream()
    phones = list(timing.phones)
    live.add_phones(phones[:5])
    live.add_phones([(p.symbol.lower() + ("0" if p.symbol == "AH" else ""), p.start, p.end) for p in phones[5:]])
    parts = [live.push(audio[i:i + 320]) for i in range(0, len(audio), 320)] + [live.flush()]
    face = np.concatenate([p.face for p in parts])
    np.testing.assert_allclose(face, offline.face, atol=1e-4)
    assert np.abs(face - model.animate(audio).face).max() > 0.01
    for bad, match in (([("QQ", 0.1, 0.2)], "not an ARPAbet"), ([("AA", 0.3, 0.2)], "start <= end"),
                       ([("AA", 0.3, 0.4), ("B", 0.1, 0.2)], "time order")):
        with pytest.raises(UmoError, match=match):
            model.stream().add_phones(bad)


def test_python_api_picks_the_model_for_audio_alone(jfk):
    anim = Animator().animate((jfk * 32767).astype(np.int16), 16000)
    assert anim.body is not None and anim.num_frames > 300


def test_cli_animates_audio_alone_with_the_model(tmp_path, fixtures):
    r = subprocess.run([sys.executable, "-m", "umo", "animate", str(fixtures / "facegood" / "1114_3_16.wav"),
                        "-o", str(tmp_path / "o"), "--no-preview"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "learned model" in r.stderr
    assert (tmp_path / "o" / "face.csv").is_file() and (tmp_path / "o" / "body.bvh").is_file()
