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

Process start-up (:func:`startup_commands`: bare Python, ``umo --help``, importing the rule
animator and, with a learned model in the run, importing umo.inference and loading the model, each
in fresh processes) is measured apart, as is the transcript's loading, which no row includes. Algorithmic latency comes from the
configuration (lookahead + one chunk), not from a measurement.

Live text (:mod:`umo.eval.bench_text`) is measured with the server: text sessions of a chat
model's reply streamed faster than speech, the time from the first complete clause to its audio and
frames, gaps, and the offline cascade on the same clause as the baseline.

End-to-end streaming latency through ``umo serve`` (:func:`measure_server`) is measured whenever
the configurations include the learned model (``model`` or ``model:PATH``: the server runs it): a
fresh server process on a free loopback port, then 1, 8 and 32 concurrent clients, each streaming
real speech at real time in 20 ms chunks of s16le. Per frame: latency = the moment the frame is
received minus the moment the chunk holding the audio sample at the frame's time was sent (so it
includes the model's lookahead, the feature hop and the chunking, besides compute and transport);
also "after its audio", from the last sample the frame needs. Reported: p50/p95/p99, the server's
CPU (cores busy over the run) and peak resident memory, both summed over its process tree (the
model's own process, with the default process engine, also apart), the client's CPU (the same
machine), and the server's batching (mean sessions per round, round time). ``--server-engine
process thread`` measures both engines one after the other in the same run. Without the model the
report says "server: not available" for that run.

A soak (:func:`soak_server`, ``umo bench model --soak-minutes M --sessions N``) runs N real-time
sessions through one server process, renewed round after round for M minutes, and reports the
server's resident memory (its process tree) after a warm-up round and at the end, and the growth.
"""

from __future__ import annotations

import argparse
import contextlib
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


def startup_commands(weights: str | None = None) -> dict[str, list[str]]:
    """What start-up is measured on, label -> command line: bare Python, the ``umo`` command's own
    start-up (``umo --help``: its parser, no library), importing the rule animator and, when the run
    benches a learned model (``weights`` as :func:`_model_weights` gives them; an untrained preset
    has no file to load), importing umo.inference and loading that model: what any command that runs
    the model waits for before its first frame."""
    py = sys.executable
    commands = {"python": [py, "-c", "pass"],
                "umo --help": [py, "-m", "umo", "--help"],
                "import umo.animator.rules": [py, "-c", "import umo.animator.rules"]}
    if weights is not None and not weights.startswith("untrained:"):
        path = None if weights == "bundled" else str(Path(weights).resolve())
        commands[f"import umo.inference + load the {'bundled ' if path is None else ''}model"] = [
            py, "-c", f"from umo.inference import load_model; load_model({path!r})"]
    return commands


def startup_seconds(weights: str | None = None, repeats: int = STARTUP_REPEATS) -> dict[str, float]:
    """Median wall time of each of :func:`startup_commands` in fresh processes (one thread)."""
    out = {}
    for label, cmd in startup_commands(weights).items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=_env(1), stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        out[label] = float(np.median(times))
    return out


DEFAULT_SERVER_SESSIONS = (1, 8, 32)
DEFAULT_SOAK_SESSIONS = 32
DEFAULT_SERVER_AUDIO = REPO / "tests" / "fixtures" / "jfk.flac"


def server_status(measured: list[dict] | None = None, reason: str | None = None) -> str:
    """One report line per measured session count, or why the server was not measured."""
    if importlib.util.find_spec("umo.serve") is None or importlib.util.find_spec("websockets") is None:
        return "server: not available (umo.serve or its websockets dependency is missing)"
    if not measured:
        return f"server: not available in this run ({reason or 'no model configuration'})"
    return "\n".join(_format_server(measured))


def model_size(config: str) -> dict | None:
    """Parameters (all, and active per token: top-k of the MoE experts) and weights file size of a
    model configuration (model, model:PATH or model:PRESET, optionally @FPS); None for the others."""
    from umo.eval.baselines import load_model_spec
    from umo.models.moe import MoE

    loaded = load_model_spec(config)
    if loaded is None:
        return None
    model, path, _ = loaded
    total = sum(p.numel() for p in model.parameters())
    idle = sum(m.params_per_expert * (m.n_experts - m.top_k) for m in model.modules() if isinstance(m, MoE))
    return {"config": config, "params": total, "active_params": total - idle,
            "file_mib": None if path is None else path.stat().st_size / 2**20}


def _model_runtimes(configs: list[str]) -> list[str]:
    """What runs the keyframe steps in the run's model configurations (model+onnx, model+torch, model:
    auto), each once, in order: the server is measured with each."""
    from umo.eval.baselines import split_engine

    out = [split_engine(c.split("@", 1)[0])[1] for c in configs
           if c.split("@", 1)[0].startswith("model")]
    return list(dict.fromkeys(out)) or ["auto"]


def _model_weights(configs: list[str]) -> str | None:
    """The weights the server should run: the first model config's; None: no model in the run."""
    from umo.eval.baselines import split_engine

    for c in configs:
        base = split_engine(c.split("@", 1)[0])[0].removesuffix("+phones")
        if base == "model":
            return "bundled"
        if base.startswith("model:"):
            from umo.models import PRESETS

            what = base[len("model:"):]
            return f"untrained:{what}" if what in PRESETS else what
    return None


