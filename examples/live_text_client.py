"""A chatbot's side of a umo serve text session: stream a reply's text, get its speech and frames.

    umo serve &                                         # ws://127.0.0.1:8765/stream
    python examples/live_text_client.py "Hello there! How can I help you today?" -o reply
    python examples/live_text_client.py --file examples/hello.txt --voice en-gb+f3 --emotion happy -o reply

The text goes out in pieces of a few characters, cut mid-word, every --piece-ms (as a language model
streams tokens); the server speaks each clause once it is complete. Writes OUT/speech.wav (16 kHz
s16le mono: every audio message's PCM at its "start"), OUT/frames.json (the frames, as the server
sent them) and OUT/clauses.json (each clause's text, start, phones and words), and prints the time
from the piece that completed the first clause to its audio and its first frames. Needs only the
``websockets`` package (the protocol: docs/protocol.md, "Text sessions").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import wave
from pathlib import Path

from websockets.sync.client import connect

CLAUSE_END = re.compile(r"[.!?;:][\"')\]]*\s")  # what ends a clause for the server (commas aside)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("text", nargs="?", help="what to say (or --file)")
    p.add_argument("--file", type=Path, help="read the text from this file")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--url", default="ws://127.0.0.1:8765/stream")
    p.add_argument("--voice", default="en-us", help="espeak voice: en-us, en-gb+f3, fr, de ... (umo voices)")
    p.add_argument("--emotion", default="neutral")
    p.add_argument("--intensity", type=float, default=1.0)
    p.add_argument("--piece-chars", type=int, default=4, help="characters per text message (default 4)")
    p.add_argument("--piece-ms", type=float, default=20.0, help="pause between text messages (default 20 ms)")
    a = p.parse_args()
    text = a.file.read_text(encoding="utf-8") if a.file else a.text
    if not text:
        p.error("give the text, or --file")
    a.out.mkdir(parents=True, exist_ok=True)

    clauses, pcm, frames = [], [], []
    got: dict[str, float] = {}
    result: dict = {}
    with connect(a.url, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "input": "text", "voice": a.voice, "emotion": a.emotion,
                            "intensity": a.intensity}))
        ready = json.loads(ws.recv())
        if ready["type"] != "ready":
            sys.exit(f"server: {ready.get('message', ready)}")

        def receive() -> None:  # in its own thread: replies come while the text still goes out
            while True:
                m = ws.recv()
                now = time.perf_counter()
                if isinstance(m, bytes):  # the PCM of the audio message just before
                    pcm.append(m)
                    continue
                m = json.loads(m)
                if m["type"] == "audio":
                    got.setdefault("audio", now)
                    clauses.append({k: m[k] for k in ("text", "start", "samples", "phones", "words")})
                elif m["type"] == "frames":
                    got.setdefault("frames", now)
                    frames.extend(m["frames"])
                else:  # done or error: the server closes after either
                    result.update(m)
                    return

        rx = threading.Thread(target=receive)
        rx.start()
        complete = None  # when the piece that completed the first clause went out
        for i in range(0, len(text), a.piece_chars):
            piece = text[i:i + a.piece_chars]
            ws.send(json.dumps({"type": "text", "text": piece}))
            if complete is None and CLAUSE_END.search(text[:i + len(piece)]):  # a mark and the space after it
                complete = time.perf_counter()
            time.sleep(a.piece_ms / 1000)
        ws.send(json.dumps({"type": "end"}))
        rx.join()
    if result.get("type") == "error":
        sys.exit(f"server: {result['message']}")

    with wave.open(str(a.out / "speech.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(ready["sample_rate"])
        w.writeframes(b"".join(pcm))
    (a.out / "frames.json").write_text(json.dumps({"fps": ready["fps"], "blendshapes": ready["blendshapes"],
                                                   "frames": frames}))
    (a.out / "clauses.json").write_text(json.dumps(clauses, indent=1))
    print(f"{len(clauses)} clauses, {result['duration_s']:.2f} s of speech, {result['frames']} frames -> {a.out}/")
    if complete is not None:
        print(f"first clause complete -> its audio {1000 * (got['audio'] - complete):.0f} ms, its first frames "
              f"{1000 * (got['frames'] - complete):.0f} ms (server: {result['latency_ms']['audio']:.0f} / "
              f"{result['latency_ms']['frames']:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
