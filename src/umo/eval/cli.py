"""``umo eval`` and ``umo bench``: argument parsing over umo.eval.suite and umo.eval.bench.

umo.cli lists them by EVAL_SUMMARY and BENCH_SUMMARY and calls :func:`add_eval_parser` or
:func:`add_bench_parser` on its subparsers when one is chosen (they import the library's defaults).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from umo.constants import BODIES
from umo.errors import UmoError

EVAL_HELP = """\
Score animation against ground truth, beside baselines computed in the same run.

  umo eval PRED GT [--audio WAV] [--transcript FILE] [--out DIR]
  umo eval --suite DIR            cases listed in DIR/suite.toml or suite.json
  umo eval --suite motion         umo generate's action checks and umo dance's beat alignment (BAS),
                                  foot skating, floor penetration and diversity, beside baselines
  umo eval --suite real           the held-out real clips (FACEGOOD 1114_3_16; BEAT 2_scott_0_1_1
                                  from ../shared/data when present)

PRED and GT: .csv (Live Link Face), .json (BEAT ARKit), .npy (FACEGOOD), .bvh (any skeleton), .npz
(SMPL-X). Both are resampled onto GT's frame times over the time both cover (never assuming equal
frame counts); the overlap is reported. Face is scored on the channels GT holds; body after forward
kinematics in shoulder widths. --candidate runs an animator on the audio as another system: rules,
loudness, probe (a log-mel ridge fitted on the visible FACEGOOD takes), model:PATH (optionally @FPS). Baselines: loudness jaw, neutral face, still pose, the
capture shifted by half its length.
"""

EVAL_SUMMARY = "score animation against ground truth and baselines"
BENCH_SUMMARY = "speed of animator configurations"

BENCH_HELP = """\
Speed of animator configurations: compute per frame, real-time factor, peak memory, on one and two
threads (a fresh process per setting), the median of repeated runs after a warm-up; process
start-up time separately; algorithmic latency from the configuration. With the learned model in
the run, umo serve too: real-time sessions (latency, keeping up), and live text sessions (time from
the first complete clause to its audio and frames, gaps; the offline cascade on that clause beside).

  umo bench                        rules, rules@60, loudness
  umo bench rules --vs loudness    ratios of rules' numbers to loudness's, measured in the same run
  umo bench model --soak-minutes 30 --sessions 32
                                   a soak: 32 real-time sessions through umo serve, renewed for 30 minutes;
                                   the server's memory after a warm-up and at the end (growth in %)
"""


def _log(msg: str) -> None:
    print(f"umo: {msg}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    from umo.eval import suite as S

    candidates = tuple(args.candidate or ())
    skipped: list[str] = []
    if args.suite is not None:
        if args.pred is not None:
            raise UmoError("give either PRED GT or --suite, not both")
        if args.suite == "motion":  # full-body motion: its own tables (umo.eval.motion)
            from umo.eval.motion import motion_report

            print(motion_report(seed=0, log=_log))
            return 0
        if args.suite == "real":
            from umo.inference import default_weights_available

            cases, skipped = S.real_suite(candidates or S.real_candidates(default_weights_available()))
        else:
            cases = S.load_suite(Path(args.suite), candidates)
    else:
        if args.pred is None or args.gt is None:
            raise UmoError("give PRED and GT files (or --suite DIR, or --suite real)")
        cases = [S.Case(name=args.name or Path(args.pred).stem, audio=args.audio, transcript=args.transcript,
                        language=args.language, gt=args.gt, pred=args.pred, pred_body=args.pred_body,
                        candidates=candidates, baselines=not args.no_baselines)]
    results = S.run(cases, args.out, plots=not args.no_plots, log=_log)
    print(S.format_tables(results))
    for s in skipped:
        print(f"skipped: {s}")
    print()
    print(S.LEGEND)
    if args.out is not None:
        print(f"\nwrote {args.out / 'results.json'} and plots in {args.out}")
    return 0


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help=EVAL_SUMMARY,
                              description=EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pred", nargs="?", type=Path, help="the animation to score")
    p.add_argument("gt", nargs="?", type=Path, help="the ground truth (its face and/or body)")
    p.add_argument("--suite", help="a folder with suite.toml/suite.json, 'real', or 'motion'")
    p.add_argument("--audio", type=Path, help="the take's audio (onsets, envelope, animator candidates)")
    p.add_argument("--transcript", type=Path, help="TextGrid, .lab or .txt (lets the rules candidate run)")
    p.add_argument("--language", default="en", help="language of the speech (default en)")
    p.add_argument("--pred-body", type=Path, help="a body file (.bvh) joining a face-only PRED")
    p.add_argument("--candidate", action="append", metavar="NAME",
                   help="an animator to run on the audio and score: rules, loudness, model:PATH, @FPS (repeatable)")
    p.add_argument("--name", help="case name in the table (default: PRED's stem)")
    p.add_argument("--no-baselines", action="store_true", help="score only PRED and the candidates")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("-o", "--out", type=Path, help="write results.json and PNG plots here")
    p.set_defaults(func=cmd_eval)
    return p


def cmd_bench(args: argparse.Namespace) -> int:
    from umo.eval import bench as B

    from umo.inference import default_weights_available

    configs = list(args.configs or (B.DEFAULT_CONFIGS + (("model",) if default_weights_available() else ())))
    if args.sessions and not all(1 <= n <= 256 for n in args.sessions):
        raise UmoError(f"--sessions takes counts from 1 to 256 (got {' '.join(map(str, args.sessions))})")
    if not 1 <= args.server_threads <= 64:
        raise UmoError(f"--server-threads takes 1 to 64 (got {args.server_threads})")
    from umo.serve.batching import MAX_GATHER_S

    if args.server_gather_ms and not all(0 <= g <= 1000 * MAX_GATHER_S for g in args.server_gather_ms):
        raise UmoError(f"--server-gather-ms takes 0 to {1000 * MAX_GATHER_S:g} "
                       f"(got {' '.join(map(str, args.server_gather_ms))})")
    if not 1 <= args.server_seconds <= 600:
        raise UmoError(f"--server-seconds takes 1 to 600 (got {args.server_seconds:g})")
    if args.soak_minutes is not None:
        return _soak(args, configs)
    if args.vs and args.vs not in configs:
        configs.append(args.vs)
    report = B.run_bench(configs, threads=tuple(args.threads), repeats=args.repeats, audio=args.audio,
                         transcript=args.transcript, log=_log,
                         server_sessions=tuple(args.sessions) if args.sessions else None, server_format=args.frames,
                         server_threads=args.server_threads, server_engines=tuple(dict.fromkeys(args.server_engine)),
                         server_gather_ms=tuple(dict.fromkeys(args.server_gather_ms)) if args.server_gather_ms else (None,),
                         server_seconds=args.server_seconds, server_bodies=tuple(dict.fromkeys(args.server_body)))
    print(B.format_report(report, vs=args.vs))
    if args.out is not None:
        B.write_json(report, args.out)
        print(f"\nwrote {args.out}")
    return 0


def _soak(args: argparse.Namespace, configs: list[str]) -> int:
    from umo.eval import bench as B

    if not 0 < args.soak_minutes <= 24 * 60:
        raise UmoError(f"--soak-minutes takes more than 0 and up to {24 * 60} (got {args.soak_minutes:g})")
    weights = B._model_weights(configs)
    if weights is None:
        raise UmoError("the soak runs umo serve, which runs the learned model: umo bench model --soak-minutes M")
    sessions = args.sessions or [B.DEFAULT_SOAK_SESSIONS]
    if len(sessions) != 1:
        raise UmoError(f"a soak takes one --sessions N (got {' '.join(map(str, sessions))})")
    if len(args.server_engine) != 1 or (args.server_gather_ms and len(args.server_gather_ms) != 1):
        raise UmoError("a soak measures one server: give one --server-engine and at most one --server-gather-ms")
    report = B.soak_server(weights, sessions[0], args.soak_minutes, session_seconds=args.server_seconds,
                           fmt=args.frames, log=_log, threads=args.server_threads, engine=args.server_engine[0],
                           gather_ms=args.server_gather_ms[0] if args.server_gather_ms else None)
    print(B.format_soak(report))
    if args.out is not None:
        B.write_json(report, args.out)
        print(f"\nwrote {args.out}")
    return 0


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    from umo.eval.bench import DEFAULT_CONFIGS, DEFAULT_REPEATS
    from umo.serve.worker import ENGINES

    p = subparsers.add_parser("bench", help=BENCH_SUMMARY,
                              description=BENCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="*", metavar="CONFIG",
                   help=f"animator names (default: {' '.join(DEFAULT_CONFIGS)}); model:PATH once the model exists")
    p.add_argument("--vs", metavar="CONFIG", help="report each figure as a ratio to this configuration's")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help=f"timed runs after one warm-up (default {DEFAULT_REPEATS})")
    p.add_argument("--audio", type=Path, help="speech to animate (default: the bundled ARCTIC a0009, 3.4 s)")
    p.add_argument("--transcript", type=Path, help="its transcript (default: the bundled phone labels)")
    p.add_argument("--sessions", type=int, nargs="+", metavar="N",
                   help="concurrent sessions for the server measurement (default 1 8 32 when the model is benched)")
    p.add_argument("--frames", choices=("json", "binary"), default="json", help="the server's frame format (default json)")
    p.add_argument("--server-threads", type=int, default=1,
                   help="torch threads of the measured server's model worker (umo serve --threads; default 1)")
    p.add_argument("--server-engine", nargs="+", choices=ENGINES, default=["process"],
                   help="where the measured server runs the model (umo serve --engine; default process); "
                        "both: measured one after the other in the same run")
    p.add_argument("--server-gather-ms", type=float, nargs="+", metavar="MS",
                   help="umo serve --gather-ms of the measured server (default: its default); several: each "
                        "measured in the same run (0: a round as soon as any audio arrives)")
    p.add_argument("--server-body", nargs="+", choices=BODIES, default=["animator"],
                   help="the measured sessions' body (the start message's \"body\"): animator (the model's, default) "
                        "or gen (the continuous body generator beside it); several: each measured in the same run")
    p.add_argument("--server-seconds", type=float, default=10.0, metavar="S",
                   help="speech each measured session streams (default 10; the 11 s clip repeats for longer: "
                        "60 shows whether latency stays put over a minute)")
    p.add_argument("--soak-minutes", type=float, metavar="M",
                   help="instead of the speed table, a soak of umo serve: --sessions N (one count; default 32) "
                        "real-time sessions of --server-seconds of speech, renewed for M minutes; reports the "
                        "server's resident memory (process tree) after a warm-up round and at the end")
    p.add_argument("-o", "--out", type=Path, help="also write the report as JSON to this file")
    p.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m umo.eval.cli eval ...``) until umo.cli wires these in."""
    parser = argparse.ArgumentParser(prog="umo")
    sub = parser.add_subparsers(dest="command", required=True)
    add_eval_parser(sub)
    add_bench_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UmoError as e:
        print(f"umo: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
