"""The preview page: self-contained, compact, and (in Chromium) really showing the animation."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from umo.animation import Animation, num_frames_for
from umo.constants import ARKIT_INDEX, JOINT_INDEX
from umo.errors import UmoError
from umo.preview.html import preview_html, rotvec_to_quat, write_preview
from umo.skeleton import canonical_skeleton

from browser import chromium, chromium_available, open_page

FPS = 30


def _talking(fixtures, with_body: bool = True, with_audio: bool = True) -> Animation:
    """~3 s: a sine jaw, two blinks, brows, a nodding head and a gesturing right arm."""
    audio, sr = sf.read(fixtures / "arctic_a0009.wav", dtype="float32")
    n = num_frames_for(audio.size / sr, FPS)
    t = np.arange(n) / FPS
    anim = Animation.neutral(n, FPS, with_body=with_body)
    anim.face[:, ARKIT_INDEX["JawOpen"]] = 0.45 + 0.45 * np.sin(2 * np.pi * 0.8 * t)
    blink = np.exp(-(((t - 0.9) / 0.07) ** 2)) + np.exp(-(((t - 2.3) / 0.07) ** 2))
    anim.face[:, ARKIT_INDEX["EyeBlinkLeft"]] = blink
    anim.face[:, ARKIT_INDEX["EyeBlinkRight"]] = blink
    anim.face[:, ARKIT_INDEX["BrowInnerUp"]] = 0.3 + 0.3 * np.sin(2 * np.pi * 0.4 * t)
    anim.face[:, ARKIT_INDEX["MouthSmileLeft"]] = 0.25
    anim.face[:, ARKIT_INDEX["MouthSmileRight"]] = 0.25
    anim.head[:, 0] = 0.12 * np.sin(2 * np.pi * 0.3 * t)
    anim.head[:, 1] = 0.06 * np.sin(2 * np.pi * 0.7 * t)
    anim.eyes[:, 0] = anim.eyes[:, 3] = 0.15 * np.sin(2 * np.pi * 0.5 * t)
    if with_body:
        body = anim.body
        body[:, JOINT_INDEX["RightArm"]] = [0.0, 0.0, 1.2]  # arms down from the T-pose
        body[:, JOINT_INDEX["LeftArm"]] = [0.0, 0.0, -1.3]
        body[:, JOINT_INDEX["RightForeArm"], 1] = 0.9 + 0.6 * np.sin(2 * np.pi * 0.5 * t)  # elbow bends forward
        body[:, JOINT_INDEX["LeftForeArm"]] = [0.0, -0.4, 0.0]
        body[:, JOINT_INDEX["RightHandIndex2"], 2] = 0.3 + 0.3 * np.sin(2 * np.pi * t)
    if with_audio:
        anim = anim.copy(audio=audio, sample_rate=sr)
    return anim


def _embedded_data(page_text: str) -> dict:
    m = re.search(r'<script id="umo-data" type="application/json">(.*?)</script>', page_text, re.S)
    assert m, "the page has no data block"
    return json.loads(m.group(1))


# --- the file ----------------------------------------------------------------------------------


def test_page_is_self_contained(fixtures, tmp_path):
    anim = _talking(fixtures)
    path = write_preview(anim, tmp_path / "out" / "preview.html", title="arctic <a0009>")
    text = path.read_text(encoding="utf-8")
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I) is None
    assert re.search(r"<script[^>]+src=|<link[^>]+href=|@import|url\(\s*['\"]?https?:", text, re.I) is None
    assert "<title>arctic &lt;a0009&gt;</title>" in text
    assert text.count("</script>") == 3  # three.js, the data block, the page script: nothing closes early
    assert "var THREE=" in text  # three.js inlined
    assert path.stat().st_size < 1_500_000  # 3 s of animation + ogg audio + three.js (~0.75 MB)


def test_embedded_data_decodes_to_the_animation(fixtures):
    anim = _talking(fixtures)
    data = _embedded_data(preview_html(anim))
    assert data["numFrames"] == anim.num_frames and data["fps"] == FPS
    face = np.frombuffer(base64.b64decode(data["face"]), np.uint8).reshape(anim.num_frames, 52) / 255
    np.testing.assert_allclose(face, anim.face, atol=0.5 / 255 + 1e-9)
    head = np.frombuffer(base64.b64decode(data["head"]), "<f4").reshape(-1, 3)
    np.testing.assert_allclose(head, anim.head, atol=1e-6)
    body = data["body"]
    animated = body["animated"]
    assert JOINT_INDEX["RightForeArm"] in animated and JOINT_INDEX["Spine"] not in animated
    quat = np.frombuffer(base64.b64decode(body["quat"]), "<i2").reshape(anim.num_frames, len(animated), 4) / 32767
    k = animated.index(JOINT_INDEX["RightForeArm"])
    np.testing.assert_allclose(quat[:, k], rotvec_to_quat(anim.body[:, JOINT_INDEX["RightForeArm"]]), atol=1e-4)
    assert data["audio"]["mime"] == "audio/ogg"
    assert base64.b64decode(data["audio"]["data"])[:4] == b"OggS"
    # the body carries no neck rotation here, so the page turns the head by anim.head itself
    assert data["applyHead"] is True


def test_head_rotation_is_not_applied_twice(fixtures):
    """umo's animator writes the head into the neck chain: then the page must not turn it again."""
    anim = _talking(fixtures)
    anim.body[:, JOINT_INDEX["Neck"], 0] = 0.1 * anim.head[:, 1]
    assert _embedded_data(preview_html(anim))["applyHead"] is False
    assert _embedded_data(preview_html(_talking(fixtures, with_body=False)))["applyHead"] is True


