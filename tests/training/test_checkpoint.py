"""Checkpoints: pure safetensors (no pickle), exact round trips, inference export, RNG states."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from training_toy import ToyConfig, ToyModel, ToyWindows

from umo.errors import UmoError
from umo.training.checkpoint import (
    capture_rng,
    export_inference,
    load_checkpoint,
    load_training_state,
    read_meta,
    restore_rng,
    save_checkpoint,
)
from umo.training.ema import EMA


def _trained(steps: int = 3):
    torch.manual_seed(0)
    model = ToyModel(ToyConfig(hidden=16))
    ema = EMA(model, 0.9)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    data = ToyWindows(8, frames=12)
    batch = torch.utils.data.default_collate([data[i] for i in range(8)])
    for _ in range(steps):
        loss, _ = model(batch, 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update(model)
    return model, ema, opt


def test_checkpoint_is_pure_safetensors_and_round_trips(tmp_path):
    model, ema, opt = _trained()
    path = save_checkpoint(tmp_path / "last.safetensors", model, ema, opt,
                           {"stage": 2, "step": 3, "train_config": {"lr": 1e-2}, "data": {"dirs": ["x"]}},
                           rng={0: capture_rng()})
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temporary file left

    # the file is a safetensors header (u64 length + JSON) followed by raw tensor bytes: no pickle
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert b"\x80\x02" not in raw[:2] and raw[8:9] == b"{"
    meta = json.loads(header["__metadata__"]["umo"])
    assert meta["stage"] == 2 and meta["step"] == 3 and meta["kind"] == "train"
    assert meta["model_config"] == {"hidden": 16, "dropout": 0.1, "n_experts": 2}
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    assert {f"model/{k}" for k in model.state_dict()} <= keys
    assert {f"ema/{k}" for k in model.state_dict()} <= keys
    assert any(k.startswith("optim/") and k.endswith("/exp_avg") for k in keys)
    assert "rng/0/torch" in keys

    # raw weights, EMA weights
    fresh, meta2 = load_checkpoint(path, ToyModel(ToyConfig(hidden=16)), weights="model")
    assert meta2["step"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    fresh_ema, _ = load_checkpoint(path, ToyModel(ToyConfig(hidden=16)))
    for k, v in ema.state_dict().items():
        assert torch.equal(fresh_ema.state_dict()[k], v)

    # the whole training state: optimizer moments and step counters come back exactly
    m2 = ToyModel(ToyConfig(hidden=16))
    e2 = EMA(m2, 0.9)
    o2 = torch.optim.AdamW(m2.parameters(), lr=1e-2)
    load_training_state(path, m2, e2, o2)
    assert e2.num_updates == ema.num_updates
    s1, s2 = opt.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i, st in s1["state"].items():
        for k, v in st.items():
            assert torch.equal(v, s2["state"][i][k]), (i, k)


def test_export_inference_keeps_only_half_precision_ema(tmp_path):
    model, ema, opt = _trained()
    ckpt = save_checkpoint(tmp_path / "last.safetensors", model, ema, opt, {"stage": 3, "step": 3})
    out = export_inference(ckpt, tmp_path / "w" / "default.safetensors")
    with safe_open(str(out), framework="pt") as f:
        keys = set(f.keys())
        assert all(f.get_tensor(k).dtype == torch.float16 for k in keys if "usage" not in k)
    assert keys == set(model.state_dict())
    assert read_meta(out)["kind"] == "inference" and read_meta(out)["step"] == 3
    assert out.stat().st_size < ckpt.stat().st_size / 3  # no optimizer state, no raw weights, fp16
    loaded, _ = load_checkpoint(out, ToyModel(ToyConfig(hidden=16)))
    for k, v in ema.state_dict().items():
        assert loaded.state_dict()[k].dtype == torch.float32
        torch.testing.assert_close(loaded.state_dict()[k], v, atol=2e-3, rtol=2e-3)
    with pytest.raises(UmoError, match="cannot be resumed"):
        load_training_state(out, ToyModel(ToyConfig(hidden=16)))
    with pytest.raises(UmoError, match="MiB limit"):
        export_inference(ckpt, tmp_path / "big.safetensors", max_bytes=100)


def test_wrong_files_give_clear_errors(tmp_path):
    model, ema, opt = _trained(1)
    pickled = tmp_path / "model.pt"
    torch.save(model.state_dict(), pickled)
    with pytest.raises(UmoError, match="not a safetensors file"):
        read_meta(pickled)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UmoError, match="not a umo checkpoint"):
        read_meta(tmp_path / "other.safetensors")
    with pytest.raises(UmoError, match="not found"):
        read_meta(tmp_path / "missing.safetensors")
    ckpt = save_checkpoint(tmp_path / "c.safetensors", model, ema, opt, {"stage": 1, "step": 1})
    with pytest.raises(UmoError, match="another model config"):
        load_checkpoint(ckpt, ToyModel(ToyConfig(hidden=8)))


def test_rng_states_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    state = capture_rng()
    a = (torch.rand(3), np.random.standard_normal(3), random.random(), random.gauss(0, 1))
    restore_rng(state)
    b = (torch.rand(3), np.random.standard_normal(3), random.random(), random.gauss(0, 1))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_export_refuses_a_name_it_cannot_write(tmp_path, capsys):
    from umo.cli import main

    assert main(["export", str(tmp_path / "last.safetensors"), "-o", str(tmp_path / "m.bin")]) == 2
    assert "*.safetensors (the weights) or *.onnx (the keyframe step), not 'm.bin'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "last.safetensors"), "--format", "safetensors", "-o",
                 str(tmp_path / "m.onnx")]) == 2
    assert "would hold the wrong bytes" in capsys.readouterr().err
    assert not (tmp_path / "m.bin").exists() and not (tmp_path / "m.onnx").exists()
