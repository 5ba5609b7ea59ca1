"""Arithmetic in GF(2^8) with the primitive polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D).

Elements are bytes. Addition is XOR; multiplication uses discrete logarithms to
the primitive element ``alpha = 2``::

    a * b = EXP[LOG[a] + LOG[b]]          (a, b != 0)
    1 / a = EXP[255 - LOG[a]]

``EXP`` is stored for exponents 0..509 so the sum of two logarithms needs no
reduction mod 255. ``MUL[c]`` is the full 256-entry product table of ``c``:
the erasure codes spend their time in ``dst[i] ^= MUL[c, src[i]]``, the
multiply-accumulate of a byte row by a constant (one table lookup per byte,
the same inner loop as Rizzo's FEC and zfec).

The tables are module constants computed once at import and marked
read-only; the kernels below are pure functions of their arguments.
"""
import numpy as np

from ._jit import kernel

__all__ = ["POLY", "EXP", "LOG", "MUL", "INV", "gf_mul", "gf_inv", "gf_div",
           "mul_add_row", "matmul_into", "matmul_batch_into", "invert", "GfSingularError"]

POLY = 0x11D


def _tables():
    exp = np.zeros(510, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= POLY
    exp[255:510] = exp[0:255]
    a = np.arange(256)
    la = log[a]
    mul = exp[(la[:, None] + la[None, :])].astype(np.uint8)
    mul[0, :] = 0
    mul[:, 0] = 0
    inv = np.zeros(256, dtype=np.uint8)
    inv[1:] = exp[255 - log[1:]]
    for t in (exp, log, mul, inv):
        t.setflags(write=False)
    return exp, log, mul, inv


EXP, LOG, MUL, INV = _tables()


class GfSingularError(ValueError):
    """The matrix has no inverse over GF(256)."""


def gf_mul(a, b):
    """Product of two field elements (Python ints 0..255)."""
    return int(MUL[a, b])


def gf_inv(a):
    """Multiplicative inverse of a nonzero element."""
    if not 0 < a < 256:
        raise ZeroDivisionError(f"GF(256) inverse needs an element in 1..255, got {a!r}")
    return int(INV[a])


def gf_div(a, b):
    """``a / b`` for ``b != 0``."""
    return gf_mul(a, gf_inv(b))


@kernel
def mul_add_row(dst, src, c):
    """``dst ^= c * src`` elementwise over GF(256) (byte rows of equal length)."""
    n = dst.shape[0]
    if c == 0:
        return
    if c == 1:
        for i in range(n):
            dst[i] ^= src[i]
        return
    row = MUL[c]
    for i in range(n):
        dst[i] ^= row[src[i]]


@kernel
def _matmul(mat, src, dst):
    """``dst = mat @ src`` over GF(256): mat (r, k), src (k, L), dst (r, L)."""
    r_n, k_n = mat.shape
    n = src.shape[1]
    for r in range(r_n):
        d = dst[r]
        d[:] = 0
        for j in range(k_n):
            c = mat[r, j]
            if c == 0:
                continue
            s = src[j]
            if c == 1:
                for i in range(n):
                    d[i] ^= s[i]
            else:
                row = MUL[c]
                for i in range(n):
                    d[i] ^= row[s[i]]


def matmul_into(mat, src, dst):
    """``dst[:] = mat @ src`` over GF(256) (uint8 arrays (r, k), (k, L), (r, L))."""
    _matmul(mat, src, dst)
    return dst


@kernel
def _matmul_batch(mat, src, dst):
    """``dst[b] = mat @ src[b]`` for every block ``b``: src (B, k, L), dst (B, r, L)."""
    for b in range(src.shape[0]):
        _matmul(mat, src[b], dst[b])


def matmul_batch_into(mat, src, dst):
    """Batched ``matmul_into`` over the leading axis."""
    _matmul_batch(mat, src, dst)
    return dst


@kernel
def _invert(a, out):
    """Gauss–Jordan inversion of the square matrix ``a`` (destroyed) into ``out``; False if singular."""
    n = a.shape[0]
    out[:, :] = 0
    for i in range(n):
        out[i, i] = 1
    for col in range(n):
        piv = -1
        for r in range(col, n):
            if a[r, col] != 0:
                piv = r
                break
        if piv < 0:
            return False
        if piv != col:
            for j in range(n):
                t = a[piv, j]
                a[piv, j] = a[col, j]
                a[col, j] = t
                t = out[piv, j]
                out[piv, j] = out[col, j]
                out[col, j] = t
        s = INV[a[col, col]]
        if s != 1:
            row = MUL[s]
            for j in range(n):
                a[col, j] = row[a[col, j]]
                out[col, j] = row[out[col, j]]
        for r in range(n):
            f = a[r, col]
            if r == col or f == 0:
                continue
            row = MUL[f]
            for j in range(n):
                a[r, j] ^= row[a[col, j]]
                out[r, j] ^= row[out[col, j]]
    return True


def invert(mat):
    """Inverse of a square uint8 matrix over GF(256); ``GfSingularError`` if it has none."""
    a = np.array(mat, dtype=np.uint8, copy=True)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"invert needs a square matrix, got shape {a.shape}")
    out = np.empty_like(a)
    if not _invert(a, out):
        raise GfSingularError("matrix is singular over GF(256)")
    return out