def test_rotvec_to_quat_matches_scipy():
    from scipy.spatial.transform import Rotation

    rv = np.random.default_rng(0).normal(size=(50, 3))
    rv[0] = 0.0
    np.testing.assert_allclose(rotvec_to_quat(rv), Rotation.from_rotvec(rv).as_quat(), atol=1e-12)


def test_wav_fallback_and_bad_arguments(fixtures, tmp_path):
    anim = _talking(fixtures, with_body=False)
    data = _embedded_data(preview_html(anim, audio_format="wav"))
    assert data["audio"]["mime"] == "audio/wav" and data["skeleton"] is None and data["body"] is None
    with pytest.raises(UmoError, match="audio_format"):
        preview_html(anim, audio_format="mp3")
    with pytest.raises(UmoError, match="no frames"):
        write_preview(Animation.neutral(0), tmp_path / "x.html")


def test_a_minute_of_full_body_animation_stays_small(fixtures, tmp_path):
    """60 s at 30 fps, every upper-body joint moving, 16 kHz audio: a few MB at most."""
    rng = np.random.default_rng(1)
    n = 60 * FPS
    anim = Animation.neutral(n, FPS)
    anim.face[:] = rng.uniform(0, 1, size=anim.face.shape)
    moving = [j for j, name in enumerate(canonical_skeleton().names) if not name.endswith(("Leg", "Foot", "Toe", "ToeBase", "End"))]
    anim.body[:, moving] = np.cumsum(rng.normal(scale=0.01, size=(n, len(moving), 3)), axis=0)
    audio, sr = sf.read(fixtures / "arctic_a0009.wav", dtype="float32")
    anim = anim.copy(audio=np.resize(audio, 60 * sr), sample_rate=sr)
    size = write_preview(anim, tmp_path / "minute.html").stat().st_size
    print(f"60 s preview: {size / 1e6:.2f} MB")
    assert size < 4_000_000


# --- in a browser ------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not chromium_available(), reason="/usr/bin/chromium is absent: run scripts/install-browser.sh"
)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _open(browser, path):
    page, errors = open_page(browser)
    page.goto(path.as_uri())
    page.wait_for_function("window.umoPreview && window.umoPreview.state().ready", timeout=60_000)
    return page, errors


