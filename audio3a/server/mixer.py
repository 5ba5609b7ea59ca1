"""N-minus-one mixing: each participant hears the sum of everyone else.

``mix_minus(frames)`` takes one frame per participant (rows of a float32
array) and returns, per row, the sum of the other rows, soft-limited into
[-1, 1] so a loud conference does not wrap int16 at the client.
"""
import numpy as np

__all__ = ["mix_minus", "soft_limit"]

LIMIT_KNEE = 0.7


def soft_limit(x: np.ndarray) -> np.ndarray:
    """Identity below ``LIMIT_KNEE``; above it a tanh curve that approaches (never reaches) 1."""
    y = np.asarray(x, np.float32)
    a = np.abs(y)
    over = a > LIMIT_KNEE
    if not over.any():
        return y
    y = y.copy()
    room = 1.0 - LIMIT_KNEE
    y[over] = np.sign(y[over]) * (LIMIT_KNEE + room * np.tanh((a[over] - LIMIT_KNEE) / room))
    return y


def mix_minus(frames: np.ndarray) -> np.ndarray:
    """Row i of the result = sum of all rows but i (soft-limited); a single row mixes to silence."""
    f = np.asarray(frames, np.float32)
    if f.ndim != 2:
        raise ValueError(f"frames must be (participants, samples), got shape {f.shape}")
    total = f.sum(axis=0, dtype=np.float64)
    out = (total[None, :] - f).astype(np.float32)
    return soft_limit(out)
