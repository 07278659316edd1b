"""TrainConfig: every knob of one training run, validated with errors that say how to fix them.

One run trains one stage (see :mod:`umo.training.stages`) of one model (``model``: a preset name of
``umo.models.get_config`` or a JSON file) on window datasets in ``data``. The learning rate warms up
linearly for ``warmup_steps`` then follows a cosine down to ``lr * min_lr_ratio`` at ``steps``.
``batch_size`` is per process: under torchrun with N processes one optimizer step sees N * batch_size
windows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from pathlib import Path

from umo.errors import UmoError

DEVICES = ("auto", "cpu", "cuda")
HELD_OUT_CLIPS: tuple[str, ...] = ("1114_3_16",)  # the FACEGOOD take the benchmarks evaluate on


@dataclass
class TrainConfig:
    # --- what to train -----------------------------------------------------------------------
    stage: int = 1  # 1 motion foundation, 2 audio-motion alignment, 3 end-to-end, 4 real data (umo.training.stages)
    model: str | None = None  # model preset (tiny, default) or a JSON file; None: the --init checkpoint's, else default
    data: tuple[str, ...] = ()  # dataset folders (made by `umo data synth` / `umo data import`)
    val_data: tuple[str, ...] = ()  # validation folders (never trained on); empty: no validation
    exclude: tuple[str, ...] = HELD_OUT_CLIPS  # clip ids never trained on (benchmark clips)
    sources: tuple[str, ...] = ()  # keep only clips of these sources (e.g. synth, facegood); empty: all
    source_weights: dict[str, float] = field(default_factory=dict)  # window sampling weight per source (default 1)
    out: str = "runs/train"  # run folder: last.safetensors, step_*.safetensors, log.jsonl, config.json
    init: str | None = None  # checkpoint to initialise the weights from (the previous stage's last.safetensors)
    student: str | None = None  # a new model (no init) reads this distilled speech student (umo.training.student)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # model-config fields changed (e.g. mouth_dim: 96)
    resume: bool = False  # continue out/last.safetensors (the same run) if it exists
    # --- optimisation ------------------------------------------------------------------------
    steps: int = 2000  # optimizer steps of this run (the total, also when resuming)
    batch_size: int = 16  # windows per process per step
    window_frames: int = 96  # frames per training window (3.2 s at 30 fps)
    lr: float = 1e-3  # peak learning rate (AdamW)
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.01  # AdamW decoupled decay on matrices (not on biases and norms)
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    ema_decay: float = 0.999  # EMA of the weights (what inference uses); warmed up as (1+n)/(10+n)
    augment: bool | None = None  # audio augmentation (speed, pitch, noise); None: the stage's default
    # --- bookkeeping -------------------------------------------------------------------------
    log_every: int = 10  # steps between log lines (log.jsonl and the progress bar)
    val_every: int = 250  # steps between validations on held-out windows; 0: only at the end
    val_batches: int = 8  # batches per validation
    ckpt_every: int = 250  # steps between writes of last.safetensors
    keep_every: int = 0  # steps between kept copies step_XXXXXXX.safetensors; 0: none
    # --- machine -----------------------------------------------------------------------------
    seed: int = 0
    threads: int = 0  # torch CPU threads per process; 0: cores / processes
    device: str = "auto"  # auto (cuda when available), cpu or cuda
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    workers: int = 0  # DataLoader worker processes per rank (0: load in the training process)

    def validate(self) -> TrainConfig:
        """Raise UmoError naming the field and a fix; return self so calls chain."""
        from umo.training.stages import STAGES

        def bad(name: str, msg: str) -> None:
            raise UmoError(f"train config: {name} {msg}")

        if self.stage not in STAGES:
            bad("stage", f"is {self.stage!r}: choose one of {sorted(STAGES)} (1 motion foundation, "
                         "2 audio-motion alignment, 3 end-to-end, 4 real data)")
        for name in ("steps", "batch_size", "window_frames", "log_every", "val_batches"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(name, f"is {v!r}: it must be a positive integer")
        for name in ("warmup_steps", "val_every", "ckpt_every", "keep_every", "threads", "workers", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(name, f"is {v!r}: it must be an integer >= 0")
        if self.window_frames < 8:
            bad("window_frames", f"is {self.window_frames}: use at least 8 frames (96 = 3.2 s is the default)")
        if not (math.isfinite(self.lr) and 0 < self.lr < 1):
            bad("lr", f"is {self.lr!r}: use a learning rate in (0, 1), e.g. 1e-3")
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", f"is {self.min_lr_ratio!r}: it must be in [0, 1]")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            bad("weight_decay", f"is {self.weight_decay!r}: it must be >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad("betas", f"is {self.betas!r}: give two numbers in [0, 1), e.g. (0.9, 0.99)")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            bad("grad_clip", f"is {self.grad_clip!r}: it must be >= 0 (0 disables clipping)")
        if not 0 <= self.ema_decay < 1:
            bad("ema_decay", f"is {self.ema_decay!r}: it must be in [0, 1), e.g. 0.999")
        if self.window_frames % 3:
            bad("window_frames", f"is {self.window_frames}: use a multiple of 3 (a window holds "
                                 "window_frames * 1600 / 3 audio samples), e.g. 96")
        if any(not (isinstance(w, (int, float)) and w >= 0) for w in self.source_weights.values()):
            bad("source_weights", f"is {self.source_weights}: weights must be numbers >= 0")
        if self.device not in DEVICES:
            bad("device", f"is {self.device!r}: choose one of {DEVICES}")
        if not self.data:
            bad("data", "is empty: pass the dataset folders made by `umo data synth` or `umo data import` "
                        "(--data DIR [DIR ...])")
        for d in tuple(self.data) + tuple(self.val_data):
            p = Path(d)
            if not p.is_dir():
                raise UmoError(f"data folder not found: {p} (make one with `umo data synth --hours 1 -o {p}` "
                               "or `umo data import KIND SRC -o DIR`)")
        if self.init is not None and not Path(self.init).is_file():
            raise UmoError(f"--init checkpoint not found: {self.init} (pass the previous stage's "
                           "RUN_DIR/last.safetensors)")
        if self.student is not None and not Path(self.student).is_file():
            raise UmoError(f"student file not found: {self.student} (python -m umo.training.student makes it)")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            bad("model", f"is {self.model!r}: give a preset name (tiny, default) or a JSON file")
        return self

    # --- (de)serialisation: plain JSON, stored in every checkpoint's header --------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise UmoError(f"train config: unknown field(s) {unknown}; known fields: {sorted(known)}")
        kw = {}
        for k, v in d.items():
            if k in ("data", "val_data", "exclude", "sources") and v is not None:
                v = (v,) if isinstance(v, str) else tuple(v)
            if k == "betas":
                v = tuple(v)
            kw[k] = v
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise UmoError(f"train config file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise UmoError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise UmoError(f"{path}: expected a JSON object of TrainConfig fields")
        return cls.from_dict(d)

    @property
    def out_dir(self) -> Path:
        return Path(self.out)


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up, then cosine to lr*min_lr_ratio."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))

