"""The ``umo`` command: parses arguments and calls the library (umo.pipeline). Nothing else."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from umo.constants import BODIES, DEFAULT_BODY, DEFAULT_FPS, EMOTIONS, ENGINES, SUPPORTED_FPS
from umo.errors import UmoError
from umo.eval.cli import BENCH_SUMMARY, EVAL_SUMMARY
from umo.live.targets import DEFAULT_SUBJECT, LIVELINK_PORT, VMC_PORT
from umo.motion.cli import DANCE_SUMMARY, GENERATE_SUMMARY
from umo.training.cli import DATA_SUMMARY, EXPORT_SUMMARY, TRAIN_SUMMARY

# umo.serve.cli spells this line inline in add_serve_parser, whose imports (the server, torch) are
# what is kept out of the parser here; move it to a constant there and import it like the others.
SERVE_SUMMARY = "the streaming server (WebSocket) and its live page"

# Subcommands defined beside their library, whose parsers import it to build theirs (defaults and
# choices: numpy, torch, the server). Only the chosen one is built, so that `umo --help` and
# `umo say` do not wait for torch; the others are listed by their summary.
LIBRARY_COMMANDS: dict[str, tuple[str, str, str]] = {  # name: (summary, module, function adding it)
    "eval": (EVAL_SUMMARY, "umo.eval.cli", "add_eval_parser"),
    "bench": (BENCH_SUMMARY, "umo.eval.cli", "add_bench_parser"),
    "train": (TRAIN_SUMMARY, "umo.training.cli", "add_train_parser"),
    "export": (EXPORT_SUMMARY, "umo.training.cli", "add_export_parser"),
    "data": (DATA_SUMMARY, "umo.training.cli", "add_data_parser"),
    "serve": (SERVE_SUMMARY, "umo.serve.cli", "add_serve_parser"),
    "generate": (GENERATE_SUMMARY, "umo.motion.cli", "add_generate_parser"),
    "dance": (DANCE_SUMMARY, "umo.motion.cli", "add_dance_parser"),
}

ANIMATE_HELP = """\
Animate a speech file: writes face.csv (Live Link Face layout), body.bvh (canonical skeleton) and
preview.html into OUTDIR.

Audio: wav (PCM or float), flac, ogg, mp3, at any sample rate and channel count.

Transcripts (optional, for lip sync):
  --transcript FILE.TextGrid  Praat TextGrid with a word tier; each word's phones come from espeak's
                              phonemizer in --language (any language espeak supports)
  --transcript FILE.lab       phone labels with times (CMU ARCTIC / HTS), used as they are
  --transcript FILE.txt       plain text, aligned to the audio:
  --text "..."                  English (--language en): forced alignment with pocketsphinx's
                                bundled US-English acoustic model (words and phones);
                                other languages: espeak synthesises the text and the two are
                                aligned by dynamic time warping on spectral features
Without a transcript the bundled learned model animates from the audio alone (any voice, any
language); with one, the rule-based animator uses the exact phone timing (--animator chooses).
"""

SEND_HELP = f"""\
Play a take (the folder umo say or umo animate wrote: face.csv, body.bvh) in real time to live tools:

  umo send out/hello --vmc 127.0.0.1:{VMC_PORT}              VSeeFace, Warudo, VNyan, VMagicMirror (VMC receiver)
  umo send out/hello --livelink 192.168.1.20:{LIVELINK_PORT}   Unreal: a Live Link Face source (MetaHuman)
  umo send out/hello --vmc :{VMC_PORT} --livelink :{LIVELINK_PORT} --loop   both, over and over (Ctrl-C stops)

