"""Shared fixtures.

The real DFT data are read from ``../shared/data`` beside the checkout (never copied into the
repository); tests that need them skip when that folder is missing. ``tests/`` is put on
``sys.path`` so that potential specs such as ``python:helpers_calculators:RaisingOnThird``
resolve to the tiny calculators in ``tests/helpers_calculators.py``.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
CU_TEST = Path("mlearn_li_cu") / "cu_test.extxyz.gz"

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data root (``../shared/data`` beside the checkout); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cu_test_lines(data_root: Path) -> list[str]:
    """The decompressed lines of mlearn's cu_test extxyz (31 frames; frames 0-3 have 107 atoms)."""
    with gzip.open(data_root / CU_TEST, "rt") as handle:
        return handle.read().splitlines(keepends=True)


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the Hugging Face datasets cache of a test inside its tmp_path."""
    datasets = pytest.importorskip("datasets")
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache
