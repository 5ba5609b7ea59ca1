"""Systematic Reed–Solomon erasure code over GF(2^8) from a Cauchy matrix.

A block is ``k`` data symbols (equal-length byte strings) and ``m`` repair
symbols, ``k + m <= 255``. The generator is ``G = [I_k ; C]`` with ``C`` an
``m x k`` Cauchy matrix (Blömer et al. 1995, "An XOR-based erasure-resilient
coding scheme")::

    C[r, j] = 1 / (x_r + y_j),    x_r = r,  y_j = m + j     (all distinct)

Every square submatrix of a Cauchy matrix is nonsingular, so every ``k x k``
submatrix of ``G`` is too: any ``k`` of the ``k + m`` symbols recover the
block (the code is MDS). Scaling rows and columns of ``C`` by nonzero
constants keeps that property; ``C`` is scaled so its first row and first
column are all ones, so repair symbol 0 is the plain XOR of the data
(RS(k+1) is exactly the XOR parity code) and those products cost no lookups.

Repair ``r`` is ``sum_j C[r, j] * data_j``. Decoding from received indices
``R`` (``|R| = k``) inverts ``G[R]`` once per erasure pattern and multiplies
the rows of the missing data symbols by the received symbols. The inverses
are cached inside the code object (bounded, first-in first-out), never at
module level.
"""
import threading

import numpy as np

from .gf256 import INV, MUL, _matmul, _matmul_batch, invert

__all__ = ["ReedSolomon", "cauchy_matrix", "MAX_SYMBOLS"]

MAX_SYMBOLS = 255


def _check_km(k, m):
    if isinstance(k, bool) or isinstance(m, bool) or not isinstance(k, (int, np.integer)) \
            or not isinstance(m, (int, np.integer)):
        raise ValueError(f"k and m must be integers, got k={k!r}, m={m!r}")
    if k < 1 or m < 1 or k + m > MAX_SYMBOLS:
        raise ValueError(f"need k >= 1 data and m >= 1 repair symbols with k + m <= {MAX_SYMBOLS}, "
                         f"got k={k}, m={m}")
    return int(k), int(m)


def cauchy_matrix(k, m):
    """The ``m x k`` normalised Cauchy matrix (first row and first column all ones)."""
    k, m = _check_km(k, m)
    x = np.arange(m)[:, None]
    y = (m + np.arange(k))[None, :]
    c = INV[x ^ y].astype(np.uint8)
    c = MUL[c, INV[c[0]][None, :]]             # column j scaled by 1 / C[0, j]
    c = MUL[c, INV[c[:, 0]][:, None]]          # row r scaled by 1 / C[r, 0]
    return np.ascontiguousarray(c, dtype=np.uint8)