def _same_rotation(q, expected, atol=2e-3):
    q, expected = np.asarray(q), np.asarray(expected)
    return min(np.abs(q - expected).max(), np.abs(q + expected).max()) < atol


def _pixel_stats(page) -> dict:
    """Distinct colours and luminance spread of the 3D view's pixels, read back from its canvas."""
    return page.evaluate(
        """() => {
        const src = document.getElementById('view3d');
        const c = document.createElement('canvas');
        c.width = src.width; c.height = src.height;
        const g = c.getContext('2d');
        g.drawImage(src, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const colours = new Set();
        let n = 0, s = 0, s2 = 0, opaque = 0;
        for (let i = 0; i < d.length; i += 4 * 7) {
            n++;
            if (d[i + 3] < 250) continue;  // the page background shows through the transparent clear
            opaque++;
            colours.add((d[i] >> 2) << 12 | (d[i + 1] >> 2) << 6 | (d[i + 2] >> 2));
            const l = 0.3 * d[i] + 0.59 * d[i + 1] + 0.11 * d[i + 2];
            s += l; s2 += l * l;
        }
        const mean = s / Math.max(1, opaque);
        return {colours: colours.size, opaqueFraction: opaque / n, lumaStd: Math.sqrt(Math.max(0, s2 / Math.max(1, opaque) - mean * mean))};
    }"""
    )


@pytest.mark.browser
@needs_chromium
def test_page_plays_the_animation_in_chromium(browser, fixtures, tmp_path):
    anim = _talking(fixtures)
    path = write_preview(anim, tmp_path / "preview.html", title="arctic_a0009")
    page, errors = _open(browser, path)
    state = page.evaluate("umoPreview.state()")
    assert state["webgl"] and state["hasBody"] and state["hasAudio"] and state["audioOk"]
    assert state["numFrames"] == anim.num_frames and state["fps"] == FPS
    assert set(state["morph"]) >= set(ARKIT_INDEX) and len(state["morph"]) == 52

    jaw = anim.face[:, ARKIT_INDEX["JawOpen"]]
    f1, f2 = int(np.argmax(jaw)), int(np.argmin(jaw))
    seen = {}
    for f in (f1, f2):
        t = (f + 0.5) / FPS
        s = page.evaluate(f"umoPreview.seek({t})")
        assert s["frame"] == int(np.floor(t * FPS)) == f
        for name in ("JawOpen", "EyeBlinkLeft", "BrowInnerUp", "MouthSmileRight"):
            assert s["morph"][name] == pytest.approx(anim.face[f, ARKIT_INDEX[name]], abs=0.02), name
        for joint in ("RightForeArm", "RightHandIndex2", "LeftArm"):
            expected = rotvec_to_quat(anim.body[f, JOINT_INDEX[joint]])
            assert _same_rotation(s["boneRotation"][joint], expected), (joint, s["boneRotation"][joint], expected)
        seen[f] = s
    assert seen[f1]["morph"]["JawOpen"] - seen[f2]["morph"]["JawOpen"] > 0.8
    assert not _same_rotation(seen[f1]["boneRotation"]["RightForeArm"], seen[f2]["boneRotation"]["RightForeArm"], 0.05)
    assert seen[f1]["headRotation"] != seen[f2]["headRotation"]  # the head turns with anim.head

    # positive eye yaw is the gaze towards the character's right (-X), as EyeLookInLeft has it in
    # Live Link takes and in what umo writes: the left eyeball's forward (+Z) turns to -X
    fe = int(np.argmax(anim.eyes[:, 0]))
    q = page.evaluate(f"umoPreview.seek({(fe + 0.5) / FPS})")["eyeRotation"][0]  # (x, y, z, w)
    assert anim.eyes[fe, 0] > 0.1 and q[1] < -0.05, q

    # a blink closes the lids: the frame with the blink peak has EyeBlink ~ 1
    fb = int(round(0.9 * FPS))
    assert page.evaluate(f"umoPreview.seek({fb / FPS + 0.001})")["morph"]["EyeBlinkLeft"] > 0.95

    # play: the clock advances (audio-driven), then pause holds it
    page.evaluate("umoPreview.seek(0.2)")
    page.click("#play")
    assert page.evaluate("umoPreview.state().playing")
    page.wait_for_function("umoPreview.state().time > 0.4", timeout=10_000)
    # the pause: a click event on the button itself, at once (a mouse click waits for layout and, on a
    # loaded machine, could land after the clip ran out and paused by itself, starting it again)
    page.locator("#play").dispatch_event("click")
    held = page.evaluate("umoPreview.state()")
    assert not held["playing"], held
    assert 0.4 < held["time"] < anim.duration, held
    page.wait_for_timeout(300)
    assert page.evaluate("umoPreview.state().time") == pytest.approx(held["time"], abs=1e-6)
    assert held["frame"] == int(np.floor(held["time"] * FPS + 1e-6))

    # clicking the plot seeks
    box = page.locator("#plot").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    t_click = page.evaluate("umoPreview.state()")["time"]
    assert 0.55 * anim.duration < t_click < 0.95 * anim.duration

    # the picture: a lit character, not a blank canvas
    page.evaluate(f"umoPreview.seek({(f1 + 0.5) / FPS})")
    shot = tmp_path / "preview.png"
    page.screenshot(path=str(shot))
    shutil.copyfile(shot, "/tmp/umo_preview_test.png")
    assert shot.stat().st_size > 50_000
    stats = _pixel_stats(page)
    assert stats["colours"] > 400 and stats["lumaStd"] > 15, stats
    assert 0.03 < stats["opaqueFraction"] < 0.9, stats  # the character (and the inset) cover part of the view
    assert errors == []
    page.close()


