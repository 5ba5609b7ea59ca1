"""IMA/DVI ADPCM (RFC 3551 4.5.1 "DVI4") for redundant copies: 4 bits per sample.

The IMA ADPCM algorithm (Interactive Multimedia Association, "Recommended
Practices for Enhancing Digital Audio Compatibility in Multimedia Systems",
1992), packed as RFC 3551's DVI4 payload. A payload is one block::

    offset 0  int16 predictor, big-endian: the decoder's predicted value before the first sample
           2  uint8 step index (0..88)
           3  uint8 reserved (0)
           4  the samples' 4-bit codes, two per byte, the first sample in the high nibble

so ``4 + n / 2`` bytes for ``n`` (even) samples, a quarter of L16 plus the
header. Decoding one code ``c`` (sign bit 8, magnitude bits 4, 2, 1) with the
state (``pred``, ``index``), ``step = STEP[index]``::

    diff = step >> 3  (+ step if c & 4) (+ step >> 1 if c & 2) (+ step >> 2 if c & 1)
    pred = clip(pred - diff if c & 8 else pred + diff, -32768, 32767)
    index = clip(index + INDEX[c & 7], 0, 88)

with the published tables (``STEP``: 89 steps 7 .. 32767, ~1.1x apart;
``INDEX``: -1, -1, -1, -1, 2, 4, 6, 8). The encoder picks the code by the
IMA successive comparisons of ``|x - pred|`` with ``step``, ``step >> 1``,
``step >> 2`` and keeps the decoder's state, so its reconstruction is
bit-exact what the decoder outputs.

Every block carries the state it starts from, so each decodes on its own
(a redundant copy must: the packets around it may be lost). The encoder is
free to choose that state: it starts each block at its first sample
(``pred = x[0]``) with the step index, of all 89, that codes the block with
the least squared error (on speech ~1 dB better than carrying the state of
a continuous stream, whose step lags at a block start).

``decode`` is strict: only ``fec.packet.PacketError`` (reason ``payload``)
for a payload that is not bytes, shorter than the header, with a step
index above 88 or a reserved byte that is not zero (RFC 3551 lets a
receiver ignore it; this is a private redundant format, so anything but
the sender's zero is rejected).
"""
import numpy as np

from ._jit import kernel
from .packet import PAYLOAD, PacketError
from .payload import _pcm16, deliver, payload_buffer

__all__ = ["STEP_TABLE", "INDEX_TABLE", "DviAdpcm", "DVI4", "HEADER_BYTES"]

HEADER_BYTES = 4

STEP_TABLE = np.array([
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17,
    19, 21, 23, 25, 28, 31, 34, 37, 41, 45,
    50, 55, 60, 66, 73, 80, 88, 97, 107, 118,
    130, 143, 157, 173, 190, 209, 230, 253, 279, 307,
    337, 371, 408, 449, 494, 544, 598, 658, 724, 796,
    876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
    2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358,
    5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899,
    15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767], dtype=np.int64)
INDEX_TABLE = np.array([-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8], dtype=np.int64)
MAX_INDEX = 88


@kernel
def _advance(pred, index, code, vpdiff, indices):
    """The IMA state update shared by coder and decoder: pred -/+ vpdiff (sign bit 8) clipped
    to int16, index + indices[code] clipped to [0, 88]; returns (pred, index)."""
    pred = pred - vpdiff if code & 8 else pred + vpdiff
    if pred > 32767:
        pred = 32767
    elif pred < -32768:
        pred = -32768
    index += indices[code]
    if index < 0:
        index = 0
    elif index > MAX_INDEX:
        index = MAX_INDEX
    return pred, index


@kernel
def _encode_block(s, pred, index, steps, indices, out, recon):
    """Code int16 samples ``s`` from state (pred, index) into ``out`` (nibbles packed, high first);
    ``recon`` receives the decoder's output. Returns (pred, index, squared error)."""
    err = 0.0
    for i in range(s.shape[0]):
        step = steps[index]
        diff = np.int64(s[i]) - pred
        code = 0
        if diff < 0:
            code = 8
            diff = -diff
        vpdiff = step >> 3
        if diff >= step:
            code |= 4
            diff -= step
            vpdiff += step
        half = step >> 1
        if diff >= half:
            code |= 2
            diff -= half
            vpdiff += half
        quarter = step >> 2
        if diff >= quarter:
            code |= 1
            vpdiff += quarter
        pred, index = _advance(pred, index, code, vpdiff, indices)
        recon[i] = pred
        e = np.float64(pred - np.int64(s[i]))
        err += e * e
        if i & 1:
            out[i >> 1] |= code
        else:
            out[i >> 1] = code << 4
    return pred, index, err


