"""Jitted radix-4 real FFT for the fixed frame sizes of the stages.

Numba cannot call ``numpy.fft`` from compiled code, so the stages that work in
the frequency domain (NS, AEC) use these kernels. A plan holds everything that
depends only on the size ``n`` (a power of two >= 4) and a scratch buffer, so a
transform allocates nothing; each stage owns its plans (no shared state).

The real transform of length n uses one complex FFT of length M = n/2 on
z[m] = x[2m] + i x[2m+1], then splits the even/odd spectra:

    X[k] = (Z[k] + Z*[M-k]) / 2  -  i e^{-2 pi i k / n} (Z[k] - Z*[M-k]) / 2,  k = 0..M

and ``irfft`` runs the same steps backwards (the inverse complex FFT as the
conjugate of the forward FFT of the conjugate). Conventions match numpy:
``rfft`` is unscaled, ``irfft`` divides by n.

The complex FFT is the iterative decimation in time on bit-reversed input,
two radix-2 stages fused per pass into one radix-4 butterfly (Cooley & Tukey
1965; Van Loan, "Computational Frameworks for the FFT", 1992, sec. 1.9):
with W = e^{-2 pi i / 4h} and F_r the four length-h sub-DFTs of the samples
= r (mod 4),

    X[k + q h] = sum_r (-i)^(r q) W^(r k) F_r[k],   q = 0..3,  k = 0..h-1,

three complex products per four outputs. The first pass (h = 1, no twiddles)
reads its four inputs z[r], z[r + M/4], z[r + M/2], z[r + 3M/4] straight from
the input in bit-reversed order, so there is no permutation pass; a last
radix-2 stage follows when log2 M is odd. The data is held split into real and
imaginary rows (float64) and every pass after the first runs its butterflies
over k with unit stride and per-pass twiddle tables, so the compiler
vectorises them (AVX2: four butterflies per instruction) where the passes are
long enough (h >= 16); indices are cast to unsigned so that Numba emits no
negative-index wrap, which would block the vectoriser. The plan is one float64
array, so a kernel call unboxes one argument for it.
"""
import numpy as np

from ._jit import kernel

# rows of the plan's twiddle table: W^k, W^2k, W^3k of each radix-4 pass, real and imaginary
T_W1_RE, T_W1_IM, T_W2_RE, T_W2_IM, T_W3_RE, T_W3_IM = range(6)


def _bitrev(i, bits: int):
    r = np.zeros_like(i)
    for b in range(bits):
        r |= ((i >> b) & 1) << (bits - 1 - b)
    return r


