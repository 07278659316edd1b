"""The live page of umo serve in Debian's Chromium (Playwright): it loads, plays a file through the
server, and the character's morph targets and bones move; the screenshot is not blank."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "preview"))
from browser import chromium_available, chromium_page

pytest.importorskip("websockets")
pytest.importorskip("playwright")
pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="/usr/bin/chromium is absent: run scripts/install-browser.sh")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def server():
    from umo.inference import load_model
    from umo.serve.server import running_server

    torch.set_num_threads(1)
    with running_server(load_model(None)) as srv:  # the bundled model: the motion a user sees
        yield srv


def tiny_glb() -> bytes:
    """A one-triangle glTF 2.0 binary with two morph targets named like a VRM "perfect sync" face."""
    import json
    import struct

    pos = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], "<f4")
    jaw = np.array([[0, -0.02, 0], [0, -0.02, 0], [0, 0, 0]], "<f4")
    blink = np.array([[0, 0, 0], [0, 0, 0], [0, -0.05, 0]], "<f4")
    idx = np.array([0, 1, 2, 0], "<u2")  # padded to 4-byte alignment
    blob = pos.tobytes() + jaw.tobytes() + blink.tobytes() + idx.tobytes()
    views = [{"buffer": 0, "byteOffset": 36 * i, "byteLength": 36} for i in range(3)]
    views.append({"buffer": 0, "byteOffset": 108, "byteLength": 6})
    acc = [{"bufferView": i, "componentType": 5126, "count": 3, "type": "VEC3",
            **({"min": [0, 0, 0], "max": [0.1, 0.1, 0]} if i == 0 else {})} for i in range(3)]
    acc.append({"bufferView": 3, "componentType": 5123, "count": 3, "type": "SCALAR"})
    gltf = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "Face"}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 3,
                                        "targets": [{"POSITION": 1}, {"POSITION": 2}]}],
                        "extras": {"targetNames": ["jawOpen", "EYEBLINKLEFT"]}}],
            "accessors": acc, "bufferViews": views, "buffers": [{"byteLength": len(blob)}]}
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    chunks = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(blob), 0x004E4942) + blob
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def test_live_page_loads_a_gltf_character_with_arkit_morphs(server):
    with chromium_page(800, 600) as (page, errors):
        page.goto(f"http://127.0.0.1:{server.bound_port}/")
        page.wait_for_function("window.umoLive && window.umoLive.ready", timeout=30_000)
        assert page.evaluate("(b) => umoLive.loadCharacter(b)", list(tiny_glb())) == 2
        page.select_option("#body", "gen")  # the body from the continuous body generator
        page.set_input_files("#file", str(FIXTURES / "arctic_a0009.wav"))
        page.wait_for_function("umoLive.state().shownFrame >= 20", timeout=30_000)
        state = page.evaluate("umoLive.state()")
    assert not errors, errors
    assert state["body"] == "gen" and state["error"] is None
    weights = dict(state["character"])
    assert set(weights) == {"JawOpen", "EyeBlinkLeft"}
    assert weights["JawOpen"] == pytest.approx(state["morph"]["JawOpen"], abs=1e-4)  # follows the model's face
    # it has no bones umo knows: the whole model turns with the head (the model's head moves ~1 degree)
    assert np.abs(np.subtract(state["characterTurn"], [0, 0, 0, 1])).max() > 1e-4, state["characterTurn"]


def test_live_page_plays_a_file_through_the_server(server, tmp_path):
    base = f"http://127.0.0.1:{server.bound_port}/"
    with chromium_page(1000, 720) as (page, errors):
        page.goto(base)
        page.wait_for_function("window.umoLive && window.umoLive.ready", timeout=30_000)
        rest = page.evaluate("umoLive.state()")
        assert rest["webgl"] and rest["framesReceived"] == 0
        page.set_input_files("#file", str(FIXTURES / "arctic_a0009.wav"))
        page.wait_for_function("umoLive.state().shownFrame >= 30", timeout=30_000)
        mid = page.evaluate("umoLive.state()")
        shot = tmp_path / "live.png"
        page.screenshot(path=str(shot))
        if os.environ.get("UMO_KEEP_SCREENSHOTS"):  # to look at it: UMO_KEEP_SCREENSHOTS=DIR
            shutil.copy(shot, os.environ["UMO_KEEP_SCREENSHOTS"])
        page.wait_for_function("umoLive.state().done", timeout=30_000)
        end = page.evaluate("umoLive.state()")
    assert not errors, errors
    assert end["framesReceived"] == 93 and end["error"] is None  # ceil(3.095 s * 30)
    assert end["body"] == "animator"  # the toolbar's default: the model's own body
    moved = [n for n, v in mid["morph"].items() if abs(v - rest["morph"][n]) > 1e-3]
    assert len(moved) >= 10, moved
    # the bundled model's head moves little (about 1 degree on this clip): 1e-4 is well above float noise
    turned = [n for n, q in mid["boneRotation"].items() if np.abs(np.subtract(q, rest["boneRotation"][n])).max() > 1e-4]
    assert any("Arm" in n for n in turned) and any(n in turned for n in ("Neck", "Head")), turned
    assert mid["latencyMs"]["n"] > 0 and 0 < mid["latencyMs"]["p50"] < 2000
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    stage = img[60:560, :700]  # the 3D view: the character stands out from the background
    assert stage.std() > 12 and (np.abs(np.diff(stage, axis=1)).max(-1) > 40).mean() > 0.002


def test_live_page_streams_the_microphone(server):
    """Chromium's fake microphone (a beep): AudioWorklet capture, in-page resampling, live frames."""
    from browser import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            ctx = browser.new_context(permissions=["microphone"])
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"http://127.0.0.1:{server.bound_port}/")
            page.wait_for_function("window.umoLive && window.umoLive.ready", timeout=30_000)
            page.click("#mic")
            page.wait_for_function("umoLive.state().framesReceived >= 30", timeout=30_000)
            state = page.evaluate("umoLive.state()")
            page.click("#stop")
            page.wait_for_function("umoLive.state().done", timeout=30_000)
        finally:
            browser.close()
    assert not errors, errors
    assert state["error"] is None and state["latencyMs"]["n"] > 0


