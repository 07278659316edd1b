"""Two-process DDP under torchrun (gloo on CPU): replicas stay identical, only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from umo.training import read_meta

HERE = Path(__file__).resolve().parent


def _torchrun(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_processes_train_identical_replicas(tmp_path):
    out = tmp_path / "run"
    proc = _torchrun([str(HERE / "ddp_toy_run.py"), str(out), "6"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert r0.keys() == r1.keys()
    for k in r0:
        if k != "usage":  # a buffer each rank counts for itself: only the parameters must agree
            assert torch.equal(r0[k], r1[k]), k
    meta = read_meta(out / "last.safetensors")
    assert meta["step"] == 6 and meta["world_size"] == 2
    ckpt = load_file(out / "last.safetensors")
    assert {"rng/0/torch", "rng/1/torch"} <= ckpt.keys()  # both ranks' RNG states, for an exact resume
    for k, v in r0.items():
        assert torch.equal(ckpt[f"model/{k}"], v)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    end = log[-1]
    assert end["event"] == "end" and end["replica_checksums"][0] == end["replica_checksums"][1]
    assert sum(1 for r in log if r.get("event") == "start") == 1  # one writer
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".safetensors") == [
        "last.safetensors", "rank0.safetensors", "rank1.safetensors"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    from umo.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, hours=0.004, seed=3, workers=1, progress=False)
    return out


@pytest.mark.slow
def test_umo_model_under_torchrun_cli(tmp_path, small_corpus):
    """The real model (tiny preset), the real data, the real command: `torchrun -m umo.training`."""
    out = tmp_path / "run"
    proc = _torchrun(["-m", "umo.training", "--stage", "1", "--data", str(small_corpus), "--config", "tiny",
                      "--out", str(out), "--steps", "4", "--batch-size", "2", "--window-frames", "48",
                      "--log-every", "2", "--val-every", "0", "--device", "cpu", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = read_meta(out / "last.safetensors")
    assert meta["step"] == 4 and meta["world_size"] == 2 and meta["model_config"]["name"] == "tiny"
    end = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "end" and end["replica_checksums"][0] == end["replica_checksums"][1]
    usage = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if "expert_usage" in line]
    assert usage and set(usage[0]["expert_usage"]) == {"layer0", "layer1"}
