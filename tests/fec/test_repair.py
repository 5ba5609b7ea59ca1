"""Repair wire format, FecEncoder -> FecDecoder over every erasure pattern, hostile repair packets."""
import itertools
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.packet import PacketError, RtpPacket
from fec.repair import (HEADER_LEN, REPAIR_REASONS, FecDecoder, FecEncoder, RepairHeader, protect,
                        unprotect)


def media(rng, seq, size=None):
    size = int(rng.integers(0, 160)) if size is None else size
    return RtpPacket(96 + seq % 3, seq, 160 * seq & 0xFFFFFFFF, 0xCAFE, rng.bytes(size),
                     marker=seq % 5 == 0).pack()


def block_stream(scheme, k, m, d, base, rng):
    """One full group: media (seq, bytes) then repair payloads, as the encoder sends them."""
    enc = FecEncoder(scheme, k, m, d)
    packets, repairs = [], []
    for i in range(k * d):
        seq = (base + i) & 0xFFFF
        p = media(rng, seq)
        packets.append((seq, p))
        repairs += enc.push(seq, p)
    assert len(repairs) == m * d
    return packets, repairs


def refit_crc(payload):
    """Recompute the CRC so a deliberately bad field reaches its own check."""
    head = payload[:10]
    return head + struct.pack("!I", zlib.crc32(payload[HEADER_LEN:], zlib.crc32(head))) + payload[HEADER_LEN:]


# ----------------------------------------------------------------------------- wire format

def test_header_layout_and_round_trip():
    h = RepairHeader("rs", 8, 4, 3, 65534, 2, 100)
    sym = bytes(range(100))
    data = h.pack(sym)
    assert len(data) == HEADER_LEN + 100
    assert data[:10] == bytes([0x11, 8, 4, 3, 0xFF, 0xFE, 2, 0, 0, 100])
    assert struct.unpack("!I", data[10:14])[0] == zlib.crc32(sym, zlib.crc32(data[:10]))
    h2, sym2 = RepairHeader.parse(data)
    assert h2 == h and sym2 == sym
    assert h.seqs() == [65534, 0, 2, 4, 6, 8, 10, 12]
    assert RepairHeader.parse(bytearray(data))[0] == h


def test_every_bit_flip_is_rejected_as_checksum():
    data = RepairHeader("xor", 4, 1, 0, 1000, 1, 12).pack(bytes(12))
    for byte in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[byte] ^= 1 << bit
            with pytest.raises(PacketError) as e:
                RepairHeader.parse(bytes(bad))
            # a flip in the length field changes the framing: truncated/length; anything else: checksum
            assert e.value.reason in (("repair_truncated", "repair_length") if byte in (8, 9)
                                      else ("repair_checksum",))


@pytest.mark.parametrize("offset,value,reason", [
    (0, 0x21, "repair_version"), (0, 0x01, "repair_version"), (0, 0x12, "repair_scheme"),
    (1, 0, "repair_k"), (2, 0, "repair_m"), (2, 250, "repair_m"), (3, 4, "repair_index"),
    (6, 0, "repair_interleave"), (7, 1, "repair_reserved"),
])
def test_each_field_out_of_range_is_rejected_with_its_reason(offset, value, reason):
    data = bytearray(RepairHeader("rs", 8, 4, 1, 7, 1, 6).pack(b"abcdef"))
    data[offset] = value
    with pytest.raises(PacketError) as e:
        RepairHeader.parse(refit_crc(bytes(data)))
    assert e.value.reason == reason


