"""Training the learned model: stages, checkpoints (safetensors only), EMA, DDP and the default recipe.

    from umo.training import TrainConfig, Trainer
    Trainer(TrainConfig(stage=1, data=("runs/corpus",), model="tiny", out="runs/s1", steps=500)).train()

Heavy modules (the model, the data) are imported only when a run starts.
"""

from umo.training.checkpoint import (
    export_inference,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from umo.training.config import TrainConfig, lr_at
from umo.training.ema import EMA
from umo.training.stages import STAGES, Stage
from umo.training.trainer import StepBatches, Trainer, TrainResult

__all__ = [
    "EMA", "STAGES", "Stage", "StepBatches", "TrainConfig", "TrainResult", "Trainer",
    "export_inference", "load_checkpoint", "lr_at", "read_meta", "save_checkpoint",
]
