"""Reading umo's model files: training checkpoints and inference files, safetensors only (nothing is
ever unpickled). What inference needs, apart from the trainer (umo.training.checkpoint writes these
files and resumes runs from them).

A file is one ``.safetensors`` whose header holds, under the key ``umo``, one JSON string: the
format and kind, the ModelConfig (``dataclasses.asdict``) and, for a training checkpoint, the run's
state. A **training** checkpoint holds

    model/<name>          the trained weights (float32)
    ema/<name>            the EMA of the weights (what inference uses)
    optim/<i>/<key>       the optimizer state, flattened: parameter index i, e.g. exp_avg
    rng/<rank>/<kind>     every rank's RNG states (torch, cuda, numpy, python) as tensors

an **inference** file only the EMA weights (float16 by default) under their plain names: that is the
file bundled with the package.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from umo.errors import UmoError

FORMAT = "umo-checkpoint"
FORMAT_VERSION = 1
META_KEY = "umo"


def read_meta(path: str | Path) -> dict:
    """The JSON header of a umo checkpoint or inference file (reads no tensor data)."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise UmoError(f"{path} is not a safetensors file ({e}); umo checkpoints end in .safetensors") from None
    if META_KEY not in header:
        raise UmoError(f"{path} is a safetensors file but not a umo checkpoint (no '{META_KEY}' header)")
    meta = json.loads(header[META_KEY])
    if meta.get("format") != FORMAT:
        raise UmoError(f"{path}: unknown format {meta.get('format')!r} (expected {FORMAT!r})")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise UmoError(f"{path} was written by a newer umo (format version {meta['version']}); upgrade umo")
    return meta


def read_tensors(path: str | Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors whose names start with ``prefix``, the prefix removed."""
    out = {}
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            if k.startswith(prefix):
                out[k[len(prefix):]] = f.get_tensor(k)
    return out


def build_model(model_config: dict) -> nn.Module:
    """A fresh UmoModel from a stored config dict."""
    from umo.models import ModelConfig, UmoModel

    return UmoModel(ModelConfig.from_dict(model_config))


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: Path, new_modules: bool = False) -> None:
    """Copy ``state`` into the model's own tensors (in their dtype); a clear error when it does not fit.

    new_modules: the model may have whole submodules the file lacks (a config that adds one, e.g. a
    mouth head grown on trained weights): they keep their initial weights."""
    own = model.state_dict()
    if new_modules:
        have = {k.split(".", 1)[0] for k in state}
        own = {k: v for k, v in own.items() if k.split(".", 1)[0] in have}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise UmoError(f"{path} does not fit this model: missing {missing[:4]}, unexpected {unexpected[:4]} "
                       "(was it trained with another model config?)")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise UmoError(f"{path}: {k} has shape {tuple(v.shape)}, the model wants {tuple(own[k].shape)} "
                           "(the checkpoint was trained with another model config)")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(v.dtype))


def load_checkpoint(path: str | Path, model: nn.Module | None = None, weights: str = "ema", new_modules: bool = False):
    """Load a checkpoint (training or inference file) -> (model, meta).

    Without ``model`` a UmoModel is built from the ModelConfig stored in the file. ``weights``:
    "ema" (default; falls back to "model" when the file has no EMA) or "model" (the raw weights).
    Inference files hold a single set. The model comes back in float32, in eval mode, on the CPU
    unless it was passed in on another device.
    """
    path = Path(path)
    meta = read_meta(path)
    if model is None:
        if not meta.get("model_config"):
            raise UmoError(f"{path} stores no model config: pass the model to load it into")
        model = build_model(meta["model_config"])
    if meta["kind"] == "inference":
        state = read_tensors(path)
    else:
        if weights not in ("ema", "model"):
            raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
        state = read_tensors(path, "ema/") if weights == "ema" else {}
        if not state:
            state = read_tensors(path, "model/")
    load_weights(model, state, path, new_modules)
    model.eval()
    return model, meta