VMC: the 52 ARKit blendshapes (perfect sync) and the VRM presets A/I/U/E/O, Blink, Joy ... mapped from
them, head, eye and upper-body bones. Live Link: the iPhone app's packet (52 blendshapes + head and eye
angles). A HOST without :PORT takes the tool's default port. docs/live.md describes both.
"""


CHARACTER_HELP = ("your own character in the preview: a .glb / .vrm (glTF 2.0, VRM 0.x/1.0) whose ARKit-named "
                  "morph targets (or VRM expressions) and humanoid bones umo drives")


def _log(msg: str) -> None:
    print(f"umo: {msg}", file=sys.stderr)


class _LogFormat(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"umo: {level}{record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes, not the stream of the moment the
    handler was made (main() called in-process, e.g. by tests, must not leave a closed stream behind)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _show_library_messages() -> None:
    """The library's warnings (logging's "umo" logger and ``warnings.warn``) as ``umo: warning: ...``
    lines on stderr, so that nothing it notices stays hidden from a command-line user."""
    root = logging.getLogger("umo")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):  # once per process
        handler = _StderrHandler()
        handler.setFormatter(_LogFormat())
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    root.propagate = False
    warnings.showwarning = lambda message, category, *args, **kwargs: print(
        f"umo: warning: {message}", file=sys.stderr)


def _fps(value: str) -> int:
    try:
        fps = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fps must be an integer, got {value!r}") from None
    if fps not in SUPPORTED_FPS:
        raise argparse.ArgumentTypeError(f"fps {fps} is not supported: choose one of {SUPPORTED_FPS}")
    return fps


def _config(args: argparse.Namespace):
    from umo.animator.rules import RuleAnimatorConfig
    from umo.emotion import EmotionSetting

    return RuleAnimatorConfig(fps=args.fps, seed=args.seed, body=not args.no_body,
                              emotion=EmotionSetting(args.emotion, args.intensity))


def _progress_bar(desc: str):
    """A (done, total) callback drawing a progress bar on stderr when it is a terminal."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=f"umo: {desc}", unit="frame", file=sys.stderr, disable=None, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _process_age() -> float | None:
    """Seconds since this process started (Linux: its start time in /proc, on the boot clock, to the
    10 ms tick), or None where that is unknown. A clock read by umo itself would miss the interpreter's
    start and every import before it, i.e. the start-up that the user waits for too."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in ticks since boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def _report(paths: dict[str, Path], started: float) -> None:
    """The output files on stdout; the wall time from the process's start (and of it, the start-up:
    the interpreter, imports and parsing before the command's work began) on stderr."""
    for name, path in paths.items():
        print(path)
    work = time.perf_counter() - started
    age = _process_age()
    if age is None:
        _log(f"done in {work:.1f} s")
    else:
        _log(f"done in {age:.1f} s (start-up {age - work:.1f} s)")


def _check_character(args: argparse.Namespace) -> None:
    """--character: what umo will drive on it, said before the work starts; a file it cannot use is refused."""
    if getattr(args, "character", None) is None:
        return
    from umo.avatar import read_avatar

    if getattr(args, "no_preview", False):
        raise UmoError("--character is shown in preview.html: drop --no-preview")
    _log(f"character {args.character.name}: {read_avatar(args.character).summary()}")


def cmd_say(args: argparse.Namespace) -> int:
    from umo.pipeline import say, write_outputs

    _check_character(args)
    started = time.perf_counter()
    result = say(args.text, voice=args.voice, rate=args.rate, pitch=args.pitch, config=_config(args), log=_log,
                 animator=args.animator, weights=args.model, engine=args.engine, graph=args.onnx)
    paths = write_outputs(result.animation, args.output, speech=True, preview=not args.no_preview,
                          title=args.text[:80], log=_log, character=args.character)
    _report(paths, started)
    return 0


