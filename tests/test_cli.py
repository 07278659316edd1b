"""End to end: the `umo` command as a user runs it, on real audio, checked through our own readers."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from umo.constants import LIVELINK_COLUMNS, lip_aperture
from umo.formats.bvh import read_bvh
from umo.formats.livelink import read_livelink


def run_umo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "umo", *map(str, args)], capture_output=True, text=True, timeout=300)


def check_outputs(outdir, duration: float, fps: int = 30) -> None:
    n = math.ceil(duration * fps - 1e-6)
    with open(outdir / "face.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == LIVELINK_COLUMNS
    assert len(rows) - 1 == n, "one row per frame, ceil(duration * fps) frames"
    assert all(r[1] == "61" for r in rows[1:])
    anim = read_livelink(outdir / "face.csv", fps=fps)
    assert np.isfinite(anim.face).all() and anim.face.min() >= 0 and anim.face.max() <= 1
    bvh = read_bvh(outdir / "body.bvh")
    assert bvh.fps == pytest.approx(fps, rel=1e-4)
    assert bvh.frames.shape[0] == n
    html = (outdir / "preview.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "https://" not in html.split("</head>")[0]


def test_say_writes_all_files(tmp_path):
    out = tmp_path / "say"
    r = run_umo("say", "Hello there, my friend. Please bring me the map.", "-o", out)
    assert r.returncode == 0, r.stderr
    audio, sr = sf.read(out / "speech.wav")
    check_outputs(out, len(audio) / sr)
    # The mouth really moves with the speech: the lips open on vowels and close on the bilabials.
    face = read_livelink(out / "face.csv").face
    ap = lip_aperture(face)
    assert ap.max() > 0.3 and ap.min() < 0.05


def test_say_60fps_and_other_language(tmp_path):
    out = tmp_path / "es"
    r = run_umo("say", "Hola, ¿cómo estás? Me llamo umo.", "--voice", "es", "--fps", "60", "-o", out)
    assert r.returncode == 0, r.stderr
    audio, sr = sf.read(out / "speech.wav")
    check_outputs(out, len(audio) / sr, fps=60)


def test_animate_real_clip_with_text_transcript(tmp_path, fixtures):
    out = tmp_path / "jfk"
    text = (fixtures / "TRANSCRIPTS.txt").read_text().splitlines()
    jfk = next(line.split("\t")[1] for line in text if line.startswith("jfk.flac"))
    transcript = tmp_path / "jfk.txt"
    transcript.write_text(jfk)
    r = run_umo("animate", fixtures / "jfk.flac", "--transcript", transcript, "-o", out)
    assert r.returncode == 0, r.stderr
    check_outputs(out, sf.info(fixtures / "jfk.flac").duration)


def test_animate_with_lab_and_no_transcript(tmp_path, fixtures):
    r = run_umo("animate", fixtures / "arctic_a0009.wav", "--transcript", fixtures / "arctic_a0009_phone.lab",
                "-o", tmp_path / "lab", "--no-preview")
    assert r.returncode == 0, r.stderr
    r = run_umo("animate", fixtures / "arctic_a0009.wav", "-o", tmp_path / "plain", "--no-body", "--no-preview",
                "--animator", "rules")
    assert r.returncode == 0, r.stderr
    assert "loudness" in r.stderr  # the rules without a transcript: says plainly that there is no lip sync
    assert not (tmp_path / "plain" / "body.bvh").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["say", "   ", "-o", "{tmp}/x"], "empty"),
        (["say", "hello", "--voice", "klingon-xx", "-o", "{tmp}/x"], "voice"),
        (["animate", "{tmp}/missing.wav", "-o", "{tmp}/x"], "not found"),
        (["animate", "{tmp}/notaudio.wav", "-o", "{tmp}/x"], "notaudio.wav"),
        (["animate", "{fix}/arctic_a0009.wav", "--transcript", "{tmp}/t.doc", "-o", "{tmp}/x"], "transcript"),
        (["bench", "rules", "--server-seconds", "0"], "--server-seconds"),
        (["bench", "rules", "--server-gather-ms", "-1"], "--server-gather-ms"),
    ],
)
def test_user_errors_are_clear(tmp_path, fixtures, args, message):
    (tmp_path / "notaudio.wav").write_text("this is not audio")
    (tmp_path / "t.doc").write_text("words")
    r = run_umo(*[a.format(tmp=tmp_path, fix=fixtures) for a in args])
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert message.lower() in r.stderr.lower()
    assert not (tmp_path / "x" / "face.csv").exists()


def test_bad_fps_rejected(tmp_path):
    r = run_umo("say", "hello", "--fps", "33", "-o", tmp_path / "x")
    assert r.returncode == 2 and "fps" in r.stderr


def test_voices_by_language_alias_and_unknown_language():
    r = run_umo("voices", "--language", "zh")
    assert r.returncode == 0 and "cmn" in r.stdout
    r = run_umo("voices", "--language", "qq")
    assert r.returncode == 2 and "no voice speaks" in r.stderr and "Traceback" not in r.stderr


def test_a_mismatched_transcript_is_shown_as_a_warning(tmp_path, fixtures):
    (tmp_path / "wrong.txt").write_text("He turned sharply, and faced Gregson across the table.")
    r = run_umo("animate", fixtures / "jfk.flac", "--transcript", tmp_path / "wrong.txt", "-o", tmp_path / "o",
                "--no-preview", "--no-body")
    assert r.returncode == 0
    assert "umo: warning:" in r.stderr and "match" in r.stderr
