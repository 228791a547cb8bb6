"""Moved to :mod:`restoration_lib.video.io` (the video engine); these names stay importable from here."""
from ..video.io import (  # noqa: F401
    ChunkWriter,
    EncoderSettings,
    VideoInfo,
    as_fraction,
    concat_chunks,
    deterministic_x264_params,
    frame_to_rgb,
    probe,
    read_frames,
)
from ..video.io import output_format as _format_for  # noqa: F401

__all__ = [
    "VideoInfo",
    "probe",
    "read_frames",
    "EncoderSettings",
    "ChunkWriter",
    "concat_chunks",
    "as_fraction",
    "deterministic_x264_params",
    "frame_to_rgb",
]
