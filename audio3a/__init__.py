"""audio3a: real-time voice processing for weak networks.

Capture side: high-pass, echo cancellation, noise suppression, gain control.
Receive side: packet-loss concealment. Everything runs on 10 ms frames at
16 or 48 kHz with per-session state in objects (see ``Pipeline``).
"""
from ._version import __version__
from .errors import Audio3aError, AudioFileError, FrameError
from .frames import FRAME_MS, SAMPLE_RATES, frame_len_for
from .hpf import HighPassFilter, HpfConfig

__all__ = [
    "__version__",
    "Audio3aError",
    "AudioFileError",
    "FrameError",
    "FRAME_MS",
    "SAMPLE_RATES",
    "frame_len_for",
    "HighPassFilter",
    "HpfConfig",
]