def test_more_field_checks():
    good = RepairHeader("xor", 4, 1, 0, 7, 1, 6).pack(b"abcdef")
    for offset, value, reason in [(2, 2, "repair_m"),            # xor needs m = 1
                                  (3, 1, "repair_index")]:
        bad = bytearray(good)
        bad[offset] = value
        with pytest.raises(PacketError) as e:
            RepairHeader.parse(refit_crc(bytes(bad)))
        assert e.value.reason == reason
    span = bytearray(RepairHeader("rs", 200, 4, 0, 7, 1, 6).pack(b"abcdef"))
    span[6] = 200                                               # (k-1) d = 39800 >= 2^15
    with pytest.raises(PacketError, match="interleave"):
        RepairHeader.parse(refit_crc(bytes(span)))
    short = bytearray(good[:HEADER_LEN])
    short[8:10] = b"\x00\x01"                                  # L = 1 < 2
    with pytest.raises(PacketError) as e:
        RepairHeader.parse(refit_crc(bytes(short) + b"x"))
    assert e.value.reason == "repair_length"
    for payload, reason in [(good[:5], "repair_truncated"), (good[:-1], "repair_truncated"),
                            (good + b"\0", "repair_length"), ("text", "not_bytes"), (None, "not_bytes")]:
        with pytest.raises(PacketError) as e:
            RepairHeader.parse(payload)
        assert e.value.reason == reason


def test_protect_unprotect_unequal_lengths():
    pk = [b"", b"a", b"hello world", bytes(range(40))]
    sym = protect(pk)
    assert sym.shape == (4, 42)
    assert [unprotect(row.tobytes()) for row in sym] == pk
    assert unprotect(b"\x00\x05abc") is None                    # length beyond the symbol
    assert unprotect(b"\x00\x01a\x00\x07") is None              # padding not zero
    assert unprotect(b"\x00") is None


# ----------------------------------------------------------------------------- end to end

def run(packets, repairs, lost, order, **decoder_args):
    """Deliver the group minus ``lost`` (indices into media+repair) in ``order``; return decoder and out."""
    dec = FecDecoder(**decoder_args)
    items = [("m", s, p) for s, p in packets] + [("r", None, r) for r in repairs]
    got = {}
    for i in order:
        if i in lost:
            continue
        kind, s, p = items[i]
        out = dec.add_media(s, p) if kind == "m" else dec.add_repair(p)
        for seq, q in out:
            assert seq not in got
            got[seq] = q
    return dec, got


@pytest.mark.parametrize("scheme,k,m,d", [("rs", 4, 2, 1), ("rs", 5, 3, 1), ("xor", 4, 1, 1),
                                          ("xor", 4, 1, 2), ("rs", 2, 2, 2)])
def test_every_erasure_pattern_recovers_bit_exact(scheme, k, m, d):
    """All loss patterns a block can survive (<= m per block), group ends at the 16-bit wrap."""
    rng = np.random.default_rng(k * 7 + m + d)
    packets, repairs = block_stream(scheme, k, m, d, 65536 - k * d + 1, rng)   # block spans 65535 -> 0
    n = k * d + m * d
    # stream position of block i's t-th packet: media i + t d, repair k d + (t - k) d + i
    blocks = [[i + t * d for t in range(k + m)] for i in range(d)]
    per_block = [[c for e in range(m + 1) for c in itertools.combinations(b, e)] for b in blocks]
    forward, backward = list(range(n)), list(range(n))[::-1]
    tried = 0
    for combo in itertools.product(*per_block):
        lost = set(itertools.chain(*combo))
        order = forward if tried % 2 == 0 else backward      # any arrival order works
        dec, got = run(packets, repairs, lost, order)
        want = {s: p for i, (s, p) in enumerate(packets) if i in lost}
        sent = dict(packets)
        # late arrivals may be recovered before they come (e.g. reverse order): still bit-exact
        assert want.items() <= got.items() and all(sent[s] == p for s, p in got.items())
        for seq, p in got.items():
            pkt = RtpPacket.parse(p)                            # header fields came back too
            assert pkt.sequence == seq and pkt.ssrc == 0xCAFE and pkt.marker == (seq % 5 == 0)
        st_ = dec.stats
        assert st_.recovered == len(got) and st_.rejected_total == 0 and st_.unrecoverable == 0
        tried += 1
    assert tried == np.prod([len(p) for p in per_block])


