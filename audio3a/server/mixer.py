"""N-minus-one mixing: each participant hears the sum of everyone else.

``mix_minus(frames)`` takes one frame per participant (rows of a float32
array) and returns, per row, the sum of the other rows, soft-limited into
[-1, 1] so a loud conference does not wrap int16 at the client. It is
sum-minus-own: the total ``T = sum_j x_j`` once (float64), then row ``i`` is
``limit(T - x_i)``, O(N) per sample, not O(N^2). ``mix_minus_into`` is the
same kernel writing into preallocated arrays (the server's tick).
"""
import math

import numpy as np

from .._jit import kernel

__all__ = ["mix_minus", "mix_minus_into"]

LIMIT_KNEE = 0.7


@kernel
def _mix_minus(frames, total, out, knee):
    """``out[i] = limit(T - frames[i])``, ``T`` the float64 sum of the rows (in ``total``); the limit is
    the identity below ``knee`` and ``knee + (1 - knee) tanh((|v| - knee) / (1 - knee))`` above it
    (it approaches, never reaches, 1)."""
    m, n = frames.shape
    total[:n] = 0.0
    for i in range(m):
        for j in range(n):
            total[j] += frames[i, j]
    room = 1.0 - knee
    for i in range(m):
        for j in range(n):
            v = np.float32(total[j] - frames[i, j])
            a = abs(v)
            if a > knee:
                y = knee + room * math.tanh((a - knee) / room)
                v = np.float32(y if v > 0 else -y)
            out[i, j] = v


def mix_minus_into(frames: np.ndarray, total: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``mix_minus`` of float32 ``frames`` (N, n) into ``out`` (N, n), ``total`` a float64 scratch of n."""
    _mix_minus(frames, total, out, LIMIT_KNEE)
    return out


def mix_minus(frames: np.ndarray) -> np.ndarray:
    """Row i of the result = sum of all rows but i (soft-limited); a single row mixes to silence."""
    f = np.ascontiguousarray(frames, np.float32)
    if f.ndim != 2:
        raise ValueError(f"frames must be (participants, samples), got shape {f.shape}")
    return mix_minus_into(f, np.zeros(f.shape[1]), np.empty_like(f))
