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
    The reference recursion, for blocks of any length; the stage runs the same
    values faster through ``hpf_sections``.
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
def _biquad_pair(sos, state, s, src, dst):
    """Sections ``s`` and ``s + 1`` of ``sosfilt_df2t`` over ``src`` into ``dst`` in one sweep;
    section k's two state values are ``state[2k]``, ``state[2k + 1]``.

    The same recursion with coefficients and state in registers: the two
    sections' dependency chains overlap (section s + 1 works on sample n while
    section s works on n + 1), and no store to ``dst`` can reload the state.
    """
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    c0, c1, c2, d1, d2 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5]
    z1, z2 = state[2 * s], state[2 * s + 1]
    w1, w2 = state[2 * s + 2], state[2 * s + 3]
    for i in range(src.shape[0]):
        v = np.float64(src[i])
        u = b0 * v + z1
        z1 = b1 * v - a1 * u + z2
        z2 = b2 * v - a2 * u
        out = c0 * u + w1
        w1 = c1 * u - d1 * out + w2
        w2 = c2 * u - d2 * out
        dst[i] = out
    state[2 * s], state[2 * s + 1] = z1, z2
    state[2 * s + 2], state[2 * s + 3] = w1, w2


@kernel
def _biquad(sos, state, s, src, dst):
    """Section ``s`` of ``sosfilt_df2t`` alone over ``src`` into ``dst``, state in registers."""
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    z1, z2 = state[2 * s], state[2 * s + 1]
    for i in range(src.shape[0]):
        v = np.float64(src[i])
        out = b0 * v + z1
        z1 = b1 * v - a1 * out + z2
        z2 = b2 * v - a2 * out
        dst[i] = out
    state[2 * s], state[2 * s + 1] = z1, z2


@kernel
def hpf_sections(x, sos, state, y):
    """One frame through the sections ``sos``: the values of ``sosfilt_df2t``, bit for bit,
    computed two sections per sweep (``_biquad_pair``). ``state`` holds the sections' state
    (``zi`` flattened: 2 per section), then room for one frame in float64, where the signal
    waits between sweeps (orders above 4)."""
    n_sec = sos.shape[0]
    if n_sec == 1:
        _biquad(sos, state, 0, x, y)
    elif n_sec == 2:  # the default 4th order: one sweep
        _biquad_pair(sos, state, 0, x, y)
    else:
        work = state[2 * n_sec:2 * n_sec + x.shape[0]]
        _biquad_pair(sos, state, 0, x, work)
        s = 2
        while s + 2 < n_sec:
            _biquad_pair(sos, state, s, work, work)
            s += 2
        if s + 2 == n_sec:
            _biquad_pair(sos, state, s, work, y)
        else:
            _biquad(sos, state, s, work, y)


@kernel
def hpf_frame(x, sos, state, y):
    """``hpf_sections`` when every sample of ``x`` is finite (returns True); else False, with
    ``state`` and ``y`` untouched (the check and the filter in one call)."""
    if not all_finite(x):
        return False
    hpf_sections(x, sos, state, y)
    return True


@kernel
def hpf_step(x, far_talk, args):
    """``HighPassFilter._process`` as a chain kernel (``audio3a.stage``): ``hpf_sections`` with the
    stage's ``(sos, state, y)``; no echo decision."""
    sos, state, y = args
    hpf_sections(x, sos, state, y)
    return y, False


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
        n_sec = self.sos.shape[0]
        # hpf_sections' state: the sections' zi, then one float64 frame for between sweeps
        self._state = np.zeros(2 * n_sec + self.frame_len, np.float64)
        self.zi = self._state[:2 * n_sec].reshape(n_sec, 2)  # a view: (n_sec, 2) as sosfilt_df2t takes it
        self._out = np.zeros(self.frame_len, np.float32)
        self._args = (self.sos, self._state, self._out)  # the kernels' fixed arguments
        self.kernel, self.kernel_args = hpf_step, self._args

    def _process(self, x: np.ndarray) -> np.ndarray:
        hpf_sections(x, *self._args)  # x is checked already
        return self._out

    def _process_checked(self, x: np.ndarray):
        return self._out if hpf_frame(x, *self._args) else None

    def reset(self) -> None:
        self._state[:] = 0.0
        self._out[:] = 0.0