def test_too_many_losses_are_counted_unrecoverable():
    rng = np.random.default_rng(30)
    packets, repairs = block_stream("rs", 4, 2, 1, 100, rng)
    dec, got = run(packets, repairs, lost={0, 1, 2}, order=range(6))
    assert got == {}
    dec.flush()
    assert dec.stats.unrecoverable == 3 and dec.stats.recovered == 0


def test_seq_wrap_and_reconfiguration_between_groups():
    rng = np.random.default_rng(31)
    enc = FecEncoder("rs", 4, 2)
    dec = FecDecoder()
    sent, got, lost = {}, {}, set()
    configs = [("xor", 3, None, 2), ("rs", 8, 4, 1), ("rs", 2, 1, 3), ("rs", 5, 3, 2)]
    seq = 65500
    for g in range(40):
        enc.configure(*configs[g % len(configs)])
        for _ in range(enc._pending[1] * enc._pending[3] if enc._pending else enc.group_len):
            p = media(rng, seq)
            sent[seq] = p
            if rng.random() < 0.15:
                lost.add(seq)
            else:
                got[seq] = p
                got.update(dec.add_media(seq, p))
            for r in enc.push(seq, p):
                if rng.random() > 0.1:
                    got.update(dec.add_repair(r))
            seq = (seq + 1) & 0xFFFF
    assert all(got[s] == sent[s] for s in got)
    assert dec.stats.recovered > 0.6 * len(lost)
    assert any(s < 100 for s in got) and any(s > 65500 for s in got)


def test_sequence_gap_flushes_a_partial_group():
    rng = np.random.default_rng(32)
    enc = FecEncoder("rs", 4, 2, 2)
    pk = [media(rng, s) for s in range(10)]
    out = []
    for s in (0, 1, 2):                                          # group of 8 interrupted after 3
        out += enc.push(s, pk[s])
    assert out == []
    out = enc.push(5, pk[5])                                     # gap: blocks {0,2} and {1} sent with k=2, 1
    heads = [RepairHeader.parse(r)[0] for r in out]
    assert sorted((h.base, h.k) for h in heads) == [(0, 2), (0, 2), (1, 1), (1, 1)]
    dec = FecDecoder()
    rec = {}
    for r in out:                                                # m >= k in both blocks: repairs alone suffice
        rec.update(dec.add_repair(r))
    assert rec == {0: pk[0], 1: pk[1], 2: pk[2]}


def test_hostile_repairs_are_counted_never_raised():
    rng = np.random.default_rng(33)
    packets, repairs = block_stream("rs", 4, 2, 1, 10, rng)
    dec = FecDecoder(max_symbol_len=200)
    bad = [b"", b"\x11" * 13, bytes(200), repairs[0][:-1], "str", None,
           refit_crc(bytes([0x31]) + repairs[0][1:])]
    for b in bad:
        assert dec.add_repair(b) == []
    flipped = bytearray(repairs[0])
    flipped[-1] ^= 0x40
    assert dec.add_repair(bytes(flipped)) == []
    long_sym = RepairHeader("rs", 4, 2, 0, 500, 1, 300).pack(bytes(300))
    assert dec.add_repair(long_sym) == []
    dec.add_repair(repairs[0])
    other = RepairHeader("rs", 5, 2, 1, 10, 1, RepairHeader.parse(repairs[0])[0].symbol_len)
    assert dec.add_repair(other.pack(bytes(other.symbol_len))) == []   # same base, different k
    assert dec.add_repair(repairs[0]) == []
    s = dec.stats
    assert s.repair_rejected == {"repair_truncated": 3, "repair_length": 1, "not_bytes": 2,
                                 "repair_version": 1, "repair_checksum": 1, "repair_too_long": 1,
                                 "repair_inconsistent": 1}
    assert set(s.repair_rejected) <= set(REPAIR_REASONS)
    assert s.repair_accepted == 2 and s.repair_duplicates == 1
    # the block still works after the junk
    for i in (0, 1, 3):
        assert dec.add_media(*packets[i]) == ([packets[2]] if i == 3 else [])


