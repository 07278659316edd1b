"""StreamingSession: push/flush outputs equal offline generate for any chunking; frames come out
as soon as they are final; state stays bounded over a long stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from umo.constants import REGION_DIMS
from umo.formats.audio import load_audio
from umo.models import UmoModel, get_config
from umo.models.features import samples_needed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(FIXTURES / "arctic_a0009.wav")[:40000].astype(np.float32)  # 2.5 s


def tiny(**kw) -> UmoModel:
    torch.manual_seed(1)
    model = UmoModel(get_config("tiny", **kw)).eval()
    # non-trivial motion statistics, so that de-normalisation is exercised too
    g = torch.Generator().manual_seed(0)
    model.set_motion_stats({r: (torch.randn(d, generator=g), torch.rand(d, generator=g) + 0.5)
                            for r, d in REGION_DIMS.items()})
    return model


def run_stream(model, audio: np.ndarray, sizes, seed: int = 0) -> dict[str, np.ndarray]:
    session = model.stream(seed=seed)
    parts, pos, i = [], 0, 0
    while pos < audio.size:
        n = sizes[i % len(sizes)]
        parts.append(session.push(audio[pos:pos + n]))
        pos, i = pos + n, i + 1
    parts.append(session.flush())
    return {r: np.concatenate([p[r] for p in parts]) for r in REGION_DIMS}


CHUNKINGS = {"160": [160], "533": [533], "1000": [1000], "4000": [4000],
             "random": list(np.random.default_rng(0).integers(1, 3000, size=64)), "odd": [1, 7, 2999, 0, 533]}


@pytest.mark.parametrize("lookahead,stride,student", [(2, 2, False), (0, 1, False), (4, 4, False), (2, 2, True)])
@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
def test_stream_equals_generate(speech, chunking, lookahead, stride, student):
    extra = dict(student_dim=8, student_channels=16, student_dilations=(1, 2, 4), teacher="tiny.en:2", teacher_dim=16)
    model = tiny(lookahead_frames=lookahead, keyframe_stride=stride, **(extra if student else {}))
    ref = model.generate(torch.from_numpy(speech), seed=4)
    got = run_stream(model, speech, CHUNKINGS[chunking], seed=4)
    for r in REGION_DIMS:
        assert got[r].shape == tuple(ref[r].shape)
        np.testing.assert_allclose(got[r], ref[r].numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunking", ["160", "odd", "random"])
def test_stream_with_mel_taps_in_the_mouth_head_equals_generate(speech, chunking):
    """The mouth head's log-mel taps read frames up to 16 back: a stream keeps them across rounds."""
    model = tiny(mouth_dim=16, mouth_dilations=(1, 2), mouth_mel_taps=(0, 4, 16))
    ref = model.generate(torch.from_numpy(speech), seed=4)
    got = run_stream(model, speech, CHUNKINGS[chunking], seed=4)
    for r in REGION_DIMS:
        np.testing.assert_allclose(got[r], ref[r].numpy(), atol=1e-4, rtol=0)


def test_push_returns_exactly_the_final_frames(speech):
    la = 2
    model = tiny(lookahead_frames=la)
    session = model.stream()
    total = 0
    for end in range(0, 20000, 700):
        out = session.push(speech[end:end + 700])
        total += out["face"].shape[0]
        n = min(end + 700, speech.size)
        expected = sum(1 for i in range(200) if samples_needed(i, la) <= n)
        assert total == expected
        assert all(v.dtype == np.float32 and v.shape[1] == REGION_DIMS[r] for r, v in out.items())
    empty = session.push(np.zeros(0, np.float32))
    assert {r: v.shape for r, v in empty.items()} == {r: (0, d) for r, d in REGION_DIMS.items()}


def test_flush_resets_for_the_next_utterance(speech):
    model = tiny()
    session = model.stream(seed=2)
    a = [session.push(speech[:8000]), session.flush()]
    b = [session.push(speech[:8000]), session.flush()]
    for r in REGION_DIMS:
        np.testing.assert_array_equal(np.concatenate([p[r] for p in a]), np.concatenate([p[r] for p in b]))
    assert session.flush()["face"].shape == (0, REGION_DIMS["face"])


def test_state_bounded_over_two_minutes(speech):
    model = tiny()
    session = model.stream()
    sizes = {}
    rng = np.random.default_rng(0)
    for second in range(120):
        chunk = speech[(second * 16000) % 24000:][:16000]
        if chunk.size < 16000:
            chunk = rng.normal(0, 0.05, 16000).astype(np.float32)
        session.push(chunk)
        if second in (10, 119):
            st = session.state
            sizes[second] = (session.kv_cache_elements(), st.enc_frames.shape[0],
                             st.feat_tail.numel(), sum(s.numel() for s in st.interp_state))
    assert sizes[10] == sizes[119]
    w = model.cfg.window_steps
    layers, d = model.cfg.n_layers, model.cfg.d_model
    assert sizes[119][0] == layers * 2 * w * 5 * d  # a ring of the W steps of one window per layer
    assert session.state.n_frames >= 119 * 30


@pytest.mark.parametrize("chunking", ["160", "random"])
def test_stream_with_timed_phones_equals_generate_with_them(speech, chunking):
    """Phones added a little ahead of their audio, in pieces: the frames of generate(audio, phones)."""
    from umo.data.synth import rasterize_phones
    from umo.formats.lab import read_lab
    from umo.models.features import num_motion_frames
    from umo.speech.units import PHONES

    model = tiny()
    timing = read_lab(FIXTURES / "arctic_a0009_phone.lab")
    ref = model.generate(torch.from_numpy(speech), torch.as_tensor(
        rasterize_phones(timing, num_motion_frames(speech.size))), seed=3)
    todo = [(PHONES.index(p.symbol), p.start, p.end) for p in timing.phones]
    session = model.stream(seed=3)
    parts, pos, i = [], 0, 0
    sizes = CHUNKINGS[chunking]
    while pos < speech.size:
        n = sizes[i % len(sizes)]
        send = [p for p in todo if p[1] < (pos + n) / 16000 + 0.1]
        todo = todo[len(send):]
        if send:
            session.add_phones(send)
        parts.append(session.push(speech[pos:pos + n]))
        pos, i = pos + n, i + 1
    parts.append(session.flush())
    assert session.state.phones is None  # flush resets, phones included
    for r in REGION_DIMS:
        np.testing.assert_allclose(np.concatenate([p[r] for p in parts]), ref[r].numpy(), atol=1e-4, rtol=0)
    plain = model.generate(torch.from_numpy(speech), seed=3)["face"].numpy()
    assert np.abs(np.concatenate([p["face"] for p in parts]) - plain).max() > 1e-2  # the phones were read
