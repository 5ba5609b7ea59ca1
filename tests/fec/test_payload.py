"""L16 and G.711 payloads: bit-exact against references written from the G.711 tables."""
import warnings

import numpy as np
import pytest

from fec.packet import PAYLOAD, PacketError
from fec.payload import (FORMATS, L16, PCMA, PCMU, alaw_decode_int16, alaw_encode_int16,
                         float_to_int16, int16_to_float, ulaw_decode_int16, ulaw_encode_int16)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_CODES = np.arange(256, dtype=np.uint8)


# ----------------------------------------------------------------------------- references (plain numpy)
# G.711 works on sign + magnitude: μ-law on 14-bit, A-law on 13-bit linear samples.
# The 16-bit sample's magnitude is s for s >= 0 and ~s = -s - 1 below (the ITU-T G.191
# reference convention), truncated to the law's resolution. Codes are indexed 16 e + m
# (segment e, step m) in order of increasing magnitude.

def ulaw_levels():
    """(decision lower bounds, decoded values), 14-bit units, for index 16 e + m (G.711 table 2a)."""
    e, m = np.divmod(np.arange(128), 16)
    lower = np.maximum((16 + m) * 2 ** (e + 1) - 33, 0)
    value = (2 * m + 33) * 2 ** e - 33
    return lower, value


def alaw_levels():
    """(decision lower bounds, decoded values), 13-bit units, for index 16 e + m (G.711 table 1a)."""
    e, m = np.divmod(np.arange(128), 16)
    lower = np.where(e == 0, 2 * m, (16 + m) * 2 ** e)
    value = np.where(e == 0, 2 * m + 1, (2 * m + 33) * 2 ** np.maximum(e - 1, 0))
    return lower, value


def reference_ulaw_decode(codes):
    _, value = ulaw_levels()
    u = ~codes.astype(np.int64) & 0xFF          # μ-law bytes are sent inverted
    sign = np.where(u & 0x80, -1, 1)
    return sign * 4 * value[u & 0x7F]


def reference_alaw_decode(codes):
    _, value = alaw_levels()
    a = codes.astype(np.int64) ^ 0x55           # A-law inverts the even bits
    sign = np.where(a & 0x80, 1, -1)
    return sign * 8 * value[a & 0x7F]


def reference_ulaw_encode(s):
    lower, _ = ulaw_levels()
    mag = np.where(s < 0, -s - 1, s) >> 2
    index = np.searchsorted(lower, mag, side="right") - 1
    return (index ^ np.where(s < 0, 0x7F, 0xFF)).astype(np.uint8)


def reference_alaw_encode(s):
    lower, _ = alaw_levels()
    mag = np.where(s < 0, -s - 1, s) >> 3
    index = np.searchsorted(lower, mag, side="right") - 1
    return ((index | np.where(s < 0, 0, 0x80)) ^ 0x55).astype(np.uint8)


# ----------------------------------------------------------------------------- G.711

def test_ulaw_decode_all_codes_matches_formula():
    got = ulaw_decode_int16(ALL_CODES).astype(np.int64)
    np.testing.assert_array_equal(got, reference_ulaw_decode(ALL_CODES))
    assert got[0x80] == 32124 and got[0x00] == -32124 and got[0xFF] == 0 and got[0x7F] == 0
    assert got[0xFE] == 8 and got[0x7E] == -8


def test_alaw_decode_all_codes_matches_formula():
    got = alaw_decode_int16(ALL_CODES).astype(np.int64)
    np.testing.assert_array_equal(got, reference_alaw_decode(ALL_CODES))
    assert got[0xAA] == 32256 and got[0x2A] == -32256 and got[0xD5] == 8 and got[0x55] == -8


def test_ulaw_encode_all_int16_matches_reference():
    got = ulaw_encode_int16(ALL_INT16.astype(np.int16))
    np.testing.assert_array_equal(got, reference_ulaw_encode(ALL_INT16))


def test_alaw_encode_all_int16_matches_reference():
    got = alaw_encode_int16(ALL_INT16.astype(np.int16))
    np.testing.assert_array_equal(got, reference_alaw_encode(ALL_INT16))


