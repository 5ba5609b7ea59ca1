"""Automatic gain control: every talker at one loudness, nothing clipped, pauses not pumped.

``level`` (speech level and noise floor), ``gain`` (adaptive gain, saturation
protection, pause cap), ``limiter`` (peak limiter) and ``agc`` (the stage).
"""
from .agc import AgcConfig, AgcStats, AutomaticGainControl

__all__ = ["AgcConfig", "AgcStats", "AutomaticGainControl"]
