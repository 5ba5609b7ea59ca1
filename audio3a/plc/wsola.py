"""Time-scale modification by WSOLA: stretch or compress a frame by a few ms at the same pitch.

Waveform-similarity overlap-add (Verhelst & Roelands, ICASSP 1993). The
``M`` output samples are a partition-of-unity overlap-add of input segments:
output centres ``c_k = round(k M / K)`` (hops of about ``HOP_MS`` = 5 ms),
raised-cosine weights between neighbouring centres, and segment ``k`` reads
the input at ``z[n - c_k + p_k]``. The nominal read position is
``p_k = p_0 + c_k N / M`` (uniform time scaling of ``N`` input samples);
WSOLA moves each ``p_k`` by up to ``TOLERANCE_MS`` (8 ms, about half the
longest pitch period) to where the segment's overlap with its predecessor's
natural continuation ``z[n - c_{k-1} + p_{k-1}]`` is most similar
(normalised cross-correlation), so waveforms join in phase and the pitch is
kept: segments are copied, never resampled.

The first segment reads from where the previous output stopped, so the output
continues without a step. The last segment is placed the same way, between
``TOLERANCE_MS`` before the end of the input and its end, with a small
preference for the end: the output length is exact, and the input it has not
yet played (``lag``, at most ``TOLERANCE_MS``) starts the next call. Forcing
the output to end exactly on the frame's last sample instead would put a
phase jump at every stretched frame (measured: the pitch of a steady vowel
moved by up to 30 % when every 10 ms frame was stretched), which is why the
residual lag is carried. The previous input (``CONTEXT_MS``) stays available,
so a frame shorter than a pitch period can still be stretched by repeating
earlier cycles.

``TimeStretcher`` is what a jitter buffer calls once per played frame:
``stretch(frame, out_len)`` returns exactly ``out_len`` samples (within
+-``max_change_ms`` of the frame); with ``out_len == len(frame)`` and no lag
the frame passes unchanged. ``lag_ms`` is the stretcher's current delay.
"""
import numpy as np

from .._jit import kernel
from ..errors import FrameError
from ..frames import check_rate
from .concealer import check_packet
from .pitch import similarity

HOP_MS = 5.0
TOLERANCE_MS = 8.0
CONTEXT_MS = 20.0


@kernel
def wsola(z, p0, n_in, m_out, hop, tol, lag_weight, centres, reads, y):
    """Write m_out samples into y: WSOLA from read position p0 over the input that ends at z[len(z)-1].

    Nominal reads advance ``n_in`` input samples over the ``m_out`` output samples;
    every segment after the first (anchored at p0) is placed within +-tol of its
    nominal read for the best similarity with its predecessor's continuation, the
    last one no later than the end of the input, with a small preference
    (``lag_weight`` per tolerance) for ending close to it. Returns the read position
    where the output stops (the next output sample continues from z there).
    """
    total = z.shape[0]
    k_seg = max(1, int(np.round(m_out / hop)))
    for k in range(k_seg + 1):
        centres[k] = int(np.round(k * m_out / k_seg))
    reads[0] = p0
    for k in range(1, k_seg + 1):
        lo_out = centres[k - 1]
        ck = centres[k]
        overlap = ck - lo_out
        ahead = centres[k + 1] - ck if k < k_seg else 0
        nominal = p0 + int(np.round(ck * n_in / m_out))
        # segment k reads z[n - ck + p] for n in [lo_out, ck + ahead): keep it inside z
        p_min = max(nominal - tol, overlap)
        p_max = min(nominal + tol, total - ahead)
        if k == k_seg:
            p_min = max(p_min, total - tol)  # never hold back more than tol samples
            p_max = total
        natural = reads[k - 1]
        if p_max < p_min:
            p_min = p_max
        best = min(max(nominal, p_min), p_max)
        bv = -1e30
        for p in range(p_min, p_max + 1):
            v = similarity(z, natural, p - overlap, overlap)
            if k == k_seg:
                v -= lag_weight * (total - p) / tol
            if v > bv:
                bv = v
                best = p
        reads[k] = best
    for k in range(k_seg):
        a = centres[k]
        b = centres[k + 1]
        span = b - a
        pa = reads[k]
        pb = reads[k + 1]
        for n in range(a, b):
            w = 0.5 + 0.5 * np.cos(np.pi * (n - a) / span)
            y[n] = w * z[n - a + pa] + (1.0 - w) * z[n - b + pb]
    return reads[k_seg]