def test_decode_encode_is_identity_on_codes():
    """Every decoded level re-encodes to its own code (except μ-law's negative zero, 0x7F -> 0xFF)."""
    u = ulaw_encode_int16(ulaw_decode_int16(ALL_CODES))
    expected = ALL_CODES.copy()
    expected[0x7F] = 0xFF
    np.testing.assert_array_equal(u, expected)
    np.testing.assert_array_equal(alaw_encode_int16(alaw_decode_int16(ALL_CODES)), ALL_CODES)


def test_alaw_matches_audioop_when_available():
    """Cross-check against CPython's audioop (Sun g711.c; its A-law is G.191's, its μ-law is not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    s = ALL_INT16.astype(np.int16)
    ref = np.frombuffer(audioop.lin2alaw(s.tobytes(), 2), np.uint8)
    np.testing.assert_array_equal(alaw_encode_int16(s), ref)
    ref = np.frombuffer(audioop.alaw2lin(ALL_CODES.tobytes(), 2), np.int16)
    np.testing.assert_array_equal(alaw_decode_int16(ALL_CODES), ref)
    ref = np.frombuffer(audioop.ulaw2lin(ALL_CODES.tobytes(), 2), np.int16)
    np.testing.assert_array_equal(ulaw_decode_int16(ALL_CODES), ref)
    # Sun's μ-law encoder negates (s >> 2) for negative samples, G.191 takes ~s >> 2: they
    # agree on every non-negative sample and differ on the negative ones just below a decision value.
    ref = np.frombuffer(audioop.lin2ulaw(s.tobytes(), 2), np.uint8)
    differ = ulaw_encode_int16(s) != ref
    assert not differ[ALL_INT16 >= 0].any()
    assert 0 < differ.sum() < 600


def test_g711_snr_on_a_tone():
    """G.711 gives ~38 dB SNR on a loud sine (about 6 dB per bit of its 7-bit mantissa+segment)."""
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for fmt in (PCMU, PCMA):
        y = fmt.decode(fmt.encode(x))
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
        assert 35 < snr < 42, (fmt.name, snr)


# ----------------------------------------------------------------------------- L16 and float frames

def test_l16_is_big_endian_int16():
    x = np.array([0.0, 0.5, -0.5, -1.0, 1.0, 1.0 / 32768, -1.0 / 32768, np.nan], np.float32)
    data = L16.encode(x)
    np.testing.assert_array_equal(np.frombuffer(data, ">i2"), [0, 16384, -16384, -32768, 32767, 1, -1, 0])
    assert data[:4] == b"\x00\x00\x40\x00"


def test_l16_round_trip_is_exact_on_the_int16_grid():
    s = ALL_INT16.astype(np.int16)
    x = int16_to_float(s)
    np.testing.assert_array_equal(float_to_int16(x), s)
    np.testing.assert_array_equal(L16.decode(L16.encode(x)), x)
    np.testing.assert_array_equal(np.frombuffer(L16.encode(x), ">i2"), s)


def test_float_to_int16_rounds_and_saturates():
    x = np.array([0.4 / 32768, 0.6 / 32768, -0.6 / 32768, 2.0, -2.0, np.inf, -np.inf], np.float32)
    np.testing.assert_array_equal(float_to_int16(x), [0, 1, -1, 32767, -32768, 32767, -32768])


def test_formats_decode_into_preallocated_buffers():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.9, 0.9, 480).astype(np.float32)
    for fmt in FORMATS.values():
        payload = np.empty(fmt.payload_len(480), np.uint8)
        assert fmt.encode(x, out=payload) is payload
        out = np.empty(480, np.float32)
        assert fmt.decode(payload.tobytes(), out=out) is out
        np.testing.assert_array_equal(out, fmt.decode(fmt.encode(x)))
        assert np.max(np.abs(out - x)) < (1.6e-5 if fmt is L16 else 0.02)


def test_bad_payloads_raise_packet_error():
    with pytest.raises(PacketError) as info:
        L16.decode(b"\x00\x01\x02")
    assert info.value.reason == PAYLOAD
    with pytest.raises(PacketError):
        PCMU.decode("not bytes")
    assert PCMA.decode(b"").size == 0


def test_bad_frames_raise_value_error():
    with pytest.raises(ValueError, match="float32"):
        L16.encode(np.zeros(10))
    with pytest.raises(ValueError, match="int16"):
        ulaw_encode_int16(np.zeros(10, np.int32))