@kernel
def _decode_block(codes, n, pred, index, steps, indices, out):
    """Decode ``n`` samples from packed nibbles, state (pred, index), into float32 ``out``."""
    for i in range(n):
        b = np.int64(codes[i >> 1])
        code = (b & 0x0F) if i & 1 else (b >> 4)
        step = steps[index]
        vpdiff = step >> 3
        if code & 4:
            vpdiff += step
        if code & 2:
            vpdiff += step >> 1
        if code & 1:
            vpdiff += step >> 2
        pred, index = _advance(pred, index, code, vpdiff, indices)
        out[i] = np.float32(pred * (1.0 / 32768.0))


@kernel
def _to_int16(x, out):
    for i in range(x.shape[0]):
        out[i] = _pcm16(x[i])


@kernel
def _best_start(s, steps, indices, codes, recon):
    """Step index (scan of all 89) that codes ``s`` with the least squared error from pred = s[0]."""
    best, best_err = 0, np.inf
    for index in range(89):
        _, _, err = _encode_block(s, np.int64(s[0]), index, steps, indices, codes, recon)
        if err < best_err:
            best, best_err = index, err
    return best


def _check_len(n):
    n = int(n)
    if n < 0 or n % 2:
        raise ValueError(f"DVI4 blocks hold an even number of samples, got {n}")
    return n


class DviAdpcm:
    """IMA/DVI ADPCM blocks (see the module docstring); ``encode``/``decode`` like ``PayloadFormat``.

    Stateless: every frame is coded from ``pred = x[0]`` and the step index
    (scan of all 89) with the least squared error, so each block's header
    sends its first sample exactly.
    """

    name = "DVI4"
    bits_per_sample = 4

    def payload_len(self, n_samples):
        return HEADER_BYTES + _check_len(n_samples) // 2

    def encode(self, frame, out=None):
        x = np.ascontiguousarray(frame, dtype=np.float32).reshape(-1)
        n = _check_len(x.size)
        s = np.empty(n, np.int16)
        _to_int16(x, s)
        codes = np.empty(n // 2, np.uint8)
        pred = index = 0
        if n:
            recon = np.empty(n, np.int64)
            pred = int(s[0])
            index = int(_best_start(s, STEP_TABLE, INDEX_TABLE, codes, recon))
            _encode_block(s, np.int64(pred), np.int64(index), STEP_TABLE, INDEX_TABLE, codes, recon)
        data = (pred & 0xFFFF).to_bytes(2, "big") + bytes((index, 0)) + codes.tobytes()
        return deliver(data, out)

    def decode(self, payload, out=None):
        buf = payload_buffer(payload)
        if buf.size < HEADER_BYTES:
            raise PacketError(PAYLOAD, f"DVI4 payload of {buf.size} bytes is shorter than its "
                                       f"{HEADER_BYTES}-byte header")
        pred = (int(buf[0]) << 8) | int(buf[1])
        if pred >= 32768:
            pred -= 65536
        index = int(buf[2])
        if index > MAX_INDEX:
            raise PacketError(PAYLOAD, f"DVI4 step index {index} is above {MAX_INDEX}")
        if buf[3] != 0:
            raise PacketError(PAYLOAD, f"DVI4 reserved byte is {int(buf[3])}, not 0")
        n = 2 * (buf.size - HEADER_BYTES)
        if out is None:
            out = np.empty(n, np.float32)
        elif out.dtype != np.float32 or out.shape != (n,):
            raise ValueError(f"out must be a float32 array of {n} samples, got {out.dtype} {out.shape}")
        if n:
            _decode_block(buf[HEADER_BYTES:], n, np.int64(pred), np.int64(index), STEP_TABLE, INDEX_TABLE, out)
        return out


DVI4 = DviAdpcm()