def cmd_animate(args: argparse.Namespace) -> int:
    from umo.pipeline import animate_file, write_outputs

    _check_character(args)
    started = time.perf_counter()
    result = animate_file(args.audio, transcript=args.transcript, text=args.text, language=args.language,
                          config=_config(args), log=_log, animator=args.animator, weights=args.model,
                          progress=_progress_bar("animating"), body=args.body, body_weights=args.body_model,
                          engine=args.engine, graph=args.onnx)
    paths = write_outputs(result.animation, args.output, preview=not args.no_preview, title=Path(args.audio).name,
                          log=_log, character=args.character)
    _report(paths, started)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from umo.convert import convert

    _check_character(args)
    result = convert(args.input, args.output, body=args.body, audio=args.audio, allow_partial=args.allow_partial,
                     character=args.character)
    for mapping in result.mappings:
        _log(f"retarget: {mapping.summary()}")
    if result.audio is not None:
        _log(f"audio beside it: {result.audio} (glTF holds no sound)")
    print(result.path)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from umo.live.targets import LiveTargets

    targets = LiveTargets.from_options(args.vmc, args.livelink, args.livelink_subject)
    if targets.empty:
        raise UmoError("nowhere to send to: give --vmc HOST:PORT (a VMC receiver such as VSeeFace) and/or "
                       "--livelink HOST:PORT (Unreal's Live Link Face source)")
    from umo.live.sender import LiveSender, play_animation
    from umo.pipeline import read_take

    anim = read_take(args.take)
    with LiveSender(targets, log=_log) as sender:
        _log(f"sending {anim.num_frames} frames at {anim.fps:g} fps ({anim.duration:.1f} s"
             f"{', in a loop' if args.loop else ''}): {targets.describe()}; Ctrl-C stops")
        try:
            result = play_animation(anim, sender, loop=args.loop)
        except KeyboardInterrupt:
            _log(f"stopped after {sender.frames} frames")
            return 0
    _log(f"sent {result.frames} frames in {result.seconds:.1f} s")
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from umo.speech.espeak import list_voices, voices_for_language

    for v in voices_for_language(args.language) if args.language else list_voices():
        print(f"{v.name:<40} {v.language}")
    return 0


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``umo`` parser for the command line ``argv`` (without the program name): of the
    LIBRARY_COMMANDS only the one it names is built in full, the others are listed only (they would
    reject their arguments). None: all of them in full."""
    chosen = None if argv is None else (argv[0] if argv and not argv[0].startswith("-") else "")
    parser = argparse.ArgumentParser(prog="umo", description="Speech to a talking, gesturing 3D character.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, default_animator: str) -> None:
        p.add_argument("-o", "--output", required=True, type=Path, help="output folder (created if missing)")
        p.add_argument("--fps", type=_fps, default=DEFAULT_FPS, help=f"frames per second (default {DEFAULT_FPS}; 60 on request)")
        p.add_argument("--seed", type=int, default=0, help="random seed for blinks, gaze and gesture choices")
        p.add_argument("--no-body", action="store_true", help="face and head only: no body.bvh")
        p.add_argument("--no-preview", action="store_true", help="do not write preview.html")
        p.add_argument("--character", type=Path, metavar="FILE", help=CHARACTER_HELP)
        p.add_argument("--animator", choices=("auto", "rules", "model"), default=default_animator,
                       help="rules: visemes from phone timing; model: the learned model (audio, + phones when "
                            "known); auto: the model without a transcript, the rules with one "
                            f"(default {default_animator})")
        p.add_argument("--model", type=Path, help="learned model weights (default: the bundled model)")
        p.add_argument("--engine", choices=ENGINES, default="auto",
                       help="what runs the learned model's keyframe steps: onnx (onnxruntime, several times faster), "
                            "torch (PyTorch), auto: onnx when a graph of the weights is at hand (the bundled model's is; "
                            "umo export --format onnx makes one), else torch (default auto); the same frames to 1e-4")
        p.add_argument("--onnx", type=Path, metavar="FILE", help="the weights' keyframe step as ONNX (umo export --format onnx)")
        p.add_argument("--emotion", default=EMOTIONS[0], metavar="E",
                       help=f"expression: {', '.join(EMOTIONS)} (default {EMOTIONS[0]}); brows, lids, smile/frown, "
                            "jaw energy, head pose and gesture energy. With the learned model it is an overlay on "
                            "the model's output, not learned")
        p.add_argument("--intensity", type=float, default=1.0, metavar="X",
                       help="strength of --emotion, 0 (neutral) to 1 (default 1)")

    p = sub.add_parser("say", help="synthesise speech from text offline and animate it",
                       description="Synthesise TEXT offline (espeak-ng) and animate it: writes speech.wav, "
                                   "face.csv, body.bvh and preview.html into OUTDIR.")
    p.add_argument("text", help="what to say")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice, e.g. en-us, en-gb, en-us+f3, es, de, cmn (see `umo voices`)")
    p.add_argument("--rate", type=int, default=175, help="speaking rate, words per minute (80-450)")
    p.add_argument("--pitch", type=int, default=50, help="base pitch, 0-99")
    common(p, "rules")
    p.set_defaults(func=cmd_say)

    p = sub.add_parser("animate", help="animate a speech file", description=ANIMATE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", type=Path, help="speech file: wav, flac, ogg or mp3")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--transcript", type=Path, help="FILE.TextGrid, FILE.lab or FILE.txt (see above)")
    g.add_argument("--text", help="the words spoken, as plain text")
    p.add_argument("--language", default="en", help="language of the speech, e.g. en, es, de, cmn (default en)")
    common(p, "auto")
    p.add_argument("--body", choices=BODIES, default=DEFAULT_BODY,
                   help="animator: the animator's own body (rules' gestures or the token model's body); gen: "
                        "the continuous body generator (umo.models.body_gen) (default animator)")
    p.add_argument("--body-model", type=Path, help="body generator weights for --body gen (default: the bundled file)")
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("convert", help="convert between animation formats (csv, bvh, json, npz, npy, html, glb)",
                       description="Convert an animation file. Inputs: .csv (Live Link Face), .json (BEAT ARKit "
                                   "JSON), .npy (FACEGOOD weights), .bvh (any skeleton, retargeted onto the canonical "
                                   "one by joint roles read from names and hierarchy: BEAT/ZEGGS, CMU, Mixamo, "
                                   "Collar/Shoulder/Elbow/Wrist, Biped, Unreal, SMPL, VRM ...), .npz (SMPL-X). Outputs: .csv, "
                                   ".json, .bvh, .npz, .html (preview), .glb / .gltf (animated glTF 2.0: the preview "
                                   "character skinned on the canonical skeleton with the 52 ARKit morph targets, joint "
                                   "rotations and morph weights; a face alone stands in the rest pose; --audio is written "
                                   "beside it as a .wav, glTF holds no sound). Examples: umo convert face.csv take.html "
                                   "--body body.bvh --audio take.wav; umo convert TAKE/face.csv take.glb --body TAKE/body.bvh")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path, help="the output file; its suffix picks the format")
    p.add_argument("--body", type=Path, help="a .bvh or .npz whose body motion joins the input's face")
    p.add_argument("--audio", type=Path, help="audio of the take: attached to a preview, written beside a .glb/.gltf "
                                              "(same stem, .wav); its length sets the frame rate of a BVH whose "
                                              "header is wrong")
    p.add_argument("--character", type=Path, metavar="FILE", help=CHARACTER_HELP + " (a .html output)")
    p.add_argument("--allow-partial", action="store_true",
                   help="convert a BVH even when its spine, head or an arm (down to the hand) finds no joint "
                        "to drive it (that part stays at rest); refused by default")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("send", help="play a take live to VSeeFace/Warudo (VMC) or Unreal (Live Link Face)",
                       description=SEND_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("take", type=Path, help="the take's folder (face.csv, body.bvh), as umo say / animate write it")
    p.add_argument("--vmc", metavar="HOST:PORT", help=f"a VMC receiver (its usual port: {VMC_PORT})")
    p.add_argument("--livelink", metavar="HOST:PORT",
                   help=f"Unreal's Live Link Face source (its usual port: {LIVELINK_PORT})")
    p.add_argument("--livelink-subject", default=DEFAULT_SUBJECT, metavar="NAME",
                   help=f"the subject name Unreal lists (default {DEFAULT_SUBJECT!r})")
    p.add_argument("--loop", action="store_true", help="play the take over and over until Ctrl-C")
    p.set_defaults(func=cmd_send)

    for name, (summary, module, adder) in LIBRARY_COMMANDS.items():
        if chosen is None or name == chosen:
            getattr(importlib.import_module(module), adder)(sub)
        else:
            sub.add_parser(name, help=summary)

    p = sub.add_parser("voices", help="list the offline voices")
    p.add_argument("--language", help="only voices of this language (a code or its start: en, zh, cmn, pt-br)")
    p.set_defaults(func=cmd_voices)
    return parser


# Commands whose process ends as soon as their outputs are written (see _exit_now).
EXIT_AT_ONCE = ("say", "animate")


def _exit_now(status: int) -> None:
    """End the process without the interpreter's teardown, once the exit handlers have run and
    stdout and stderr are flushed: after torch, the teardown (its modules' and C++ objects'
    destructors) takes 0.5-1 s of the command's wall time, all of it after the work is done."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """The ``umo`` command; argv None: the process's own (it may then end the process itself)."""
    program = argv is None
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    _show_library_messages()
    try:
        status = args.func(args)
    except UmoError as e:
        print(f"umo: error: {e}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("umo: interrupted", file=sys.stderr)
        status = 130
    if program and args.command in EXIT_AT_ONCE and "torch" in sys.modules:
        _exit_now(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