@kernel
def _layout(m):
    """Offsets in a plan of complex length ``m``: (rev, twiddle, split, work, total size, Q, T)."""
    q = max(m // 4, 1)
    t = 0
    h = 4
    while 4 * h <= m:
        t += h
        h *= 4
    if 2 * h == m:
        t += h
    t = max(t, 1)
    o_rev = 1
    o_tw = o_rev + q
    o_split = o_tw + 6 * t
    o_work = o_split + 2 * (m + 1)
    return o_rev, o_tw, o_split, o_work, o_work + 4 * m, q, t


@kernel
def _views(plan):
    """(rev int64 (Q,), twiddle (6, T), split (2, M + 1), work (4 M,)) of a plan (``make_plan``)."""
    m = int(plan[0])
    o_rev, o_tw, o_split, o_work, size, q, t = _layout(m)
    rev = plan[o_rev:o_tw].view(np.int64)
    tw = plan[o_tw:o_split].reshape((6, t))
    split = plan[o_split:o_work].reshape((2, m + 1))
    return rev, tw, split, plan[o_work:size]


def make_plan(n: int) -> np.ndarray:
    """Plan for real transforms of length ``n``: one float64 array (one kernel argument).

    It holds M = n/2, then ``rev`` (M/4 int64) the bit-reversed starts of the first pass's
    groups, ``twiddle`` (6, T) the tables of the passes with h = 4, 16, ... (rows T_*; the
    last radix-2 stage, if any, uses the W^k rows), ``split`` (2, M + 1) e^{-2 pi i k / n}
    and ``work`` (4 M) the split-complex buffer (real, imaginary) and a staging pair for
    ``irfft`` (``_views``).
    """
    if n < 4 or n & (n - 1):
        raise ValueError(f"FFT size must be a power of two >= 4, got {n}")
    m = n // 2
    bits = m.bit_length() - 1
    o_rev, o_tw, o_split, o_work, size, q, t = _layout(m)
    plan = np.zeros(size)
    plan[0] = m
    plan[o_rev:o_tw].view(np.int64)[:] = _bitrev(np.arange(q, dtype=np.int64), max(bits - 2, 0))
    tw = plan[o_tw:o_split].reshape(6, t)
    col = 0
    h = 4
    while 4 * h <= m:
        w = np.exp(-2j * np.pi * np.outer([1, 2, 3], np.arange(h)) / (4 * h))
        tw[:, col:col + h] = np.stack([w[0].real, w[0].imag, w[1].real, w[1].imag, w[2].real, w[2].imag])
        col += h
        h *= 4
    if 2 * h == m:  # the last radix-2 stage: W_2h^k
        w = np.exp(-2j * np.pi * np.arange(h) / (2 * h))
        tw[T_W1_RE, col:col + h] = w.real
        tw[T_W1_IM, col:col + h] = w.imag
    s = np.exp(-2j * np.pi * np.arange(m + 1) / n)
    split = plan[o_split:o_work].reshape(2, m + 1)
    split[0] = s.real
    split[1] = s.imag
    return plan


@kernel(fastmath=True, inline="always")
def _butterfly4(zr, zi, i0, i1, i2, i3, f0r, f0i, f1r, f1i, f2r, f2i, f3r, f3i):
    """The radix-4 butterfly of the four (twiddled) sub-DFT values F0..F3, X_q = sum_r (-i)^(rq) F_r
    with F1 and F2 in their bit-reversed roles, written to z[i0..i3]:
    X0 = (F0 + F2) + (F1 + F3), X2 = (F0 + F2) - (F1 + F3),
    X1 = (F0 - F2) - i (F1 - F3), X3 = (F0 - F2) + i (F1 - F3)."""
    s02r = f0r + f2r
    s02i = f0i + f2i
    d02r = f0r - f2r
    d02i = f0i - f2i
    s13r = f1r + f3r
    s13i = f1i + f3i
    d13r = f1r - f3r
    d13i = f1i - f3i
    zr[i0] = s02r + s13r
    zi[i0] = s02i + s13i
    zr[i2] = s02r - s13r
    zi[i2] = s02i - s13i
    zr[i1] = d02r + d13i
    zi[i1] = d02i - d13r
    zr[i3] = d02r - d13i
    zi[i3] = d02i + d13r


@kernel(fastmath=True)
def _first_pass(src, src_step, src_im_offset, rev, zr, zi):
    """Bit-reversed load and the first radix-4 pass (h = 1).

    The natural-order input is z[j] = src[j step] + i src[j step + im_offset]; group g
    of the output holds the 4-point DFT of z[r], z[r + M/4], z[r + M/2], z[r + 3M/4],
    r = rev[g].
    """
    m = zr.shape[0]
    q = m // 4
    d = q * src_step
    for g in range(q):
        j = rev[g] * src_step
        u = src_im_offset
        f0r = src[np.uint64(j)]
        f0i = src[np.uint64(j + u)]
        f1r = src[np.uint64(j + d)]
        f1i = src[np.uint64(j + d + u)]
        f2r = src[np.uint64(j + 2 * d)]
        f2i = src[np.uint64(j + 2 * d + u)]
        f3r = src[np.uint64(j + 3 * d)]
        f3i = src[np.uint64(j + 3 * d + u)]
        _butterfly4(zr, zi, np.uint64(4 * g), np.uint64(4 * g + 1), np.uint64(4 * g + 2), np.uint64(4 * g + 3),
                    f0r, f0i, f1r, f1i, f2r, f2i, f3r, f3i)


@kernel(fastmath=True)
def _radix4_pass(zr, zi, tw, off, h):
    """One radix-4 DIT pass combining sub-DFTs of length h into 4h (twiddles tw[:, off:off+h])."""
    m = zr.shape[0]
    for base in range(0, m, 4 * h):
        for k in range(h):
            # F0 = z0, F1 = z2 W^k, F2 = z1 W^2k, F3 = z3 W^3k (bit-reversed sub-DFT order)
            i0 = np.uint64(base + k)  # unsigned: no negative-index wrap, so the loop vectorises
            i1 = np.uint64(base + k + h)
            i2 = np.uint64(base + k + 2 * h)
            i3 = np.uint64(base + k + 3 * h)
            t = np.uint64(off + k)
            f0r = zr[i0]
            f0i = zi[i0]
            ar = zr[i2]
            ai = zi[i2]
            wr = tw[T_W1_RE, t]
            wi = tw[T_W1_IM, t]
            f1r = ar * wr - ai * wi
            f1i = ar * wi + ai * wr
            ar = zr[i1]
            ai = zi[i1]
            wr = tw[T_W2_RE, t]
            wi = tw[T_W2_IM, t]
            f2r = ar * wr - ai * wi
            f2i = ar * wi + ai * wr
            ar = zr[i3]
            ai = zi[i3]
            wr = tw[T_W3_RE, t]
            wi = tw[T_W3_IM, t]
            f3r = ar * wr - ai * wi
            f3i = ar * wi + ai * wr
            _butterfly4(zr, zi, i0, i1, i2, i3, f0r, f0i, f1r, f1i, f2r, f2i, f3r, f3i)


@kernel(fastmath=True)
def _radix2_pass(zr, zi, tw, off, h):
    """The last radix-2 stage (2h = M): z[k], z[k + h] <- z[k] +- W_2h^k z[k + h]."""
    for k0 in range(h):
        k = np.uint64(k0)
        t = np.uint64(off + k0)
        j = np.uint64(k0 + h)
        wr = tw[T_W1_RE, t]
        wi = tw[T_W1_IM, t]
        br = zr[j] * wr - zi[j] * wi
        bi = zr[j] * wi + zi[j] * wr
        ar = zr[k]
        ai = zi[k]
        zr[k] = ar + br
        zi[k] = ai + bi
        zr[j] = ar - br
        zi[j] = ai - bi


@kernel(fastmath=True)
def _cfft(src, src_step, src_im_offset, rev, tw, zr, zi):
    """zr + i zi = forward complex FFT (length M = len(zr)) of the strided input (``_first_pass``)."""
    m = zr.shape[0]
    if m == 2:  # n = 4: a single radix-2 butterfly
        ar = src[0]
        ai = src[src_im_offset]
        br = src[src_step]
        bi = src[src_step + src_im_offset]
        zr[0] = ar + br
        zi[0] = ai + bi
        zr[1] = ar - br
        zi[1] = ai - bi
        return
    _first_pass(src, src_step, src_im_offset, rev, zr, zi)
    h = 4
    off = 0
    while 4 * h <= m:
        _radix4_pass(zr, zi, tw, off, h)
        off += h
        h *= 4
    if 2 * h == m:
        _radix2_pass(zr, zi, tw, off, h)


@kernel(fastmath=True)
def rfft(plan, x, X):
    """X[0..n/2] = sum_t x[t] e^{-2 pi i k t / n} (numpy's rfft)."""
    rev, tw, split, work = _views(plan)
    m = split.shape[1] - 1
    zr = work[0:m]
    zi = work[m:2 * m]
    _cfft(x, 2, 1, rev, tw, zr, zi)
    X[0] = complex(zr[0] + zi[0], 0.0)
    X[m] = complex(zr[0] - zi[0], 0.0)
    wr = split[0]
    wi = split[1]
    for k0 in range(1, m):
        # a = z[k], b = conj(z[M-k]); even = (a + b) / 2, odd = -i (a - b) / 2
        k = np.uint64(k0)
        c = np.uint64(m - k0)
        ar = zr[k]
        ai = zi[k]
        br = zr[c]
        bi = -zi[c]
        er = 0.5 * (ar + br)
        ei = 0.5 * (ai + bi)
        odr = 0.5 * (ai - bi)
        odi = -0.5 * (ar - br)
        X[k] = complex(er + wr[k] * odr - wi[k] * odi, ei + wr[k] * odi + wi[k] * odr)


@kernel(fastmath=True)
def irfft(plan, X, x):
    """x[t] = (1/n) sum_k X[k] e^{2 pi i k t / n} over the Hermitian spectrum (numpy's irfft)."""
    rev, tw, split, work = _views(plan)
    m = split.shape[1] - 1
    zr = work[0:m]
    zi = work[m:2 * m]
    stage = work[2 * m:4 * m]
    tr = stage[0:m]
    ti = stage[m:2 * m]
    wr = split[0]
    wi = split[1]
    for k0 in range(m):
        # a = X[k], b = conj(X[M-k]); z = even + i odd, odd = (a - b) conj(w_k) / 2;
        # staged as conj(z): the inverse is the conjugated forward FFT of the conjugate
        k = np.uint64(k0)
        a = X[k]
        b = X[np.uint64(m - k0)]
        ar = np.float64(a.real)
        ai = np.float64(a.imag)
        br = np.float64(b.real)
        bi = -np.float64(b.imag)
        er = 0.5 * (ar + br)
        ei = 0.5 * (ai + bi)
        dr = 0.5 * (ar - br)
        di = 0.5 * (ai - bi)
        odr = dr * wr[k] + di * wi[k]
        odi = di * wr[k] - dr * wi[k]
        tr[k] = er - odi
        ti[k] = -(ei + odr)
    _cfft(stage, 1, m, rev, tw, zr, zi)
    scale = 1.0 / m
    for i0 in range(m):
        i = np.uint64(i0)
        x[np.uint64(2 * i0)] = zr[i] * scale
        x[np.uint64(2 * i0 + 1)] = -zi[i] * scale
