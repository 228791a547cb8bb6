"""The video engine: one place that reads and writes films (:mod:`.io`, the only user of PyAV) and one set of
timeline rules (:mod:`.timeline`: scene cuts, held frames, re-timing, the output time grid), used by
``interpolate_video``, ``restore_film`` and DeOldify's ``VideoColorizer``.
"""
from .io import (
    ChunkWriter,
    DecodedFrame,
    Decoder,
    Encoder,
    EncoderSettings,
    VideoInfo,
    as_fraction,
    concat_chunks,
    output_format,
    parse_rate,
    probe,
    read_frames,
    transcode,
)
from .timeline import Analyser, Picture, Slot, Timeline, analyse, grid, group_pictures, retime

__all__ = [
    "ChunkWriter",
    "DecodedFrame",
    "Decoder",
    "Encoder",
    "EncoderSettings",
    "VideoInfo",
    "as_fraction",
    "concat_chunks",
    "output_format",
    "parse_rate",
    "probe",
    "read_frames",
    "transcode",
    "Analyser",
    "Picture",
    "Slot",
    "Timeline",
    "analyse",
    "grid",
    "group_pictures",
    "retime",
]
