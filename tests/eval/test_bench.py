"""`umo bench` runs, quickly, with a tiny repeat count."""

from __future__ import annotations

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