def test_live_page_speaks_typed_text(server):
    """The text box: keystrokes go out as they are typed (a text session), each clause comes back as
    speech scheduled with Web Audio at its place on the session's timeline, and frames arrive and are
    shown on that clock. Headless Chromium may have no audio output: the test reads the scheduling
    state (clauses, their AudioContext times, contiguity), not sound."""
    with chromium_page(1000, 720) as (page, errors):
        page.goto(f"http://127.0.0.1:{server.bound_port}/")
        page.wait_for_function("window.umoLive && window.umoLive.ready", timeout=30_000)
        assert page.eval_on_selector("#voice", "s => s.value") == "en-us"
        page.select_option("#emotion", "happy")
        page.type("#say-text", "Hello there. How are you today?", delay=10)  # one text message per key
        page.press("#say-text", "Enter")
        page.wait_for_function("umoLive.state().text.clauses.length >= 2 && umoLive.state().framesReceived >= 40",
                               timeout=30_000)
        page.wait_for_timeout(300)
        mid = page.evaluate("umoLive.state()")
        page.click("#stop")
        page.wait_for_function("umoLive.state().done", timeout=30_000)
        end = page.evaluate("umoLive.state()")
    assert not errors, errors
    text = mid["text"]
    assert [c["text"] for c in text["clauses"]] == ["Hello there.", "How are you today?"]
    assert text["contiguous"] and text["sent"] == len("Hello there. How are you today?\n")
    (a, b) = text["clauses"]
    assert a["start"] == 0 and b["start"] == pytest.approx(a["samples"] / 16000)
    assert b["at"] >= a["at"] + a["samples"] / 16000 - 1e-6  # scheduled one after the other, never overlapping
    assert text["audioContext"] is not None and text["firstAudioMs"] is not None and text["firstAudioMs"] < 2000
    if text["audioContext"]["state"] == "running":  # an audio clock that runs: the frames follow it
        assert mid["shownFrame"] >= 0
    assert end["error"] is None and end["framesReceived"] == -(-(a["samples"] + b["samples"]) * 30 // 16000)
    assert end["text"]["serverLatency"]["frames"] is not None
