"""Low-delay STFT analysis/synthesis for the noise suppressor.

Frames of ``hop`` samples (10 ms) are analysed with a window of
``win_len = 2 * hop`` samples (20 ms), zero-padded to ``n_fft``, the next power
of two or 5/4 of the window, whichever is smaller (``fft_size``: 400 points at
16 kHz, 40 Hz bins, by the mixed-radix ``fft``; 1024 at 48 kHz, 47 Hz bins).
The same square-root periodic Hann window is applied before the FFT and after
the inverse FFT, so the product window is a periodic Hann, which at 50 %
overlap sums to one:

    w[n]^2 + w[n + hop]^2 = sin^2(pi n / L) + cos^2(pi n / L) = 1,   L = 2 hop,

and overlap-add of unmodified spectra reproduces the input exactly. The
window of frame l covers input frames l-1 and l; its synthesis output is
complete for the older half only, so the output lags the input by exactly one
hop: the algorithmic delay is ``hop`` samples = 10 ms at any rate.

A spectral gain is a circular convolution: the impulse response of the gain
spreads the frame beyond its L samples; the padding takes part of that
spread (dropped at synthesis) instead of wrapping it onto the frame, and the
finer bins let the gain follow the harmonics more closely. Without padding
(n_fft = L = 320 at 16 kHz, 50 Hz bins) the suppressor lost 0.02 PESQ-WB and
0.2 dB of SNR gain in pink noise; 512 costs 28 % more bins than 400 for about
0.01 PESQ-WB.
"""
import numpy as np

from .._jit import kernel
from ..fft import irfft, make_plan, rfft

# layout of ``Stft.buf`` (float64, ``Stft.size`` long): rows of n_fft floats, the window,
# the input history and the overlap-add carry (first L - hop each) and the frame; then the
# spectrum (K complex) and the FFT plan (the rest)
R_WINDOW = 0
R_HISTORY = 1
R_OVERLAP = 2
R_FRAME = 3
N_BUF_ROWS = 4


@kernel
def fft_size(hop):
    """n_fft for ``hop``-sample frames, window L = 2 hop: the next power of two >= L or 5 L / 4,
    whichever is smaller (both FFT-able, 2 x 2^a 3^b 5^c, for 10 ms frames)."""
    win_len = 2 * hop
    n = 4
    while n < win_len:
        n *= 2
    return min(n, 5 * win_len // 4)


def sqrt_hann(win_len: int) -> np.ndarray:
    """Square root of the periodic Hann window of length ``win_len`` (float64)."""
    n = np.arange(win_len)
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_len))


@kernel
def stft_analysis(plan, window, history, x, frame, spec):
    """Window [history, x] (length L = len(window)), zero-pad to n_fft, spec = rfft.

    ``history`` holds the last L - hop input samples and is advanced by ``x``.
    """
    hop = x.shape[0]
    win_len = window.shape[0]
    keep = win_len - hop
    for i in range(keep):
        frame[i] = history[i] * window[i]
    for i in range(hop):
        frame[keep + i] = x[i] * window[keep + i]
    for i in range(win_len, frame.shape[0]):
        frame[i] = 0.0
    # advance the history by one hop
    for i in range(keep - hop):
        history[i] = history[i + hop]
    for i in range(hop):
        j = keep - hop + i
        if j >= 0:
            history[j] = x[i]
    rfft(plan, frame, spec)


@kernel
def stft_synthesis(plan, window, spec, frame, overlap, y):
    """frame = irfft(spec); overlap-add its first L samples, windowed, emit one hop into ``y``.

    ``overlap`` (length L - hop) carries the not yet complete part of earlier frames.
    """
    irfft(plan, spec, frame)
    hop = y.shape[0]
    win_len = window.shape[0]
    keep = win_len - hop
    for i in range(hop):
        v = frame[i] * window[i]
        if i < keep:
            v += overlap[i]
        y[i] = v
    for i in range(keep):
        j = hop + i
        v = frame[j] * window[j]
        if j < keep:
            v += overlap[j]
        overlap[i] = v


@kernel
def stft_views(buf, hop):
    """(plan, window, history, overlap, frame, spec): the views of ``Stft.buf`` for ``hop``-sample frames."""
    n_fft = fft_size(hop)
    rows = buf[:N_BUF_ROWS * n_fft].reshape((N_BUF_ROWS, n_fft))
    o_plan = N_BUF_ROWS * n_fft + 2 * (n_fft // 2 + 1)
    spec = buf[N_BUF_ROWS * n_fft:o_plan].view(np.complex128)
    return (buf[o_plan:], rows[R_WINDOW, :2 * hop], rows[R_HISTORY, :hop], rows[R_OVERLAP, :hop],
            rows[R_FRAME], spec)


def _buf_size(n_fft: int, plan_size: int) -> int:
    """Floats of ``Stft.buf``: the rows, the spectrum (as float pairs) and the plan."""
    return N_BUF_ROWS * n_fft + 2 * (n_fft // 2 + 1) + plan_size


class Stft:
    """Buffers and plan for one analysis/synthesis stream of ``hop``-sample frames.

    ``plan``, ``window``, ``history``, ``overlap``, ``frame`` and ``spec`` are views of one
    float64 array ``buf`` (``stft_views``), so a kernel can take the stream as one argument;
    ``buf`` (``size(hop)`` floats, zero) may be handed in.
    """

    def __init__(self, hop: int, buf=None):
        self.hop = int(hop)
        self.win_len = 2 * self.hop
        self.n_fft = fft_size(self.hop)
        self.n_bins = self.n_fft // 2 + 1
        plan = make_plan(self.n_fft)
        self.buf = np.zeros(_buf_size(self.n_fft, plan.size)) if buf is None else buf
        (self.plan, self.window, self.history, self.overlap, self.frame,
         self.spec) = stft_views(self.buf, self.hop)
        self.plan[:] = plan
        self.window[:] = sqrt_hann(self.win_len)

    @staticmethod
    def size(hop: int) -> int:
        """Floats of ``buf`` for ``hop``-sample frames."""
        n_fft = fft_size(hop)
        return _buf_size(n_fft, make_plan(n_fft).size)

    @property
    def latency_samples(self) -> int:
        """Input-to-output delay of analysis + synthesis: L - hop samples."""
        return self.win_len - self.hop

    def analysis(self, x: np.ndarray) -> np.ndarray:
        """Spectrum of the window ending with frame ``x`` (the Stft's own buffer)."""
        stft_analysis(self.plan, self.window, self.history, x, self.frame, self.spec)
        return self.spec

    def synthesis(self, spec: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Overlap-add ``spec`` and write the next complete hop into ``y``."""
        stft_synthesis(self.plan, self.window, spec, self.frame, self.overlap, y)
        return y

    def reset(self) -> None:
        self.history[:] = 0.0
        self.overlap[:] = 0.0
        self.frame[:] = 0.0
        self.spec[:] = 0.0
