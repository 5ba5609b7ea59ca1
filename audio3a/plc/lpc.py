"""Linear prediction: autocorrelation method, Levinson-Durbin, analysis and synthesis filters.

The predictor ``A(z) = 1 + a_1 z^-1 + ... + a_p z^-p`` minimises the energy of
the residual ``e[n] = sum_k a_k x[n-k]`` over a windowed segment
(autocorrelation method; Makhoul, "Linear prediction: a tutorial review",
Proc. IEEE 1975). The autocorrelation is conditioned before the recursion:
a Gaussian lag window ``r[k] *= exp(-(2 pi f_w k / fs)^2 / 2)`` (smooths
the envelope, f_w = 60 Hz) and a white-noise correction ``r[0] *= 1.0001``
(40 dB floor), which keep the recursion well conditioned and ``1/A(z)``
stable. A bandwidth expansion ``a_k *= gamma^k`` shortens the synthesis
filter's ringing. Filtering the residual back through ``1/A(z)`` with the
same coefficients reproduces the signal exactly, so waveform substitution in
the residual domain loses nothing on voiced speech.
"""
import numpy as np

from .._jit import kernel

LAG_WINDOW_HZ = 60.0
WHITE_NOISE_CORRECTION = 1.0001
BANDWIDTH_GAMMA = 0.99


def lpc_order(sample_rate: int) -> int:
    """Predictor order: 16 at 16 kHz, 24 at 48 kHz."""
    return 16 if sample_rate <= 16000 else 24


def analysis_window(n: int) -> np.ndarray:
    """Asymmetric window weighting the newest samples: rising half-Hann over 3/4, cosine quarter over 1/4."""
    n1 = (3 * n) // 4
    n2 = n - n1
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n1) + 0.5) / n1)
    fall = np.cos(0.5 * np.pi * (np.arange(n2) + 0.5) / n2)
    return np.concatenate([rise, fall]).astype(np.float64)


def lag_window(order: int, sample_rate: int) -> np.ndarray:
    """Gaussian lag window ``w[k] = exp(-(2 pi f_w k / fs)^2 / 2)``, k = 0..order, with w[0] the noise correction."""
    k = np.arange(order + 1, dtype=np.float64)
    w = np.exp(-0.5 * (2.0 * np.pi * LAG_WINDOW_HZ * k / sample_rate) ** 2)
    w[0] = WHITE_NOISE_CORRECTION
    return w


@kernel(fastmath=True)
def windowed_autocorr(x, start, window, lagwin, scratch, r):
    """r[k] = lagwin[k] * sum_n w[n] x[start+n] w[n-k] x[start+n-k], k = 0..len(r)-1."""
    n = window.shape[0]
    for i in range(n):
        scratch[i] = window[i] * x[start + i]
    for k in range(r.shape[0]):
        acc = 0.0
        for i in range(k, n):
            acc += scratch[i] * scratch[i - k]
        r[k] = acc * lagwin[k]


@kernel
def levinson(r, a):
    """Solve the normal equations for ``a`` (a[0] = 1) from autocorrelation ``r``; returns the residual energy.

    Levinson-Durbin recursion: for i = 1..p, k_i = -(r[i] + sum_{j<i} a_j r[i-j]) / E_{i-1},
    a_j += k_i a_{i-j}, E_i = (1 - k_i^2) E_{i-1}. A silent segment (r[0] = 0) gives A(z) = 1.
    """
    p = a.shape[0] - 1
    a[:] = 0.0
    a[0] = 1.0
    err = r[0]
    if err <= 1e-12:
        return 0.0
    for i in range(1, p + 1):
        acc = r[i]
        for j in range(1, i):
            acc += a[j] * r[i - j]
        k = -acc / err
        if k >= 1.0 or k <= -1.0:  # numerically unstable: keep the lower order
            break
        half = i // 2
        for j in range(1, half + 1):
            t1 = a[j]
            t2 = a[i - j]
            a[j] = t1 + k * t2
            if j != i - j:
                a[i - j] = t2 + k * t1
        a[i] = k
        err *= 1.0 - k * k
    return err


@kernel
def bandwidth_expand(a, gamma):
    """a_k *= gamma^k: moves the poles of 1/A(z) inwards (wider formants, shorter ringing)."""
    g = 1.0
    for k in range(1, a.shape[0]):
        g *= gamma
        a[k] *= g


@kernel
def power_gain(a, tmp):
    """White-noise power gain of 1/A(z), sum_n h[n]^2 = prod_i 1 / (1 - k_i^2).

    The reflection coefficients k_i come from the step-down (backward Levinson)
    recursion a_j <- (a_j - k_i a_{i-j}) / (1 - k_i^2), k_i = a_i; ``tmp`` holds the
    working copy (p + 1 values). An unstable filter (|k_i| >= 1) returns inf.
    """
    p = a.shape[0] - 1
    for j in range(p + 1):
        tmp[j] = a[j]
    gain = 1.0
    for i in range(p, 0, -1):
        k = tmp[i]
        den = 1.0 - k * k
        if den <= 0.0:
            return np.inf
        gain /= den
        half = i // 2
        for j in range(1, half + 1):
            t1 = tmp[j]
            t2 = tmp[i - j]
            tmp[j] = (t1 - k * t2) / den
            if j != i - j:
                tmp[i - j] = (t2 - k * t1) / den
    return gain


@kernel(fastmath=True)
def analysis_filter(a, x, start, n, e):
    """Residual e[i] = sum_{k=0}^{p} a_k x[start+i-k] for i = 0..n-1 (needs p samples before start)."""
    p = a.shape[0] - 1
    for i in range(n):
        acc = 0.0
        for k in range(p + 1):
            acc += a[k] * x[start + i - k]
        e[i] = acc


@kernel(fastmath=True)
def synthesis_filter(a, mem, x, y, n, work):
    """y[i] = x[i] - sum_{k=1}^{p} a_k y[i-k] for i < n; ``mem[k-1] = y[-k]`` on entry, updated on exit.

    ``work`` (at least p + n samples) holds the output after the p past samples, so the
    recursion is a plain dot product; x and y may be the same array.
    """
    p = a.shape[0] - 1
    for k in range(p):
        work[p - 1 - k] = mem[k]
    for i in range(n):
        acc = x[i]
        for k in range(1, p + 1):
            acc -= a[k] * work[p + i - k]
        work[p + i] = acc
        y[i] = acc
    for k in range(p):
        mem[k] = work[p + n - 1 - k]


def lpc(x: np.ndarray, order: int, sample_rate: int) -> np.ndarray:
    """Convenience (allocating) LPC of a whole segment: windowed autocorrelation + Levinson-Durbin."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    w = analysis_window(x.shape[0])
    r = np.zeros(order + 1)
    windowed_autocorr(x, 0, w, lag_window(order, sample_rate), np.zeros(x.shape[0]), r)
    a = np.zeros(order + 1)
    levinson(r, a)
    return a
