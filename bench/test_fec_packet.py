"""pytest-benchmark: RTP pack/parse and payload encode/decode per 20 ms packet at 48 kHz (960 samples).

``make bench`` runs these with the rest. One round handles one packet.
"""
import numpy as np
import pytest

from fec.packet import RtpPacket
from fec.payload import FORMATS

N_SAMPLES = 960


@pytest.fixture(scope="module")
def frame():
    t = np.arange(N_SAMPLES) / 48000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_rtp_pack(benchmark):
    pkt = RtpPacket(96, 65535, 123456, 0x1234ABCD, bytes(2 * N_SAMPLES), marker=True, csrcs=(1,))
    benchmark.group = "fec packet"
    benchmark.name = "rtp pack (1920 B payload)"
    assert len(benchmark(pkt.pack)) == 12 + 4 + 2 * N_SAMPLES


def test_rtp_parse(benchmark):
    data = RtpPacket(96, 65535, 123456, 0x1234ABCD, bytes(2 * N_SAMPLES), extension=(0xBEDE, bytes(8)),
                     padding=4).pack()
    benchmark.group = "fec packet"
    benchmark.name = "rtp parse (1920 B payload, ext, padding)"
    assert len(benchmark(RtpPacket.parse, data).payload) == 2 * N_SAMPLES


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_payload_encode(benchmark, frame, name):
    fmt = FORMATS[name]
    out = np.empty(fmt.payload_len(N_SAMPLES), np.uint8)
    fmt.encode(frame, out=out)                          # compile outside the timing
    benchmark.group = "fec payload"
    benchmark.name = f"{name} encode into buffer"
    benchmark(fmt.encode, frame, out)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_payload_decode(benchmark, frame, name):
    fmt = FORMATS[name]
    payload = fmt.encode(frame)
    out = np.empty(N_SAMPLES, np.float32)
    fmt.decode(payload, out=out)
    benchmark.group = "fec payload"
    benchmark.name = f"{name} decode into buffer"
    benchmark(fmt.decode, payload, out)
    assert np.max(np.abs(out - frame)) < 0.02
