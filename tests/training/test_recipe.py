"""The umo model through the train command, stage to stage, and the whole recipe at a toy size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from umo.training import read_meta
from umo.training.cli import main as train_main
from umo.training.recipe import RecipeConfig, run_recipe


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from umo.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, hours=0.004, seed=5, workers=1, progress=False)
    return out


def test_stages_chain_with_init(tmp_path, corpus):
    common = ["--data", str(corpus), "--steps", "3", "--batch-size", "2", "--window-frames", "48",
              "--val-data", str(corpus), "--val-every", "0", "--threads", "1", "--no-progress"]
    assert train_main(["--stage", "1", "--config", "tiny", "--out", str(tmp_path / "s1"), *common]) == 0
    s1 = tmp_path / "s1" / "last.safetensors"
    # stage 2 takes its model config from the --init checkpoint
    assert train_main(["--stage", "2", "--init", str(s1), "--out", str(tmp_path / "s2"), *common]) == 0
    meta = read_meta(tmp_path / "s2" / "last.safetensors")
    assert meta["stage"] == 2 and meta["model_config"]["name"] == "tiny" and meta["train_config"]["init"] == str(s1)
    with safe_open(str(s1), framework="pt") as f:
        mean = f.get_tensor("model/face_mean")
    assert mean.abs().sum() > 0  # stage 1 set the motion statistics from the data
    log = [json.loads(line) for line in (tmp_path / "s2" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("split") == "val" for r in log)
    # stage 5 grows a mouth head on those weights and trains it alone
    s2 = tmp_path / "s2" / "last.safetensors"
    assert train_main(["--stage", "5", "--init", str(s2), "--model-override", "mouth_dim=8",
                       "--out", str(tmp_path / "s5"), *common]) == 0
    from umo.models.checkpoint import read_tensors

    before, after = read_tensors(s2, "ema/"), read_tensors(tmp_path / "s5" / "last.safetensors", "ema/")
    assert read_meta(tmp_path / "s5" / "last.safetensors")["model_config"]["mouth_dim"] == 8
    assert any(k.startswith("mouth.") for k in after) and not any(k.startswith("mouth.") for k in before)
    assert all(torch.equal(before[k], after[k]) for k in before)  # everything else frozen


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert train_main(["--stage", "1", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "data folder not found" in capsys.readouterr().err


def _facegood_with_a_training_take(fixtures, tmp_path) -> Path:
    """The fixture folder holds only the held-out take: a copy under another name plays a training take."""
    import shutil

    src, dst = fixtures / "facegood", tmp_path / "facegood"
    shutil.copytree(src, dst)
    (dst / "wav").mkdir(exist_ok=True)
    for f in list(dst.rglob("*1114_3_16*")):
        shutil.copy(f, f.with_name(f.name.replace("1114_3_16", "1114_9_99")))
    return dst


def test_recipe_refuses_without_real_training_takes(tmp_path, fixtures):
    from umo.errors import UmoError

    cfg = RecipeConfig(out=str(tmp_path / "recipe"), hours=0.003, model="tiny", steps=(2, 2, 2), batch_size=2,
                       synth_workers=1, facegood=str(fixtures / "facegood"), threads=1,
                       export_to=str(tmp_path / "default.safetensors"))
    with pytest.raises(UmoError, match="no FACEGOOD training takes"):
        run_recipe(cfg)
    assert not (tmp_path / "default.safetensors").exists()


@pytest.mark.slow
def test_recipe_runs_resumes_and_exports(tmp_path, fixtures):
    """Corpus, real takes, the Whisper student, stages 1-5 (the mouth head grown in 5), export with the data manifest."""
    cfg = RecipeConfig(out=str(tmp_path / "recipe"), hours=0.003, model="tiny", steps=(2, 2, 2), real_steps=2,
                       mouth_steps=2, mouth_dim=8,
                       student=True, student_steps=2, batch_size=2, synth_workers=1,
                       facegood=str(_facegood_with_a_training_take(fixtures, tmp_path)), threads=1,
                       export_to=str(tmp_path / "default.safetensors"))
    path = run_recipe(cfg)
    meta = read_meta(path)
    assert meta["kind"] == "inference" and meta["stage"] == 5 and meta["step"] == 2
    assert meta["model_config"]["mouth_dim"] == 8
    assert read_meta(tmp_path / "recipe" / "stage5" / "last.safetensors")["train_config"]["init"].endswith("stage4/last.safetensors")
    assert meta["model_config"]["student_dim"] > 0 and meta["model_config"]["teacher"] == "tiny.en:2"
    manifest = meta["manifest"]
    assert set(manifest["data"]) == {"corpus", "facegood"} and manifest["data"]["facegood"]["clips"] == 1
    assert manifest["student"]["clips"] >= 2 and len(manifest["data"]["corpus"]["index_sha256"]) == 64
    assert path.stat().st_size < 20 * 2**20
    before = (tmp_path / "recipe" / "stage5" / "last.safetensors").stat().st_mtime_ns
    run_recipe(cfg)  # everything finished: nothing is trained again
    assert (tmp_path / "recipe" / "stage5" / "last.safetensors").stat().st_mtime_ns == before


def test_recipe_stages_and_their_chain(tmp_path):
    from umo.training.recipe import stage_config

    d = RecipeConfig(out=str(tmp_path))
    for n in (2, 3):
        (tmp_path / f"stage{n}").mkdir()
        (tmp_path / f"stage{n}" / "last.safetensors").touch()
    assert d.stages == (1, 2, 3, 5)  # stage 4 only when asked for
    assert RecipeConfig(real_steps=10).stages == (1, 2, 3, 4, 5)
    assert RecipeConfig(mouth_steps=0).stages == (1, 2, 3)
    tc = stage_config(d, 5, [tmp_path], tmp_path)
    assert tc.init.endswith("stage3/last.safetensors") and tc.model_overrides == {"mouth_dim": d.mouth_dim}
    assert stage_config(d, 3, [tmp_path], tmp_path).model_overrides == {}
    with pytest.raises(Exception, match="mouth_dim"):
        RecipeConfig(mouth_dim=0).validate()
