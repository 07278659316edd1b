"""``umo generate`` and ``umo dance``: argument parsing over umo.motion.jobs.

umo.cli lists them by their summaries and calls the adder of the one chosen (no numpy here).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

GENERATE_SUMMARY = "text -> full-body motion (rule-based action library)"
DANCE_SUMMARY = "music -> a dance on the beat (rule-based teacher)"
DANCE_STYLE_NAMES = ("pop", "hiphop", "chill")  # umo.motion.dance.STYLES (checked by a test)

GENERATE_HELP = """\
Text to full-body motion: writes body.bvh (canonical skeleton: root trajectory, legs and feet,
arms, spine, head) and preview.html into OUTDIR.

The motion comes from a rule-based, procedural action library, not a learned model (the learned
text-to-motion generator is future work). The prompt is parsed into actions:
  walk (forward/backward/left/right, slowly/quickly, "3 meters"), turn (left/right/around),
  wave, point, clap, bow, nod, shrug, jump, crouch, kick (left/right, to the side),
  raise arms (one/both, up/forward/to the side), sit down / stand up (on an implied chair), idle
joined by "then", "and then", "and", commas; sides (left/right/both hand), manner (happily,
sadly, deeply ...) and counts (twice, three times). Words not understood are named in a warning.

  umo generate "a person waves with the right hand, then bows" -o out/wave
  umo generate "walks forward slowly and turns left" -o out/walk --seconds 8
  umo generate "jumps twice" -o out/jump --seed 3

--seconds: a shorter sequence is padded with standing still, a longer one is time-scaled (every
action faster); the log says which.
"""

DANCE_HELP = """\
Music to dance: writes body.bvh (as long as the music) and preview.html (which plays the music)
into OUTDIR. Music: wav, flac, ogg, mp3.

A rule-based dance teacher, not a learned model: beats, downbeats, tempo and energy from librosa;
moves (bounces, step-touches, punches, claps, hip sway, turns, kick-steps, disco points) placed on
the beats and bars, bigger where the music is louder; --seed varies the choice.

  umo dance song.ogg -o out/dance --style hiphop --seed 2
"""


def _log(msg: str) -> None:
    print(f"umo: {msg}", file=sys.stderr)


def _done(paths: dict, started: float) -> None:
    for p in paths.values():
        print(p)
    _log(f"done in {time.perf_counter() - started:.1f} s")


def cmd_generate(args: argparse.Namespace) -> int:
    from umo.motion.jobs import generate, write_motion

    started = time.perf_counter()
    motion = generate(args.prompt, seconds=args.seconds, seed=args.seed, fps=args.fps, log=_log)
    _done(write_motion(motion.animation, args.output, title=args.prompt[:80], log=_log), started)
    return 0


def cmd_dance(args: argparse.Namespace) -> int:
    from umo.motion.jobs import dance_file, write_motion

    started = time.perf_counter()
    d = dance_file(args.music, style=args.style, seed=args.seed, fps=args.fps, log=_log)
    _done(write_motion(d.animation, args.output, title=f"{Path(args.music).name} ({args.style})", log=_log), started)
    return 0


def _fps(value: str) -> int:
    from umo.cli import _fps as fps  # the one --fps check of every command

    return fps(value)


def add_generate_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help=GENERATE_SUMMARY, description=GENERATE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt", help="what the person does, e.g. \"waves with the right hand, then bows\"")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (created if missing)")
    p.add_argument("--seconds", type=float, help="length of the take: padded with standing still or time-scaled")
    p.add_argument("--seed", type=int, default=0, help="varies amplitudes, timings and step lengths")
    p.add_argument("--fps", type=_fps, default=30, help="frames per second (default 30)")
    p.set_defaults(func=cmd_generate)
    return p


def add_dance_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("dance", help=DANCE_SUMMARY, description=DANCE_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("music", type=Path, help="the music: wav, flac, ogg or mp3")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (created if missing)")
    p.add_argument("--style", choices=DANCE_STYLE_NAMES, default="pop",
                   help="pop (bouncy: step-touches, punches, claps), hiphop (low, heavy bounces), chill (hip sway) "
                        "(default pop)")
    p.add_argument("--seed", type=int, default=0, help="varies the moves and their sides")
    p.add_argument("--fps", type=_fps, default=30, help="frames per second (default 30)")
    p.set_defaults(func=cmd_dance)
    return p
