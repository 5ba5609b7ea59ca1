"""Features of the learned band gain, from the DSP route's own per-bin estimates.

Per 10 ms frame the DSP route (``suppressor.ns_gain``) leaves the periodogram
P_k (click-restored), the IMCRA noise PSD lambda_k, the decision-directed
a-priori SNR xi_k and the speech presence probability p_k of its gain. None
of them depends on the learned gain (the decision-directed recursion runs on
the LSA gain under speech presence, the release on the DSP gain), so the
features are computed offline for training exactly as at run time
(``training``). Per band b of ``bands`` (B = 29 triangles, 0-8 kHz), with
E_b, N_b the pooled periodogram and noise PSD,

       a_b = log10(E_b / N_b)             a-posteriori band SNR (also at l-1, l-2)
       x_b = log10(mean_b xi)             a-priori band SNR
       p_b = mean_b p                     speech presence probability
       d_b = log10 E_b - mean_b log10 E_b spectral shape, level free (also at l-1)

in the order [a, a(l-1), a(l-2), x, p, d, d(l-1)] (7 B values).

Everything is a ratio or a shape, so the features do not depend on the input
level or on the sample rate (the bands are fixed in hertz).
"""
import numpy as np

from .._jit import kernel
from .bands import N_BANDS, band_map, pool_bands

N_FEATURES = 7 * N_BANDS
A_CLIP = (-3.0, 8.0)     # log10 band SNR range kept
X_CLIP = (-3.0, 6.0)
E_FLOOR = 1e-14          # band energy per sample floor for the shape (-140 dB)
EPS = 1e-10

# rows of the (5, B) work array
W_E = 0
W_N = 1
W_XI = 2
W_P = 3
W_LOG = 4
N_WORK = 5
# rows of the (3, B) history array
H_A1 = 0
H_A2 = 1
H_D1 = 2
N_HIST = 3


@kernel
def _clip(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@kernel
def band_features(power, noise, xi, p, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat):
    """The 7 B features of one frame into ``feat`` (see the module docstring); advances ``hist``."""
    nb = band_norm.shape[0]
    for r in range(W_P + 1):
        for b in range(nb):
            work[r, b] = 0.0
    for k in range(n_pool):  # pool_bands of the four arrays in one pass
        b = band_lo[k]
        w = band_frac[k]
        u = 1.0 - w
        work[W_E, b] += u * power[k]
        work[W_N, b] += u * noise[k]
        work[W_XI, b] += u * xi[k]
        work[W_P, b] += u * p[k]
        if w > 0.0:
            work[W_E, b + 1] += w * power[k]
            work[W_N, b + 1] += w * noise[k]
            work[W_XI, b + 1] += w * xi[k]
            work[W_P, b + 1] += w * p[k]
    mean_log = 0.0
    for b in range(nb):
        e = work[W_E, b] * power_norm
        lg = np.log10(e + E_FLOOR)
        work[W_LOG, b] = lg
        mean_log += lg
    mean_log /= nb
    for b in range(nb):
        a = _clip(np.log10((work[W_E, b] + EPS) / (work[W_N, b] + EPS)), A_CLIP[0], A_CLIP[1])
        x = _clip(np.log10(work[W_XI, b] * band_norm[b]), X_CLIP[0], X_CLIP[1])
        d = work[W_LOG, b] - mean_log
        feat[b] = a
        feat[nb + b] = hist[H_A1, b]
        feat[2 * nb + b] = hist[H_A2, b]
        feat[3 * nb + b] = x
        feat[4 * nb + b] = work[W_P, b] * band_norm[b]
        feat[5 * nb + b] = d
        feat[6 * nb + b] = hist[H_D1, b]
        hist[H_A2, b] = hist[H_A1, b]
        hist[H_A1, b] = a
        hist[H_D1, b] = d


class BandFeatures:
    """The arrays of one stream's ``band_features`` (band map, work rows, history, features)."""

    def __init__(self, sample_rate: int, n_fft: int, power_norm: float):
        self.band_lo, self.band_frac, self.n_pool = band_map(sample_rate, n_fft)
        w = np.zeros(N_BANDS)
        pool_bands(np.ones(n_fft // 2 + 1), self.band_lo, self.band_frac, self.n_pool, w)
        self.band_norm = 1.0 / w
        self.power_norm = float(power_norm)
        self.work = np.zeros((N_WORK, N_BANDS))
        self.hist = np.zeros((N_HIST, N_BANDS))
        self.feat = np.zeros(N_FEATURES, np.float32)

    def reset(self) -> None:
        for a in (self.work, self.hist, self.feat):
            a[...] = 0

    def args(self) -> tuple:
        """``band_features``' arguments after the four per-bin estimates, in order."""
        return (self.band_lo, self.band_frac, self.band_norm, self.n_pool, self.power_norm, self.work,
                self.hist, self.feat)
