"""restoration_lib: repair, colorize and interpolate old photos and films with published models.

Tasks:
    - :mod:`restoration_lib.colorize` (DeOldify),
    - :mod:`restoration_lib.repair` ("Bringing Old Photos Back to Life"),
    - :mod:`restoration_lib.interpolate` (RIFE, Super SloMo, optical-flow fallback),
    - :mod:`restoration_lib.pipeline` (repair → colorize → interpolate for photos and films).

Importing the package sets no environment variables and loads no weights.
"""
__version__ = "0.1.0"

from .errors import (  # noqa: F401
    CheckpointError,
    ImageReadError,
    ImageWriteError,
    MissingWeightsError,
    PrecisionError,
    RestorationError,
    VideoError,
    WeightsDownloadError,
)


def __getattr__(name):  # lazy, so that `import restoration_lib` does not import torch
    if name == "pick_device":
        from .device import pick_device

        return pick_device
    raise AttributeError(f"module 'restoration_lib' has no attribute {name!r}")
