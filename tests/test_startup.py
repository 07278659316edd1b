"""Import hygiene behind start-up time: what `umo`'s parser, `umo say` and umo.inference import.

Each check runs in a fresh interpreter (this one has imported everything by now) and reads its
``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "numpy", "scipy", "safetensors")


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_parser_imports_no_library():
    """`umo --help` and every command's parsing start without torch, numpy or the eval, training
    and serve libraries: only their argument modules (umo.eval.cli, umo.training.cli) and the
    chosen subcommand's own."""
    mods = imported_after("""
        from umo.cli import build_parser
        build_parser(["--help"]).format_help()
        build_parser(["say", "Hi.", "-o", "out"]).parse_args(["say", "Hi.", "-o", "out"])
        build_parser(["animate", "a.wav", "-o", "out"]).parse_args(["animate", "a.wav", "-o", "out"])
    """)
    assert not {m.split(".")[0] for m in mods} & set(HEAVY)
    umo = {m for m in mods if m.startswith(("umo.eval", "umo.training", "umo.serve"))}
    assert umo <= {"umo.eval", "umo.eval.cli", "umo.training", "umo.training.cli"}, umo


def test_every_command_is_listed_and_the_chosen_one_is_built_in_full():
    from umo.cli import LIBRARY_COMMANDS, build_parser

    text = build_parser(["--help"]).format_help()
    for name, (summary, _, _) in LIBRARY_COMMANDS.items():
        assert name in text and " ".join(summary.split()[:3]) in " ".join(text.split())
    args = build_parser(["export", "ckpt.safetensors", "-o", "x.safetensors"]).parse_args(
        ["export", "ckpt.safetensors", "-o", "x.safetensors"])
    assert args.dtype == "float16" and callable(args.func)


def test_say_with_the_rules_imports_no_torch(tmp_path):
    mods = imported_after(f"""
        from umo.cli import main
        assert main(["say", "Hello there.", "-o", {str(tmp_path)!r}, "--no-preview"]) == 0
    """)
    assert "torch" not in mods
    assert (tmp_path / "face.csv").is_file() and (tmp_path / "body.bvh").is_file()


def test_inference_needs_neither_training_nor_eval():
    """Loading the bundled model (or building an untrained one) and animating at a rate other than
    the model's (the time-axis resampling) import no training, eval or rule-animator module."""
    mods = imported_after("""
        import numpy as np
        from umo.inference import default_weights_available, load_model, model_animation
        if default_weights_available():
            model = load_model()
        else:
            from umo.models import UmoModel, get_config
            model = UmoModel(get_config("tiny")).eval()
        audio = 0.1 * np.sin(np.arange(8000) * 2 * np.pi * 220 / 16000).astype(np.float32)
        anim = model_animation(model, audio, fps=60)
        assert anim.num_frames == 30 and anim.body is not None
    """)
    assert not {m for m in mods if m.startswith(("umo.training", "umo.eval", "umo.animator", "umo.serve"))}
