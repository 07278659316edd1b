"""UmoModel behaviour: shapes for every preset, causality with a bounded lookahead, seeded
determinism, training-path == incremental-path consistency, parameter budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from umo.constants import REGION_DIMS
from umo.formats.audio import load_audio
from umo.models import PRESETS, UmoModel, get_config
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.features import samples_needed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def one_thread():
    """Small-tensor inference is fastest (and not at the mercy of a busy machine) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    return torch.from_numpy(load_audio(FIXTURES / "arctic_a0007.wav")[:32000])  # 2 s


def tiny(**kw) -> UmoModel:
    torch.manual_seed(0)
    return UmoModel(get_config("tiny", **kw)).eval()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_generate_shapes_every_preset(name, speech):
    model = UmoModel(get_config(name)).eval()
    for n in (0, 1, 533, 534, 16000, 17777):
        out = model.generate(speech[:n] if n <= speech.numel() else torch.zeros(n))
        t = int(np.ceil(n / 16000 * 30))
        assert {r: tuple(v.shape) for r, v in out.items()} == {r: (t, d) for r, d in REGION_DIMS.items()}
        assert all(torch.isfinite(v).all() for v in out.values())


def test_preset_budgets():
    assert UmoModel(get_config("tiny")).num_parameters() < 300_000
    default = UmoModel(get_config("default"))
    assert default.num_parameters() * 4 <= 20e6  # float32 weights <= 20 MB


@pytest.mark.parametrize("lookahead,stride", [(0, 1), (2, 2), (4, 4), (2, 4), (0, 2)])
def test_causal_with_bounded_lookahead(speech, lookahead, stride):
    model = tiny(lookahead_frames=lookahead, keyframe_stride=stride)
    base = model.generate(speech, seed=3)
    for t in (0, 9, 40):
        cut = samples_needed(t, lookahead)  # frames <= t may read samples < cut only
        changed = speech.clone()
        changed[cut:] = torch.randn(changed.numel() - cut) * 0.3
        out = model.generate(changed, seed=3)
        for r in REGION_DIMS:
            assert torch.allclose(out[r][: t + 1], base[r][: t + 1], atol=1e-5), (r, t)
        # the bound is tight: the frame at t + 1 may see those samples, and the output does change later
        assert any(not torch.allclose(out[r][t + 1:], base[r][t + 1:], atol=1e-3) for r in REGION_DIMS)


def test_seeded_generation_is_deterministic(speech):
    model = tiny()
    a, b = model.generate(speech, seed=5), model.generate(speech, seed=5)
    c = model.generate(speech, seed=6)
    assert all(torch.equal(a[r], b[r]) for r in REGION_DIMS)
    assert any(not torch.allclose(a[r], c[r]) for r in REGION_DIMS)  # temperature > 0: seeds matter


def test_phones_change_generation(speech):
    model = tiny()
    t = 60
    a = model.generate(speech, phones=torch.full((t,), 5))
    b = model.generate(speech, phones=None)
    assert any(not torch.allclose(a[r], b[r]) for r in REGION_DIMS)


def test_get_config_json_and_errors(tmp_path):
    p = tmp_path / "m.json"
    p.write_text('{"preset": "tiny", "keyframe_stride": 4}')
    cfg = get_config(str(p))
    assert cfg.keyframe_stride == 4 and cfg.d_model == get_config("tiny").d_model
    assert get_config("tiny", lookahead_frames=4).lookahead_frames == 4
    from umo.errors import UmoError

    with pytest.raises(UmoError):
        get_config("huge")
    with pytest.raises(UmoError):
        get_config("tiny", moe_top_k=9)
    assert type(cfg).from_dict(cfg.to_dict()) == cfg


def test_sampling_follows_the_softmax_and_depends_on_its_own_seed_and_step_only():
    from umo.models.keyframes import sample_codes

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -30.0]]).expand(3, 5)  # (R, C)
    t = 0.7
    keys = [(7, k) for k in range(4000)]
    codes = sample_codes(logits.expand(len(keys), 3, 5), t, keys)  # (N, R)
    freq = torch.bincount(codes.flatten(), minlength=5).double() / codes.numel()
    want = torch.softmax(logits[0].double() / t, -1)
    assert torch.allclose(freq, want, atol=0.01), (freq, want)  # 12000 draws: ~0.005 standard error
    assert freq[4] == 0  # a code with ~1e-19 probability is never drawn
    # a row's draw: its (seed, step) and its own logits, whatever else is in the batch
    mixed = torch.randn(5, 3, 5)
    mixed[2] = logits
    alone = sample_codes(logits[None], t, [(7, 2)])
    assert torch.equal(sample_codes(mixed, t, [(1, 1), (2, 2), (7, 2), (3, 0), (9, 9)])[2], alone[0])
    assert torch.equal(alone, codes[2:3])
    assert torch.equal(sample_codes(logits[None], 0.0, [(7, 2)]), logits[None].argmax(-1))


@pytest.mark.parametrize("n", [1, 5, 80, 81, 160])
def test_moe_inference_equals_its_training_forward(n):
    """MoE.infer (every expert on every token below DENSE_INFER_TOKENS, grouped by expert above)
    gives forward's output, and follows the parameters when they change."""
    from umo.models.moe import MoE

    torch.manual_seed(n)
    moe = MoE(48, 64, 6, 2, n_types=5, type_bias=True).eval()
    x, types = torch.randn(n, 48), torch.arange(n) % 5
    with torch.no_grad():
        torch.testing.assert_close(moe.infer(x, types), moe(x, types)[0], atol=1e-5, rtol=1e-5)
        moe.w1.mul_(-1.5)
        moe.b1.add_(0.1)
        torch.testing.assert_close(moe.infer(x, types), moe(x, types)[0], atol=1e-5, rtol=1e-5)