class ReedSolomon:
    """RS(k + m) erasure code: ``encode`` k data symbols to m repair symbols, ``decode`` any k.

    Per-block API on ``bytes`` (``encode``, ``decode``) and a batched API on
    ``uint8`` arrays of shape ``(blocks, symbols, length)`` (``encode_batch``,
    ``decode_batch``) that amortises the call overhead over many blocks.
    Symbol indices: ``0..k-1`` data, ``k..k+m-1`` repair.
    """

    __slots__ = ("k", "m", "generator", "_full", "_cache", "_cache_size", "_lock", "_tls")

    def __init__(self, k, m, cache_size=512):
        self.k, self.m = _check_km(k, m)
        self.generator = cauchy_matrix(self.k, self.m)
        self.generator.setflags(write=False)
        full = np.vstack([np.eye(self.k, dtype=np.uint8), self.generator])
        full.setflags(write=False)
        self._full = full
        self._cache = {}
        self._cache_size = int(cache_size)
        self._lock = threading.Lock()
        self._tls = threading.local()          # per-thread scratch buffers of the bytes API

    def __repr__(self):
        return f"ReedSolomon(k={self.k}, m={self.m})"

    # ------------------------------------------------------------------ encode
    def _scratch(self, n):
        """This thread's ``(src (k, n), its flat memoryview, out (max(k, m), n))`` for symbol length ``n``."""
        bufs = getattr(self._tls, "bufs", None)
        if bufs is None:
            bufs = self._tls.bufs = {}
        hit = bufs.get(n)
        if hit is None:
            if len(bufs) >= 8:
                bufs.clear()
            src = np.empty((self.k, n), dtype=np.uint8)
            hit = bufs[n] = (src, memoryview(src).cast("B"), np.empty((max(self.k, self.m), n), dtype=np.uint8))
        return hit

    def _load(self, blocks, what):
        """Copy ``k`` equal-length symbols into this thread's scratch; returns (src, out, n)."""
        k = self.k
        if len(blocks) != k:
            raise ValueError(f"RS({k}+{self.m}) {what} exactly {k} symbols, got {len(blocks)}")
        n = len(blocks[0])
        for b in blocks:
            if len(b) != n:
                raise ValueError("symbols must all have the same length; pad them first "
                                 "(fec.repair.protect does, and carries the true lengths)")
        if n == 0:
            return np.empty((k, 0), np.uint8), np.empty((max(k, self.m), 0), np.uint8), 0
        src, flat, out = self._scratch(n)
        flat[:] = b"".join(blocks)
        return src, out, n

    def encode(self, data):
        """The ``m`` repair symbols (bytes) of ``k`` equal-length data symbols (bytes-like)."""
        src, out, n = self._load(data, "encodes")
        _matmul(self.generator, src, out)
        flat = out.tobytes()
        return [flat[i * n:(i + 1) * n] for i in range(self.m)]

    def encode_into(self, src, out):
        """``out[:] =`` repair symbols of ``src``: uint8 arrays ``(k, L)`` -> ``(m, L)``."""
        if src.shape[0] != self.k or out.shape != (self.m, src.shape[1]):
            raise ValueError(f"need src ({self.k}, L) and out ({self.m}, L), got {src.shape}, {out.shape}")
        _matmul(self.generator, src, out)
        return out

    def encode_batch(self, data):
        """Repair symbols of many blocks at once: uint8 ``(B, k, L)`` -> ``(B, m, L)``."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        if data.ndim != 3 or data.shape[1] != self.k:
            raise ValueError(f"encode_batch needs shape (blocks, {self.k}, length), got {data.shape}")
        out = np.empty((data.shape[0], self.m, data.shape[2]), dtype=np.uint8)
        _matmul_batch(self.generator, data, out)
        return out

    # ------------------------------------------------------------------ decode
    def decode_matrix(self, indices):
        """``(missing, rows)`` for received symbol ``indices`` (k of them, in the order given).

        ``missing`` are the data indices not received; ``rows @ received``
        gives them. Cached per pattern.
        """
        key = tuple(indices)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        k = self.k
        if len(key) != k:
            raise ValueError(f"RS({k}+{self.m}) decodes from exactly {k} symbols, got {len(key)}")
        seen = set()
        for i in key:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < k + self.m:
                raise ValueError(f"symbol index must be an integer in [0, {k + self.m - 1}], got {i!r}")
            if i in seen:
                raise ValueError(f"symbol index {i} given twice")
            seen.add(int(i))
        missing = tuple(j for j in range(k) if j not in seen)
        rows = np.ascontiguousarray(invert(self._full[list(key)])[list(missing)]) if missing \
            else np.zeros((0, k), np.uint8)
        rows.setflags(write=False)
        hit = (missing, rows)
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)), None)
            self._cache[key] = hit
        return hit

    def decode(self, blocks, indices):
        """Missing data symbols ``{index: bytes}`` from any ``k`` received symbols and their indices."""
        missing, rows = self.decode_matrix(indices)
        if not missing:
            return {}
        src, out, n = self._load(blocks, "decodes from")
        _matmul(rows, src, out)                # writes the first len(missing) rows of out
        flat = out.tobytes()
        return {j: flat[i * n:(i + 1) * n] for i, j in enumerate(missing)}

    def decode_into(self, src, indices, out):
        """Array form of ``decode``: ``src (k, L)`` received in ``indices`` order, ``out (e, L)``.

        Returns the missing data indices, in the order of ``out``'s rows.
        """
        missing, rows = self.decode_matrix(indices)
        if src.shape[0] != self.k or out.shape != (len(missing), src.shape[1]):
            raise ValueError(f"need src ({self.k}, L) and out ({len(missing)}, L), got {src.shape}, {out.shape}")
        _matmul(rows, src, out)
        return missing

    def decode_batch(self, received, indices):
        """Decode many blocks that share one erasure pattern.

        ``received`` is uint8 ``(B, k, L)``, symbol ``i`` of every block being
        ``indices[i]``. Returns ``(missing, out)``, ``out`` of shape ``(B, e, L)``.
        """
        missing, rows = self.decode_matrix(indices)
        received = np.ascontiguousarray(received, dtype=np.uint8)
        if received.ndim != 3 or received.shape[1] != self.k:
            raise ValueError(f"decode_batch needs shape (blocks, {self.k}, length), got {received.shape}")
        out = np.empty((received.shape[0], len(missing), received.shape[2]), dtype=np.uint8)
        if missing:
            _matmul_batch(rows, received, out)
        return missing, out
