"""pytest-benchmark: per-frame time of the echo canceller (render + capture frame), 16 and 48 kHz,
with WebRTC AEC3 (pywebrtc-audio) on the same frames when installed.

    .venv/bin/pytest bench/test_aec_speed.py --benchmark-enable --benchmark-only

Each round feeds the next 10 ms far frame and mic frame of a 20 s echo
scenario (330 ms bulk delay), cycling, so the filter is converged and the
delay estimator is running, as in a call.
"""
import itertools
import importlib.util

import numpy as np
import pytest

from audio3a.aec import EchoCanceller
from bench.scenarios.echo import echo_scenario

RATES = (16000, 48000)


@pytest.fixture(scope="module", params=RATES, ids=lambda r: f"{r // 1000}k")
def scene(request):
    rate = request.param
    s = echo_scenario(20.0, rate, delay_ms=330.0, double_talk=True, near_start_s=12.0, seed=0)
    n = rate // 100
    frames = s.mic.size // n
    mic = s.mic[: frames * n].astype(np.float32).reshape(frames, n)
    far = s.far[: frames * n].astype(np.float32).reshape(frames, n)
    return rate, mic, far


def _warm(proc, mic, far, frames=300):
    for i in range(frames):
        proc(i)


def test_audio3a_aec(benchmark, scene):
    rate, mic, far = scene
    aec = EchoCanceller(rate)
    it = itertools.cycle(range(mic.shape[0]))

    def frame(i=None):
        i = next(it) if i is None else i
        aec.process_render(far[i])
        return aec.process(mic[i])

    _warm(frame, mic, far)
    benchmark.group = f"aec {rate // 1000} kHz"
    benchmark.name = "audio3a"
    benchmark(frame)


@pytest.mark.skipif(importlib.util.find_spec("pywebrtc_audio") is None, reason="pywebrtc-audio not installed")
def test_webrtc_aec3(benchmark, scene):
    from pywebrtc_audio import EchoCanceller as WebrtcAec3

    rate, mic, far = scene
    aec = WebrtcAec3(rate)
    it = itertools.cycle(range(mic.shape[0]))

    def frame(i=None):
        i = next(it) if i is None else i
        return aec.process(mic[i], far[i])

    _warm(frame, mic, far)
    benchmark.group = f"aec {rate // 1000} kHz"
    benchmark.name = "webrtc_aec3"
    benchmark(frame)
