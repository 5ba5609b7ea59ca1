"""Triangular frequency bands for the learned gain: pooling of bins into bands and back.

Band centres f_0 = 0 < f_1 < ... < f_{B-1} = 8 kHz are spaced by
max(100 Hz, ERB(f)) with the equivalent rectangular bandwidth of Glasberg &
Moore (1990), ERB(f) = 24.7 (4.37 f / 1000 + 1) Hz: 100 Hz steps up to about
700 Hz, then one ERB per band (B = 29). Band b has a triangular response
that rises from f_{b-1} to 1 at f_b and falls to 0 at f_{b+1}; neighbouring
triangles sum to one, so

    E_b = sum_k w_b(f_k) P_k          (pooling, bins -> bands)
    g(f_k) = sum_b w_b(f_k) g_b       (linear interpolation, bands -> bins)

use the same weights. The layout is fixed in hertz, so the bins of any FFT
size or rate map onto the same bands; bins above the last centre (8 kHz,
i.e. only at 48 kHz) do not enter the pooling and take the last band's gain.

Per bin the kernels need only the lower band index ``band_lo[k]`` and the
weight ``band_frac[k]`` of the upper one: O(K) work, no matrix.
"""
import numpy as np

from .._jit import kernel

TOP_HZ = 8000.0
MIN_STEP_HZ = 100.0


def erb_hz(f_hz):
    """Glasberg & Moore equivalent rectangular bandwidth at ``f_hz``."""
    return 24.7 * (4.37 * np.asarray(f_hz, np.float64) / 1000.0 + 1.0)


def band_centres_hz() -> np.ndarray:
    """Centres 0 .. 8 kHz spaced by max(100 Hz, ERB(f)); the last step is stretched to end at 8 kHz."""
    c = [0.0]
    while True:
        nxt = c[-1] + max(MIN_STEP_HZ, float(erb_hz(c[-1])))
        if nxt >= TOP_HZ - 0.5 * max(MIN_STEP_HZ, float(erb_hz(c[-1]))):
            break
        c.append(nxt)
    c.append(TOP_HZ)
    return np.array(c)


N_BANDS = band_centres_hz().size


def band_map(sample_rate: int, n_fft: int):
    """(band_lo int64 (K,), band_frac float64 (K,), n_pool) for the rfft bins of ``n_fft`` at ``sample_rate``.

    ``n_pool`` bins (those at or below 8 kHz) enter the pooling.
    """
    centres = band_centres_hz()
    f = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo = np.clip(np.searchsorted(centres, f, side="right") - 1, 0, centres.size - 1)
    frac = np.zeros(f.size)
    inner = lo < centres.size - 1
    frac[inner] = (f[inner] - centres[lo[inner]]) / (centres[lo[inner] + 1] - centres[lo[inner]])
    n_pool = int(np.sum(f <= TOP_HZ))
    return lo.astype(np.int64), frac, n_pool


@kernel
def pool_bands(x, band_lo, band_frac, n_pool, out):
    """out[b] = sum_k w_b(f_k) x[k] over the first ``n_pool`` bins."""
    for b in range(out.shape[0]):
        out[b] = 0.0
    for k in range(n_pool):
        b = band_lo[k]
        w = band_frac[k]
        out[b] += (1.0 - w) * x[k]
        if w > 0.0:
            out[b + 1] += w * x[k]


@kernel
def interp_bands(g_band, band_lo, band_frac, out):
    """out[k] = sum_b w_b(f_k) g_band[b] for every bin (last band's value above 8 kHz)."""
    for k in range(out.shape[0]):
        b = band_lo[k]
        w = band_frac[k]
        v = (1.0 - w) * g_band[b]
        if w > 0.0:
            v += w * g_band[b + 1]
        out[k] = v
