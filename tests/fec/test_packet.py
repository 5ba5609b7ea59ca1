"""RTP pack/parse (RFC 3550 5.1), hostile input, and sequence/timestamp unwrapping."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fec.packet import (CSRC, EXTENSION, NOT_BYTES, PADDING, REASONS, TRUNCATED, VERSION, PacketError,
                        RtpPacket, SequenceUnwrapper, TimestampUnwrapper)


def full_packet():
    return RtpPacket(payload_type=96, sequence=65535, timestamp=0xFFFFFFF0, ssrc=0x12345678,
                     payload=b"\x01\x02\x03voice", marker=True, csrcs=(7, 0xFFFFFFFF),
                     extension=(0xBEDE, b"\x10\xaa\x00\x00"), padding=3)


def test_known_bytes_of_a_minimal_packet():
    data = RtpPacket(0, 1, 160, 0xDEADBEEF, b"\xff" * 4).pack()
    assert data == bytes.fromhex("80000001000000a0deadbeef") + b"\xff" * 4
    pkt = RtpPacket.parse(data)
    assert (pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc) == (0, 1, 160, 0xDEADBEEF)
    assert not pkt.marker and pkt.csrcs == () and pkt.extension is None and pkt.padding == 0


def test_round_trip_with_every_optional_part():
    pkt = full_packet()
    data = pkt.pack()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2 and data[1] == 0x80 | 96
    assert len(data) == 12 + 8 + 4 + 4 + 8 + 3 and data[-1] == 3
    back = RtpPacket.parse(data)
    assert back == pkt
    assert back.pack() == data
    assert RtpPacket.parse(bytearray(data)) == pkt
    assert RtpPacket.parse(memoryview(data)) == pkt


@settings(max_examples=300, deadline=None)
@given(pt=st.integers(0, 127), seq=st.integers(0, 65535), ts=st.integers(0, 2**32 - 1),
       ssrc=st.integers(0, 2**32 - 1), payload=st.binary(max_size=300), marker=st.booleans(),
       csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15),
       ext=st.one_of(st.none(), st.tuples(st.integers(0, 65535), st.binary(max_size=40).map(
           lambda b: b[: len(b) // 4 * 4]))),
       padding=st.integers(0, 255))
def test_round_trip_property(pt, seq, ts, ssrc, payload, marker, csrcs, ext, padding):
    pkt = RtpPacket(pt, seq, ts, ssrc, payload, marker, csrcs, ext, padding)
    assert RtpPacket.parse(pkt.pack()) == pkt


def reason_of(data):
    with pytest.raises(PacketError) as info:
        RtpPacket.parse(data)
    assert info.value.reason in REASONS
    return info.value.reason


def test_truncated_header():
    data = full_packet().pack()
    for n in range(12):
        assert reason_of(data[:n]) == TRUNCATED


def test_wrong_version():
    data = bytearray(RtpPacket(0, 1, 2, 3, b"x").pack())
    for version in (0, 1, 3):
        data[0] = (data[0] & 0x3F) | (version << 6)
        assert reason_of(bytes(data)) == VERSION


def test_csrc_count_beyond_packet():
    # 15 CSRCs announced, 2 present
    data = bytes([0x80 | 15, 0]) + bytes(10) + bytes(8)
    assert reason_of(data) == CSRC


def test_extension_header_and_length_beyond_packet():
    base = bytes([0x90, 96]) + bytes(10)
    assert reason_of(base + b"\xbe\xde") == EXTENSION                     # header cut
    assert reason_of(base + struct.pack("!HH", 0xBEDE, 3) + bytes(8)) == EXTENSION   # 12 B announced, 8 B present
    assert reason_of(base + struct.pack("!HH", 0xBEDE, 0xFFFF)) == EXTENSION
    ok = RtpPacket.parse(base + struct.pack("!HH", 0xBEDE, 2) + bytes(8) + b"pay")
    assert ok.extension == (0xBEDE, bytes(8)) and ok.payload == b"pay"


def test_padding_longer_than_packet_and_zero_pad_count():
    base = bytes([0xA0, 96]) + bytes(10)
    assert reason_of(base + b"abc" + bytes([5])) == PADDING       # 5 > 4 bytes after header
    assert reason_of(base + b"abc" + bytes([0])) == PADDING       # count 0 is invalid
    assert RtpPacket.parse(base + b"abc" + bytes([4])).payload == b""
    # padding may not eat into CSRCs or the extension
    with_csrc = bytes([0xA1, 96]) + bytes(10) + bytes(4) + bytes([5])
    assert reason_of(with_csrc) == PADDING


def test_non_bytes_input():
    for bad in (None, "80000001", 12345, [0x80] * 12, 3.5):
        assert reason_of(bad) == NOT_BYTES
    view = memoryview(bytes(20))
    view.release()
    assert reason_of(view) == NOT_BYTES


def test_pack_rejects_out_of_range_fields():
    for kwargs in (dict(payload_type=128), dict(sequence=65536), dict(timestamp=-1), dict(ssrc=2**32),
                   dict(csrcs=range(16)), dict(extension=(1, b"abc")), dict(padding=256)):
        fields = dict(payload_type=0, sequence=0, timestamp=0, ssrc=0) | kwargs
        with pytest.raises(PacketError):
            RtpPacket(**fields).pack()


def only_packet_error(data):
    try:
        RtpPacket.parse(data)
    except PacketError as exc:
        assert exc.reason in REASONS


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120))
def test_random_bytes_raise_only_packet_error(data):
    only_packet_error(data)


@st.composite
def mutated_packets(draw):
    pkt = RtpPacket(draw(st.integers(0, 127)), draw(st.integers(0, 65535)), draw(st.integers(0, 2**32 - 1)),
                    draw(st.integers(0, 2**32 - 1)), draw(st.binary(max_size=64)), draw(st.booleans()),
                    draw(st.lists(st.integers(0, 2**32 - 1), max_size=4)),
                    draw(st.sampled_from([None, (0xBEDE, b""), (0x1000, bytes(8))])),
                    draw(st.integers(0, 12)))
    data = bytearray(pkt.pack())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_packets())
def test_mutated_packets_raise_only_packet_error(data):
    only_packet_error(data)


# ----------------------------------------------------------------------------- unwrapping

def test_sequence_wrap_in_order():
    u = SequenceUnwrapper()
    seqs = [(65530 + i) % 65536 for i in range(20)]
    assert [u.unwrap(s) for s in seqs] == list(range(65530, 65550))
    assert u.highest == 65549


def test_sequence_reordering_across_the_wrap():
    u = SequenceUnwrapper()
    order = [65533, 65535, 0, 65534, 2, 1, 65532, 3]
    assert [u.unwrap(s) for s in order] == [65533, 65535, 65536, 65534, 65538, 65537, 65532, 65539]


def test_sequence_many_wraps_and_large_jumps():
    u = SequenceUnwrapper()
    ext = 0
    assert u.unwrap(0) == 0
    for jump in [1, 30000, 32767, 5, 20000, 1, 32000, 40] * 10:
        ext += jump
        assert u.unwrap(ext % 65536) == ext
    assert ext > 10 * 65536
    late = ext - 30000                               # a packet held back half a range
    assert u.unwrap(late % 65536) == late
    assert u.highest == ext


def test_sequence_duplicates_and_first_packet_after_wrap():
    u = SequenceUnwrapper()
    assert [u.unwrap(s) for s in (0, 0, 65535, 1, 1)] == [0, 0, -1, 1, 1]
    u.reset()
    assert u.highest is None and u.unwrap(500) == 500


def test_timestamp_wrap_with_reordering():
    u = TimestampUnwrapper()
    start = 2**32 - 3 * 960
    stamps = [start + i * 960 for i in range(8)]
    order = [0, 1, 3, 2, 4, 6, 5, 7]
    assert [u.unwrap(stamps[i] % 2**32) for i in order] == [stamps[i] for i in order]


def test_unwrapper_rejects_out_of_range():
    with pytest.raises(ValueError):
        SequenceUnwrapper().unwrap(65536)
    with pytest.raises(ValueError):
        TimestampUnwrapper().unwrap(-1)


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 2**40), steps=st.lists(st.integers(-32767, 32768), min_size=1, max_size=200),
       bits=st.sampled_from([16, 32]))
def test_unwrap_recovers_any_stream_within_half_a_range_of_the_highest(start, steps, bits):
    """Property: values within (-half, +half] of the highest seen unwrap to the true counter."""
    u = SequenceUnwrapper() if bits == 16 else TimestampUnwrapper()
    scale = 1 if bits == 16 else 65536
    truth = [start]
    highest = start
    for step in steps:
        value = highest + step * scale if step * scale <= 2 ** (bits - 1) else highest + 1
        truth.append(value)
        highest = max(highest, value)
    got = [u.unwrap(v % 2**bits) for v in truth]
    assert [g - got[0] for g in got] == [t - start for t in truth]
