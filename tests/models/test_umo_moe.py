"""Mixture of experts: load-balancing loss, top-k routing, usage stats, dense ablation of equal compute."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from umo.models import UmoModel, get_config
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.moe import DenseFFN, MoE


def test_uniform_router_gives_aux_one():
    moe = MoE(16, 32, n_experts=4, top_k=2)
    with torch.no_grad():
        moe.router.weight.zero_()  # every expert equally likely
    _, aux = moe(torch.randn(64, 16))
    assert aux.item() == pytest.approx(1.0, abs=1e-5)
    assert aux.dtype == torch.float32


def test_collapsed_router_is_penalised():
    moe = MoE(16, 32, n_experts=4, top_k=1, n_types=5, type_bias=True)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.type_bias[:, 0] = 20.0  # all tokens -> expert 0
    _, aux = moe(torch.randn(64, 16), types=torch.zeros(64, dtype=torch.long))
    assert aux.item() == pytest.approx(4.0, rel=1e-3)  # E * 1 * 1
    assert moe.last_usage[0] == 1.0


def test_routes_each_token_to_top_k_and_masks_padding():
    moe = MoE(8, 8, n_experts=5, top_k=2)
    mask = torch.ones(30)
    mask[20:] = 0
    moe(torch.randn(30, 8), mask=mask)
    assert moe.usage_counts.sum().item() == 20 * 2


def test_dense_ffn_has_the_same_active_compute():
    d, h, e, k, n = 32, 48, 6, 2, 100
    moe, dense = MoE(d, h, e, k), DenseFFN(d, k * h)
    x = torch.randn(n, d)
    with FlopCounterMode(display=False) as fm:
        moe(x)
    moe_flops = fm.get_total_flops()
    with FlopCounterMode(display=False) as fd:
        dense(x)
    router_flops = 2 * n * d * e
    assert moe_flops - router_flops == fd.get_total_flops() == 2 * n * 2 * d * k * h
    assert moe.expert_macs_per_token() == dense.expert_macs_per_token()


def test_model_dense_switch_and_expert_usage():
    cfg = get_config("tiny")
    moe_model, dense_model = UmoModel(cfg), UmoModel(get_config("tiny", dense_ffn=True))
    assert all(isinstance(b.ffn, DenseFFN) for b in dense_model.backbone.blocks)
    assert moe_model.num_parameters() > dense_model.num_parameters()  # more parameters, same active compute
    x = torch.randn(2, 4 * TOKENS_PER_STEP, cfg.d_model)
    moe_model.backbone(x, moe_model.token_types.repeat(4))  # the training pass counts routed tokens
    usage = moe_model.expert_usage()
    assert len(usage) == cfg.n_layers
    assert all(len(u) == cfg.moe_experts and sum(u) == pytest.approx(1.0) for u in usage.values())
    assert all(sum(u) == 0 for u in moe_model.expert_usage().values())  # reset by the call
    assert dense_model.expert_usage() == {}
