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


def test_soak_reports_the_server_memory_after_warm_up_and_at_the_end():
    """A few seconds of the soak `umo bench model --soak-minutes M` runs for half an hour: real
    sessions through a real server process, renewed round after round; the memory of its process
    tree (the model's process included) after the warm-up round and at the end."""
    pytest.importorskip("websockets")
    report = bench.soak_server("untrained:tiny", sessions=2, minutes=0.05, session_seconds=1.0, fmt="binary")
    rounds = report["rounds"]
    assert len(rounds) >= 1 and rounds[-1]["t_s"] >= 3.0 and report["elapsed_s"] == rounds[-1]["t_s"]
    assert report["sessions_run"] == 2 * (len(rounds) + 1) == report["server_total_sessions"]
    assert report["rss_start_mib"] > 100  # the server and its model process (each imports torch)
    assert report["rss_end_mib"] == rounds[-1]["rss_mib"] and report["rss_max_mib"] >= report["rss_end_mib"]
    assert report["rss_growth_pct"] == pytest.approx(100 * (report["rss_end_mib"] / report["rss_start_mib"] - 1))
    assert all(0 < r["latency_ms"]["p50"] < 5000 and r["fps_received"] > 15 for r in rounds)
    text = bench.format_soak(report)
    assert "after the warm-up" in text and "%" in text and "2 concurrent real-time session(s)" in text


def test_bench_soak_command_line(monkeypatch, capsys):
    """`umo bench model --soak-minutes M --sessions N`: the soak alone, with the server options."""
    import argparse

    from umo.eval.cli import add_bench_parser

    calls = []

    def fake_soak(weights, sessions, minutes, **kw):
        calls.append((weights, sessions, minutes, kw))
        return {"rounds": [{"latency_ms": {"p50": 1, "p95": 2}, "fps_received": 30.0}]}

    monkeypatch.setattr(bench, "soak_server", fake_soak)
    monkeypatch.setattr(bench, "format_soak", lambda report: "SOAK REPORT")
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "model", "--soak-minutes", "0.5", "--sessions", "3", "--server-seconds", "2",
                              "--frames", "binary"])
    assert args.func(args) == 0 and "SOAK REPORT" in capsys.readouterr().out
    (weights, sessions, minutes, kw), = calls
    assert (weights, sessions, minutes) == ("bundled", 3, 0.5)
    assert kw["session_seconds"] == 2 and kw["fmt"] == "binary" and kw["engine"] == "process"
    for bad in (["bench", "rules", "--soak-minutes", "1"], ["bench", "model", "--soak-minutes", "0"],
                ["bench", "model", "--soak-minutes", "1", "--sessions", "1", "8"]):
        args = parser.parse_args(bad)
        with pytest.raises(UmoError):
            args.func(args)


def test_live_text_measurement_finds_the_first_clause_and_no_gaps():
    """Text sessions through a real `umo serve` process (an untrained tiny model: the same paths):
    the first audio and frames are timed from the first complete clause, the timeline is contiguous,
    and the offline cascade on that clause is the baseline."""
    pytest.importorskip("websockets")
    from umo.eval.bench_text import format_text, measure_text_server

    r = measure_text_server("untrained:tiny", repeats=1, piece_ms=5.0, engine="thread",
                            reply="Sure, I can help with that. It leaves every twenty minutes!")
    assert r["first_clause"] == "Sure, I can help with that." and r["clauses"] == 2
    assert 0 < r["first_audio_ms"] <= r["first_frames_ms"] < 5000 and 0 < r["server_audio_ms"] <= r["server_frames_ms"]
    assert r["contiguous"] and r["audio_gaps"] == 0 and r["speech_s"] > 3
    assert 0 < r["baseline"]["tts_ms"] < r["baseline"]["total_ms"] and "cold_cli_ms" not in r["baseline"]
    text = "\n".join(format_text(r))
    assert "first audio" in text and "contiguous" in text
