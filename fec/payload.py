"""RTP audio payload formats: L16 (RFC 3551 4.5.11) and G.711 μ-law / A-law (PCMU / PCMA).

Frames at the API are float32 in [-1, 1) (what audio3a stages use); the
formats carry 16-bit linear samples as follows:

* int16 from float: ``s = clip(rint(32768 x), -32768, 32767)`` (NaN -> 0);
  float from int16: ``x = s / 32768``.
* L16: each int16 sample big-endian (network order), 2 bytes per sample.
* G.711 μ-law, one byte per sample. With ``mag = s`` for ``s >= 0`` and
  ``mag = ~s = -s - 1`` below (ITU-T G.191 reference, one's complement), the
  biased magnitude ``b = mag + 132`` gives segment ``e = floor(log2 b) - 7``
  (0..7, clipped) and step ``m = (b >> (e + 3)) & 15``; the byte is
  ``(e << 4 | m) ^ 0xFF`` for ``s >= 0`` and ``^ 0x7F`` below. Decoding::

      s = ±((8 m + 132) << e) - 132      (sign + if bit 7 of the byte is set)

* G.711 A-law, one byte per sample: ``i = mag >> 4`` (0..2047); below 16 the
  code is ``i`` (segment 0), else segment ``e >= 1`` with ``16 << (e-1) <= i <
  32 << (e-1)`` and step ``m = (i >> (e-1)) - 16``; bit 7 is the sign (set for
  ``s >= 0``) and the even bits are inverted (``^ 0x55``). Decoding::

      s = ±(16 m + 8)                    (e = 0)
      s = ±((16 (m + 16) + 8) << (e-1))  (e >= 1)

Both are the quantisers of ITU-T G.711 tables 1a/2a (the decode values are
the table's), bit-exact with the ITU-T G.191 reference software. G.711 is
specified at 8 kHz; here the byte mapping is applied at whatever rate the
frames have (the payload type numbers 0 and 8 are then not the RFC 3551
static ones: signal the rate with a dynamic payload type).
"""
from dataclasses import dataclass

import numpy as np

from ._jit import kernel
from .packet import PAYLOAD, PacketError

__all__ = ["PayloadFormat", "L16", "PCMU", "PCMA", "FORMATS",
           "float_to_int16", "int16_to_float",
           "ulaw_encode_int16", "ulaw_decode_int16", "alaw_encode_int16", "alaw_decode_int16"]


# ----------------------------------------------------------------------------- scalar kernels

@kernel
def _pcm16(x):
    """float sample -> int16 value (round half to even, saturate, NaN -> 0)."""
    v = np.float64(x) * 32768.0
    if not (v == v):
        return 0
    v = np.rint(v)
    if v > 32767.0:
        return 32767
    if v < -32768.0:
        return -32768
    return int(v)


@kernel
def _ulaw_byte(s):
    if s < 0:
        mag = -s - 1
        mask = 0x7F
    else:
        mag = s
        mask = 0xFF
    biased = mag + 0x84
    seg = 0
    t = biased >> 8
    while t:
        seg += 1
        t >>= 1
    if seg > 7:
        return mask ^ 0x7F
    return mask ^ ((seg << 4) | ((biased >> (seg + 3)) & 0x0F))


@kernel
def _ulaw_value(code):
    u = ~code & 0xFF
    seg = (u >> 4) & 0x07
    t = (((u & 0x0F) << 3) + 0x84) << seg
    if u & 0x80:
        return 0x84 - t
    return t - 0x84


@kernel
def _alaw_byte(s):
    if s < 0:
        ix = (-s - 1) >> 4
        sign = 0
    else:
        ix = s >> 4
        sign = 0x80
    if ix > 15:
        seg = 1
        while ix > 31:
            ix >>= 1
            seg += 1
        ix = (seg << 4) | (ix - 16)
    return (ix | sign) ^ 0x55


@kernel
def _alaw_value(code):
    ix = (code ^ 0x55) & 0x7F
    seg = ix >> 4
    mant = ix & 0x0F
    if seg > 0:
        mant += 16
    mant = (mant << 4) + 8
    if seg > 1:
        mant <<= seg - 1
    if code & 0x80:
        return mant
    return -mant


