"""Shared test fixtures: where ../shared is, seeding, the real-weights marker."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers such as weights_fixtures

import numpy as np
import pytest
import torch

pytest_plugins = ["weights_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference"
DATA = SHARED / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "real_weights: needs the published checkpoints on disk (skipped when absent)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")


@pytest.fixture(autouse=True)
def _seed():
    random.seed(2812)
    np.random.seed(2812)
    torch.manual_seed(2812)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures sit beside the project only in CI and dev checkouts)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference, or skip."""
    return _need(REFERENCE)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data, or skip."""
    return _need(DATA)


@pytest.fixture(scope="session")
def make_checkpoint(reference_dir):
    """The shared make_checkpoint module (make_state_dict, load_manifest)."""
    sys.path.insert(0, str(reference_dir))
    try:
        import make_checkpoint as mc  # type: ignore
    finally:
        sys.path.remove(str(reference_dir))
    return mc
