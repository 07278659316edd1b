"""``umo bench``: the speed of animator configurations, measured the same way for each.

For each configuration (umo.eval.baselines names: rules, rules@60, loudness, later model:PATH) and
each thread count, a fresh Python process (so that thread settings and peak memory are its own):

- sets OMP/OPENBLAS/MKL_NUM_THREADS (numpy's BLAS) before numpy loads, and torch.set_num_threads
  where the animator uses torch;
- animates the clip once to warm up, then ``repeats`` times: the median is the offline compute;
  ms/frame = median / frames, RTF = median / audio seconds (below 1: faster than real time);
- streams the clip chunk by chunk where the animator has a streaming path (ms of compute per frame
  produced); otherwise says "offline only";
- reports its peak resident memory (VmHWM; resource.getrusage ru_maxrss where /proc is absent).

Process start-up (``python -c "import umo.animator.rules"`` in a fresh process) is measured apart,
as is the transcript's loading, which no row includes. Algorithmic latency comes from the
configuration (lookahead + one chunk), not from a measurement. The end-to-end streaming latency
through the server is reported once a server exists (issue 5); until then the report says
"server: not available".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from umo.errors import UmoError

REPO = Path(__file__).resolve().parents[3]
DEFAULT_AUDIO = REPO / "tests" / "fixtures" / "arctic_a0009.wav"
DEFAULT_TRANSCRIPT = REPO / "tests" / "fixtures" / "arctic_a0009_phone.lab"
DEFAULT_CONFIGS = ("rules", "rules@60", "loudness")
DEFAULT_REPEATS = 5
STARTUP_REPEATS = 3
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


# --- the worker: one configuration, one thread count, in its own process ---------------------------------
def measure(config: str, threads: int, repeats: int, audio_path: Path, transcript: Path | None) -> dict:
    """Runs in the worker process: times one configuration (see the module docstring)."""
    from umo.constants import SAMPLE_RATE
    from umo.eval.baselines import get_animator
    from umo.formats.audio import load_audio

    spec = get_animator(config)
    if spec.threads_via_torch or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    audio = load_audio(audio_path)
    timing = None
    if transcript is not None and spec.needs_transcript:
        from umo.pipeline import load_timing

        timing = load_timing(audio, transcript=transcript)
    seconds = len(audio) / SAMPLE_RATE
    anim = spec.animate(audio, timing)  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        anim = spec.animate(audio, timing)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    out = {"config": config, "description": spec.description, "threads": threads, "repeats": len(times),
           "audio_s": seconds, "frames": anim.num_frames, "fps": spec.fps, "offline_s": med,
           "offline_ms_per_frame": 1000 * med / anim.num_frames, "rtf": med / seconds,
           "latency": spec.latency, "stream_ms_per_frame": None, "stream_p95_push_ms": None}
    if spec.stream is not None:
        chunk = int(round((spec.chunk_s or 0.1) * SAMPLE_RATE))
        push_ms, frames = [], 0
        session = spec.stream()
        for start in range(0, len(audio), chunk):
            t0 = time.perf_counter()
            produced = session.push(audio[start:start + chunk])
            push_ms.append(1000 * (time.perf_counter() - t0))
            frames += _count_frames(produced)
        t0 = time.perf_counter()
        frames += _count_frames(session.flush())
        push_ms.append(1000 * (time.perf_counter() - t0))
        out["stream_ms_per_frame"] = sum(push_ms) / max(frames, 1)
        out["stream_p95_push_ms"] = float(np.percentile(push_ms, 95))
    out["peak_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB.

    VmHWM from /proc (Linux) belongs to this program's own address space; ru_maxrss (the fallback)
    also counts what the parent held when it forked this process.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB; macOS: bytes


def _count_frames(produced) -> int:
    if produced is None:
        return 0
    if isinstance(produced, dict):
        produced = next(iter(produced.values()))
    return len(getattr(produced, "face", produced))


# --- the parent ----------------------------------------------------------------------------------------------
def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = str(threads)
    return env


def startup_seconds(repeats: int = STARTUP_REPEATS) -> dict[str, float]:
    """Median wall time of fresh interpreters: bare Python, and importing umo's rule animator."""
    out = {}
    for label, code in (("python", "pass"), ("import umo.animator.rules", "import umo.animator.rules")):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=_env(1))
            times.append(time.perf_counter() - t0)
        out[label] = float(np.median(times))
    return out


