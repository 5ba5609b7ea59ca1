"""Acoustic echo cancellation: delay estimation, PBFDAF linear filter, residual echo suppression."""
from .canceller import AecConfig, AecStats, EchoCanceller

__all__ = ["AecConfig", "AecStats", "EchoCanceller"]