# ----------------------------------------------------------------------------- array kernels (write in place)

@kernel
def float_to_int16_kernel(x, out):
    for i in range(x.shape[0]):
        out[i] = _pcm16(x[i])


@kernel
def int16_to_float_kernel(s, out):
    for i in range(s.shape[0]):
        out[i] = np.float32(s[i] * (1.0 / 32768.0))


@kernel
def ulaw_encode_kernel(s, out):
    for i in range(s.shape[0]):
        out[i] = _ulaw_byte(np.int64(s[i]))


@kernel
def ulaw_decode_kernel(codes, out):
    for i in range(codes.shape[0]):
        out[i] = _ulaw_value(np.int64(codes[i]))


@kernel
def alaw_encode_kernel(s, out):
    for i in range(s.shape[0]):
        out[i] = _alaw_byte(np.int64(s[i]))


@kernel
def alaw_decode_kernel(codes, out):
    for i in range(codes.shape[0]):
        out[i] = _alaw_value(np.int64(codes[i]))


@kernel
def l16_pack_kernel(x, out):
    """float32 frame -> big-endian int16 bytes."""
    for i in range(x.shape[0]):
        s = _pcm16(x[i]) & 0xFFFF
        out[2 * i] = s >> 8
        out[2 * i + 1] = s & 0xFF


@kernel
def l16_unpack_kernel(b, out):
    """big-endian int16 bytes -> float32 frame."""
    for i in range(out.shape[0]):
        s = (np.int64(b[2 * i]) << 8) | np.int64(b[2 * i + 1])
        if s >= 32768:
            s -= 65536
        out[i] = np.float32(s * (1.0 / 32768.0))


@kernel
def ulaw_pack_kernel(x, out):
    for i in range(x.shape[0]):
        out[i] = _ulaw_byte(_pcm16(x[i]))


@kernel
def ulaw_unpack_kernel(b, out):
    for i in range(out.shape[0]):
        out[i] = np.float32(_ulaw_value(np.int64(b[i])) * (1.0 / 32768.0))


@kernel
def alaw_pack_kernel(x, out):
    for i in range(x.shape[0]):
        out[i] = _alaw_byte(_pcm16(x[i]))


@kernel
def alaw_unpack_kernel(b, out):
    for i in range(out.shape[0]):
        out[i] = np.float32(_alaw_value(np.int64(b[i])) * (1.0 / 32768.0))


# ----------------------------------------------------------------------------- int16 helpers

def _int16(x):
    x = np.asarray(x)
    if x.dtype != np.int16 or x.ndim != 1:
        raise ValueError(f"expected a 1-D int16 array, got {x.dtype} with shape {x.shape}")
    return np.ascontiguousarray(x)


def _codes(codes):
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 1:
        raise ValueError(f"expected a 1-D uint8 array of G.711 bytes, got {codes.dtype} with shape {codes.shape}")
    return np.ascontiguousarray(codes)


def _float32(x):
    x = np.asarray(x)
    if x.dtype != np.float32 or x.ndim != 1:
        raise ValueError(f"expected a 1-D float32 frame, got {x.dtype} with shape {x.shape} "
                         f"(mono frames only; convert with .astype(np.float32))")
    return np.ascontiguousarray(x)


def float_to_int16(x):
    """float32 frame -> int16 samples, ``clip(rint(32768 x))``."""
    x = _float32(x)
    out = np.empty(x.size, np.int16)
    float_to_int16_kernel(x, out)
    return out


def int16_to_float(s):
    """int16 samples -> float32 frame, ``s / 32768``."""
    s = _int16(s)
    out = np.empty(s.size, np.float32)
    int16_to_float_kernel(s, out)
    return out


def ulaw_encode_int16(s):
    """int16 samples -> G.711 μ-law bytes (uint8 array)."""
    s = _int16(s)
    out = np.empty(s.size, np.uint8)
    ulaw_encode_kernel(s, out)
    return out


