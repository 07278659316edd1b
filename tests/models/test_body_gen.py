"""The continuous body generator (issue 14): autoencoder round trip, a training step, streaming ==
offline, and `umo animate --body gen` end to end. Tiny configs, untrained or briefly trained weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from umo.models.body_gen import (
    BodyGenerator,
    GatedLinearAttention,
    get_body_config,
    load_body_generator,
    save_body_generator,
    speech_frame_features,
)
from umo.models.motion_ae import MOTION_DIM, angle_error_deg, regions_to_6d, sixd_to_regions


def _audio(fixtures, seconds: float = 1.5) -> np.ndarray:
    from umo.formats.audio import load_audio

    return load_audio(fixtures / "arctic_a0009.wav")[: int(seconds * 16000)]


def test_rotation_6d_round_trip():
    rng = np.random.default_rng(0)
    body, hands = rng.normal(0, 0.6, (5, 36)), rng.normal(0, 0.6, (5, 138))
    x6 = regions_to_6d(body, hands)
    assert x6.shape == (5, MOTION_DIM)
    back = sixd_to_regions(x6)
    again = regions_to_6d(back["body"], back["hands"])
    np.testing.assert_allclose(again, x6, atol=1e-5)  # the same rotations (axis-angle may differ by 2 pi)


def test_ae_shapes_and_fit_reduce_error():
    torch.manual_seed(0)
    gen = BodyGenerator(get_body_config("tiny"))
    ae = gen.ae
    t = 32
    phase = torch.linspace(0, 6.28, t)[:, None]
    aa = 0.4 * torch.sin(phase + torch.arange(58 * 3)[None] * 0.1)  # (T, 174) smooth motion
    x6 = torch.from_numpy(regions_to_6d(aa[:, :36].numpy(), aa[:, 36:].numpy()))[None]  # (1, T, 348)
    ae.mean.copy_(x6[0].mean(0))
    ae.std.copy_(x6[0].std(0).clamp_min(0.02))
    x = ae.normalise(x6)
    rec, z = ae(x)
    assert z.shape == (1, t // gen.cfg.stride, gen.cfg.latent_dim) and rec.shape == x.shape
    err0 = angle_error_deg(ae.denormalise(rec).reshape(t, -1, 6), x6.reshape(t, -1, 6)).mean()
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    for _ in range(30):
        rec, _ = ae(x)
        loss = torch.nn.functional.mse_loss(rec, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err1 = angle_error_deg(ae.denormalise(ae(x)[0]).reshape(t, -1, 6), x6.reshape(t, -1, 6)).mean()
    assert err1 < 0.5 * err0


def test_gla_parallel_equals_recurrent():
    torch.manual_seed(0)
    a = GatedLinearAttention(32, 2, 16.0)
    x = torch.randn(2, 19, 32)
    full = a(x)
    st = a.init_state(2)
    p1, st = a.step(x[:, :7], st)
    p2, st = a.step(x[:, 7:], st)
    torch.testing.assert_close(torch.cat([p1, p2], 1), full, atol=1e-5, rtol=1e-4)


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    gen = BodyGenerator(get_body_config("tiny", p_uncond=0.0, max_mask=0.0, input_noise=0.0))
    b, n = 4, 12
    z = torch.randn(b, n, gen.cfg.latent_dim)
    batch = {"z": z, "cond": torch.randn(b, n * gen.cfg.stride, gen.cfg.n_mels + 3)}
    params = [p for k, p in gen.named_parameters() if not k.startswith("ae.")]
    opt = torch.optim.Adam(params, lr=1e-2)

    def eval_loss() -> float:
        torch.manual_seed(1)
        with torch.no_grad():
            return float(gen(batch)[0])

    before = eval_loss()
    for _ in range(20):
        loss, logs = gen(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(logs) == {"flow", "masked"}
    assert eval_loss() < 0.8 * before


def test_streaming_equals_offline(fixtures):
    torch.manual_seed(0)
    gen = BodyGenerator(get_body_config("tiny")).eval()
    audio = _audio(fixtures, 1.3)
    offline = gen.generate(audio, seed=7)
    n = -(-len(audio) * 30 // 16000)
    assert offline["body"].shape == (n, 36) and offline["hands"].shape == (n, 138)
    for chunk in (160, 997, 4000):
        s = gen.stream(seed=7)
        parts = [s.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)] + [s.flush()]
        for k in ("body", "hands"):
            np.testing.assert_allclose(np.concatenate([p[k] for p in parts]), offline[k], atol=1e-4)
    other = gen.generate(audio, seed=8)
    assert not np.allclose(other["body"], offline["body"])  # the seed matters


def test_frames_are_causal(fixtures):
    """A frame once emitted does not depend on later audio (beyond the lookahead it waited for)."""
    gen = BodyGenerator(get_body_config("tiny")).eval()
    audio = _audio(fixtures, 1.2)
    s = gen.stream(seed=0)
    early = s.push(audio[:9600])  # 0.6 s
    changed = audio.copy()
    changed[9600:] = np.random.default_rng(0).normal(0, 0.3, len(audio) - 9600)
    full = gen.generate(changed, seed=0)
    np.testing.assert_allclose(full["body"][: len(early["body"])], early["body"], atol=1e-4)
    assert len(early["body"]) >= 18 - gen.cfg.lookahead_frames - gen.cfg.stride


def test_speech_frame_features_shape(fixtures):
    f = speech_frame_features(_audio(fixtures, 1.0), 30, 2, 16)
    assert f.shape == (30, 19) and np.isfinite(f).all()


def test_save_load_and_cli_animate_gen(fixtures, tmp_path):
    torch.manual_seed(0)
    gen = BodyGenerator(get_body_config("tiny")).eval()
    path = tmp_path / "bg.safetensors"
    save_body_generator(gen, path)
    back = load_body_generator(path)
    audio = _audio(fixtures, 0.8)
    np.testing.assert_allclose(back.generate(audio, seed=1)["body"], gen.generate(audio, seed=1)["body"], atol=1e-6)

    from umo.cli import main

    out = tmp_path / "take"
    rc = main(["animate", str(fixtures / "arctic_a0009.wav"), "--transcript", str(fixtures / "arctic_a0009_phone.lab"),
               "-o", str(out), "--body", "gen", "--body-model", str(path), "--no-preview"])
    assert rc == 0
    from umo.animation import Animation

    anim = Animation.load_bvh(out / "body.bvh")
    face_frames = sum(1 for _ in open(out / "face.csv")) - 1
    assert abs(anim.num_frames - face_frames) <= 1
    from umo.constants import JOINT_INDEX

    rw = anim.body[:, JOINT_INDEX["RightForeArm"]]
    assert np.ptp(rw, axis=0).max() > 1e-3  # the generated arm moves
