"""Shared test fixtures.

Real data lives in ``../shared/data`` beside the repository (set ``UMO_SHARED_DATA`` to point
elsewhere). Non-commercial files are never copied into the repo: tests that need them skip, with
the reason, where that folder is absent. Small permissive files are in ``tests/fixtures``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def shared_data_dir() -> Path | None:
    env = os.environ.get("UMO_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip: the real (partly non-commercial) clips are not in the repo."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data folder ../shared/data is absent (non-commercial clips are not in the repo)")
    return path


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
