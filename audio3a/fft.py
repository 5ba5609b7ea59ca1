"""Jitted radix-2 real FFT for the fixed frame sizes of the stages.

Numba cannot call ``numpy.fft`` from compiled code, so the stages that work in
the frequency domain (NS, AEC) use these kernels. A plan holds everything that
depends only on the size ``n`` (a power of two >= 4) and a scratch buffer, so a
transform allocates nothing; each stage owns its plans (no shared state).

The real transform of length n uses one complex FFT of length M = n/2
(Cooley–Tukey, iterative decimation in time) on z[m] = x[2m] + i x[2m+1], then
splits the even/odd spectra:

    X[k] = (Z[k] + Z*[M-k]) / 2  -  i e^{-2 pi i k / n} (Z[k] - Z*[M-k]) / 2,  k = 0..M

and ``irfft`` runs the same steps backwards. Conventions match numpy:
``rfft`` is unscaled, ``irfft`` divides by n.
"""
import numpy as np

from ._jit import kernel


def make_plan(n: int):
    """Plan for real transforms of length ``n``: (bitrev, twiddle, split, scratch)."""
    if n < 4 or n & (n - 1):
        raise ValueError(f"FFT size must be a power of two >= 4, got {n}")
    m = n // 2
    bits = m.bit_length() - 1
    idx = np.arange(m)
    bitrev = np.zeros(m, np.int64)
    for b in range(bits):
        bitrev |= ((idx >> b) & 1) << (bits - 1 - b)
    twiddle = np.exp(-2j * np.pi * np.arange(max(m // 2, 1)) / m)
    split = np.exp(-2j * np.pi * np.arange(m + 1) / n)
    scratch = np.zeros(m, np.complex128)
    return bitrev, twiddle, split, scratch


@kernel
def _cfft(z, bitrev, twiddle):
    """In-place forward complex FFT of length M (power of two)."""
    m = z.shape[0]
    for i in range(m):
        j = bitrev[i]
        if j > i:
            t = z[i]
            z[i] = z[j]
            z[j] = t
    size = 2
    while size <= m:
        half = size // 2
        step = m // size
        for start in range(0, m, size):
            for k in range(half):
                w = twiddle[k * step]
                a = z[start + k]
                b = z[start + k + half] * w
                z[start + k] = a + b
                z[start + k + half] = a - b
        size *= 2


@kernel
def rfft(plan, x, X):
    """X[0..n/2] = sum_t x[t] e^{-2 pi i k t / n} (numpy's rfft)."""
    bitrev, twiddle, split, z = plan
    m = z.shape[0]
    for i in range(m):
        z[i] = complex(x[2 * i], x[2 * i + 1])
    _cfft(z, bitrev, twiddle)
    X[0] = complex(z[0].real + z[0].imag, 0.0)
    X[m] = complex(z[0].real - z[0].imag, 0.0)
    for k in range(1, m):
        a = z[k]
        b = z[m - k].conjugate()
        even = 0.5 * (a + b)
        odd = -0.5j * (a - b)
        X[k] = even + split[k] * odd


@kernel
def irfft(plan, X, x):
    """x[t] = (1/n) sum_k X[k] e^{2 pi i k t / n} over the Hermitian spectrum (numpy's irfft)."""
    bitrev, twiddle, split, z = plan
    m = z.shape[0]
    for k in range(m):
        a = X[k]
        b = X[m - k].conjugate()
        even = 0.5 * (a + b)
        odd = 0.5 * (a - b) * split[k].conjugate()
        # inverse via the forward transform of the conjugate
        z[k] = (even + 1j * odd).conjugate()
    _cfft(z, bitrev, twiddle)
    scale = 1.0 / m
    for i in range(m):
        v = z[i].conjugate() * scale
        x[2 * i] = v.real
        x[2 * i + 1] = v.imag
