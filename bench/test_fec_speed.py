"""pytest-benchmark: Reed–Solomon encode/decode per block and batched, side by side with zfec.

One round = one block (``k`` media packets) for the per-block rows and 256
blocks for the batched rows; ``extra_info["packets_per_round"]`` turns the
round time into media packets per second. ``bench/fec_codes.py`` prints the
same comparison as a table.
"""
import numpy as np
import pytest

from fec.packet import RtpPacket
from fec.repair import FecDecoder, FecEncoder
from fec.rs import ReedSolomon

CODES = [(4, 2, 80), (4, 2, 320), (8, 4, 80), (8, 4, 320)]
BATCH = 256


def setup(k, m, L):
    rng = np.random.default_rng(k * 1000 + L)
    rs = ReedSolomon(k, m)
    data = [rng.bytes(L) for _ in range(k)]
    rep = rs.encode(data)
    idx = tuple(range(k, k + m)) + tuple(range(m, k))        # first m data packets lost
    return rs, data, rep, idx


def name(k, m, L, what):
    return f"RS({k}+{m}) {L} B {what}"


@pytest.mark.parametrize("k,m,L", CODES)
def test_rs_encode_block(benchmark, k, m, L):
    rs, data, rep, _ = setup(k, m, L)
    benchmark.group, benchmark.name = "fec rs encode", name(k, m, L, "ours, bytes per block")
    benchmark.extra_info["packets_per_round"] = k
    assert benchmark(rs.encode, data) == rep


@pytest.mark.parametrize("k,m,L", CODES)
def test_rs_decode_block(benchmark, k, m, L):
    rs, data, rep, idx = setup(k, m, L)
    recv = tuple(rep + data[m:])
    benchmark.group, benchmark.name = "fec rs decode", name(k, m, L, "ours, bytes per block")
    benchmark.extra_info["packets_per_round"] = k
    assert benchmark(rs.decode, recv, idx) == {j: data[j] for j in range(m)}


@pytest.mark.parametrize("k,m,L", CODES)
def test_rs_encode_batch(benchmark, k, m, L):
    rs, _, _, _ = setup(k, m, L)
    blocks = np.random.default_rng(1).integers(0, 256, (BATCH, k, L), dtype=np.uint8)
    benchmark.group, benchmark.name = "fec rs encode", name(k, m, L, f"ours, batch of {BATCH}")
    benchmark.extra_info["packets_per_round"] = BATCH * k
    out = benchmark(rs.encode_batch, blocks)
    assert out[3, 0].tobytes() == rs.encode([b.tobytes() for b in blocks[3]])[0]


@pytest.mark.parametrize("k,m,L", CODES)
def test_rs_decode_batch(benchmark, k, m, L):
    rs, _, _, idx = setup(k, m, L)
    blocks = np.random.default_rng(2).integers(0, 256, (BATCH, k, L), dtype=np.uint8)
    recv = np.concatenate([blocks, rs.encode_batch(blocks)], axis=1)[:, list(idx)].copy()
    benchmark.group, benchmark.name = "fec rs decode", name(k, m, L, f"ours, batch of {BATCH}")
    benchmark.extra_info["packets_per_round"] = BATCH * k
    missing, out = benchmark(rs.decode_batch, recv, idx)
    assert missing == tuple(range(m)) and (out == blocks[:, :m]).all()


@pytest.mark.parametrize("k,m,L", CODES)
def test_zfec_encode_block(benchmark, k, m, L):
    zfec = pytest.importorskip("zfec")
    _, data, _, _ = setup(k, m, L)
    enc = zfec.Encoder(k, k + m)
    nums = list(range(k, k + m))
    benchmark.group, benchmark.name = "fec rs encode", name(k, m, L, "zfec, per block")
    benchmark.extra_info["packets_per_round"] = k
    assert len(benchmark(enc.encode, data, nums)) == m


@pytest.mark.parametrize("k,m,L", CODES)
def test_zfec_decode_block(benchmark, k, m, L):
    zfec = pytest.importorskip("zfec")
    _, data, _, _ = setup(k, m, L)
    rep = list(zfec.Encoder(k, k + m).encode(data, list(range(k, k + m))))
    dec = zfec.Decoder(k, k + m)
    blocks, nums = tuple(rep + data[m:]), tuple(range(k, k + m)) + tuple(range(m, k))
    benchmark.group, benchmark.name = "fec rs decode", name(k, m, L, "zfec, per block")
    benchmark.extra_info["packets_per_round"] = k
    assert list(benchmark(dec.decode, blocks, nums)) == data


def test_fec_encoder_decoder_per_packet(benchmark):
    """Stateful path, RS(4+2), 160-byte RTP packets: one round = one group (4 media + 2 repair)."""
    rng = np.random.default_rng(3)
    pkts = [RtpPacket(96, s, 160 * s, 1, rng.bytes(160)).pack() for s in range(4)]
    state = {"seq": 0}

    def group():
        enc_out = []
        base = state["seq"]
        for i, p in enumerate(pkts):
            enc_out += encoder.push((base + i) & 0xFFFF, p)
        got = decoder.add_media((base + 1) & 0xFFFF, pkts[1]) + decoder.add_media((base + 3) & 0xFFFF, pkts[3])
        for r in enc_out:
            got += decoder.add_repair(r)
        state["seq"] = (base + 4) & 0xFFFF
        return got

    encoder, decoder = FecEncoder("rs", 4, 2), FecDecoder()
    benchmark.group, benchmark.name = "fec stateful", "FecEncoder+FecDecoder RS(4+2), 2 of 4 lost"
    benchmark.extra_info["packets_per_round"] = 4
    assert [p for _, p in benchmark(group)] == [pkts[0], pkts[2]]