@kernel
def _shift_left(z, n):
    """z[i] = z[i + n] for the first len(z) - n samples (the newest samples move to the front)."""
    for i in range(z.shape[0] - n):
        z[i] = z[i + n]


class TimeStretcher:
    """Per-stream WSOLA: ``stretch(frame, out_len)`` once per frame, in playout order.

    The output has exactly ``out_len`` samples and continues the previous output
    without a step. Where the output stops inside the input is chosen for waveform
    similarity, so the stretcher may hold back a few input samples: ``lag`` (at most
    ``TOLERANCE_MS``) is that residual delay, which later calls reduce
    again; with ``lag == 0`` and ``out_len == len(frame)`` the frame passes unchanged.
    """

    lag_weight = 0.1

    def __init__(self, sample_rate: int = 16000, frame_ms: int = 20, max_change_ms: float = 10.0):
        self.sample_rate = check_rate(sample_rate)
        if frame_ms not in (10, 20):
            raise ValueError(f"frame_ms must be 10 or 20, got {frame_ms}")
        self.frame_ms = frame_ms
        self.frame_len = self.sample_rate * frame_ms // 1000
        ms = self.sample_rate / 1000.0
        self.max_change = int(round(max_change_ms * ms))
        self.context = int(round(CONTEXT_MS * ms))
        self.hop = int(round(HOP_MS * ms))
        self.tol = int(round(TOLERANCE_MS * ms))
        self._z = np.zeros(self.context + self.frame_len, np.float64)
        k_max = (self.frame_len + self.max_change) // max(1, self.hop // 2) + 4
        self._centres = np.zeros(k_max + 1, np.int64)
        self._reads = np.zeros(k_max + 1, np.int64)
        self._y = np.zeros(self.frame_len + self.max_change, np.float64)
        self._out = np.zeros(self.frame_len + self.max_change, np.float32)
        self.lag = 0

    @property
    def lag_ms(self) -> float:
        """Input held back by the stretcher, in ms (its current added delay)."""
        return 1000.0 * self.lag / self.sample_rate

    def reset(self) -> None:
        self._z[:] = 0.0
        self.lag = 0

    def stretch(self, frame, out_len: int) -> np.ndarray:
        """The next ``out_len`` output samples, time-scaled from the frame (a view of the stretcher's buffer)."""
        x = check_packet(frame, self.frame_len, self.frame_ms, self.sample_rate, "time-stretch frame")
        out_len = int(out_len)
        if abs(out_len - self.frame_len) > self.max_change or out_len < 1:
            raise FrameError(
                f"time-stretch to {out_len} samples is out of range: use {self.frame_len} "
                f"+- {self.max_change} samples (max_change_ms)")
        c = self.context
        n = self.frame_len
        self._z[c:] = x
        if out_len == n and self.lag == 0:
            self._out[:n] = x
        else:
            p0 = c - self.lag
            end = wsola(self._z, p0, n, out_len, self.hop, self.tol, self.lag_weight,
                        self._centres, self._reads, self._y)
            self.lag = c + n - end
            self._out[:out_len] = self._y[:out_len]
        _shift_left(self._z, n)
        return self._out[:out_len]


def time_stretch(x, out_len: int, sample_rate: int = 16000) -> np.ndarray:
    """Offline WSOLA of a whole signal to ``out_len`` samples (allocating; for tests and tools).

    The output ends at the input sample most similar to its continuation within
    ``TOLERANCE_MS`` of the end, so up to that much of the input's tail may be left out.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    ms = sample_rate / 1000.0
    hop = int(round(HOP_MS * ms))
    k_max = int(out_len) // max(1, hop // 2) + 4
    y = np.zeros(int(out_len))
    wsola(x, 0, x.shape[0], int(out_len), hop, int(round(TOLERANCE_MS * ms)), 0.0,
          np.zeros(k_max + 1, np.int64), np.zeros(k_max + 1, np.int64), y)
    return y