def server_status() -> str:
    if importlib.util.find_spec("umo.server") is None:
        return "server: not available (no umo.server yet): no end-to-end streaming latency to report"
    return "server: umo.server exists but this bench has no latency probe for it yet: not measured"


def run_bench(configs: list[str], threads: tuple[int, ...] = (1, 2), repeats: int = DEFAULT_REPEATS,
              audio: Path | None = None, transcript: Path | None = None, log=None) -> dict:
    """Measures every configuration at every thread count, each in a fresh process."""
    from umo.eval.baselines import get_animator

    audio = Path(audio) if audio else DEFAULT_AUDIO
    if transcript is None and audio == DEFAULT_AUDIO:
        transcript = DEFAULT_TRANSCRIPT
    if not audio.is_file():
        raise UmoError(f"bench audio not found: {audio} (give --audio FILE)")
    for c in configs:  # fail early on an unknown name or a missing transcript (models load in the workers)
        if c.startswith("model:"):
            continue
        spec = get_animator(c)
        if spec.needs_transcript and transcript is None:
            raise UmoError(f"{c} needs a transcript: give --transcript with --audio")
    rows = []
    for c in configs:
        for n in threads:
            if log:
                log(f"bench: {c} on {n} thread(s)")
            cmd = [sys.executable, "-m", "umo.eval.bench", "--worker", c, "--threads", str(n),
                   "--repeats", str(repeats), "--audio", str(audio)]
            if transcript is not None:
                cmd += ["--transcript", str(transcript)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(n))
            if proc.returncode != 0:
                raise UmoError(f"bench worker for {c} ({n} threads) failed:\n{proc.stderr.strip()[-2000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"audio": str(audio), "transcript": None if transcript is None else str(transcript),
            "repeats": repeats, "startup_s": startup_seconds(), "server": server_status(), "rows": rows,
            "cpu": _cpu_name(), "python": sys.version.split()[0]}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def _f(v, fmt: str, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}{fmt}}"


def format_report(report: dict, vs: str | None = None) -> str:
    rows = report["rows"]
    a = rows[0]["audio_s"] if rows else 0.0
    lines = [f"speed: {Path(report['audio']).name} ({a:.2f} s of audio), median of {report['repeats']} runs "
             f"after 1 warm-up, a fresh process per row; CPU {report['cpu']}",
             f"{'config':<14}{'threads':>8}{'frames':>8}{'ms/frame':>10}{'RTF':>9}{'stream ms/f':>13}"
             f"{'peak MiB':>10}  algorithmic latency"]
    for r in rows:
        lines.append(f"{r['config']:<14}{r['threads']:>8}{r['frames']:>8}{r['offline_ms_per_frame']:>10.3f}"
                     f"{r['rtf']:>9.4f}{_f(r['stream_ms_per_frame'], '.3f', 13)}{r['peak_mib']:>10.0f}  "
                     f"{r['latency']}")
    if vs:
        base = {r["threads"]: r for r in rows if r["config"] == vs}
        lines += ["", f"ratios to {vs} (same run; below 1: faster / smaller)",
                  f"{'config':<14}{'threads':>8}{'ms/frame':>10}{'RTF':>9}{'peak MiB':>10}"]
        for r in rows:
            b = base.get(r["threads"])
            if r["config"] == vs or b is None:
                continue
            lines.append(f"{r['config']:<14}{r['threads']:>8}"
                         f"{r['offline_ms_per_frame'] / b['offline_ms_per_frame']:>10.2f}"
                         f"{r['rtf'] / b['rtf']:>9.2f}{r['peak_mib'] / b['peak_mib']:>10.2f}")
    st = report["startup_s"]
    lines += ["", "process start-up (fresh interpreter, median of "
              f"{STARTUP_REPEATS}): python {1000 * st['python']:.0f} ms; "
              f"python -c 'import umo.animator.rules' {1000 * st['import umo.animator.rules']:.0f} ms",
              "not included above: loading the audio and the transcript; RTF and ms/frame are offline "
              "(whole clip at once)", report["server"]]
    return "\n".join(lines)


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")


def _worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m umo.eval.bench")
    p.add_argument("--worker", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    p.add_argument("--audio", type=Path, required=True)
    p.add_argument("--transcript", type=Path)
    a = p.parse_args(argv)
    print(json.dumps(measure(a.worker, a.threads, a.repeats, a.audio, a.transcript)))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
