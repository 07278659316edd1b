"""Causal audio front end and the FSQ tokenizer."""

from __future__ import annotations

import torch

from umo.models.features import LogMelProsody, feature_index, num_motion_frames, samples_needed
from umo.models.tokenizer import FSQ, MotionTokenizer


def test_features_causal_and_streamable():
    fe = LogMelProsody(80)
    x = torch.randn(1, 8000) * 0.1
    full = fe(x)
    assert full.shape == (1, 50, 83)
    y = x.clone()
    y[:, 3200:] = 0.5  # frame j ends at sample (j + 1) * 160: frames < 20 must not change
    assert torch.equal(fe(y)[:, :20], full[:, :20]) and not torch.allclose(fe(y)[:, 20], full[:, 20])


def test_frame_timing_helpers():
    assert [feature_index(i) for i in range(4)] == [0, 3, 6, 10]
    assert num_motion_frames(0) == 0 and num_motion_frames(1) == 1 and num_motion_frames(16000) == 30
    assert samples_needed(0, 0) == 160 and samples_needed(3, 0) == 1760


def test_fsq_codes_round_trip():
    fsq = FSQ((8, 5, 5, 5))
    assert fsq.codebook_size == 1000
    z = torch.randn(500, 4) * 3
    zq, codes, err = fsq(z)
    assert codes.min() >= 0 and codes.max() < 1000
    assert torch.allclose(fsq.codes_to_vectors(codes), zq)
    assert zq.abs().max() <= 1.0 and err.abs().max() <= 0.5 + 1e-6
    assert torch.unique(fsq.codebook(), dim=0).shape[0] == 1000
    z.requires_grad_(True)
    fsq(z)[0].sum().backward()  # straight-through: gradients reach the encoder
    assert z.grad.abs().sum() > 0


def test_tokenizer_is_causal_per_keyframe():
    tok = MotionTokenizer({"face": 61}, 16, (1, 2), (5, 5, 3), stride=4)
    x = torch.randn(1, 30, 61)
    zq, codes, _ = tok({"face": x})["face"]
    assert zq.shape == (1, 8, 3) and codes.shape == (1, 8)  # ceil(30 / 4) keyframes
    y = x.clone()
    y[:, 12:] += 1.0  # keyframes 0..2 summarise frames 0..11 only
    assert torch.equal(tok({"face": y})["face"][0][:, :3], zq[:, :3])
