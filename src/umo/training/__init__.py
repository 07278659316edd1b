"""Training the learned model: stages, checkpoints (safetensors only), EMA, DDP and the default recipe.

    from umo.training import TrainConfig, Trainer
    Trainer(TrainConfig(stage=1, data=("runs/corpus",), model="tiny", out="runs/s1", steps=500)).train()

Heavy modules (the model, the data) are imported only when a run starts; the names below only when
first asked for, so that ``umo.training.cli`` (imported by ``umo``'s parser) does not import torch.
"""

_LAZY = {
    "export_inference": "umo.training.checkpoint", "load_checkpoint": "umo.training.checkpoint",
    "read_meta": "umo.training.checkpoint", "save_checkpoint": "umo.training.checkpoint",
    "TrainConfig": "umo.training.config", "lr_at": "umo.training.config",
    "EMA": "umo.training.ema",
    "STAGES": "umo.training.stages", "Stage": "umo.training.stages",
    "StepBatches": "umo.training.trainer", "Trainer": "umo.training.trainer", "TrainResult": "umo.training.trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'umo.training' has no attribute {name!r}")
