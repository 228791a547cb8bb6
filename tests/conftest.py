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


#: The one reason every skip caused by an absent ../shared is reported under (one line in the summary).
SHARED_REASON = (f"{SHARED} is absent: the reference fixtures (made by running the official code) and the test "
                 "data sit beside the project only in CI and developers' checkouts; a user can ignore these skips")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(SHARED_REASON)
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Skips that an absent ../shared causes (through the fixtures or a test's own "no cases under ...") are
    reported under one reason, so the summary shows one line for all of them."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not SHARED.exists() and isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
        reason = str(rep.longrepr[2])
        if str(SHARED) in reason or "shared" in reason:
            rep.longrepr = (str(Path(__file__)), 0, f"Skipped: {SHARED_REASON}")


def pytest_collection_modifyitems(config, items):
    """``SKIP_BROWSER=1`` skips the browser test (for users who do not want Chromium installed)."""
    if os.environ.get("SKIP_BROWSER", "") not in ("", "0"):
        skip = pytest.mark.skip(reason="SKIP_BROWSER=1: the browser test is not run")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


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
