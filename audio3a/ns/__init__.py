"""Noise suppression: low-delay STFT, IMCRA noise tracking, OM-LSA gain."""
from .suppressor import NoiseSuppressor, NsConfig, NsStats

__all__ = ["NoiseSuppressor", "NsConfig", "NsStats"]
