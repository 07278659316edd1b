"""Entry point that test_ddp launches under torchrun: the real Trainer on the toy model, DDP on gloo."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from training_toy import ToyConfig, ToyModel, ToyWindows

from umo.training import TrainConfig, Trainer
from umo.training import distributed as D

out, steps = sys.argv[1], int(sys.argv[2])
torch.manual_seed(5)  # the same initial weights on both ranks (DDP also broadcasts rank 0's)
cfg = TrainConfig(stage=1, out=out, steps=steps, batch_size=4, lr=5e-3, warmup_steps=2, log_every=2,
                  val_every=3, val_batches=1, ckpt_every=4, threads=1, device="cpu", ema_decay=0.9)
trainer = Trainer(cfg, model=ToyModel(ToyConfig(hidden=16)), train_set=ToyWindows(32, frames=12),
                  val_set=ToyWindows(8, frames=12, seed=3), progress=False)
trainer.train()
state = {k: v.detach().clone() for k, v in trainer.model.module.state_dict().items()}
from safetensors.torch import save_file

save_file(state, f"{out}/rank{trainer.info.rank}.safetensors")  # for the test only: every rank's weights
D.cleanup()
