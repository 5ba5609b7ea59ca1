"""High-pass filter: removes DC, rumble and handling noise below the voice band.

A Butterworth high-pass (default 4th order at 90 Hz, i.e. two 2nd-order
sections) run as cascaded biquads in transposed direct form II, the same
recursion as ``scipy.signal.sosfilt`` with its ``zi`` state kept across
frames. Butterworth is maximally flat, so the voice band above ~200 Hz passes
untouched; 4th order gives 80 dB/decade below the cutoff (about 38 dB at
30 Hz). The filter is causal and minimum-phase-free of lookahead:
``latency_ms = 0`` (its group delay near the cutoff is a phase effect, not a
buffering delay).
"""
from dataclasses import dataclass

import numpy as np

from ._jit import kernel
from .frames import all_finite
from .stage import Stage


@kernel
def sosfilt_df2t(sos, x, zi, y):
    """Filter ``x`` into ``y`` through biquad sections ``sos`` (n, 6), state ``zi`` (n, 2).

    Per section (b0, b1, b2, 1, a1, a2), transposed direct form II::

        y[n]  = b0 x[n] + z1
        z1    = b1 x[n] - a1 y[n] + z2
        z2    = b2 x[n] - a2 y[n]

    State and arithmetic are float64 so the 90 Hz poles near z = 1 stay exact.
    """
    n_sec = sos.shape[0]
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        for s in range(n_sec):
            b0 = sos[s, 0]
            b1 = sos[s, 1]
            b2 = sos[s, 2]
            a1 = sos[s, 4]
            a2 = sos[s, 5]
            out = b0 * v + zi[s, 0]
            zi[s, 0] = b1 * v - a1 * out + zi[s, 1]
            zi[s, 1] = b2 * v - a2 * out
            v = out
        y[i] = v


@kernel
def hpf_frame(x, sos, zi, y):
    """One frame through ``sosfilt_df2t``; False, with ``zi`` and ``y`` untouched, when ``x``
    holds NaN or Inf (the check and the filter in one call)."""
    if not all_finite(x):
        return False
    sosfilt_df2t(sos, x, zi, y)
    return True


def butterworth_highpass_sos(order: int, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """Biquad sections (b0, b1, b2, 1, a1, a2) of a digital Butterworth high-pass.

    The analog prototype's poles come in conjugate pairs with quality factors
    Q_k = 1 / (2 sin((2k + 1) pi / (2N))), k = 0..N/2-1; each pair becomes one
    2nd-order high-pass by the bilinear transform prewarped at the cutoff:
    w0 = 2 pi fc / fs, alpha = sin(w0) / (2 Q), b = ((1 + cos w0)/2, -(1 + cos w0), (1 + cos w0)/2),
    a = (1 + alpha, -2 cos w0, 1 - alpha), normalised by a0. Same response as
    ``scipy.signal.butter(N, fc, "highpass", fs=fs, output="sos")`` without importing scipy.signal.
    """
    w0 = 2.0 * np.pi * cutoff_hz / sample_rate
    cw, sw = np.cos(w0), np.sin(w0)
    sos = np.zeros((order // 2, 6))
    for k in range(order // 2):
        q = 1.0 / (2.0 * np.sin((2 * k + 1) * np.pi / (2 * order)))
        alpha = sw / (2.0 * q)
        a0 = 1.0 + alpha
        sos[k] = ((1 + cw) / 2 / a0, -(1 + cw) / a0, (1 + cw) / 2 / a0, 1.0, -2 * cw / a0, (1 - alpha) / a0)
    return sos


@dataclass(frozen=True)
class HpfConfig:
    """High-pass settings: Butterworth ``order`` (even) at ``cutoff_hz``."""

    cutoff_hz: float = 90.0
    order: int = 4

    def build(self, sample_rate: int) -> "HighPassFilter":
        return HighPassFilter(sample_rate, self)


class HighPassFilter(Stage):
    """Butterworth high-pass over one 10 ms frame at a time."""

    name = "hpf"
    latency_ms = 0.0

    def __init__(self, sample_rate: int = 16000, config: HpfConfig = HpfConfig()):
        super().__init__(sample_rate)
        if config.order < 2 or config.order % 2:
            raise ValueError(f"HpfConfig.order must be an even number >= 2, got {config.order}")
        if not 0.0 < config.cutoff_hz < self.sample_rate / 2:
            raise ValueError(f"HpfConfig.cutoff_hz must lie in (0, {self.sample_rate / 2}) Hz")
        self.config = config
        self.sos = butterworth_highpass_sos(config.order, config.cutoff_hz, self.sample_rate)
        self.zi = np.zeros((self.sos.shape[0], 2), np.float64)
        self._out = np.zeros(self.frame_len, np.float32)
        self._args = (self.sos, self.zi, self._out)  # hpf_frame's fixed arguments

    def _process(self, x: np.ndarray) -> np.ndarray:
        sosfilt_df2t(self.sos, x, self.zi, self._out)
        return self._out

    def _process_checked(self, x: np.ndarray):
        return self._out if hpf_frame(x, *self._args) else None

    def reset(self) -> None:
        self.zi[:] = 0.0
        self._out[:] = 0.0
