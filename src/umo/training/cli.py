"""Argument parsers of ``umo train``, ``umo export`` and ``umo data``: thin, they only call the library.

``umo.cli`` lists them by their ``*_SUMMARY`` and adds the chosen one with :func:`add_train_parser`,
:func:`add_export_parser` or :func:`add_data_parser`; ``python -m umo.training`` (what torchrun launches) parses the same train
arguments without the subcommand.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

TRAIN_HELP = """\
Train one stage of the learned model on dataset folders (made by `umo data synth` / `umo data import`).

  stage 1  motion foundation         umo train --stage 1 --data corpus real --config default --out runs/s1
  stage 2  audio-motion alignment    umo train --stage 2 --data corpus real --out runs/s2 --init runs/s1/last.safetensors
  stage 3  end-to-end + augmentation umo train --stage 3 --data corpus real --out runs/s3 --init runs/s2/last.safetensors
  stage 4  real data                 umo train --stage 4 --data corpus real --out runs/s4 --init runs/s3/last.safetensors \
                                               --source-weights facegood=20
  stage 5  mouth head (alone)        umo train --stage 5 --data corpus real --out runs/s5 --init runs/s4/last.safetensors \
                                               --model-override mouth_dim=96 --source-weights facegood=20

With a distilled speech student (python -m umo.training.student), stage 1 starts the model from it:
  umo train --stage 1 --student runs/student/student.safetensors --data ... --out runs/s1

RUN_DIR receives last.safetensors (the whole training state, rewritten every --ckpt-every steps),
log.jsonl (losses, steps/s, validation, expert usage) and config.json. Ctrl-C saves and stops;
--resume continues the same run exactly. Several processes (CPU or GPUs):

  torchrun --standalone --nproc_per_node=2 -m umo.training --stage 1 --data ... --out runs/s1

