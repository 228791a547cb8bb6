"""The whole chain for photos and films: repair → colorize (→ stabilise → interpolate for films).

- :func:`restore_photo` / :class:`PhotoPipeline`: one photo, every stage's image in a :class:`PhotoResult`.
- :func:`restore_folder`: a folder of photos, resumable, with an HTML contact sheet.
- :func:`restore_film`: a film in one streaming, resumable pass with audio kept in sync.
- :mod:`.stabilize`: temporal chroma stabilisation and the flicker metric.
- ``add_cli``: the ``photo``, ``folder`` and ``film`` commands of ``restoration-lib``.
"""
from .cli import add_cli
from .film import FilmReport, restore_film, work_dir_for
from .folder import FolderReport, restore_folder
from .options import (
    FILM_COLORIZE,
    ColorizeOptions,
    ColorizeStage,
    InterpolateOptions,
    InterpolateStage,
    RepairOptions,
    RepairStage,
)
from .photo import PhotoPipeline, PhotoResult, restore_photo
from .stabilize import ChromaStabilizer, chroma_error, flicker, jitter_chroma
from .video import EncoderSettings

__all__ = [
    "restore_photo",
    "PhotoPipeline",
    "PhotoResult",
    "restore_folder",
    "FolderReport",
    "restore_film",
    "FilmReport",
    "work_dir_for",
    "RepairOptions",
    "ColorizeOptions",
    "InterpolateOptions",
    "RepairStage",
    "ColorizeStage",
    "InterpolateStage",
    "FILM_COLORIZE",
    "ChromaStabilizer",
    "flicker",
    "chroma_error",
    "jitter_chroma",
    "EncoderSettings",
    "add_cli",
]