def measure_server(weights: str = "bundled", sessions: tuple[int, ...] = DEFAULT_SERVER_SESSIONS,
                   audio: Path = DEFAULT_SERVER_AUDIO, seconds: float = 10.0, chunk_ms: float = 20.0,
                   fmt: str = "json", log=None, threads: int = 1, engine: str = "process",
                   gather_ms: float | None = None, runtime: str = "auto", body: str | None = None) -> list[dict]:
    """End-to-end latency through a fresh ``umo serve`` process (see the module docstring).

    weights: "bundled", a checkpoint path, or "untrained:PRESET" (an untrained model of that preset:
    the same compute, for measuring before weights exist). engine: where the server runs the model
    ("process": its own child process, the default of umo serve; "thread": the server's process).
    gather_ms: umo serve --gather-ms (None: its default). runtime: umo serve --engine (auto, torch, onnx).
    body: the sessions' "body" (None: the server's default, the model's own).
    CPU and memory count the server's whole process tree."""
    pcm = _speech(audio, seconds)
    if gather_ms is None:
        gather_ms = _default_gather_ms()
    with _bench_server(weights, max(sessions), threads, engine, gather_ms, runtime) as (proc, port):
        rows = []
        runs = _healthz(port).get("model", {}).get("keyframe_steps", runtime)
        for n in sessions:
            if log:
                log(f"bench: server ({engine} engine, keyframe steps in {runs}, gather {gather_ms:g} ms), {n} "
                    "concurrent real-time session(s)")
            pids = _proc_tree(proc.pid)
            eng0 = _healthz(port)["engine"]
            cpu0, t0, ru0 = [_proc_cpu_s(p) for p in pids], time.perf_counter(), _self_cpu_s()
            row = _run_clients(port, n, pcm, chunk_ms, fmt, body)
            wall = time.perf_counter() - t0
            cpu = [(_proc_cpu_s(p) - c0) / wall for p, c0 in zip(pids, cpu0)]
            row.update(sessions=n, audio_s=len(pcm) / 16000, chunk_ms=chunk_ms, format=fmt, wall_s=wall, threads=threads,
                       server_cores=sum(cpu), model_process_cores=sum(cpu[1:]) if engine == "process" else None,
                       client_cores=(_self_cpu_s() - ru0) / wall,
                       server_peak_mib=sum(_proc_peak_mib(p) for p in pids),
                       engine=_round_window(eng0, _healthz(port)["engine"]), server_engine=engine, weights=weights,
                       gather_ms=float(gather_ms), runtime=runs, body=body or "animator")
            rows.append(row)
        return rows