def test_memory_is_bounded():
    rng = np.random.default_rng(34)
    enc = FecEncoder("rs", 4, 2)
    dec = FecDecoder(max_blocks=8, max_media=64)
    for s in range(2000):
        for r in enc.push(s & 0xFFFF, media(rng, s & 0xFFFF, 20)):
            dec.add_repair(r)                                    # repairs only: every block stays open
    st_ = dec.stats
    assert st_.blocks_open == 8 and len(dec._by_seq) <= 8 * 4 and len(dec._media) <= 64
    assert st_.unrecoverable == (500 - 8) * 4
    dec.add_media(0, b"x")
    dec.add_media(0, b"x")
    assert dec.stats.media_duplicates == 1


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([("rs", 4, 2, 1), ("rs", 8, 4, 1), ("xor", 4, 1, 1), ("xor", 3, 1, 3), ("rs", 3, 2, 2)]),
       st.integers(0, 65535), st.randoms(use_true_random=False), st.floats(0.0, 0.5))
def test_random_streams(code, base, rnd, loss):
    scheme, k, m, d = code
    rng = np.random.default_rng(rnd.getrandbits(32))
    enc = FecEncoder(scheme, k, m, d)
    items, sent = [], {}
    for i in range(3 * k * d):
        seq = (base + i) & 0xFFFF
        p = media(rng, seq, rnd.randint(0, 60))
        sent[seq] = p
        items.append(("m", seq, p))
        items += [("r", None, r) for r in enc.push(seq, p)]
    kept = [it for it in items if rnd.random() >= loss]
    rnd.shuffle(kept)
    dec = FecDecoder()
    have = {}
    for kind, s, p in kept:
        out = dec.add_media(s, p) if kind == "m" else dec.add_repair(p)
        if kind == "m":
            have[s] = p
        for seq, q in out:
            assert q == sent[seq]
            have[seq] = q
    # a block that lost at most m of its k + m packets is complete
    kept_ids = {id(it) for it in kept}
    for g in range(3):
        for b in range(d):
            seqs = [(base + g * k * d + b + j * d) & 0xFFFF for j in range(k)]
            members = [it for it in items if (it[0] == "m" and it[1] in seqs) or
                       (it[0] == "r" and RepairHeader.parse(it[2])[0].base == seqs[0])]
            if sum(id(it) not in kept_ids for it in members) <= m:
                assert all(s in have for s in seqs)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_never_raise(junk):
    dec = FecDecoder()
    assert dec.add_repair(junk) == []
    assert dec.add_repair(refit_crc(junk) if len(junk) >= HEADER_LEN else junk) is not None


def test_old_blocks_age_out_so_a_wrapped_base_opens_a_new_block():
    rng = np.random.default_rng(35)
    packets, repairs = block_stream("rs", 4, 2, 1, 10, rng)
    dec = FecDecoder(max_media=100)
    for s, p in packets:
        dec.add_media(s, p)
    dec.add_repair(repairs[0])                                  # block 10..13 complete, kept as done
    assert dec.stats.blocks_open == 1
    for s in range(1000, 65001, 1000):                          # the stream moves on (and wraps below)
        dec.add_media(s, b"x")
    assert dec.stats.blocks_open == 0
    packets2, repairs2 = block_stream("rs", 4, 2, 1, 10, np.random.default_rng(36))
    got = {}
    for s, p in packets2[:3]:                                   # seqs 10..12 again, one cycle later
        got.update(dec.add_media(s, p))
    assert dec.stats.media_duplicates == 0
    for r in repairs2:
        got.update(dec.add_repair(r))
    assert got[13] == packets2[3][1]
