"""The dance teacher on a real music file (a drum loop synthesised here and written with
soundfile), its metrics against baselines, and umo generate / umo dance end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from umo.cli import main
from umo.errors import UmoError
from umo.eval.motion import (
    FLOOR_TOLERANCE_CM,
    beat_alignment_score,
    diversity,
    drum_loop,
    foot_stats,
    motion_beats,
)
from umo.formats.bvh import read_animation_bvh
from umo.motion.cli import DANCE_STYLE_NAMES
from umo.motion.dance import ANALYSIS_RATE, STYLES, analyze_music, dance_to_music, load_music

BPM = 112.0


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("music") / "drums.wav"
    sf.write(path, drum_loop(BPM, 16.0, 44_100, seed=5), 44_100, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def music(track):
    audio = load_music(track)
    return audio, analyze_music(audio)  # librosa's first call compiles (numba): ~20 s once


def test_beats_and_tempo_of_a_drum_loop(music):
    _, f = music
    assert abs(f.tempo_bpm - BPM) < 3 or abs(f.tempo_bpm - 2 * BPM) < 6
    period = 60.0 / BPM
    # every tracked beat lies on the loop's grid
    phase = (f.beats / period) % 1.0
    assert np.all(np.minimum(phase, 1 - phase) < 0.1)
    assert len(f.downbeats) >= 6


def test_style_names_match():
    assert tuple(STYLES) == DANCE_STYLE_NAMES


@pytest.mark.parametrize("style", DANCE_STYLE_NAMES)
def test_dance_on_the_beat_feet_on_the_floor(music, style):
    audio, f = music
    d = dance_to_music(audio, style=style, seed=0, features=f)
    anim = d.animation
    assert abs(anim.duration - f.duration) < 0.05  # as long as the music
    pos = anim.joint_positions()
    fs = foot_stats(pos, anim.fps)
    assert fs.penetration_cm <= FLOOR_TOLERANCE_CM
    assert fs.skate_cm_s < 3.0 and fs.contact_share > 0.8, fs
    mb = motion_beats(pos, anim.fps)
    bas = beat_alignment_score(f.beats, mb, f.duration)
    shifted = beat_alignment_score(f.beats + 0.25 * 60.0 / BPM, mb, f.duration)
    assert bas > 0.4 and bas > shifted + 0.1, (bas, shifted)
    assert np.ptp(anim.root_pos[:, 1]) > 2.0  # the body bounces


def test_seeds_vary_and_a_seed_repeats(music):
    audio, f = music
    pos = [dance_to_music(audio, seed=s, features=f).animation.joint_positions() for s in (0, 1, 0)]
    assert diversity(pos[:2]) > 3.0
    assert diversity([pos[0], pos[2]]) == 0.0


def test_bas_definition():
    beats = np.array([1.0, 2.0, 3.0])
    assert beat_alignment_score(beats, beats) == pytest.approx(1.0)
    # 3 frames at 60 fps off: exp(-1/2)
    assert beat_alignment_score(beats, beats + 0.05) == pytest.approx(np.exp(-0.5))


def test_music_errors(tmp_path):
    with pytest.raises(UmoError, match="at least"):
        analyze_music(np.zeros(ANALYSIS_RATE, np.float32) + 0.1)
    with pytest.raises(UmoError, match="silent"):
        analyze_music(np.zeros(ANALYSIS_RATE * 8, np.float32))
    bad = tmp_path / "x.mp3"
    bad.write_bytes(b"not music at all")
    with pytest.raises(UmoError, match="cannot"):
        load_music(bad)
    with pytest.raises(UmoError, match="not found"):
        load_music(tmp_path / "missing.ogg")


def _check_take(out: Path, frames: int | None = None) -> None:
    from umo.skeleton import canonical_skeleton

    anim = read_animation_bvh(out / "body.bvh")
    assert anim.skeleton.names == canonical_skeleton().names
    assert not (out / "face.csv").exists()
    html = (out / "preview.html").read_text()
    assert "umo" in html and len(html) > 100_000
    if frames is not None:
        assert anim.num_frames == frames
    pos = anim.joint_positions()
    assert foot_stats(pos, anim.fps).penetration_cm <= FLOOR_TOLERANCE_CM + 0.01  # BVH rounding
    return anim


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "wave"
    assert main(["generate", "a person waves with the right hand, then bows and juggles", "-o", str(out),
                 "--seconds", "10", "--seed", "2"]) == 0
    err = capsys.readouterr().err
    assert "juggles" in err and "padded" in err and "rule-based" in err
    anim = _check_take(out, frames=300)
    assert np.ptp(anim.body, axis=0).max() > 0.3  # it moves
    out2 = tmp_path / "walk"
    assert main(["generate", "walks forward quickly", "-o", str(out2), "--seconds", "2"]) == 0
    assert "time-scaled" in capsys.readouterr().err
    root = _check_take(out2, frames=60).root_pos
    assert root[-1, 2] - root[0, 2] > 100


def test_cli_generate_errors(tmp_path, capsys):
    assert main(["generate", "a person flies", "-o", str(tmp_path / "x")]) == 2
    assert "no action recognised" in capsys.readouterr().err
    assert main(["generate", "jumps", "-o", str(tmp_path / "x"), "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err


def test_cli_dance(track, music, tmp_path, capsys):
    out = tmp_path / "dance"
    assert main(["dance", str(track), "-o", str(out), "--style", "hiphop", "--seed", "1"]) == 0
    err = capsys.readouterr().err
    assert "bpm" in err and "hiphop" in err
    anim = _check_take(out)
    assert abs(anim.duration - music[1].duration) < 0.05
    assert '"audio":{"mime"' in (out / "preview.html").read_text()[:5_000_000] or "audio/ogg" in (out / "preview.html").read_text()


def test_cli_dance_errors(tmp_path, capsys):
    assert main(["dance", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "d")]) == 2
    assert "not found" in capsys.readouterr().err
    short = tmp_path / "short.wav"
    sf.write(short, drum_loop(120, 2.0, 22_050), 22_050)
    assert main(["dance", str(short), "-o", str(tmp_path / "d")]) == 2
    assert "at least" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dance", str(short), "-o", str(tmp_path / "d"), "--style", "tango"])
