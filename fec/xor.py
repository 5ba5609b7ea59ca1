"""XOR parity over groups of k packets, with optional interleaving (RFC 5109 / RFC 8627 style).

One parity symbol protects ``k`` equal-length data symbols::

    parity = d_0 ^ d_1 ^ ... ^ d_{k-1}

and recovers any single missing one as the XOR of the parity and the other
``k - 1``. It is the ``m = 1`` maximum-distance-separable code (identical to
``fec.rs.ReedSolomon(k, 1)``), at the cost of XORs only.

Interleave depth ``d`` (the column-wise FEC of RFC 8627): a group of ``k d``
consecutive packets gets ``d`` parities, parity ``i`` covering the group's
packets ``i, i + d, ..., i + (k - 1) d``. Overhead stays ``1 / k`` but a
burst of up to ``d`` consecutive losses hits each parity's set at most once
and is repaired, at the price of waiting for the whole group (``k d - 1``
packets of added delay instead of ``k - 1``).

``XorParity`` has the same interface as ``ReedSolomon`` (symbol indices
``0..k-1`` data, ``k`` the parity) so the repair layer drives either.
"""
import numpy as np

from ._jit import kernel

__all__ = ["XorParity", "xor_parity", "interleave_members", "encode_interleaved"]


@kernel
def _xor_rows(src, out):
    """``out = src[0] ^ src[1] ^ ...`` (src (k, L), out (L,))."""
    n = src.shape[1]
    out[:] = src[0]
    for j in range(1, src.shape[0]):
        s = src[j]
        for i in range(n):
            out[i] ^= s[i]


@kernel
def _xor_rows_batch(src, out):
    """Per block ``b``: ``out[b] = XOR of src[b]`` (src (B, k, L), out (B, L))."""
    for b in range(src.shape[0]):
        _xor_rows(src[b], out[b])


def xor_parity(symbols):
    """The XOR of equal-length byte strings, as bytes."""
    joined = b"".join(symbols)
    n = len(symbols[0]) if symbols else 0
    if not symbols or any(len(s) != n for s in symbols):
        raise ValueError("xor_parity needs one or more byte strings of the same length")
    out = np.empty(n, dtype=np.uint8)
    _xor_rows(np.frombuffer(joined, dtype=np.uint8).reshape(len(symbols), n), out)
    return out.tobytes()


class XorParity:
    """Single-parity code over ``k`` data symbols (indices ``0..k-1`` data, ``k`` parity)."""

    __slots__ = ("k", "m")

    def __init__(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 254:
            raise ValueError(f"XOR parity needs an integer k in [1, 254], got {k!r}")
        self.k = int(k)
        self.m = 1

    def __repr__(self):
        return f"XorParity(k={self.k})"

    def encode(self, data):
        """``[parity]`` of ``k`` equal-length data symbols."""
        if len(data) != self.k:
            raise ValueError(f"XOR({self.k}) encodes exactly {self.k} data symbols, got {len(data)}")
        return [xor_parity(data)]

    def encode_into(self, src, out):
        """``out[0] =`` parity of ``src`` (uint8 ``(k, L)`` -> ``(1, L)``)."""
        if src.shape[0] != self.k or out.shape != (1, src.shape[1]):
            raise ValueError(f"need src ({self.k}, L) and out (1, L), got {src.shape}, {out.shape}")
        _xor_rows(src, out[0])
        return out

    def encode_batch(self, data):
        """Parities of many blocks: uint8 ``(B, k, L)`` -> ``(B, 1, L)``."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        if data.ndim != 3 or data.shape[1] != self.k:
            raise ValueError(f"encode_batch needs shape (blocks, {self.k}, length), got {data.shape}")
        out = np.empty((data.shape[0], 1, data.shape[2]), dtype=np.uint8)
        _xor_rows_batch(data, out[:, 0, :])
        return out

    def _missing(self, indices):
        key = [int(i) for i in indices]
        if len(key) != self.k or len(set(key)) != self.k or not all(0 <= i <= self.k for i in key):
            raise ValueError(f"XOR({self.k}) decodes from {self.k} distinct indices in [0, {self.k}], "
                             f"got {tuple(indices)!r}")
        return tuple(j for j in range(self.k) if j not in key)

    def decode(self, blocks, indices):
        """Missing data symbol ``{index: bytes}`` from any ``k`` of the ``k + 1`` symbols."""
        missing = self._missing(indices)
        if not missing:
            return {}
        return {missing[0]: xor_parity(blocks)}

    def decode_into(self, src, indices, out):
        """Array form of ``decode``; returns the missing data indices (0 or 1 of them)."""
        missing = self._missing(indices)
        if missing:
            _xor_rows(src, out[0])
        return missing

    def decode_batch(self, received, indices):
        """Decode many blocks sharing one erasure pattern: ``(missing, out (B, e, L))``."""
        missing = self._missing(indices)
        received = np.ascontiguousarray(received, dtype=np.uint8)
        out = np.empty((received.shape[0], len(missing), received.shape[2]), dtype=np.uint8)
        if missing:
            _xor_rows_batch(received, out[:, 0, :])
        return missing, out


def interleave_members(k, d):
    """``(d, k)`` group positions covered by each parity: row ``i`` is ``i, i + d, ..., i + (k-1) d``."""
    if k < 1 or d < 1:
        raise ValueError(f"need k >= 1 and interleave d >= 1, got k={k}, d={d}")
    return np.arange(d)[:, None] + d * np.arange(k)[None, :]


def encode_interleaved(symbols, k, d):
    """The ``d`` parities of a group of ``k d`` equal-length symbols (parity ``i`` over ``i::d``)."""
    if len(symbols) != k * d:
        raise ValueError(f"an interleaved XOR group is k*d = {k * d} symbols, got {len(symbols)}")
    return [xor_parity(symbols[i::d]) for i in range(d)]
