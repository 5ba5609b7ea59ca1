"""Peak limiter: no output sample above the ceiling (default -1 dBFS).

Zero lookahead (``LOOKAHEAD_MS = 0``, no added delay). A peak envelope
follows |y| with instant attack and exponential release,

    env[n] = max(|y[n]|, r env[n-1]),   r = exp(-1 / (release_s fs)),

and the output is y[n] * min(1, c / env[n]). Because env[n] >= |y[n]| the
output never exceeds the ceiling c; the release lets the gain recover
smoothly (about ``RELEASE_MS``) instead of clipping each peak on its own.
Without lookahead the first sample of an overshoot is cut, not faded in:
that is the price of adding no latency, and the AGC's saturation protection
keeps overshoots rare and small.
"""
import numpy as np

from .._jit import kernel

LOOKAHEAD_MS = 0.0
RELEASE_MS = 60.0
# float32 rounding of y * c / env may land one ulp above c: aim a hair below it
_SAFETY = 1.0 - 1e-6


def release_coef(sample_rate: int, release_ms: float = RELEASE_MS) -> float:
    return float(np.exp(-1.0 / (release_ms * 1e-3 * sample_rate)))


@kernel
def limit(y, ceiling, release, env_state):
    """Limit ``y`` in place to |y| <= ``ceiling``; ``env_state[0]`` carries the envelope.

    Returns the smallest gain applied in this frame (1.0 when untouched).
    """
    c = ceiling * _SAFETY
    env = env_state[0]
    g_min = 1.0
    for i in range(y.shape[0]):
        v = np.float64(y[i])
        a = abs(v)
        env = env * release
        if a > env:
            env = a
        if env > c:
            g = c / env
            y[i] = v * g
            if g < g_min:
                g_min = g
    env_state[0] = env
    return g_min
