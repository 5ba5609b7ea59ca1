"""Per-frame cost of the weak-network path (pytest-benchmark): Sender.send and Receiver.receive + tick.

    .venv/bin/pytest bench/test_fec_path_speed.py --benchmark-only
"""
import numpy as np
import pytest

from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig

N = 320          # 20 ms at 16 kHz
FRAMES = 500


def _signal():
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(N * FRAMES)).astype(np.float32)


@pytest.mark.parametrize("fec", ["none", "rs:4+2", "red:@3"])
def test_sender_per_frame(benchmark, fec):
    x = _signal()
    s = Sender(SenderConfig(fec=fec))

    def run():
        for i in range(FRAMES):
            s.send(x[i * N:(i + 1) * N])

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["frames_per_round"] = FRAMES


@pytest.mark.parametrize("fec", ["none", "rs:4+2", "red:@3"])
def test_receiver_per_frame(benchmark, fec):
    x = _signal()
    s = Sender(SenderConfig(fec=fec))
    rng = np.random.default_rng(1)
    packets = []
    for i in range(FRAMES):
        for p in s.send(x[i * N:(i + 1) * N]):
            if rng.random() >= 0.1:
                packets.append((i, p))

    def run():
        r = Receiver(ReceiverConfig(fec_delay_ms=s.added_latency_ms))
        k = 0
        for i in range(FRAMES):
            now = i * 0.02 + 0.011
            while k < len(packets) and packets[k][0] * 0.02 + 0.04 <= now:
                r.receive(packets[k][1], packets[k][0] * 0.02 + 0.04)
                k += 1
            r.tick(now)

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["frames_per_round"] = FRAMES
