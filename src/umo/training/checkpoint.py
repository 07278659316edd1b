"""Writing checkpoints, resuming runs and exporting inference files: safetensors only, nothing is
ever unpickled. The file format, and reading a model back (what inference needs), are
umo.models.checkpoint's.

Beside the tensors, a training checkpoint's JSON header holds the ModelConfig, the TrainConfig,
stage, step, a description of the data, the git commit, the optimizer's param groups and the RNG
states' scalar parts. An inference file (:func:`export_inference`) holds only the EMA weights
(float16 by default) under their plain names, with the same JSON minus the training state.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a crash or Ctrl-C
never leaves a half-written ``last.safetensors``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as st_save
from torch import nn

from umo.errors import UmoError
from umo.models.checkpoint import (  # noqa: F401  (load_checkpoint: also this module's API, for the trainer)
    FORMAT,
    FORMAT_VERSION,
    META_KEY,
    load_checkpoint,
    load_weights,
    read_meta,
    read_tensors,
)

INFERENCE_MAX_BYTES = 20 * 1024 * 1024  # the bundled weights file must stay small


# --- helpers -------------------------------------------------------------------------------------

def _json_default(o: Any):
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


def git_commit() -> str | None:
    """The commit of the source tree umo runs from, or None (not a git checkout, git missing)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def model_config_of(model: nn.Module) -> dict | None:
    """The model's config dataclass as a dict (``model.cfg`` or ``model.config``), or None."""
    for attr in ("cfg", "config"):
        c = getattr(model, attr, None)
        if dataclasses.is_dataclass(c) and not isinstance(c, type):
            return dataclasses.asdict(c)
    return None


def _tensor_for_file(t: torch.Tensor) -> torch.Tensor:
    # safetensors refuses tensors that share storage (tied weights) or are not contiguous.
    return t.detach().to("cpu").contiguous().clone()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    path = Path(path)
    data = st_save({k: _tensor_for_file(v) for k, v in tensors.items()}, metadata={META_KEY: to_json(meta)})
    atomic_write_bytes(path, data)
    return path


# --- RNG states as tensors ------------------------------------------------------------------------

def capture_rng(device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """This process's RNG states (torch CPU, CUDA, numpy, python) as fixed-size tensors."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, pystate, gauss = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy": torch.tensor(np.concatenate([keys.astype(np.int64), [pos, has_gauss]]), dtype=torch.int64),
        "numpy_gauss": torch.tensor([cached], dtype=torch.float64),
        "python": torch.tensor(list(pystate), dtype=torch.int64),
        "python_gauss": torch.tensor([np.nan if gauss is None else gauss, float(version)], dtype=torch.float64),
    }
    if device is not None and device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(state: dict[str, torch.Tensor], device: torch.device | None = None) -> None:
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    np_ = state["numpy"].cpu().numpy()
    np.random.set_state(("MT19937", np_[:-2].astype(np.uint32), int(np_[-2]), int(np_[-1]),
                         float(state["numpy_gauss"][0])))
    g, version = state["python_gauss"].tolist()
    random.setstate((int(version), tuple(int(x) for x in state["python"].tolist()), None if np.isnan(g) else g))
    if device is not None and device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8).cpu(), device)


# --- training checkpoints -------------------------------------------------------------------------

def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim/{idx}/{key}"] = v
            else:
                scalars[f"{idx}/{key}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        idx, key = name.split("/", 1)
        state.setdefault(int(idx), {})[key] = t
    for name, v in meta["scalars"].items():
        idx, key = name.split("/", 1)
        state.setdefault(int(idx), {})[key] = v
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    ema=None,
    optimizer: torch.optim.Optimizer | None = None,
    meta: dict | None = None,
    rng: dict[int, dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Write a training checkpoint atomically; returns its path.

    ``meta`` holds the run's description (train_config, stage, step, data, ...); the model config,
    git commit and optimizer groups are added here. ``rng`` maps rank -> :func:`capture_rng` output.
    """
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    meta = dict(meta or {})
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema/{k}": v for k, v in ema.state_dict().items()})
        meta["ema_updates"] = ema.num_updates
    if optimizer is not None:
        opt_tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
        meta["optimizer"] = opt_meta
    for rank, st in (rng or {}).items():
        tensors.update({f"rng/{rank}/{k}": v for k, v in st.items()})
    meta.setdefault("model_config", model_config_of(model))
    meta.setdefault("git_commit", git_commit())
    meta.update(format=FORMAT, version=FORMAT_VERSION, kind="train", saved_at=time.time())
    return write_safetensors(path, tensors, meta)


def load_training_state(path: str | Path, model: nn.Module, ema=None, optimizer=None, rank: int = 0,
                        device: torch.device | None = None) -> dict:
    """Resume: load weights, EMA, optimizer and this rank's RNG states in place; returns the meta."""
    path = Path(path)
    meta = read_meta(path)
    if meta["kind"] != "train":
        raise UmoError(f"{path} is an inference export, not a training checkpoint: it cannot be resumed")
    model = getattr(model, "module", model)
    load_weights(model, read_tensors(path, "model/"), path)
    if ema is not None:
        ema.load_state_dict(read_tensors(path, "ema/"), meta.get("ema_updates", 0))
    if optimizer is not None and "optimizer" in meta:
        _load_optimizer(optimizer, read_tensors(path, "optim/"), meta["optimizer"])
    rng = read_tensors(path, f"rng/{rank}/")
    if rng:
        restore_rng(rng, device)
    return meta


def export_inference(ckpt: str | Path, out_path: str | Path, dtype: torch.dtype = torch.float16,
                     max_bytes: int | None = INFERENCE_MAX_BYTES, manifest: dict | None = None) -> Path:
    """Write only the EMA weights (cast to ``dtype``) and the model config: the file inference loads.
    ``manifest``: what the weights were made from (the recipe's corpus and real-data record), kept in
    the header."""
    ckpt = Path(ckpt)
    meta = read_meta(ckpt)
    if meta["kind"] == "inference":
        state = read_tensors(ckpt)
    else:
        state = read_tensors(ckpt, "ema/") or read_tensors(ckpt, "model/")
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    out_meta = {
        "format": FORMAT, "version": FORMAT_VERSION, "kind": "inference",
        "model_config": meta.get("model_config"), "dtype": str(dtype).replace("torch.", ""),
        "stage": meta.get("stage"), "step": meta.get("step"), "git_commit": meta.get("git_commit"),
        "data": meta.get("data"), "exported_at": time.time(), "source": ckpt.name,
        "manifest": manifest if manifest is not None else meta.get("manifest"),
    }
    size = sum(v.numel() * v.element_size() for v in state.values())
    if max_bytes is not None and size > max_bytes:
        raise UmoError(f"the exported weights would take {size / 2**20:.1f} MiB, over the "
                       f"{max_bytes / 2**20:.0f} MiB limit: export a smaller model config or pass max_bytes=None")
    return write_safetensors(out_path, state, out_meta)
