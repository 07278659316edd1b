"""The training loop on a small real model: it learns, resumes exactly, stops cleanly, validates config."""

from __future__ import annotations

import json
import math
import signal
from dataclasses import replace

import pytest
import torch
from training_toy import ToyConfig, ToyModel, ToyWindows

from umo.errors import UmoError
from umo.training import StepBatches, TrainConfig, Trainer, lr_at, read_meta
from umo.training.checkpoint import read_tensors


def _cfg(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(stage=1, out=str(tmp_path / name), steps=20, batch_size=8, lr=3e-3, warmup_steps=4,
                log_every=5, val_every=10, val_batches=2, ckpt_every=10, ema_decay=0.9, threads=1, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _run(cfg, until=None, train_set=None):
    torch.manual_seed(99)  # the model init must not depend on what ran before
    model = ToyModel(ToyConfig(hidden=24))
    trainer = Trainer(cfg, model=model, train_set=train_set or ToyWindows(48, frames=16),
                      val_set=ToyWindows(16, frames=16, seed=7), progress=False, log=lambda s: None)
    return trainer, trainer.train(until=until)


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_trainer_reduces_the_loss_and_logs(tmp_path):
    cfg = _cfg(tmp_path, steps=80, val_every=40, lr=1e-2)
    _, result = _run(cfg)
    assert result.step == 80 and result.checkpoint.is_file()
    log = _log(tmp_path / "run")
    train = [r for r in log if "loss" in r and r.get("split") != "val"]
    val = [r for r in log if r.get("split") == "val"]
    assert train[-1]["loss"] < 0.5 * train[0]["loss"], (train[0]["loss"], train[-1]["loss"])
    assert len(val) == 2 and val[-1]["loss"] < val[0]["loss"] and result.val["loss"] == val[-1]["loss"]
    assert all("expert_usage" in r and "steps_per_s" in r and "lr" in r for r in train)
    assert log[-1]["event"] == "end" and log[-1]["steps_per_s"] > 0
    meta = read_meta(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 80 and meta["stage"] == 1 and meta["train_config"]["lr"] == 1e-2
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_config"]["hidden"] == 24


def test_resume_continues_the_same_run_exactly(tmp_path):
    straight = _cfg(tmp_path, "straight")
    _run(straight)
    halves = _cfg(tmp_path, "halves")
    _, first = _run(halves, until=7)  # stops between checkpoints: saves at step 7
    assert first.step == 7 and read_meta(tmp_path / "halves" / "last.safetensors")["step"] == 7
    _, second = _run(replace(halves, resume=True))
    assert second.step == 20
    a = read_tensors(tmp_path / "straight" / "last.safetensors")
    b = read_tensors(tmp_path / "halves" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        if not k.startswith("rng/"):
            assert torch.equal(a[k], b[k]), k  # weights, EMA and optimizer moments, bit for bit
    # and a finished run is not trained further
    _, again = _run(replace(halves, resume=True))
    assert again.step == 20


def test_ctrl_c_saves_and_resume_finishes(tmp_path):
    class Interrupting(ToyWindows):
        calls = 0

        def __getitem__(self, i):
            Interrupting.calls += 1
            if Interrupting.calls == 8 * 5 + 3:  # during step 6's batch
                signal.raise_signal(signal.SIGINT)
            return super().__getitem__(i)

    cfg = _cfg(tmp_path)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN when the suite runs in the background
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, train_set=Interrupting(48, frames=16))
    assert read_meta(tmp_path / "run" / "last.safetensors")["step"] == 6
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    _, result = _run(replace(cfg, resume=True))
    assert result.step == 20


def test_resume_refuses_another_stage(tmp_path):
    cfg = _cfg(tmp_path, steps=4)
    _run(cfg)
    with pytest.raises(UmoError, match="stage 1 run; this is stage 2"):
        _run(replace(cfg, stage=2, resume=True))


def test_init_from_previous_stage(tmp_path):
    _run(_cfg(tmp_path, "s1", steps=6))
    ckpt = tmp_path / "s1" / "last.safetensors"
    trainer, _ = _run(_cfg(tmp_path, "s2", stage=2, steps=2, init=str(ckpt), lr=1e-9, warmup_steps=0))
    ema = read_tensors(ckpt, "ema/")
    own = trainer.model.state_dict()
    # started from stage 1's EMA weights; a 1e-9 learning rate barely moves them
    torch.testing.assert_close(own["inp.weight"], ema["inp.weight"], atol=1e-6, rtol=0)


def test_step_batches_split_epochs_between_ranks():
    ranks = [StepBatches(10, 2, seed=3, start=0, stop=5, rank=r, world_size=2) for r in range(2)]
    seen = [key for step in range(5) for r in ranks for key in r.indices(step)]
    assert sorted(seen[:10]) == [(0, i) for i in range(10)]  # epoch 0: every window once
    assert sorted(seen[10:]) == [(1, i) for i in range(10)]  # epoch 1: again, in another order
    assert [i for _, i in seen[:10]] != [i for _, i in seen[10:]]
    resumed = StepBatches(10, 2, seed=3, start=3, stop=5, rank=1, world_size=2)
    assert list(resumed) == [ranks[1].indices(3), ranks[1].indices(4)]


def test_lr_schedule():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(1e-4) and lr_at(cfg, 9) == pytest.approx(1e-3)
    assert lr_at(cfg, 10) == pytest.approx(1e-3)
    assert lr_at(cfg, 55) == pytest.approx(0.55e-3)
    assert lr_at(cfg, 100) == pytest.approx(1e-4)
    assert all(lr_at(cfg, s) >= lr_at(cfg, s + 1) for s in range(10, 100))


@pytest.mark.parametrize("kw, match", [
    (dict(stage=6), "stage is 6.*choose one of"),
    (dict(lr=-1.0), "lr .*in \\(0, 1\\)"),
    (dict(steps=0), "steps .*positive integer"),
    (dict(batch_size=2.5), "batch_size .*positive integer"),
    (dict(device="tpu"), "device is .tpu.*auto"),
    (dict(ema_decay=1.0), "ema_decay"),
    (dict(data=()), "data is empty.*umo data synth"),
    (dict(data=("/no/such/folder",)), "data folder not found: /no/such/folder.*umo data synth"),
    (dict(init="/no/ckpt.safetensors"), "--init checkpoint not found"),
])
def test_config_errors_say_how_to_fix(tmp_path, kw, match):
    base = dict(data=(str(tmp_path),))
    base.update(kw)
    with pytest.raises(UmoError, match=match):
        TrainConfig(**base).validate()


def test_config_json_round_trip(tmp_path):
    cfg = TrainConfig(stage=3, data=(str(tmp_path),), steps=7, betas=(0.8, 0.9))
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_json(p) == cfg
    p.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(UmoError, match="unknown field.*stepz"):
        TrainConfig.from_json(p)
    assert math.isfinite(lr_at(cfg, 3))