@pytest.mark.browser
@needs_chromium
def test_head_only_page_without_audio(browser, fixtures, tmp_path):
    anim = _talking(fixtures, with_body=False, with_audio=False)
    page, errors = _open(browser, write_preview(anim, tmp_path / "head.html"))
    state = page.evaluate("umoPreview.state()")
    assert state["webgl"] and not state["hasBody"] and not state["hasAudio"] and state["boneRotation"] == {}
    f = int(np.argmax(anim.face[:, ARKIT_INDEX["JawOpen"]]))
    s = page.evaluate(f"umoPreview.seek({f / FPS})")
    assert s["morph"]["JawOpen"] == pytest.approx(anim.face[f, ARKIT_INDEX["JawOpen"]], abs=0.02)
    page.click("#play")  # no audio: the wall clock drives it
    page.wait_for_function(f"umoPreview.state().time > {f / FPS + 0.3}", timeout=10_000)
    stats = _pixel_stats(page)
    assert stats["colours"] > 300 and stats["lumaStd"] > 15, stats
    page.screenshot(path=str(tmp_path / "head.png"))
    assert errors == []
    page.close()


@pytest.mark.parametrize("title", ["@blob:face@", '"@blob:audio@"', "\x00blob:face"])
def test_a_title_that_looks_like_a_data_placeholder_stays_a_title(fixtures, tmp_path, title):
    """The page is written piece by piece, the arrays' base64 spliced in where placeholders stand in
    the JSON: nothing a user writes (the title) can be taken for one."""
    anim = _talking(fixtures, with_audio=False)  # (Vorbis streams get a random serial number)
    page = write_preview(anim, tmp_path / "p.html", title=title).read_text(encoding="utf-8")
    data = _embedded_data(page)
    assert data["title"] == title and page == preview_html(anim, title=title)
    assert len(base64.b64decode(data["face"])) == anim.num_frames * 52
