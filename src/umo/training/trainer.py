"""The training loop, one for all stages: ``Trainer(cfg).train()``.

The trainer owns the model, its EMA, the optimizer, the data order and the RNG states, and saves
all of them (:mod:`umo.training.checkpoint`), so that a resumed run continues exactly the run that
stopped: same windows in the same order, same dropout masks, same weights (bit for bit on CPU with
``workers=0``; with DataLoader workers the augmentation noise follows the dataset's own seeding).

The model contract (``umo.models.UmoModel`` and any module that follows it):

    loss, logs = model(batch, stage)   # loss: scalar tensor; logs: dict[str, float]
    model.expert_usage()               # optional: per-expert routing fractions, logged as they are

Under torchrun the model is wrapped in DistributedDataParallel (``find_unused_parameters`` because
MoE experts and stage-specific heads may get no gradient in a step); every rank draws its own
disjoint share of each global batch, and only rank 0 writes checkpoints, logs and the progress bar.

Ctrl-C (SIGINT) or SIGTERM stops at the end of the current step on every rank, saves
``last.safetensors`` and raises KeyboardInterrupt; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from umo.errors import UmoError
from umo.training import distributed as D
from umo.training.checkpoint import (
    _json_default,
    capture_rng,
    load_checkpoint,
    load_training_state,
    read_meta,
    restore_rng,
    save_checkpoint,
)
from umo.training.config import TrainConfig, lr_at
from umo.training.ema import EMA
from umo.training.stages import STAGES, stage_augment

LAST = "last.safetensors"
LOG = "log.jsonl"


# --- data order -----------------------------------------------------------------------------------

class StepBatches:
    """Index lists for steps ``start..stop-1`` of one rank: a pure function of (seed, step, rank).

    The global sample stream is a sequence of epochs, each a seeded permutation of the dataset;
    step s takes positions [s*B*W, (s+1)*B*W) of it and rank r the r-th slice of B. Because the
    order depends only on the step, resuming at step s reproduces the stream without replaying it.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1):
        if num_samples < 1:
            raise UmoError("the training set has no windows: are the clips shorter than window_frames?")
        self.n, self.b, self.seed = num_samples, batch_size, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world_size
        self._epoch, self._perm = -1, None

    def _perm_of(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm

    def indices(self, step: int) -> list[tuple[int, int]]:
        """(epoch, index) pairs of this rank's share of global batch ``step``."""
        first = (step * self.world + self.rank) * self.b
        return [(p // self.n, int(self._perm_of(p // self.n)[p % self.n])) for p in range(first, first + self.b)]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


class EpochIndexed(Dataset):
    """Items addressed by (epoch, index): datasets with ``set_epoch`` (WindowDataset) draw new windows
    each epoch, the same in every process and worker, since the epoch travels with the index."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._set_epoch = getattr(dataset, "set_epoch", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if self._set_epoch is not None:
            self._set_epoch(epoch)
        return self.dataset[index]


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _worker_init(worker_id: int) -> None:
    # numpy and random are not reseeded by torch in workers: derive them from torch's worker seed.
    import random

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay matrices and embeddings, not biases, norms or scalars."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass
class TrainResult:
    step: int
    loss: float | None
    val: dict[str, float] = field(default_factory=dict)
    steps_per_s: float = 0.0
    wall_s: float = 0.0
    checkpoint: Path | None = None
    interrupted: bool = False


# --- the trainer ----------------------------------------------------------------------------------

class Trainer:
    """One training run of one stage.

    ``model``, ``train_set`` and ``val_set`` are built from ``cfg`` when not given (UmoModel from
    ``cfg.model``, WindowDatasets from ``cfg.data``); passing them is how tests and notebooks train
    their own modules. ``log`` receives human-readable lines (rank 0 only).
    """

    def __init__(self, cfg: TrainConfig, model: nn.Module | None = None, train_set: Dataset | None = None,
                 val_set: Dataset | None = None, log: Callable[[str], None] | None = None,
                 progress: bool = True):
        cfg.validate() if train_set is None else _validate_without_data(cfg)
        self.cfg = cfg
        self._model, self._train_set, self._val_set = model, train_set, val_set
        self._log_fn = log or (lambda s: print(f"umo: {s}", file=sys.stderr))
        self.progress = progress
        self._stop_requested = False
        self.info = D.DistInfo()

    # -- helpers --------------------------------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.out)

    @property
    def last_path(self) -> Path:
        return self.out_dir / LAST

    def log(self, msg: str) -> None:
        if self.info.is_main:
            self._log_fn(msg)

    def _write_jsonl(self, record: dict) -> None:
        if self.info.is_main:
            with open(self.out_dir / LOG, "a") as f:
                f.write(json.dumps(record, default=_json_default) + "\n")

    def _threads(self) -> None:
        n = self.cfg.threads
        if n == 0:
            try:
                cores = len(os.sched_getaffinity(0))
            except AttributeError:
                cores = os.cpu_count() or 1
            n = max(1, cores // self.info.local_world_size)
        torch.set_num_threads(n)

    def _seed(self) -> None:
        import random

        s = self.cfg.seed * 1000 + self.info.rank  # ranks differ: dropout masks are not all the same
        torch.manual_seed(s)
        np.random.seed(s % 2**32)
        random.seed(s)

    # -- model and data -------------------------------------------------------------------------
    def _build_model(self) -> nn.Module:
        if self._model is not None:
            return self._model
        from umo.models import ModelConfig, UmoModel, get_config

        cfg = self.cfg
        if cfg.resume and self.last_path.is_file():
            mc = read_meta(self.last_path).get("model_config")
            if mc:
                return UmoModel(ModelConfig.from_dict(mc))
        if cfg.init:
            return UmoModel(ModelConfig.from_dict(read_meta(cfg.init)["model_config"] | cfg.model_overrides))
        if cfg.student:  # a new model that reads a distilled speech student beside the log-mel
            from umo.training.student import load_student_into, student_model_fields

            model = UmoModel(get_config(cfg.model or "default", **student_model_fields(cfg.student),
                                        **cfg.model_overrides))
            load_student_into(model, cfg.student)
            self.log(f"speech student from {cfg.student} ({model.cfg.teacher}, {model.cfg.student_dim} components)")
            return model
        return UmoModel(get_config(cfg.model or "default", **cfg.model_overrides))

    def _build_datasets(self) -> tuple[Dataset, Dataset | None]:
        if self._train_set is not None:
            return self._train_set, self._val_set
        from umo.data.augment import AugmentConfig
        from umo.data.dataset import WindowDataset

        cfg = self.cfg
        aug = AugmentConfig() if stage_augment(cfg.stage, cfg.augment) else None
        sources = tuple(cfg.sources) or None
        train = WindowDataset(list(cfg.data), window_frames=cfg.window_frames, augment=aug, seed=cfg.seed,
                              exclude=tuple(cfg.exclude), sources=sources,
                              source_weights=dict(cfg.source_weights) or None)
        val = None
        if cfg.val_data:
            val = WindowDataset(list(cfg.val_data), window_frames=cfg.window_frames, augment=None,
                                seed=cfg.seed + 1, exclude=(), sources=None)
        else:
            self.log("no --val-data: no validation (umo's held-out takes are never loaded for training)")
        return train, val

    def _data_description(self, train: Dataset, val: Dataset | None) -> dict:
        d: dict[str, Any] = {"dirs": list(self.cfg.data), "val_dirs": list(self.cfg.val_data),
                             "exclude": list(self.cfg.exclude), "sources": list(self.cfg.sources),
                             "train_windows": len(train), "val_windows": len(val) if val is not None else 0}
        describe = getattr(train, "describe", None)
        if callable(describe):
            try:
                d["train"] = describe()
            except Exception:  # a description is a courtesy, never a reason to fail a run
                pass
        return d

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path | None:
        """Write the full training state (collective: every rank must call it; rank 0 writes)."""
        rng_local = capture_rng(self.info.device)
        rng = {}
        for key, t in rng_local.items():
            for r, part in enumerate(D.gather_tensor(t, self.info)):
                rng.setdefault(r, {})[key] = part.cpu()
        path = path or self.last_path
        if not self.info.is_main:
            return None
        meta = {"train_config": self.cfg.to_dict(), "stage": self.cfg.stage, "stage_name": STAGES[self.cfg.stage].name,
                "step": self.step, "data": self.data_description, "world_size": self.info.world_size}
        save_checkpoint(path, self.model, self.ema, self.optimizer, meta, rng)
        if self.cfg.keep_every and self.step % self.cfg.keep_every == 0 and path == self.last_path:
            save_checkpoint(self.out_dir / f"step_{self.step:07d}.safetensors", self.model, self.ema,
                            self.optimizer, meta, rng)
        return path

    def resume(self, path: Path | None = None) -> int:
        """Load the full training state from ``path`` (default last.safetensors); returns the step."""
        path = path or self.last_path
        meta = load_training_state(path, self.model, self.ema, self.optimizer, self.info.rank, self.info.device)
        if meta.get("stage") != self.cfg.stage:
            raise UmoError(f"{path} is a stage {meta.get('stage')} run; this is stage {self.cfg.stage}: "
                           "use another --out folder, or --init to start a new stage from it")
        old_world = meta.get("world_size", 1)
        if old_world != self.info.world_size:
            self.log(f"resuming a {old_world}-process run with {self.info.world_size}: the data order changes")
        self.step = int(meta["step"])
        return self.step

    # -- validation -----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean logs of the EMA weights over fixed held-out batches (rank 0; RNG states untouched)."""
        if self._val_batches is None or not self.info.is_main:
            return {}
        module = getattr(self.model, "module", self.model)
        saved = capture_rng(self.info.device)
        was_training = module.training
        module.eval()
        sums: dict[str, float] = {}
        try:
            with self.ema.applied(module), self._autocast():
                for idx in self._val_batches:
                    batch = _to_device(self._collate([self._val_set[i] for i in idx]), self.info.device)
                    loss, logs = module(batch, STAGES[self.cfg.stage].loss)
                    for k, v in {"loss": float(loss), **logs}.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
        finally:
            module.train(was_training)
            restore_rng(saved, self.info.device)
        return {k: v / len(self._val_batches) for k, v in sums.items()}

    def _autocast(self):
        if self.info.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    # -- signals --------------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = True
        if self.info.is_main:
            print("\numo: stopping after this step and saving a checkpoint (Ctrl-C again aborts)", file=sys.stderr)

    def _install_signals(self) -> dict:
        old = {}
        if hasattr(signal, "SIGINT") and _main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                old[s] = signal.signal(s, self._on_signal)
        return old

    # -- the loop -------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        self.info = D.setup(cfg.device)
        self._threads()
        self._seed()
        if self.info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        model = self._build_model().to(self.info.device)
        if cfg.init and not (cfg.resume and self.last_path.is_file()):
            # model_overrides may add a submodule the checkpoint lacks (a mouth head): it starts fresh
            load_checkpoint(cfg.init, model, weights="ema", new_modules=bool(cfg.model_overrides))
            self.log(f"initialised from {cfg.init}")
        trains = STAGES[cfg.stage].trains
        if trains:  # this stage trains only these submodules
            for name, p in model.named_parameters():
                p.requires_grad_(name.split(".", 1)[0] in trains)
        model.train()
        self.model = model
        self.ema = EMA(model, cfg.ema_decay)
        self.optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr,
                                           betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        self.step = 0
        # datasets before the RNG states are restored: building them may draw random numbers
        train_set, val_set = self._build_datasets()
        self._train_set, self._val_set = train_set, val_set
        if cfg.resume and self.last_path.is_file():
            self.resume()
            self.log(f"resumed {self.last_path} at step {self.step}")
        elif not cfg.init and hasattr(model, "set_motion_stats"):
            # a fresh model normalises motion by the training data's statistics (stored as buffers,
            # so later stages and inference inherit them through the checkpoints)
            model.set_motion_stats(motion_stats(train_set))
            self.ema = EMA(model, cfg.ema_decay)
        self.data_description = self._data_description(train_set, val_set)
        self._collate = torch.utils.data.default_collate
        self._val_batches = None
        if val_set is not None and len(val_set) > 0:
            n = min(len(val_set), cfg.val_batches * cfg.batch_size)
            order = np.linspace(0, len(val_set) - 1, n).round().astype(int).tolist()
            self._val_batches = [order[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        if self.info.distributed:
            ddp_kw = {"device_ids": [self.info.device.index]} if self.info.device.type == "cuda" else {}
            self.model = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True, **ddp_kw)
        if self.info.is_main:
            (self.out_dir / "config.json").write_text(json.dumps(
                {"train_config": cfg.to_dict(), "model_config": _model_cfg(model), "data": self.data_description,
                 "world_size": self.info.world_size}, indent=2, default=_json_default))

    def _loader(self) -> DataLoader:
        cfg = self.cfg
        batches = StepBatches(len(self._train_set), cfg.batch_size, cfg.seed, self.step, cfg.steps,
                              self.info.rank, self.info.world_size)
        g = torch.Generator().manual_seed(cfg.seed * 7919 + self.step * 31 + self.info.rank)
        return DataLoader(EpochIndexed(self._train_set), batch_sampler=batches, num_workers=cfg.workers,
                          pin_memory=self.info.device.type == "cuda", worker_init_fn=_worker_init,
                          generator=g, persistent_workers=False)

    def train(self, until: int | None = None) -> TrainResult:
        """Run (or continue) the stage to ``cfg.steps``; returns the final step, losses and speed.

        ``until`` stops early after that step (saving last.safetensors), as a Ctrl-C would, but
        without raising: the schedule still spans ``cfg.steps``, so a later ``resume`` goes on as
        if the run had never stopped.
        """
        self.setup()
        self._until = cfg_until = min(until, self.cfg.steps) if until is not None else self.cfg.steps
        cfg, info = self.cfg, self.info
        started = time.perf_counter()
        old_handlers = self._install_signals()
        result = TrainResult(step=self.step, loss=None)
        bar = None
        try:
            if self.step >= cfg_until:
                self.log(f"{self.last_path} already finished {self.step} steps (raise --steps to go on)")
                result.val = self.validate()
                result.checkpoint = self.last_path
                return result
            if info.is_main and self.progress:
                from tqdm import tqdm

                bar = tqdm(total=cfg.steps, initial=self.step, desc=f"stage {cfg.stage}", unit="step",
                           dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
            self._write_jsonl({"event": "start", "step": self.step, "stage": cfg.stage, "time": time.time(),
                               "world_size": info.world_size, "device": str(info.device)})
            result = self._loop(bar, started)
        finally:
            if bar is not None:
                bar.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
        if result.interrupted:
            raise KeyboardInterrupt
        return result

    def _loop(self, bar, started: float) -> TrainResult:
        cfg, info = self.cfg, self.info
        window_sums: dict[str, float] = {}
        window_n, window_t0 = 0, time.perf_counter()
        first_step = self.step
        bad_steps, last_loss, val = 0, None, {}
        last_saved = -1
        steps_per_s = 0.0
        for batch in self._loader():
            lr = lr_at(cfg, self.step)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            batch = _to_device(batch, info.device)
            with self._autocast():
                loss, logs = self.model(batch, STAGES[cfg.stage].loss)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for p in self.model.parameters() if p.grad is not None]
            if cfg.grad_clip > 0:
                gnorm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            else:
                gnorm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))) if params else 0.0
            # the gradient norm is the same on every rank (gradients are all-reduced), so every
            # rank skips the same steps and the replicas stay identical
            if not math.isfinite(gnorm):
                bad_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
                if bad_steps > 10:
                    raise UmoError(f"step {self.step}: the gradients were not finite in {bad_steps} steps in a "
                                   "row: lower --lr (or the config's lr) or check the data for NaNs")
            else:
                bad_steps = 0
                self.optimizer.step()
                self.ema.update(getattr(self.model, "module", self.model))
            self.step += 1
            last_loss = float(loss.detach())
            for k, v in {"loss": last_loss, "grad_norm": gnorm, **logs}.items():
                window_sums[k] = window_sums.get(k, 0.0) + float(v)
            window_n += 1

            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                now = time.perf_counter()
                steps_per_s = window_n / max(now - window_t0, 1e-9)
                means = D.mean_over_ranks({k: v / window_n for k, v in window_sums.items()}, info)
                rec = {"step": self.step, "lr": lr, "steps_per_s": steps_per_s, **means, "time": time.time()}
                usage = getattr(getattr(self.model, "module", self.model), "expert_usage", None)
                if callable(usage) and info.is_main:
                    rec["expert_usage"] = usage()
                self._write_jsonl(rec)
                if bar is not None:
                    bar.set_postfix(loss=f"{means['loss']:.4f}", sps=f"{steps_per_s:.2f}", lr=f"{lr:.2e}",
                                    refresh=False)
                window_sums, window_n, window_t0 = {}, 0, now
            if bar is not None:
                bar.update(1)
            if cfg.val_every and self.step % cfg.val_every == 0 and self.step < cfg.steps:
                val = self.validate()
                if val:
                    self._write_jsonl({"step": self.step, "split": "val", **val, "time": time.time()})
            if cfg.ckpt_every and self.step % cfg.ckpt_every == 0:
                self.save()
                last_saved = self.step
            if self.step >= self._until and self._until < cfg.steps:
                if last_saved != self.step:
                    self.save()
                return TrainResult(self.step, last_loss, {}, steps_per_s, time.perf_counter() - started,
                                   self.last_path)
            if D.any_true(self._stop_requested, info):
                if last_saved != self.step:
                    self.save()
                self.log(f"interrupted at step {self.step}: saved {self.last_path} (continue with --resume)")
                self._write_jsonl({"event": "interrupted", "step": self.step, "time": time.time()})
                return TrainResult(self.step, last_loss, {}, steps_per_s, time.perf_counter() - started,
                                   self.last_path, interrupted=True)
        if last_saved != self.step:
            self.save()
        val = self.validate()
        wall = time.perf_counter() - started
        mean_sps = (self.step - first_step) / max(wall, 1e-9)
        if val:
            self._write_jsonl({"step": self.step, "split": "val", **val, "time": time.time()})
        checksums = [c.tolist() for c in D.gather_tensor(weights_checksum(self.model), info)]
        if any(c != checksums[0] for c in checksums):
            self.log(f"warning: the {info.world_size} replicas ended with different weights: {checksums}")
        self._write_jsonl({"event": "end", "step": self.step, "wall_s": wall, "steps_per_s": mean_sps,
                           "replica_checksums": checksums, "time": time.time()})
        D.barrier(info)
        return TrainResult(self.step, last_loss, val, mean_sps, wall, self.last_path)


def motion_stats(dataset: Dataset, max_windows: int = 512) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel (mean, std) of "face", "body" and "hands" over evenly spaced windows, real values only.

    A window's face channels count where ``face_mask`` x ``frame_mask``; body and hands where
    ``has_body`` / ``has_hands``. A channel no window fills gets (0, 1).
    """
    n = len(dataset)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_windows)).round().astype(int))
    sums: dict[str, list[np.ndarray]] = {}
    for i in idx:
        item = dataset[int(i)]
        fm = item["frame_mask"].double().numpy()[:, None]  # (T, 1)
        for r, key in (("face", "face_mask"), ("body", "has_body"), ("hands", "has_hands")):
            x = item[r].double().numpy()  # (T, D)
            m = fm * np.broadcast_to(item[key].double().numpy(), (1, x.shape[1]))  # (T, D)
            acc = sums.setdefault(r, [np.zeros(x.shape[1]) for _ in range(3)])
            acc[0] += m.sum(0)
            acc[1] += (m * x).sum(0)
            acc[2] += (m * x * x).sum(0)
    out = {}
    for r, (w, s1, s2) in sums.items():
        seen = w > 0
        mean = np.where(seen, s1 / np.maximum(w, 1), 0.0)
        var = np.where(seen, s2 / np.maximum(w, 1) - mean**2, 1.0)
        out[r] = (mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32))
    return out


@torch.no_grad()
def weights_checksum(model: nn.Module) -> torch.Tensor:
    """Three float64 numbers that differ if any parameter differs: sum, sum of squares, index-weighted sum.

    Gathered from every rank at the end of a run to prove the DDP replicas stayed identical.
    """
    model = getattr(model, "module", model)
    acc = torch.zeros(3, dtype=torch.float64)
    for i, p in enumerate(model.parameters()):
        x = p.detach().double().flatten().cpu()
        w = torch.arange(1, x.numel() + 1, dtype=torch.float64) * (i + 1)
        acc += torch.stack([x.sum(), (x * x).sum(), (x * w).sum() / x.numel()])
    return acc


# --- small helpers --------------------------------------------------------------------------------

def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _model_cfg(model: nn.Module) -> dict | None:
    from umo.training.checkpoint import model_config_of

    return model_config_of(model)


def _validate_without_data(cfg: TrainConfig) -> None:
    """validate() for runs given their datasets in Python: the data folders are not needed."""
    from dataclasses import replace

    replace(cfg, data=cfg.data or (".",), val_data=(), init=cfg.init).validate()

