"""Test signals shared by the PLC tests."""
import numpy as np
from scipy.signal import lfilter


def vowel(sample_rate, seconds=1.0, f0=140.0, level=0.3, seed=0):
    """Steady vowel-like signal: a glottal pulse train (with a little jitter-free shimmer) through two formants."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    phase = 2 * np.pi * f0 * t
    src = sum(np.cos(k * phase) / k ** 1.2 for k in range(1, int(4000 / f0)))
    y = src
    for fc, bw in ((700.0, 90.0), (1200.0, 110.0)):
        r = np.exp(-np.pi * bw / sample_rate)
        a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r]
        y = lfilter([1.0 - r], a, y)
    return (level * y / np.max(np.abs(y))).astype(np.float32)


def gliding_vowel(sample_rate, seconds, f_start, f_end, level=0.3):
    """The vowel with its pitch moving linearly from f_start to f_end (phase = 2 pi * integral of f0)."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = f_start + (f_end - f_start) * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    y = sum(np.cos(k * phase) / k ** 1.2 for k in range(1, int(4000 / max(f_start, f_end))))
    for fc, bw in ((700.0, 90.0), (1200.0, 110.0)):
        r = np.exp(-np.pi * bw / sample_rate)
        a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r]
        y = lfilter([1.0 - r], a, y)
    return (level * y / np.max(np.abs(y))).astype(np.float32)