--batch-size is per process. Export the EMA weights for inference with `umo export`.
"""


TRAIN_SUMMARY = "train one stage of the learned model (CPU or GPUs, torchrun for DDP)"
EXPORT_SUMMARY = "write a checkpoint's EMA weights as an inference file"
DATA_SUMMARY = "make training data: synthesise a corpus or import a dataset"


def _log(msg: str) -> None:
    print(f"umo: {msg}", file=sys.stderr)


def _source_weight(text: str) -> tuple[str, float]:
    name, sep, w = text.partition("=")
    try:
        return name, float(w) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SOURCE=WEIGHT, e.g. facegood=3, got {text!r}") from None


def _model_override(text: str) -> tuple[str, object]:
    import json

    name, sep, value = text.partition("=")
    try:
        return name, json.loads(value) if sep else None
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"expected FIELD=JSON_VALUE, e.g. mouth_dim=96, got {text!r}") from None


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", type=int, required=True, choices=(1, 2, 3, 4, 5),
                   help="1 motion foundation, 2 audio-motion alignment, 3 end-to-end with augmentation, "
                        "4 real data (stage 3's objective, the captures weighted up with --source-weights), "
                        "5 the mouth head alone on a frozen model")
    p.add_argument("--model-override", nargs="*", metavar="FIELD=VALUE", type=_model_override,
                   help="model-config fields to change, e.g. mouth_dim=96 (grows a mouth head on --init's weights)")
    p.add_argument("--data", nargs="+", required=True, type=Path, metavar="DIR", help="dataset folders")
    p.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder (created if missing)")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="model config: tiny, default or a JSON file (default: the --init checkpoint's, else default)")
    p.add_argument("--train-config", type=Path, metavar="FILE",
                   help="a JSON file of TrainConfig fields; the flags below override it")
    p.add_argument("--init", type=Path, metavar="CKPT", help="initialise from the previous stage's last.safetensors")
    p.add_argument("--student", type=Path, metavar="FILE",
                   help="a new model (no --init) reads this distilled speech student (student.safetensors)")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.safetensors if it exists")
    p.add_argument("--steps", type=int, help="optimizer steps of the run (default 2000)")
    p.add_argument("--batch-size", type=int, help="windows per process per step (default 16)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--window-frames", type=int, help="frames per training window (default 96 = 3.2 s)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--augment", dest="augment", action="store_const", const=True,
                   help="audio augmentation on (the default of stage 3)")
    g.add_argument("--no-augment", dest="augment", action="store_const", const=False, help="audio augmentation off")
    p.add_argument("--val-data", nargs="+", type=Path, metavar="DIR",
                   help="validation folders (default: the held-out clips of --data)")
    p.add_argument("--exclude", nargs="*", metavar="CLIP", help="clip ids never trained on (default 1114_3_16)")
    p.add_argument("--sources", nargs="*", metavar="SOURCE", help="train only on clips of these sources")
    p.add_argument("--source-weights", nargs="*", metavar="SOURCE=W", type=_source_weight,
                   help="window sampling weight per source, e.g. facegood=3 (default 1 each)")
    p.add_argument("--log-every", type=int)
    p.add_argument("--val-every", type=int)
    p.add_argument("--ckpt-every", type=int)
    p.add_argument("--keep-every", type=int, help="also keep step_N.safetensors every N steps")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads per process (default: cores / processes)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto: cuda when available")
    p.add_argument("--workers", type=int, help="DataLoader workers per process (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")


def train_config_from_args(args: argparse.Namespace):
    """argparse namespace -> a validated TrainConfig (the namespace goes no further)."""
    from dataclasses import replace

    from umo.training.config import TrainConfig

    cfg = TrainConfig.from_json(args.train_config) if args.train_config else TrainConfig()
    over = {
        "stage": args.stage, "data": tuple(str(d) for d in args.data), "out": str(args.out),
        "init": str(args.init) if args.init else None, "resume": args.resume,
        "student": str(args.student) if args.student else None,
        "model": args.config if args.config else (None if args.init else cfg.model),
    }
    for name in ("steps", "batch_size", "lr", "warmup_steps", "window_frames", "augment", "log_every",
                 "val_every", "ckpt_every", "keep_every", "seed", "threads", "device", "workers"):
        v = getattr(args, name)
        if v is not None:
            over[name] = v
    if args.val_data:
        over["val_data"] = tuple(str(d) for d in args.val_data)
    if args.exclude is not None:
        over["exclude"] = tuple(args.exclude)
    if args.sources is not None:
        over["sources"] = tuple(args.sources)
    if args.source_weights:
        over["source_weights"] = dict(args.source_weights)
    if args.model_override:
        over["model_overrides"] = dict(args.model_override)
    return replace(cfg, **over).validate()


def cmd_train(args: argparse.Namespace) -> int:
    from umo.training import distributed
    from umo.training.trainer import Trainer

    cfg = train_config_from_args(args)
    try:
        result = Trainer(cfg, progress=not args.no_progress).train()
    finally:
        distributed.cleanup()
    if result.checkpoint is not None and os.environ.get("RANK", "0") == "0":
        val = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.val.items()) if k in ("loss", "rec", "ce", "nce", "rec_pred"))
        _log(f"stage {cfg.stage}: step {result.step}, {result.steps_per_s:.2f} steps/s, "
             f"{result.wall_s:.0f} s" + (f"; validation: {val}" if val else ""))
        print(result.checkpoint)
    return 0


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help=TRAIN_SUMMARY,
                              description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    return p


EXPORT_FORMATS = {".safetensors": "safetensors", ".onnx": "onnx"}  # suffix -> --format


def cmd_export(args: argparse.Namespace) -> int:
    from umo.errors import UmoError

    suffix = args.output.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        # an .onnx (or any other) name used to get safetensors bytes silently
        raise UmoError(f"umo export writes *.safetensors (the weights) or *.onnx (the keyframe step), not "
                       f"{args.output.name!r}")
    fmt = args.format or EXPORT_FORMATS[suffix]
    if EXPORT_FORMATS[suffix] != fmt:
        raise UmoError(f"--format {fmt} writes a *.{fmt} file: {args.output.name!r} would hold the wrong bytes")
    if fmt == "onnx":
        import torch

        from umo.models.checkpoint import load_checkpoint
        from umo.models.onnx_step import export_keyframes

        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        model, _ = load_checkpoint(args.checkpoint)
        _log(f"exporting the keyframe step of {args.checkpoint.name} to ONNX (~30 s)")
        path = export_keyframes(model, args.output)
        _log(f"{path.stat().st_size / 2**20:.1f} MiB; run it with: umo animate AUDIO --model {args.checkpoint} "
             f"--onnx {path} (or umo serve --weights ... --onnx ...)")
        print(path)
        return 0
    import torch

    from umo.training.checkpoint import export_inference

    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[args.dtype]
    path = export_inference(args.checkpoint, args.output, dtype=dtype)
    _log(f"{path.stat().st_size / 2**20:.1f} MiB")
    print(path)
    return 0


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help=EXPORT_SUMMARY,
                              description="Write only the EMA weights (float16 by default) and the model "
                                          "config of a training checkpoint: the file inference loads "
                                          "(-o FILE.safetensors); or the keyframe step of a checkpoint or "
                                          "inference file as an ONNX graph for onnxruntime (-o FILE.onnx: "
                                          "umo animate/serve --onnx FILE run it; the same frames to 1e-4).")
    p.add_argument("checkpoint", type=Path, help="RUN_DIR/last.safetensors, or an inference file (for --format onnx)")
    p.add_argument("-o", "--output", required=True, type=Path, help="the .safetensors or .onnx file to write")
    p.add_argument("--format", choices=tuple(EXPORT_FORMATS.values()), default=None,
                   help="safetensors (the weights) or onnx (the keyframe step); default: from the output's suffix")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16",
                   help="safetensors: the weights' type (default float16)")
    p.set_defaults(func=cmd_export)
    return p


def cmd_data_synth(args: argparse.Namespace) -> int:
    from umo.data.synth import synthesize_corpus

    started = time.perf_counter()
    info = synthesize_corpus(args.output, hours=args.hours, seed=args.seed, workers=args.workers,
                             progress=not args.no_progress)
    _log(f"{info.clips} clips, {info.hours:.2f} h in {args.output} ({info.new_hours:.2f} h new, "
         f"{time.perf_counter() - started:.0f} s)")
    print(args.output)
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from umo.data import importers

    started = time.perf_counter()
    exclude = None if args.exclude is None else tuple(args.exclude)
    report = importers.import_dataset(args.kind, args.source, args.output, exclude=exclude)
    _log(f"{args.kind}: {len(report.imported)} clip(s), {report.hours:.2f} h imported into {args.output}; "
         f"held out {report.held_out or 'none'}; skipped {len(report.skipped)} "
         f"({time.perf_counter() - started:.0f} s)")
    for name, why in report.skipped:
        _log(f"  skipped {name}: {why}")
    print(args.output)
    return 0


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("data", help=DATA_SUMMARY)
    sub = p.add_subparsers(dest="data_command", required=True)
    s = sub.add_parser("synth", help="synthesise a speech -> motion corpus (offline TTS + the rule animator)")
    s.add_argument("--hours", type=float, required=True, help="hours of speech to synthesise")
    s.add_argument("-o", "--output", type=Path, required=True, help="dataset folder (created if missing)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=1, help="parallel processes")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_data_synth)
    i = sub.add_parser("import", help="import a real dataset: facegood, beat, livelink, bvh or smplx")
    i.add_argument("kind", choices=("facegood", "beat", "livelink", "bvh", "smplx"), help="dataset kind")
    i.add_argument("source", type=Path, help="the dataset's folder")
    i.add_argument("-o", "--output", type=Path, required=True, help="dataset folder (created if missing)")
    i.add_argument("--exclude", nargs="*", metavar="CLIP",
                   help="clip ids not to import (default: the held-out evaluation take facegood/1114_3_16)")
    i.set_defaults(func=cmd_data_import)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m umo.training ARGS``: the train command without its name (what torchrun runs)."""
    from umo.errors import UmoError

    p = argparse.ArgumentParser(prog="python -m umo.training", description=TRAIN_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_arguments(p)
    args = p.parse_args(argv)
    try:
        return cmd_train(args)
    except UmoError as e:
        print(f"umo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("umo: interrupted", file=sys.stderr)
        return 130
