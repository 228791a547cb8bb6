"""The library's exception types.

Every error the library raises on purpose derives from :class:`RestorationError`, so callers (the CLI,
the notebooks, batch jobs) can catch one type and show its message, which always names the file or value
at fault and what was expected.
"""
from __future__ import annotations


class RestorationError(Exception):
    """Base class of every error raised on purpose by restoration_lib."""


class ImageReadError(RestorationError, ValueError):
    """An input file is not a readable image (missing, empty, truncated, not an image, too large)."""


class ImageWriteError(RestorationError, OSError):
    """An output could not be written (or would overwrite an input)."""


class CheckpointError(RestorationError, ValueError):
    """A checkpoint file or state_dict does not fit the network it was given to."""


class MissingWeightsError(RestorationError, FileNotFoundError):
    """A checkpoint the task needs is not on disk; the message says where it was looked for and how to get it."""

    @property
    def weight_ids(self) -> list[str]:
        """The registry ids (``'bopbtl-global'``...) this error and the errors it wraps name, once each."""
        import re

        from .weights import registry

        known = set(registry())
        text, cause = str(self), self.__cause__
        while cause is not None:
            text += "\n" + str(cause)
            cause = cause.__cause__
        return list(dict.fromkeys(m for m in re.findall(r"'([^'\s]+)'", text) if m in known))


class WeightsDownloadError(RestorationError, OSError):
    """A download failed on every source (offline, HTML page, truncated, hash mismatch)."""


class PrecisionError(RestorationError, ValueError):
    """A precision that the chosen device cannot run (e.g. fp16 on CPU)."""


class VideoError(RestorationError, ValueError):
    """A video file cannot be read or written (no video stream, unreadable container)."""
