"""Packet-loss concealment and time-scale modification for PCM voice streams.

``Concealer`` (``concealer.py``) fills missing packets; ``pitch.py`` and
``lpc.py`` hold its analysis; ``TimeStretcher`` (``wsola.py``) stretches or
compresses a frame by a few milliseconds at the same pitch, for a jitter buffer.
"""
from .concealer import Concealer, PlcConfig, PlcStats
from .wsola import TimeStretcher, time_stretch

__all__ = ["Concealer", "PlcConfig", "PlcStats", "TimeStretcher", "time_stretch"]
