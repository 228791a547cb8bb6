"""Frame interpolation: RIFE with its published weights, an optical-flow fallback, film frame-rate conversion.

>>> from restoration_lib.interpolate import Interpolator, interpolate_video
>>> mid = Interpolator("rife-4.0")(frame0, frame1, t=0.5)                    # doctest: +SKIP
>>> interpolate_video("film.mp4", "film_50fps.mp4", factor=2)                # doctest: +SKIP
"""
from .adapters import ADAPTERS, NetAdapter, register_adapter
from . import dain as _dain  # noqa: F401  (registers the "dain" adapter)
from .cli import add_cli
from .flow import FlowInterpolator
from .interpolator import Interpolator, available_models
from .video import VideoResult, VideoScan, interpolate_video, parse_rate, scan_video

__all__ = [
    "Interpolator",
    "FlowInterpolator",
    "interpolate_video",
    "scan_video",
    "VideoResult",
    "VideoScan",
    "parse_rate",
    "NetAdapter",
    "ADAPTERS",
    "register_adapter",
    "available_models",
    "add_cli",
]
