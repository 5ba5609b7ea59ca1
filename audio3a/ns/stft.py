"""Low-delay STFT analysis/synthesis for the noise suppressor.

Frames of ``hop`` samples (10 ms) are analysed with a window of
``win_len = 2 * hop`` samples (20 ms) and zero-padded to ``n_fft``, the next
power of two (512 at 16 kHz, 1024 at 48 kHz). The same square-root periodic
Hann window is applied before the FFT and after the inverse FFT, so the
product window is a periodic Hann, which at 50 % overlap sums to one:

    w[n]^2 + w[n + hop]^2 = sin^2(pi n / L) + cos^2(pi n / L) = 1,   L = 2 hop,

and overlap-add of unmodified spectra reproduces the input exactly. The
window of frame l covers input frames l-1 and l; its synthesis output is
complete for the older half only, so the output lags the input by exactly one
hop: the algorithmic delay is ``hop`` samples = 10 ms at any rate.

Zero padding (``n_fft > win_len``) leaves room for the circular convolution
that a spectral gain implies, so the tail of the filtered frame lands in the
padding instead of wrapping onto the frame's beginning; the padded tail is
dropped at synthesis.
"""
import numpy as np

from .._jit import kernel
from ..fft import irfft, rfft

# rows of ``Stft.buf`` (n_fft wide): the window (first L), the input history and the
# overlap-add carry (first L - hop each) and the frame
R_WINDOW = 0
R_HISTORY = 1
R_OVERLAP = 2
R_FRAME = 3
N_BUF_ROWS = 4


def sqrt_hann(win_len: int) -> np.ndarray:
    """Square root of the periodic Hann window of length ``win_len`` (float64)."""
    n = np.arange(win_len)
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_len))


def fft_size(win_len: int) -> int:
    """Smallest power of two >= ``win_len``."""
    n = 4
    while n < win_len:
        n *= 2
    return n


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
def stft_rows(buf, hop):
    """(window, history, overlap, frame): the views of ``Stft.buf`` for a stream of ``hop``-sample frames."""
    return buf[R_WINDOW, :2 * hop], buf[R_HISTORY, :hop], buf[R_OVERLAP, :hop], buf[R_FRAME]


class Stft:
    """Buffers and plan for one analysis/synthesis stream of ``hop``-sample frames.

    ``window``, ``history``, ``overlap`` and ``frame`` are views of the rows of one array
    ``buf`` (rows R_*), so a kernel can take the stream as one argument (``stft_rows``).
    """

    def __init__(self, hop: int):
        from ..fft import make_plan

        self.hop = int(hop)
        self.win_len = 2 * self.hop
        self.n_fft = fft_size(self.win_len)
        self.n_bins = self.n_fft // 2 + 1
        self.plan = make_plan(self.n_fft)
        keep = self.win_len - self.hop
        self.buf = np.zeros((N_BUF_ROWS, self.n_fft))
        self.window = self.buf[R_WINDOW, :self.win_len]
        self.window[:] = sqrt_hann(self.win_len)
        self.history = self.buf[R_HISTORY, :keep]
        self.overlap = self.buf[R_OVERLAP, :keep]
        self.frame = self.buf[R_FRAME]
        self.spec = np.zeros(self.n_bins, np.complex128)

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
