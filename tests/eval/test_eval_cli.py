"""`umo eval` end to end on the bundled FACEGOOD clip (and the real suite)."""

from __future__ import annotations

import json

import pytest

from umo.eval.cli import main

FG = "facegood/bs_value_1114_3_16.npy"
WAV = "facegood/1114_3_16.wav"


def test_eval_facegood_loudness_prediction(fixtures, tmp_path, capsys):
    from umo.eval.baselines import get_animator
    from umo.formats.audio import load_audio

    pred = get_animator("loudness@60").animate(load_audio(fixtures / WAV), None)  # 60 fps vs a 30 fps capture
    pred.save_livelink(tmp_path / "pred.csv")
    rc = main(["eval", str(tmp_path / "pred.csv"), str(fixtures / FG), "--audio", str(fixtures / WAV),
               "-o", str(tmp_path / "out")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pred:pred.csv" in out and "shifted real" in out and "27 channels" in out
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {r["system"]: r for r in doc["cases"][0]["rows"]}
    p = rows["pred:pred.csv"]
    assert p["face_overlap"]["fps"] == 30 and p["face_overlap"]["pred_fps"] == 60
    assert p["face"]["sync_r0"] > rows["shifted real"]["face"]["sync_r0"] + 0.3
    assert (tmp_path / "out" / "pred_aperture.png").stat().st_size > 10_000


def test_eval_a_copy_of_the_capture_is_perfect(fixtures, tmp_path, capsys):
    from umo.convert import read_any

    gt, _ = read_any(fixtures / FG)
    gt.save_livelink(tmp_path / "copy.csv")
    assert main(["eval", str(tmp_path / "copy.csv"), str(fixtures / FG), "--no-baselines", "--no-plots",
                 "-o", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    face = doc["cases"][0]["rows"][0]["face"]
    assert face["lve_bs"] < 1e-6 and face["sync_r0"] == pytest.approx(1.0, abs=1e-4) and face["sync_lag_ms"] == 0


def test_suite_manifest(fixtures, tmp_path, capsys):
    (tmp_path / "suite.toml").write_text(
        f'[[case]]\nname = "fg"\naudio = "{fixtures / WAV}"\nface_gt = "{fixtures / FG}"\ncandidates = ["loudness"]\n'
        f'[[case]]\nname = "arctic"\naudio = "{fixtures / "arctic_a0009.wav"}"\n'
        f'transcript = "{fixtures / "arctic_a0009_phone.lab"}"\ncandidates = ["rules"]\n')
    assert main(["eval", "--suite", str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "fg " in out and "arctic " in out and "audio envelope (sanity)" in out


def test_suite_real(capsys, tmp_path):
    assert main(["eval", "--suite", "real", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "n/a: no transcript" in out  # FACEGOOD has no transcript: rules cannot run there
    assert (tmp_path / "facegood_1114_3_16_aperture.png").exists()


def test_eval_needs_inputs(capsys):
    assert main(["eval"]) == 2
    assert "PRED and GT" in capsys.readouterr().err


def test_table_labels_tell_model_checkpoints_apart():
    from umo.eval.suite import system_label

    assert system_label("model:runs/ablations/dense/weights.safetensors") == "model:dense"
    assert system_label("model:runs/ablations/stride4/weights.safetensors@60") == "model:stride4@60"
    assert system_label("model:my_model.safetensors") == "model:my_model"
    assert system_label("loudness") == "loudness"
