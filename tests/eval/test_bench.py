"""`umo bench` runs, quickly, with a tiny repeat count."""

from __future__ import annotations

import numpy as np
import pytest

from umo.errors import UmoError
from umo.eval import bench


def test_bench_runs_and_compares():
    report = bench.run_bench(["rules", "loudness"], threads=(1,), repeats=1)
    rows = {r["config"]: r for r in report["rows"]}
    assert rows["rules"]["frames"] > 0 and rows["rules"]["rtf"] > 0 and rows["rules"]["peak_mib"] > 10
    assert rows["loudness"]["latency"] == "offline only"
    text = bench.format_report(report, vs="loudness")
    assert "ratios to loudness" in text and "server: not available" in text and "start-up" in text


def test_bench_rejects_unknown_config():
    with pytest.raises(UmoError):
        bench.run_bench(["nonsense"], threads=(1,), repeats=1)


def test_model_size_counts_active_experts():
    from umo.inference import load_model
    from umo.models.moe import MoE

    sz = bench.model_size("model")
    model = load_model(None)
    assert sz["params"] == sum(p.numel() for p in model.parameters())
    moes = [m for m in model.modules() if isinstance(m, MoE)]
    assert moes and sz["active_params"] < sz["params"]
    expert = sum(t[0].numel() for t in (moes[0].w1, moes[0].b1, moes[0].w2, moes[0].b2))
    assert sz["params"] - sz["active_params"] == len(moes) * expert * (moes[0].n_experts - moes[0].top_k)
    assert 1.0 < sz["file_mib"] < 20.0
    assert bench.model_size("rules") is None


def test_an_untrained_preset_is_sized_and_served_as_such():
    sz = bench.model_size("model:tiny")
    assert sz["file_mib"] is None and 0 < sz["active_params"] <= sz["params"]
    assert bench._model_weights(["loudness", "model:tiny@60"]) == "untrained:tiny"
    assert bench._model_weights(["model"]) == "bundled"


@pytest.mark.parametrize("engine,gather_ms", [("process", None), ("thread", 0.0)])
def test_server_measurement_counts_the_model_process(engine, gather_ms):
    """End-to-end latency through a real `umo serve` process and real clients; with the process
    engine the model's own process is found, and its CPU and memory are counted in the server's."""
    pytest.importorskip("websockets")
    from umo.serve.batching import GATHER_S

    (row,) = bench.measure_server("untrained:tiny", (2,), seconds=2.0, fmt="binary", engine=engine,
                                  gather_ms=gather_ms)
    assert row["server_engine"] == engine and row["sessions"] == 2
    assert row["gather_ms"] == (1000 * GATHER_S if gather_ms is None else gather_ms)
    assert 0 < row["latency_ms"]["p50"] < 5000 and row["server_peak_mib"] > 50
    assert 15 < row["fps_received"] < 40  # 30 frames per second of audio (loose: a loaded 2-core machine)
    assert np.isnan(row["drift_ms_per_s"])  # 2 s: too short for a slope from the third second on
    if engine == "process":
        assert 0 < row["model_process_cores"] < row["server_cores"]
    else:
        assert row["model_process_cores"] is None
    text = "\n".join(bench._format_server([row]))
    assert engine in text and "model cores" in text


def test_keeping_up_reads_rate_and_drift_not_latency():
    """A server with a steady 300 ms latency keeps up (30 fps, no drift); one that makes 29 frames per
    second of 30 falls behind (about 29 fps, latency growing ~34 ms per second), whatever its start."""
    frames = np.arange(600)  # 20 s at 30 fps
    audio_t = frames / 30
    steady = [(int(i), t + 0.3, 0.3) for i, t in zip(frames, audio_t)]
    fps, drift = bench.keeping_up(steady)
    assert fps == pytest.approx(30.0) and drift == pytest.approx(0.0, abs=1e-9)
    recv = 0.1 + frames / 29.0  # behind by 1/29 - 1/30 s per frame
    lagging = [(int(i), r, r - t) for i, t, r in zip(frames, audio_t, recv)]
    fps, drift = bench.keeping_up(lagging)
    assert fps == pytest.approx(29.0) and drift == pytest.approx(30 / 29 - 1, rel=1e-6)
    assert bench.keeping_up(steady[:80]) == (pytest.approx(30.0), None)  # under 3 s: no drift
    assert bench.keeping_up(steady[:1]) == (None, None)
