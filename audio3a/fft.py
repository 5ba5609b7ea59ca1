"""Jitted real FFT (radix 4 for powers of two, mixed radix 16/2/3/5 otherwise) for the stages' frame sizes.

Numba cannot call ``numpy.fft`` from compiled code, so the stages that work in
the frequency domain (NS, AEC) use these kernels. A plan holds everything that
depends only on the size n = 2 M, M = 2^a 3^b 5^c (e.g. 512, 1024, and 320 = 2 x 160,
960 = 2 x 480 for 10 ms frames at 16/48 kHz), and a scratch buffer, so a transform
allocates nothing; each stage owns its plans (no shared state).

The real transform of length n uses one complex FFT of length M = n/2 on
z[m] = x[2m] + i x[2m+1], then splits the even/odd spectra:

    X[k] = (Z[k] + Z*[M-k]) / 2  -  i e^{-2 pi i k / n} (Z[k] - Z*[M-k]) / 2,  k = 0..M

and ``irfft`` runs the same steps backwards (the inverse complex FFT as the
conjugate of the forward FFT of the conjugate). Conventions match numpy:
``rfft`` is unscaled, ``irfft`` divides by n.

Both complex FFTs are iterative decimations in time (Cooley & Tukey 1965; Van Loan,
"Computational Frameworks for the FFT", 1992, sec. 1.9 and 2.3): a pass of radix p
combines p sub-DFTs F_r of length h (r = 0..p-1, the samples = r mod p of the block)
into one of length p h, with W = e^{-2 pi i / (p h)},

    X[k + q h] = sum_r e^{-2 pi i r q / p} W^(r k) F_r[k],   q = 0..p-1,  k = 0..h-1,

p - 1 complex products per p outputs. The first pass (h = 1, no twiddles) reads its
p inputs z[s], z[s + M/p], ... straight from the input in digit-reversed order, so
there is no permutation pass.

Power-of-two M: two radix-2 stages fused per pass into one radix-4 butterfly, a
last radix-2 stage when log2 M is odd; the first pass's starts are bit-reversed.

Other M: the first pass takes up to four factors 2 (radix 16 = 4 x 4 with the W16
twiddles between its two radix-4 stages, or radix 4 or 2; for odd M a plain
digit-reversed copy), the rest of the power of two
follows in radix-2 passes, then the 3s and then the 5s, e.g. 160 = 16 2 5, 480 = 16 3 5,
960 = 16 2 3 5 (the odd radices last, where h is longest); starts in digit-reversed
order. The small DFTs (the usual short-DFT algorithms: real constants, shared sums):

    p = 3:  s = a1 + a2, X0 = a0 + s, X1,2 = a0 - s/2 -+ i sin(2 pi/3) (a1 - a2)
    p = 5:  t1 = a1 + a4, t2 = a2 + a3, t3 = a1 - a4, t4 = a2 - a3, b = a0 - (t1 + t2)/4,
            c = (sqrt 5 / 4)(t1 - t2), u = s1 t3 + s2 t4, v = s2 t3 - s1 t4,
            X0 = a0 + t1 + t2, X1,4 = b + c -+ i u, X2,3 = b - c -+ i v
            (s1 = sin(2 pi/5), s2 = sin(4 pi/5))

The data is held split into real and imaginary rows (float64) and every pass after
the first runs its butterflies over k with unit stride and per-pass twiddle tables,
so the compiler vectorises them (AVX2: four butterflies per instruction) where the
passes are long enough; indices are cast to unsigned so that Numba emits no
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


def _pow2_plan(n: int) -> np.ndarray:
    """Plan of a power-of-two size (``make_plan``): M = n/2, then ``rev`` (M/4 int64) the
    bit-reversed starts of the first pass's groups, ``twiddle`` (6, T) the tables of the passes
    with h = 4, 16, ... (rows T_*; the last radix-2 stage, if any, uses the W^k rows), ``split``
    (2, M + 1) e^{-2 pi i k / n} and ``work`` (4 M) the split-complex buffer (real, imaginary)
    and a staging pair for ``irfft`` (``_views``).
    """
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
def _cmul(ar, ai, wr, wi):
    """(ar + i ai)(wr + i wi)."""
    return ar * wr - ai * wi, ar * wi + ai * wr


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
            f1r, f1i = _cmul(zr[i2], zi[i2], tw[T_W1_RE, t], tw[T_W1_IM, t])
            f2r, f2i = _cmul(zr[i1], zi[i1], tw[T_W2_RE, t], tw[T_W2_IM, t])
            f3r, f3i = _cmul(zr[i3], zi[i3], tw[T_W3_RE, t], tw[T_W3_IM, t])
            _butterfly4(zr, zi, i0, i1, i2, i3, zr[i0], zi[i0], f1r, f1i, f2r, f2i, f3r, f3i)


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


# ---------------------------------------------------------------- mixed radix: M = 2^a 3^b 5^c

C3 = np.sin(2 * np.pi / 3)  # radix-3 constant sin(2 pi/3)
C5 = np.sqrt(5.0) / 4  # radix-5 constants: (cos(2 pi/5) - cos(4 pi/5)) / 2 ...
S51 = np.sin(2 * np.pi / 5)  # ... sin(2 pi/5) ...
S52 = np.sin(4 * np.pi / 5)  # ... and sin(4 pi/5)
W16_RE = tuple(np.cos(2 * np.pi * np.arange(10) / 16))  # radix-16 twiddles W16^j, j = 0..9
W16_IM = tuple(-np.sin(2 * np.pi * np.arange(10) / 16))


def _smooth(m: int) -> bool:
    """M = 2^a 3^b 5^c (M >= 1)."""
    for p in (2, 3, 5):
        while m > 1 and m % p == 0:
            m //= p
    return m == 1


def _radices(m: int) -> list:
    """The passes of a mixed-radix M, first to last: the first pass takes up to four factors 2
    (radix 16, 4 or 2), the rest of the power of two follows in radix-2 passes, then the 3s and the
    5s (the odd radices last, where h is longest, so their butterflies vectorise); an odd M starts
    with a radix-1 "pass", the digit-reversed copy."""
    a = 0
    while m % 2 == 0:
        a += 1
        m //= 2
    r = [16] if a >= 4 else [4, 2] if a == 3 else [4] if a == 2 else [2] if a == 1 else [1]
    r += [2] * max(a - 4, 0)
    while m % 3 == 0:
        r.append(3)
        m //= 3
    while m % 5 == 0:
        r.append(5)
        m //= 5
    return r


def _digit_reversed(seq: np.ndarray, radices: list) -> np.ndarray:
    """DIT input order: the last pass combines the sub-DFTs of seq[r::p] (p = radices[-1]), r = 0..p-1."""
    if len(radices) <= 1:
        return seq
    p = radices[-1]
    return np.concatenate([_digit_reversed(seq[r::p], radices[:-1]) for r in range(p)])


def _mixed_plan(n: int) -> np.ndarray:
    """Plan of a mixed-radix size (``make_plan``): M, s, the s radices, ``split`` (2, M + 1), ``work``
    (4 M), ``starts`` (M/p_1 int64: z index of each first-pass group) and per pass i >= 2 its twiddles
    (2 (p_i - 1), h_i): rows 2(r-1), 2(r-1)+1 = Re, Im of W^{rk}, W = e^{-2 pi i / (p_i h_i)}."""
    m = n // 2
    radices = _radices(m)
    s = len(radices)
    q = m // radices[0]
    sizes = []
    h = radices[0]
    for p in radices[1:]:
        sizes.append(2 * (p - 1) * h)
        h *= p
    o_split = 2 + s
    o_start = o_split + 2 * (m + 1) + 4 * m
    plan = np.zeros(o_start + q + sum(sizes))
    plan[0] = m
    plan[1] = s
    plan[2:2 + s] = radices
    w = np.exp(-2j * np.pi * np.arange(m + 1) / n)
    plan[o_split:o_split + 2 * (m + 1)] = np.concatenate([w.real, w.imag])
    order = _digit_reversed(np.arange(m, dtype=np.int64), radices)
    plan[o_start:o_start + q].view(np.int64)[:] = order[::radices[0]]
    o = o_start + q
    h = radices[0]
    for p in radices[1:]:
        w = np.exp(-2j * np.pi * np.outer(np.arange(1, p), np.arange(h)) / (p * h))
        plan[o:o + 2 * (p - 1) * h] = np.stack([w.real, w.imag], axis=1).ravel()
        o += 2 * (p - 1) * h
        h *= p
    return plan


@kernel(fastmath=True, inline="always")
def _dft2(a0r, a0i, a1r, a1i):
    """X0 = a0 + a1, X1 = a0 - a1."""
    return a0r + a1r, a0i + a1i, a0r - a1r, a0i - a1i


@kernel(fastmath=True, inline="always")
def _dft3(a0r, a0i, a1r, a1i, a2r, a2i):
    """X0 = a0 + s, X1,2 = (a0 - s/2) -+ i sin(2 pi/3) d with s = a1 + a2, d = a1 - a2."""
    sr = a1r + a2r
    si = a1i + a2i
    dr = C3 * (a1r - a2r)
    di = C3 * (a1i - a2i)
    mr = a0r - 0.5 * sr
    mi = a0i - 0.5 * si
    return a0r + sr, a0i + si, mr + di, mi - dr, mr - di, mi + dr


@kernel(fastmath=True, inline="always")
def _dft4(a0r, a0i, a1r, a1i, a2r, a2i, a3r, a3i):
    """X0,2 = (a0 + a2) +- (a1 + a3), X1,3 = (a0 - a2) -+ i (a1 - a3)."""
    s02r = a0r + a2r
    s02i = a0i + a2i
    d02r = a0r - a2r
    d02i = a0i - a2i
    s13r = a1r + a3r
    s13i = a1i + a3i
    d13r = a1r - a3r
    d13i = a1i - a3i
    return (s02r + s13r, s02i + s13i, d02r + d13i, d02i - d13r,
            s02r - s13r, s02i - s13i, d02r - d13i, d02i + d13r)


@kernel(fastmath=True, inline="always")
def _dft5(a0r, a0i, a1r, a1i, a2r, a2i, a3r, a3i, a4r, a4i):
    """With t1,2 = a1 + a4, a2 + a3, t3,4 = a1 - a4, a2 - a3, t5 = t1 + t2:
    X0 = a0 + t5, b = a0 - t5/4, c = (sqrt 5 / 4)(t1 - t2), u = s1 t3 + s2 t4, v = s2 t3 - s1 t4,
    X1,4 = (b + c) -+ i u, X2,3 = (b - c) -+ i v  (s1,2 = sin(2 pi/5), sin(4 pi/5))."""
    t1r = a1r + a4r
    t1i = a1i + a4i
    t2r = a2r + a3r
    t2i = a2i + a3i
    t3r = a1r - a4r
    t3i = a1i - a4i
    t4r = a2r - a3r
    t4i = a2i - a3i
    t5r = t1r + t2r
    t5i = t1i + t2i
    br = a0r - 0.25 * t5r
    bi = a0i - 0.25 * t5i
    cr = C5 * (t1r - t2r)
    ci = C5 * (t1i - t2i)
    ur = S51 * t3r + S52 * t4r
    ui = S51 * t3i + S52 * t4i
    vr = S52 * t3r - S51 * t4r
    vi = S52 * t3i - S51 * t4i
    sar = br + cr
    sai = bi + ci
    sbr = br - cr
    sbi = bi - ci
    return (a0r + t5r, a0i + t5i, sar + ui, sai - ur, sbr + vi, sbi - vr,
            sbr - vi, sbi + vr, sar - ui, sai + ur)


@kernel(fastmath=True)
def _first_pass_mixed(src, src_step, src_im_offset, starts, p, zr, zi):
    """The first pass (h = 1, p = 16, 4, 2 or 1): group g of z holds the p-point DFT of
    z[s], z[s + M/p], ..., s = starts[g],
    read straight from the natural-order input z[j] = src[j step] + i src[j step + im_offset]."""
    m = zr.shape[0]
    q = m // p
    d = q * src_step
    u = src_im_offset
    if p == 16:
        for g in range(q):
            j = starts[g] * src_step
            # y_n = z[s + n M/16], n = n2 + 4 n1: column DFTs C_n2[k1] = DFT_4 over n1 of y[n2 + 4 n1],
            # then X[k1 + 4 k2] = DFT_4 over n2 of W16^(n2 k1) C_n2[k1]
            c0 = _dft4(src[np.uint64(j)], src[np.uint64(j + u)],
                       src[np.uint64(j + 4 * d)], src[np.uint64(j + 4 * d + u)],
                       src[np.uint64(j + 8 * d)], src[np.uint64(j + 8 * d + u)],
                       src[np.uint64(j + 12 * d)], src[np.uint64(j + 12 * d + u)])
            c1 = _dft4(src[np.uint64(j + d)], src[np.uint64(j + d + u)],
                       src[np.uint64(j + 5 * d)], src[np.uint64(j + 5 * d + u)],
                       src[np.uint64(j + 9 * d)], src[np.uint64(j + 9 * d + u)],
                       src[np.uint64(j + 13 * d)], src[np.uint64(j + 13 * d + u)])
            c2 = _dft4(src[np.uint64(j + 2 * d)], src[np.uint64(j + 2 * d + u)],
                       src[np.uint64(j + 6 * d)], src[np.uint64(j + 6 * d + u)],
                       src[np.uint64(j + 10 * d)], src[np.uint64(j + 10 * d + u)],
                       src[np.uint64(j + 14 * d)], src[np.uint64(j + 14 * d + u)])
            c3 = _dft4(src[np.uint64(j + 3 * d)], src[np.uint64(j + 3 * d + u)],
                       src[np.uint64(j + 7 * d)], src[np.uint64(j + 7 * d + u)],
                       src[np.uint64(j + 11 * d)], src[np.uint64(j + 11 * d + u)],
                       src[np.uint64(j + 15 * d)], src[np.uint64(j + 15 * d + u)])
            o = 16 * g
            for k1 in range(4):
                b1r, b1i = _cmul(c1[2 * k1], c1[2 * k1 + 1], W16_RE[k1], W16_IM[k1])
                b2r, b2i = _cmul(c2[2 * k1], c2[2 * k1 + 1], W16_RE[2 * k1], W16_IM[2 * k1])
                b3r, b3i = _cmul(c3[2 * k1], c3[2 * k1 + 1], W16_RE[3 * k1], W16_IM[3 * k1])
                y = _dft4(c0[2 * k1], c0[2 * k1 + 1], b1r, b1i, b2r, b2i, b3r, b3i)
                for k2 in range(4):
                    zr[np.uint64(o + k1 + 4 * k2)] = y[2 * k2]
                    zi[np.uint64(o + k1 + 4 * k2)] = y[2 * k2 + 1]
    elif p == 4:
        for g in range(q):
            j = starts[g] * src_step
            x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i = _dft4(
                src[np.uint64(j)], src[np.uint64(j + u)], src[np.uint64(j + d)], src[np.uint64(j + d + u)],
                src[np.uint64(j + 2 * d)], src[np.uint64(j + 2 * d + u)],
                src[np.uint64(j + 3 * d)], src[np.uint64(j + 3 * d + u)])
            o = np.uint64(4 * g)
            zr[o] = x0r
            zi[o] = x0i
            zr[o + np.uint64(1)] = x1r
            zi[o + np.uint64(1)] = x1i
            zr[o + np.uint64(2)] = x2r
            zi[o + np.uint64(2)] = x2i
            zr[o + np.uint64(3)] = x3r
            zi[o + np.uint64(3)] = x3i
    elif p == 2:
        for g in range(q):
            j = starts[g] * src_step
            x0r, x0i, x1r, x1i = _dft2(src[np.uint64(j)], src[np.uint64(j + u)],
                                       src[np.uint64(j + d)], src[np.uint64(j + d + u)])
            o = np.uint64(2 * g)
            zr[o] = x0r
            zi[o] = x0i
            zr[o + np.uint64(1)] = x1r
            zi[o + np.uint64(1)] = x1i
    else:  # p == 1 (odd M): the digit-reversed copy, the radix-3/5 passes do the rest
        for g in range(q):
            j = starts[g] * src_step
            zr[np.uint64(g)] = src[np.uint64(j)]
            zi[np.uint64(g)] = src[np.uint64(j + u)]


@kernel(fastmath=True)
def _pass2(zr, zi, tw, h):
    """Radix-2 DIT pass: z[k], z[k + h] <- DFT_2(F_0[k], W^k F_1[k]) in each block of 2h."""
    m = zr.shape[0]
    for base in range(0, m, 2 * h):
        for k0 in range(h):
            k = np.uint64(k0)
            i0 = np.uint64(base + k0)
            i1 = np.uint64(base + k0 + h)
            a1r, a1i = _cmul(zr[i1], zi[i1], tw[0, k], tw[1, k])
            zr[i0], zi[i0], zr[i1], zi[i1] = _dft2(zr[i0], zi[i0], a1r, a1i)


@kernel(fastmath=True)
def _pass3(zr, zi, tw, h):
    """Radix-3 DIT pass: z[k + q h] <- DFT_3(F_0[k], W^k F_1[k], W^2k F_2[k]) in each block of 3h.

    The rows of a block are taken as views, so the compiler's runtime overlap checks are per block
    and its vector loop already pays from h ~ 20-28 (on the whole rows: h >= 40)."""
    m = zr.shape[0]
    for base in range(0, m, 3 * h):
        r0 = zr[base:base + h]
        r1 = zr[base + h:base + 2 * h]
        r2 = zr[base + 2 * h:base + 3 * h]
        j0 = zi[base:base + h]
        j1 = zi[base + h:base + 2 * h]
        j2 = zi[base + 2 * h:base + 3 * h]
        for k0 in range(h):
            k = np.uint64(k0)
            a1r, a1i = _cmul(r1[k], j1[k], tw[0, k], tw[1, k])
            a2r, a2i = _cmul(r2[k], j2[k], tw[2, k], tw[3, k])
            r0[k], j0[k], r1[k], j1[k], r2[k], j2[k] = _dft3(r0[k], j0[k], a1r, a1i, a2r, a2i)


@kernel(fastmath=True)
def _pass5(zr, zi, tw, h):
    """Radix-5 DIT pass: z[k + q h] <- DFT_5(F_r[k] W^rk, r = 0..4) in each block of 5h (rows as views,
    as in ``_pass3``)."""
    m = zr.shape[0]
    for base in range(0, m, 5 * h):
        r0 = zr[base:base + h]
        r1 = zr[base + h:base + 2 * h]
        r2 = zr[base + 2 * h:base + 3 * h]
        r3 = zr[base + 3 * h:base + 4 * h]
        r4 = zr[base + 4 * h:base + 5 * h]
        j0 = zi[base:base + h]
        j1 = zi[base + h:base + 2 * h]
        j2 = zi[base + 2 * h:base + 3 * h]
        j3 = zi[base + 3 * h:base + 4 * h]
        j4 = zi[base + 4 * h:base + 5 * h]
        for k0 in range(h):
            k = np.uint64(k0)
            a1r, a1i = _cmul(r1[k], j1[k], tw[0, k], tw[1, k])
            a2r, a2i = _cmul(r2[k], j2[k], tw[2, k], tw[3, k])
            a3r, a3i = _cmul(r3[k], j3[k], tw[4, k], tw[5, k])
            a4r, a4i = _cmul(r4[k], j4[k], tw[6, k], tw[7, k])
            r0[k], j0[k], r1[k], j1[k], r2[k], j2[k], r3[k], j3[k], r4[k], j4[k] = _dft5(
                r0[k], j0[k], a1r, a1i, a2r, a2i, a3r, a3i, a4r, a4i)


@kernel(fastmath=True)
def _cfft_mixed(plan, src, src_step, src_im_offset, zr, zi):
    """zr + i zi = forward complex FFT of the strided input, passes p_1 .. p_s of a mixed-radix plan."""
    m = zr.shape[0]
    s = int(plan[1])
    p = int(plan[2])
    o = 2 + s + 2 * (m + 1) + 4 * m
    q = m // p
    _first_pass_mixed(src, src_step, src_im_offset, plan[o:o + q].view(np.int64), p, zr, zi)
    o += q
    h = p
    for i in range(1, s):
        p = int(plan[2 + i])
        size = 2 * (p - 1) * h
        tw = plan[o:o + size].reshape((2 * (p - 1), h))
        if p == 2:
            _pass2(zr, zi, tw, h)
        elif p == 3:
            _pass3(zr, zi, tw, h)
        else:
            _pass5(zr, zi, tw, h)
        o += size
        h *= p


# ---------------------------------------------------------------- both kinds of plan


def make_plan(n: int) -> np.ndarray:
    """Plan for real transforms of length ``n`` = 2 M, M = 2^a 3^b 5^c: one float64 array (one
    kernel argument); a power-of-two M gets the radix-4 plan (``_pow2_plan``), any other the
    mixed-radix plan (``_mixed_plan``)."""
    n = int(n)
    if n < 4 or n % 2 or not _smooth(n // 2):
        raise ValueError(f"FFT size must be n = 2 M >= 4 with M = 2^a 3^b 5^c (a power of two, 320, 960, ...), "
                         f"got {n}")
    m = n // 2
    return _pow2_plan(n) if m & (m - 1) == 0 else _mixed_plan(n)


@kernel
def _mixed_views(plan):
    """(split (2, M + 1), work (4 M,)) of a mixed-radix plan (``_mixed_plan``)."""
    m = int(plan[0])
    o = 2 + int(plan[1])
    split = plan[o:o + 2 * (m + 1)].reshape((2, m + 1))
    o += 2 * (m + 1)
    return split, plan[o:o + 4 * m]


@kernel(fastmath=True, inline="always")
def _unpack(zr, zi, split, X):
    """X[k] from Z = FFT_M(z): the even/odd split of the module docstring."""
    m = zr.shape[0]
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


@kernel(fastmath=True, inline="always")
def _pack(X, split, tr, ti):
    """tr + i ti = conj(z), z = even + i odd recovered from the half spectrum X."""
    m = tr.shape[0]
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


@kernel(fastmath=True, inline="always")
def _interleave(zr, zi, x):
    """x[2j], x[2j + 1] = Re, -Im of the conjugated FFT, divided by n / 2 = M (irfft's last step)."""
    m = zr.shape[0]
    scale = 1.0 / m
    for i0 in range(m):
        i = np.uint64(i0)
        x[np.uint64(2 * i0)] = zr[i] * scale
        x[np.uint64(2 * i0 + 1)] = -zi[i] * scale


@kernel(fastmath=True)
def rfft(plan, x, X):
    """X[0..n/2] = sum_t x[t] e^{-2 pi i k t / n} (numpy's rfft)."""
    m = int(plan[0])
    if m & (m - 1) == 0:
        rev, tw, split, work = _views(plan)
        zr = work[0:m]
        zi = work[m:2 * m]
        _cfft(x, 2, 1, rev, tw, zr, zi)
    else:
        split, work = _mixed_views(plan)
        zr = work[0:m]
        zi = work[m:2 * m]
        _cfft_mixed(plan, x, 2, 1, zr, zi)
    _unpack(zr, zi, split, X)


@kernel(fastmath=True)
def irfft(plan, X, x):
    """x[t] = (1/n) sum_k X[k] e^{2 pi i k t / n} over the Hermitian spectrum (numpy's irfft)."""
    m = int(plan[0])
    if m & (m - 1) == 0:
        rev, tw, split, work = _views(plan)
        zr = work[0:m]
        zi = work[m:2 * m]
        _pack(X, split, work[2 * m:3 * m], work[3 * m:4 * m])
        _cfft(work[2 * m:4 * m], 1, m, rev, tw, zr, zi)
    else:
        split, work = _mixed_views(plan)
        zr = work[0:m]
        zi = work[m:2 * m]
        _pack(X, split, work[2 * m:3 * m], work[3 * m:4 * m])
        _cfft_mixed(plan, work[2 * m:4 * m], 1, m, zr, zi)
    _interleave(zr, zi, x)