def _speech(audio: Path, seconds: float) -> np.ndarray:
    """``seconds`` of the clip at 16 kHz, repeated when the clip is shorter."""
    from umo.formats.audio import load_audio

    pcm = load_audio(audio)
    return np.tile(pcm, -(-int(seconds * 16000) // len(pcm)))[: int(seconds * 16000)]


def _default_gather_ms() -> float:
    from umo.serve.batching import GATHER_S

    return 1000 * GATHER_S


@contextlib.contextmanager
def _bench_server(weights: str, max_sessions: int, threads: int, engine: str, gather_ms: float,
                  runtime: str = "auto"):
    """A fresh ``umo serve`` process on a free loopback port -> (its Popen, the port); stopped after.
    engine: where it runs the model (process, thread); runtime: what runs the keyframe steps."""
    cmd = [sys.executable, "-m", "umo.eval.bench", "--serve-worker", weights, "--max-sessions", str(max_sessions),
           "--threads", str(threads), "--engine", engine, "--gather-ms", str(gather_ms), "--runtime", runtime]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(threads))
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            proc.kill()
            raise UmoError(f"the bench server did not start:\n{proc.stderr.read()[-2000:]}")
        yield proc, int(line.split()[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def soak_server(weights: str = "bundled", sessions: int = DEFAULT_SOAK_SESSIONS, minutes: float = 30.0,
                audio: Path = DEFAULT_SERVER_AUDIO, session_seconds: float = 10.0, chunk_ms: float = 20.0,
                fmt: str = "json", log=None, threads: int = 1, engine: str = "process",
                gather_ms: float | None = None, runtime: str = "auto") -> dict:
    """A soak of a fresh ``umo serve`` process: ``sessions`` concurrent real-time sessions of
    ``session_seconds`` of speech each, then as many new ones, round after round, until ``minutes``
    have passed (the last round finishes). The first round is the warm-up (every code path run, the
    model's KV pools and allocator at their working size); the server's resident memory (VmRSS summed
    over its process tree, the model's process included) is read after it and after every round.
    Growth = end / after warm-up - 1: memory a long-running server leaks shows there, where a
    session or two would not. Each round's latency and frame rate show whether it slows down too."""
    pcm = _speech(audio, session_seconds)
    if gather_ms is None:
        gather_ms = _default_gather_ms()
    with _bench_server(weights, sessions, threads, engine, gather_ms, runtime) as (proc, port):
        if log:
            log(f"soak: warm-up, {sessions} real-time session(s) of {session_seconds:g} s")
        _run_clients(port, sessions, pcm, chunk_ms, fmt)
        rss0 = _tree_rss_mib(proc.pid)
        rounds = []
        t0 = time.perf_counter()
        while not rounds or time.perf_counter() - t0 < 60 * minutes:  # one round at least
            row = _run_clients(port, sessions, pcm, chunk_ms, fmt)
            rounds.append({"t_s": time.perf_counter() - t0, "rss_mib": _tree_rss_mib(proc.pid),
                           "latency_ms": row["latency_ms"], "fps_received": row["fps_received"]})
            if log:
                t = rounds[-1]["t_s"]
                log(f"soak: {int(t // 60)}:{int(t % 60):02d} of {minutes:g} min, RSS {rounds[-1]['rss_mib']:.0f} MiB, "
                    f"p50 {row['latency_ms']['p50']:.0f} ms")
        health = _healthz(port)
    end = rounds[-1]["rss_mib"]
    return {"weights": weights, "sessions": sessions, "minutes": minutes, "elapsed_s": rounds[-1]["t_s"],
            "session_s": len(pcm) / 16000, "chunk_ms": chunk_ms, "format": fmt, "server_engine": engine,
            "threads": threads, "gather_ms": float(gather_ms), "rounds": rounds,
            "sessions_run": sessions * (len(rounds) + 1), "server_total_sessions": health["total_sessions"],
            "rss_start_mib": rss0, "rss_end_mib": end, "rss_max_mib": max(r["rss_mib"] for r in rounds),
            "rss_growth_pct": 100 * (end / rss0 - 1)}


def format_soak(report: dict) -> str:
    r, first, last = report, report["rounds"][0], report["rounds"][-1]
    return "\n".join([
        (f"soak: umo serve ({r['server_engine']} engine, weights {r['weights']}), {r['sessions']} concurrent real-time "
         f"session(s) of {r['session_s']:g} s of speech in {r['chunk_ms']:g} ms chunks, {r['format']} frames, renewed "
         f"for {r['elapsed_s'] / 60:.1f} min ({len(r['rounds'])} rounds after 1 warm-up round; "
         f"{r['server_total_sessions']} sessions served)"),
        (f"server RSS (process tree): {r['rss_start_mib']:.0f} MiB after the warm-up, {r['rss_end_mib']:.0f} MiB at the "
         f"end: {r['rss_growth_pct']:+.1f} % (max {r['rss_max_mib']:.0f} MiB)"),
        (f"latency p50 / p95: first round {first['latency_ms']['p50']:.0f} / {first['latency_ms']['p95']:.0f} ms, "
         f"last round {last['latency_ms']['p50']:.0f} / {last['latency_ms']['p95']:.0f} ms; frames per second "
         f"{first['fps_received']:.1f} then {last['fps_received']:.1f}"),
    ])


def _proc_tree(pid: int) -> list[int]:
    """pid and its descendants (the process engine's model process), parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return out


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_peak_mib(pid: int) -> float:
    return _proc_status_mib(pid, "VmHWM:")


def _proc_status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tree_rss_mib(pid: int) -> float:
    """Resident memory now (VmRSS) of pid and its descendants, MiB (a process that exits meanwhile: 0)."""
    total = 0.0
    for p in _proc_tree(pid):
        with contextlib.suppress(OSError):
            total += _proc_status_mib(p, "VmRSS:")
    return total


def _self_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _round_window(before: dict, after: dict) -> dict:
    """The engine's statistics with the mean batch and the mean round time of this measurement's
    rounds alone (the summary's own window may reach into the previous session count's)."""
    out = dict(after)
    n = after.get("rounds", 0) - before.get("rounds", 0)
    if n > 0 and "streams_stepped" in after:
        out["mean_batch"] = (after["streams_stepped"] - before.get("streams_stepped", 0)) / n
        out["round_ms_mean"] = 1000 * (after["busy_s"] - before.get("busy_s", 0.0)) / n
    return out


def _healthz(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        return json.loads(r.read())


def _run_clients(port: int, n: int, pcm: np.ndarray, chunk_ms: float, fmt: str, body: str | None = None) -> dict:
    import asyncio

    from websockets.exceptions import ConnectionClosed

    try:
        return asyncio.run(_clients(port, n, pcm, chunk_ms, fmt, body))
    except (ConnectionClosed, OSError, asyncio.TimeoutError) as e:  # a server that fell far behind, or died
        raise UmoError(f"bench: {n} session(s){' with body ' + body if body else ''} lost their connection to the "
                       f"measured server ({type(e).__name__}: {e}); it fell behind or stopped: measure fewer "
                       "--sessions") from None


async def _clients(port: int, n: int, pcm: np.ndarray, chunk_ms: float, fmt: str, body: str | None = None) -> dict:
    import asyncio

    import orjson
    from websockets.asyncio.client import connect

    from umo.models.features import samples_needed
    from umo.serve.protocol import encode_pcm16

    chunk = round(chunk_ms * 16)
    data = encode_pcm16(pcm)
    n_chunks = -(-len(data) // chunk)
    rng = np.random.default_rng(0)

    async def one(k: int) -> dict:
        await asyncio.sleep(float(rng.uniform(0, chunk_ms / 1000)))  # clients are not in lockstep
        sent = np.full(n_chunks, np.nan)
        got: list[tuple[int, float]] = []
        async with connect(f"ws://127.0.0.1:{port}/stream", max_size=None) as ws:
            start = {"type": "start", "sample_rate": 16000, "format": fmt, **({"body": body} if body else {})}
            await ws.send(json.dumps(start))
            ready = json.loads(await ws.recv())
            if ready.get("type") != "ready":
                raise UmoError(f"bench client {k}: {ready}")

            async def receive() -> None:
                while True:
                    m = await ws.recv()
                    now = time.perf_counter()
                    if isinstance(m, bytes):
                        from umo.serve.protocol import parse_frames_binary

                        f = parse_frames_binary(m)
                        got.extend((f["start"] + i, now) for i in range(f["face"].shape[0]))
                        continue
                    msg = orjson.loads(m)
                    if msg["type"] == "frames":
                        got.extend((msg["start"] + i, now) for i in range(len(msg["frames"])))
                    elif msg["type"] in ("done", "error"):
                        if msg["type"] == "error":
                            raise UmoError(f"bench client {k}: {msg['message']}")
                        return

            rx = asyncio.create_task(receive())
            t0 = time.perf_counter()
            for c in range(n_chunks):
                delay = t0 + c * chunk / 16000 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[c] = time.perf_counter()
                await ws.send(data[c * chunk:(c + 1) * chunk].tobytes())
            await ws.send(json.dumps({"type": "end"}))
            await rx
        return {"sent": sent, "got": got, "lookahead": ready["lookahead_s"]}

    results = await asyncio.gather(*(one(k) for k in range(n)))
    la_frames = round((results[0]["lookahead"] - 0.01) * 30)
    total = len(data)
    e2e, after = [], []
    rates, growth = [], []
    for r in results:
        live = []  # (frame, received, latency) of the frames made while the audio streamed
        for i, t_recv in r["got"]:
            need = samples_needed(i, la_frames)
            if need > total:  # produced by the end-of-stream flush: not a live frame
                continue
            lat = t_recv - r["sent"][min(n_chunks - 1, (i * 16000 // 30) // chunk)]
            live.append((i, t_recv, lat))
            e2e.append(lat)
            after.append(t_recv - r["sent"][min(n_chunks - 1, (need - 1) // chunk)])
        fps, drift = keeping_up(live)
        if fps is not None:
            rates.append(fps)
        if drift is not None:
            growth.append(drift)
    e2e_ms, after_ms = 1000 * np.array(e2e), 1000 * np.array(after)

    def pct(a: np.ndarray) -> dict:
        return {f"p{q}": float(np.percentile(a, q)) for q in (50, 95, 99)} | {"max": float(a.max())}

    return {"frames": int(sum(len(r["got"]) for r in results)), "latency_ms": pct(e2e_ms),
            "after_audio_ms": pct(after_ms), "fps_received": float(np.median(rates)) if rates else 0.0,
            "drift_ms_per_s": 1000 * float(np.median(growth)) if growth else float("nan")}


def keeping_up(live: list[tuple[int, float, float]], fps: int = 30) -> tuple[float | None, float | None]:
    """Whether a session's server kept up, whatever its latency. live: (frame index, time received,
    latency) of its frames made while the audio streamed -> (frames per second from its first frame
    received to its last: ``fps`` when the server keeps up, less when it falls behind; the drift of
    its latency, the slope over the audio's time from its third second on, seconds per second: 0
    when it keeps up, about 0.034 when it makes 29 frames per second of 30).
    None where the session is too short (fewer than 2 frames; under 3 s of audio for the drift)."""
    t = [x[1] for x in live]
    rate = (len(t) - 1) / (max(t) - min(t)) if len(t) > 1 and max(t) > min(t) else None
    steady = [(i / fps, lat) for i, _, lat in live if i >= 2 * fps]
    drift = float(np.polyfit(*zip(*steady), 1)[0]) if len(steady) > fps else None
    return rate, drift


def _format_server(rows: list[dict]) -> list[str]:
    r0 = rows[0]
    lines = [(f"server: umo serve end-to-end, {r0['audio_s']:.1f} s of speech per session at real time in "
              f"{r0['chunk_ms']:.0f} ms chunks, {r0['format']} frames, weights {r0['weights']}, "
              f"{r0.get('threads', 1)} model thread(s); latency = frame "
              "received - its audio sent (includes the model's lookahead + hop + chunk)"),
             "engine: where the model runs (process: its own, beside the server's event loop; thread: in the "
             "server's process); server cores and peak MiB count both processes (model cores: the model's)",
             "fps: live frames each session received per second, its first to its last (median over sessions; the "
             "model makes 30; less: the server fell behind); drift: the slope of a session's latency over its audio "
             "from the third second on, ms per s (median over sessions; about 0 when the server keeps up); "
             "gather: umo serve --gather-ms; batch: sessions per model round, round ms: model time per round (means "
             "over this row's rounds)",
             "steps: what runs the keyframe steps (onnx: onnxruntime for waves of up to 20 sessions); body: the "
             "sessions' body (gen: the continuous body generator streamed beside the model)",
             (f"{'engine':>8}{'steps':>6}{'body':>9}{'gather':>7}{'sessions':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'after-audio p50/p95':>21}"
              f"{'fps':>6}{'drift':>7}{'server cores':>14}{'model cores':>13}{'client cores':>14}{'peak MiB':>10}{'batch':>7}{'round ms':>10}")]
    for r in rows:
        lat, aft, eng = r["latency_ms"], r["after_audio_ms"], r["engine"]
        mc = r.get("model_process_cores")
        g = r.get("gather_ms")
        lines.append(f"{r.get('server_engine', 'thread'):>8}{r.get('runtime', 'torch'):>6}{r.get('body', 'animator'):>9}"
                     f"{'-' if g is None else f'{g:.0f}':>7}{r['sessions']:>9}{lat['p50']:>9.0f}{lat['p95']:>9.0f}"
                     f"{lat['p99']:>9.0f}{lat['max']:>9.0f}{aft['p50']:>13.0f} / {aft['p95']:<5.0f}"
                     f"{r.get('fps_received', float('nan')):>6.1f}{r.get('drift_ms_per_s', float('nan')):>7.1f}"
                     f"{r['server_cores']:>14.2f}{'-' if mc is None else f'{mc:.2f}':>13}{r['client_cores']:>14.2f}"
                     f"{r['server_peak_mib']:>10.0f}{eng.get('mean_batch', 0):>7.1f}"
                     f"{eng.get('round_ms_mean', eng.get('round_ms_p50', 0)):>10.1f}")
    return lines


def _serve_worker(weights: str, max_sessions: int, threads: int, engine: str, gather_ms: float,
                  runtime: str = "auto") -> int:
    """A server for measure_server: prints "PORT n" once listening, then serves until terminated."""
    import asyncio
    import signal

    import torch

    from umo.serve.server import UmoServer

    torch.set_num_threads(threads)
    if weights.startswith("untrained:"):
        from umo.models import UmoModel, get_config

        torch.manual_seed(0)
        model = UmoModel(get_config(weights.split(":", 1)[1])).eval()
    else:
        from umo.inference import load_model

        model = load_model(None if weights == "bundled" else weights)
    from umo.inference import keyframe_graph

    graph = keyframe_graph(model, runtime, None if weights in ("bundled",) or weights.startswith("untrained:")
                           else weights, threads=threads)

    async def main() -> None:
        server = UmoServer(model, port=0, max_sessions=max_sessions, threads=threads, engine=engine,
                           gather_s=gather_ms / 1000, graph=graph)
        await server.start()
        print(f"PORT {server.bound_port}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(main())
    return 0


def run_bench(configs: list[str], threads: tuple[int, ...] = (1, 2), repeats: int = DEFAULT_REPEATS,
              audio: Path | None = None, transcript: Path | None = None, log=None,
              server_sessions: tuple[int, ...] | None = None, server_format: str = "json",
              server_threads: int = 1, server_engines: tuple[str, ...] = ("process",),
              server_gather_ms: tuple[float | None, ...] = (None,), server_seconds: float = 10.0,
              server_bodies: tuple[str | None, ...] = (None,)) -> dict:
    """Measures every configuration at every thread count, each in a fresh process; then the server
    (``server_sessions`` concurrent clients; None: 1, 8, 32 when a model configuration is in the run)."""
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
    server_rows, reason = [], None
    weights = _model_weights(configs)
    if server_sessions is None:
        server_sessions = DEFAULT_SERVER_SESSIONS if weights is not None else ()
        if weights is None:
            reason = "the server runs the learned model: add `model` or model:PATH to the configurations"
    text = None
    if server_sessions and importlib.util.find_spec("websockets") is not None:
        for runtime in _model_runtimes(configs):
            for engine in server_engines:  # each in a fresh server process, one after the other
                for gather in server_gather_ms:
                    for body in server_bodies:
                        server_rows += measure_server(weights or "bundled", tuple(server_sessions), fmt=server_format,
                                                      log=log, threads=server_threads, engine=engine, gather_ms=gather,
                                                      seconds=server_seconds, runtime=runtime, body=body)
        from umo.eval.bench_text import measure_text_server

        text = measure_text_server(weights or "bundled", threads=server_threads, engine=server_engines[0],
                                   gather_ms=server_gather_ms[0], log=log, runtime=_model_runtimes(configs)[0])
    sizes = [sz for sz in (model_size(c) for c in dict.fromkeys(configs)) if sz is not None]
    return {"audio": str(audio), "transcript": None if transcript is None else str(transcript),
            "repeats": repeats, "startup_s": startup_seconds(weights), "model_sizes": sizes, "server": server_status(server_rows, reason),
            "server_rows": server_rows, "text": text, "rows": rows,
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
    from umo.eval.suite import system_label

    w = max([14] + [len(system_label(r["config"])) + 1 for r in rows])
    lines = [f"speed: {Path(report['audio']).name} ({a:.2f} s of audio), median of {report['repeats']} runs "
             f"after 1 warm-up, a fresh process per row; CPU {report['cpu']}",
             f"{'config':<{w}}{'threads':>8}{'frames':>8}{'ms/frame':>10}{'RTF':>9}{'stream ms/f':>13}"
             f"{'peak MiB':>10}  algorithmic latency"]
    for r in rows:
        lines.append(f"{system_label(r['config']):<{w}}{r['threads']:>8}{r['frames']:>8}{r['offline_ms_per_frame']:>10.3f}"
                     f"{r['rtf']:>9.4f}{_f(r['stream_ms_per_frame'], '.3f', 13)}{r['peak_mib']:>10.0f}  "
                     f"{r['latency']}")
    for sz in report.get("model_sizes", []):
        file = "untrained preset" if sz["file_mib"] is None else f"weights file {sz['file_mib']:.1f} MiB"
        lines.append(f"  {system_label(sz['config'])}: {sz['params'] / 1e6:.2f} M parameters, "
                     f"{sz['active_params'] / 1e6:.2f} M active per token, {file}")
    if vs:
        base = {r["threads"]: r for r in rows if r["config"] == vs}
        lines += ["", f"ratios to {system_label(vs)} (same run; below 1: faster / smaller)",
                  f"{'config':<{w}}{'threads':>8}{'ms/frame':>10}{'RTF':>9}{'peak MiB':>10}"]
        for r in rows:
            b = base.get(r["threads"])
            if r["config"] == vs or b is None:
                continue
            lines.append(f"{system_label(r['config']):<{w}}{r['threads']:>8}"
                         f"{r['offline_ms_per_frame'] / b['offline_ms_per_frame']:>10.2f}"
                         f"{r['rtf'] / b['rtf']:>9.2f}{r['peak_mib'] / b['peak_mib']:>10.2f}")
    st = report["startup_s"]
    lines += ["", f"process start-up, not included above (a fresh process each, median of {STARTUP_REPEATS}):"]
    lines += [f"  {label:<{max(map(len, st))}}{1000 * s:>8.0f} ms" for label, s in st.items()]
    lines += ["not included above either: loading the audio and the transcript; RTF and ms/frame are offline "
              "(whole clip at once)", report["server"]]
    if report.get("text"):
        from umo.eval.bench_text import format_text

        lines += format_text(report["text"])
    return "\n".join(lines)


def write_json(report: dict, path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")


def _worker(argv: list[str]) -> int:
    if argv[:1] == ["--serve-worker"]:
        from umo.serve.worker import ENGINES

        w = argparse.ArgumentParser(prog="python -m umo.eval.bench --serve-worker")
        w.add_argument("weights")
        w.add_argument("--max-sessions", type=int, default=32)
        w.add_argument("--threads", type=int, default=1)
        w.add_argument("--engine", choices=ENGINES, default="process")
        w.add_argument("--gather-ms", type=float, required=True)
        from umo.constants import ENGINES as RUNTIMES  # umo serve --engine: what runs the keyframe steps

        w.add_argument("--runtime", choices=RUNTIMES, default="auto")
        a = w.parse_args(argv[1:])
        return _serve_worker(a.weights, a.max_sessions, a.threads, a.engine, a.gather_ms, a.runtime)
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
