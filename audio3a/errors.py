"""Exceptions audio3a raises on bad input. All derive from ``Audio3aError``."""


class Audio3aError(ValueError):
    """Base class: input audio3a cannot process, with a message that names the fix."""


class FrameError(Audio3aError):
    """A frame of the wrong length, shape, dtype or with NaN/Inf samples."""


class AudioFileError(Audio3aError):
    """A file that cannot be read or written as audio (missing, empty, corrupt, ...)."""
