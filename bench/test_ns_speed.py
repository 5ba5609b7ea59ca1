"""Per-frame cost of the noise suppressor (pytest-benchmark), 16 and 48 kHz.

    .venv/bin/pytest bench/test_ns_speed.py --benchmark-enable -q
    .venv/bin/python -m bench.test_ns_speed      # p50/p99 per frame, with WebRTC NS side by side

The machine is shared: compare figures taken in the same process (the script
prints audio3a and WebRTC NS interleaved), not across runs.
"""
import time

import numpy as np
import pytest

from audio3a.ns import NoiseSuppressor, NsConfig
from audio3a.ns.suppressor import METHODS


def _frames(rate: int, count: int) -> np.ndarray:
    n = rate // 100
    rng = np.random.default_rng(rate)
    t = np.arange(n * count) / rate
    x = 0.1 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + 0.02 * rng.standard_normal(t.size)
    return x.astype(np.float32).reshape(count, n)


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("method", METHODS)
def test_ns_frame(benchmark, rate, method):
    ns = NoiseSuppressor(rate, NsConfig(method=method))
    frames = _frames(rate, 200)
    for f in frames:  # warm up: compile, fill the minimum windows
        ns._process(f)
    i = iter(range(1 << 62))

    def one():
        return ns._process(frames[next(i) % frames.shape[0]])

    out = benchmark(one)
    assert out.shape == (rate // 100,)


def frame_times_us(process, frames, repeat: int = 5) -> np.ndarray:
    """Wall time of each call ``process(frame)`` in microseconds."""
    times = []
    for _ in range(repeat):
        for f in frames:
            t0 = time.perf_counter_ns()
            process(f)
            times.append(time.perf_counter_ns() - t0)
    return np.array(times) / 1000.0


def main():
    try:
        import pywebrtc_audio
    except ImportError:
        pywebrtc_audio = None
    print("| rate | system | p50 µs | p99 µs |")
    print("|---|---|---|---|")
    for rate in (16000, 48000):
        frames = _frames(rate, 1000)
        hy = NoiseSuppressor(rate, NsConfig(method="hybrid"))
        ns = NoiseSuppressor(rate, NsConfig(method="dsp"))
        frame_times_us(ns._process, frames[:100], 1)
        frame_times_us(hy._process, frames[:100], 1)
        systems = [("audio3a ns hybrid (_process)", hy._process), ("audio3a ns hybrid (process, validated)", hy.process),
                   ("audio3a ns dsp (_process)", ns._process)]
        if pywebrtc_audio is not None:
            w = pywebrtc_audio.NoiseSuppressor(rate, 1, 2)
            systems.append(("webrtc ns high (python binding)", w.process))
        for name, fn in systems:
            t = frame_times_us(fn, frames)
            print(f"| {rate} | {name} | {np.percentile(t, 50):.1f} | {np.percentile(t, 99):.1f} |")


if __name__ == "__main__":
    main()