def ulaw_decode_int16(codes):
    """G.711 μ-law bytes (uint8 array) -> int16 samples."""
    codes = _codes(codes)
    out = np.empty(codes.size, np.int16)
    ulaw_decode_kernel(codes, out)
    return out


def alaw_encode_int16(s):
    """int16 samples -> G.711 A-law bytes (uint8 array)."""
    s = _int16(s)
    out = np.empty(s.size, np.uint8)
    alaw_encode_kernel(s, out)
    return out


def alaw_decode_int16(codes):
    """G.711 A-law bytes (uint8 array) -> int16 samples."""
    codes = _codes(codes)
    out = np.empty(codes.size, np.int16)
    alaw_decode_kernel(codes, out)
    return out


def payload_buffer(payload) -> np.ndarray:
    """``payload`` (bytes-like or a uint8 array) as a contiguous 1-D uint8 array; ``PacketError`` otherwise."""
    if isinstance(payload, np.ndarray):
        if payload.dtype != np.uint8:
            raise PacketError(PAYLOAD, f"payload array must be uint8, got {payload.dtype}")
        return np.ascontiguousarray(payload.reshape(-1))
    try:
        return np.frombuffer(payload, np.uint8)
    except (TypeError, ValueError, BufferError):
        raise PacketError(PAYLOAD, f"payload must be bytes, got {type(payload).__name__}") from None


def deliver(data, out=None):
    """Encoded ``data`` (bytes, or a uint8 array) as bytes, or written into the uint8 buffer ``out``
    (of exactly its size) and returned."""
    if out is None:
        return data if isinstance(data, bytes) else data.tobytes()
    if out.dtype != np.uint8 or out.shape != (len(data),):
        raise ValueError(f"out must be a uint8 array of {len(data)} bytes, got {out.dtype} {out.shape}")
    out[:] = np.frombuffer(data, np.uint8)
    return out


# ----------------------------------------------------------------------------- formats

@dataclass(frozen=True)
class PayloadFormat:
    """A sample format for RTP payloads: float32 frames <-> payload bytes.

    ``static_payload_type`` is the RFC 3551 number at its defined rate
    (8 kHz for PCMU/PCMA; L16 mono is 11 at 44.1 kHz only): for other rates
    use a dynamic type (96-127).
    """

    name: str
    bytes_per_sample: int
    static_payload_type: int
    _pack: object
    _unpack: object

    def payload_len(self, n_samples):
        return self.bytes_per_sample * int(n_samples)

    def encode(self, frame, out=None):
        """float32 frame -> payload bytes (``out``: optional uint8 buffer written in place and returned)."""
        frame = _float32(frame)
        size = self.bytes_per_sample * frame.size
        if out is None:
            buf = np.empty(size, np.uint8)
            self._pack(frame, buf)
            return buf.tobytes()
        if out.dtype != np.uint8 or out.shape != (size,):
            raise ValueError(f"out must be a uint8 array of {size} bytes, got {out.dtype} {out.shape}")
        self._pack(frame, out)
        return out

    def decode(self, payload, out=None):
        """Payload bytes -> float32 frame; ``PacketError(reason='payload')`` if not whole samples."""
        buf = payload_buffer(payload)
        if buf.size % self.bytes_per_sample:
            raise PacketError(PAYLOAD, f"{self.name} payload of {buf.size} bytes is not a whole number "
                                       f"of {self.bytes_per_sample}-byte samples")
        n = buf.size // self.bytes_per_sample
        if out is None:
            out = np.empty(n, np.float32)
        elif out.dtype != np.float32 or out.shape != (n,):
            raise ValueError(f"out must be a float32 array of {n} samples, got {out.dtype} {out.shape}")
        self._unpack(buf, out)
        return out


L16 = PayloadFormat("L16", 2, 11, l16_pack_kernel, l16_unpack_kernel)
PCMU = PayloadFormat("PCMU", 1, 0, ulaw_pack_kernel, ulaw_unpack_kernel)
PCMA = PayloadFormat("PCMA", 1, 8, alaw_pack_kernel, alaw_unpack_kernel)
FORMATS = {f.name: f for f in (L16, PCMU, PCMA)}
