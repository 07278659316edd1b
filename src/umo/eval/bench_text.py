"""``umo bench``'s live text measurement: a chat model's reply through a text session of ``umo serve``.

A fresh server process (as :func:`umo.eval.bench.measure_server` starts one) gets ``repeats`` text
sessions, one after the other; each streams :data:`REPLY` in pieces of ``piece_chars`` characters
every ``piece_ms`` (by default 200 characters per second, cut mid-word: a language model's pace, far
faster than speech at some 14 characters per second), then ``end``. Measured per session:

- **time to first audio / first frames**: from the moment the client sent the piece that completed
  the first clause (found with the server's own :class:`~umo.speech.clauses.ClauseSplitter`, so the
  same moment the server sees) to the first ``audio`` message and the first ``frames`` message
  received; and the server's own figures for the same (``done.latency_ms``, from the clause received
  to its audio queued and to its first frames delivered);
- **gaps**: whether the speech's timeline is contiguous (each clause's ``start`` equals the previous
  one's plus its samples / rate, exactly) and whether playback started once the first audio and
  frames are in would ever run dry: per clause (and per frame) the lead of its arrival over its
  playback time; a negative lead is a gap.

The baseline in the same run (:func:`offline_say`, in a fresh process with the model loaded and
warm): the offline cascade on the first clause (espeak, then the learned model with its phones, as
``umo say --animator model`` runs them), median of ``repeats`` runs; and the cold ``umo say`` command
on it (a fresh process: import, model load, synthesis, animation, files written), once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

from umo.errors import UmoError

REPLY = ("Sure, I can help with that. The quickest way is to take the train to the city centre; it leaves every "
         "twenty minutes. From the station, walk north for about five minutes, and you will see the museum on "
         "your left. Have a lovely day!")
TEXT_REPEATS = 5
PIECE_CHARS = 4
PIECE_MS = 20.0


def measure_text_server(weights: str = "bundled", repeats: int = TEXT_REPEATS, piece_chars: int = PIECE_CHARS,
                        piece_ms: float = PIECE_MS, threads: int = 1, engine: str = "process", runtime: str = "auto",
                        gather_ms: float | None = None, log=None, reply: str = REPLY) -> dict:
    """Text sessions of ``reply`` through a fresh ``umo serve`` process and the offline baseline (the module doc)."""
    from umo.eval.bench import _bench_server, _default_gather_ms
    from umo.speech.clauses import split_clauses

    if gather_ms is None:
        gather_ms = _default_gather_ms()
    first = split_clauses(reply)[0]
    with _bench_server(weights, 2, threads, engine, gather_ms, runtime) as (_, port):
        if log:
            log(f"bench: live text, {repeats} text session(s) of {len(reply)} characters at "
                f"{1000 * piece_chars / piece_ms:.0f} characters per second")
        asyncio.run(_text_session(port, reply, piece_chars, piece_ms))  # warm-up: not counted
        sessions = [asyncio.run(_text_session(port, reply, piece_chars, piece_ms)) for _ in range(repeats)]
    if log:
        log(f"bench: live text baseline, the offline cascade on {first!r}")
    base = offline_say(weights, first, repeats, threads)

    def med(key: str) -> float:
        return float(np.median([s[key] for s in sessions]))

    return {"weights": weights, "engine": engine, "reply_chars": len(reply), "first_clause": first,
            "piece_chars": piece_chars, "piece_ms": piece_ms, "sessions": sessions,
            "first_audio_ms": med("first_audio_ms"), "first_frames_ms": med("first_frames_ms"),
            "server_audio_ms": med("server_audio_ms"), "server_frames_ms": med("server_frames_ms"),
            "first_frames_ms_max": max(s["first_frames_ms"] for s in sessions),
            "contiguous": all(s["contiguous"] for s in sessions),
            "audio_gaps": sum(s["audio_gaps"] for s in sessions), "frame_gaps": sum(s["frame_gaps"] for s in sessions),
            "min_audio_lead_s": min(s["min_audio_lead_s"] for s in sessions),
            "min_frame_lead_s": min(s["min_frame_lead_s"] for s in sessions),
            "speech_s": sessions[0]["speech_s"], "clauses": sessions[0]["clauses"], "baseline": base}


async def _text_session(port: int, text: str, piece_chars: int, piece_ms: float) -> dict:
    """One text session (the module doc) -> its figures."""
    from websockets.asyncio.client import connect

    from umo.speech.clauses import ClauseSplitter

    splitter = ClauseSplitter()
    audio: list[tuple[dict, float]] = []  # (header, arrival)
    frames: list[tuple[float, float]] = []  # (frame time s, arrival)
    done: dict = {}
    async with connect(f"ws://127.0.0.1:{port}/stream", max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "input": "text"}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            raise UmoError(f"bench text session: {ready}")

        async def receive() -> None:
            while True:
                m = await ws.recv()
                now = time.perf_counter()
                if isinstance(m, bytes):
                    if not audio or "pcm" in audio[-1][0]:
                        raise UmoError("bench text session: a binary message without its audio header")
                    audio[-1][0]["pcm"] = len(m) // 2
                    continue
                msg = json.loads(m)
                if msg["type"] == "audio":
                    audio.append((msg, now))
                elif msg["type"] == "frames":
                    frames.extend((f["t"], now) for f in msg["frames"])
                elif msg["type"] == "error":
                    raise UmoError(f"bench text session: {msg['message']}")
                elif msg["type"] == "done":
                    done.update(msg)
                    return

        rx = asyncio.create_task(receive())
        t0 = time.perf_counter()
        complete = None
        for k, i in enumerate(range(0, len(text), piece_chars)):
            delay = t0 + k * piece_ms / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            piece = text[i:i + piece_chars]
            await ws.send(json.dumps({"type": "text", "text": piece}))
            if complete is None and splitter.feed(piece):
                complete = time.perf_counter()
        await ws.send(json.dumps({"type": "end"}))
        await rx
    rate = audio[0][0]["sample_rate"]
    at, contiguous = 0, True
    for h, _ in audio:
        contiguous &= h["start"] == at / rate and h["pcm"] == h["samples"]
        at += h["samples"]
    # playback from the moment the first audio and frames are both in; a clause (frame) arriving after
    # its playback time would be a gap
    play0 = max(audio[0][1], frames[0][1])
    audio_lead = [play0 + h["start"] - t for h, t in audio]
    frame_lead = [play0 + ft - t for ft, t in frames]
    later = [x for x, (_, t) in zip(frame_lead, frames) if t > frames[0][1]]  # after the first frames message
    return {"first_audio_ms": 1000 * (audio[0][1] - complete), "first_frames_ms": 1000 * (frames[0][1] - complete),
            "server_audio_ms": done["latency_ms"]["audio"], "server_frames_ms": done["latency_ms"]["frames"],
            "contiguous": bool(contiguous and at == round(done["duration_s"] * rate)),
            "audio_gaps": sum(x < 0 for x in audio_lead), "frame_gaps": sum(x < 0 for x in frame_lead),
            "min_audio_lead_s": float(min(audio_lead[1:] or [0.0])), "min_frame_lead_s": float(min(later or [0.0])),
            "speech_s": at / rate, "clauses": len(audio), "text_s": time.perf_counter() - t0}


def offline_say(weights: str, clause: str, repeats: int = TEXT_REPEATS, threads: int = 1) -> dict:
    """The offline cascade on ``clause`` in a fresh process (model loaded, one warm-up run), and the
    cold ``umo say`` command once. -> milliseconds."""
    from umo.eval.bench import _env

    cmd = [sys.executable, "-m", "umo.eval.bench_text", "--say-worker", weights, clause, "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads))
    if proc.returncode != 0:
        raise UmoError(f"the bench's offline say worker failed:\n{proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp:
        say = [sys.executable, "-m", "umo", "say", clause, "--animator", "model", "--no-preview", "-o", tmp]
        if weights not in ("bundled",) and not weights.startswith("untrained:"):
            say += ["--model", weights]
        if not weights.startswith("untrained:"):  # an untrained preset has no file for the command to load
            t0 = time.perf_counter()
            subprocess.run(say, check=True, env=_env(threads), capture_output=True)
            out["cold_cli_ms"] = 1000 * (time.perf_counter() - t0)
    return out


def _say_worker(weights: str, clause: str, repeats: int) -> dict:
    """In the worker process: the cascade on the clause, warm (umo.speech.clauses + the model with phones)."""
    import torch

    from umo.inference import model_animation
    from umo.speech.clauses import synthesize_clause

    torch.set_num_threads(1)
    if weights.startswith("untrained:"):
        from umo.models import UmoModel, get_config

        torch.manual_seed(0)
        model = UmoModel(get_config(weights.split(":", 1)[1])).eval()
    else:
        from umo.inference import load_model

        model = load_model(None if weights == "bundled" else weights)
    tts, anim = [], []
    for k in range(repeats + 1):  # the first: warm-up
        t0 = time.perf_counter()
        speech = synthesize_clause(clause)
        t1 = time.perf_counter()
        model_animation(model, speech.audio, speech.timing)
        t2 = time.perf_counter()
        if k:
            tts.append(t1 - t0)
            anim.append(t2 - t1)
    total = [a + b for a, b in zip(tts, anim)]
    return {"tts_ms": 1000 * float(np.median(tts)), "animate_ms": 1000 * float(np.median(anim)),
            "total_ms": 1000 * float(np.median(total)), "clause_audio_s": len(speech.audio) / speech.sample_rate}


def format_text(r: dict) -> list[str]:
    b = r["baseline"]
    cold = f"; the cold `umo say --animator model` command {b['cold_cli_ms']:.0f} ms" if "cold_cli_ms" in b else ""
    return [
        (f"live text: {len(r['sessions'])} text sessions (umo serve, {r['engine']} engine, weights {r['weights']}) of a "
         f"{r['reply_chars']}-character reply sent {r['piece_chars']} characters every {r['piece_ms']:.0f} ms, mid-word "
         f"({r['clauses']} clauses, {r['speech_s']:.1f} s of speech)"),
        (f"  after the first clause is complete: first audio {r['first_audio_ms']:.0f} ms, first frames "
         f"{r['first_frames_ms']:.0f} ms (median; worst {r['first_frames_ms_max']:.0f} ms), client side; server side "
         f"{r['server_audio_ms']:.0f} / {r['server_frames_ms']:.0f} ms"),
        (f"  baseline, the same clause offline ({r['first_clause']!r}, {b['clause_audio_s']:.2f} s): espeak "
         f"{b['tts_ms']:.0f} ms + the model {b['animate_ms']:.0f} ms = {b['total_ms']:.0f} ms warm{cold}"),
        (f"  timeline {'contiguous' if r['contiguous'] else 'NOT contiguous'}; playback from the first audio + frames: "
         f"{r['audio_gaps']} audio gaps, {r['frame_gaps']} late frames; least lead of a later clause "
         f"{r['min_audio_lead_s']:.2f} s, of a later frame {1000 * r['min_frame_lead_s']:.0f} ms"),
    ]


def _main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m umo.eval.bench_text")
    p.add_argument("--say-worker", nargs=2, metavar=("WEIGHTS", "CLAUSE"), required=True)
    p.add_argument("--repeats", type=int, default=TEXT_REPEATS)
    a = p.parse_args(argv)
    print(json.dumps(_say_worker(*a.say_worker, a.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
