"""pytest-benchmark: per-frame time of the AGC, its VAD and webrtcvad alone, 16 and 48 kHz.

Each round processes the next 10 ms frame of corpus speech (cycling through
about 25 s). Rows:

* ``agc``            ``AutomaticGainControl.process`` (validation + VAD + kernel)
* ``agc energy-vad`` the same with the energy VAD instead of webrtcvad
* ``agc kernel``     the jitted AGC kernel alone (level, gain, limiter)
* ``vad``            ``Vad.is_speech`` (validation, int16 conversion, webrtcvad, hangover)
* ``webrtcvad``      ``webrtcvad.Vad.is_speech`` on ready int16 bytes

    .venv/bin/pytest bench/test_agc_speed.py --benchmark-enable --benchmark-only
    .venv/bin/python -m bench.test_agc_speed      # p50/p90 table from one process
"""
import itertools
import time

import numpy as np
import pytest
import webrtcvad

from audio3a.agc import AgcConfig
from audio3a.agc.agc import agc_frame
from audio3a.vad import Vad, VadConfig
from bench.scenarios import levels

RATES = (16000, 48000)


def speech_frames(rate):
    x = np.concatenate([levels.set_level(levels.speaker(n, rate), lvl, rate)[0]
                        for n, lvl in zip(levels.SPEAKERS[:3], (-35.0, -20.0, -28.0))])
    n = rate // 100
    return x[: x.size // n * n].astype(np.float32).reshape(-1, n)


def steps(rate):
    """{row name: zero-argument callable processing the next frame}."""
    frames = speech_frames(rate)
    pcm = [np.round(f * 32767).astype(np.int16).tobytes() for f in frames]
    idx = itertools.cycle(range(frames.shape[0]))
    agc = AgcConfig().build(rate)
    agc_energy = AgcConfig(vad=VadConfig(backend="energy")).build(rate)
    kern = AgcConfig().build(rate)
    vad = Vad(rate)
    raw = webrtcvad.Vad(2)

    def kernel_only(f):
        agc_frame(f, True, True, kern._state, kern._params, kern._out)

    return {
        "agc": lambda: agc.process(frames[next(idx)]),
        "agc energy-vad": lambda: agc_energy.process(frames[next(idx)]),
        "agc kernel": lambda: kernel_only(frames[next(idx)]),
        "vad": lambda: vad.is_speech(frames[next(idx)]),
        "webrtcvad": lambda: raw.is_speech(pcm[next(idx)], rate),
    }


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r // 1000}k")
@pytest.mark.parametrize("row", ["agc", "agc energy-vad", "agc kernel", "vad", "webrtcvad"])
def test_agc_speed(benchmark, rate, row):
    step = steps(rate)[row]
    for _ in range(200):
        step()
    benchmark.group = f"agc {rate // 1000} kHz"
    benchmark.name = row
    benchmark(step)


def run(quick: bool = False) -> list[dict]:
    """p50/p90 per-frame time of each row, measured round-robin in one process."""
    rows = []
    n = 2000 if quick else 20000
    for rate in RATES:
        st = steps(rate)
        times = {k: np.empty(n) for k in st}
        for k, f in st.items():
            for _ in range(300):
                f()
        for i in range(n):
            for k, f in st.items():
                t0 = time.perf_counter_ns()
                f()
                times[k][i] = time.perf_counter_ns() - t0
        for k, t in times.items():
            rows.append({"rate_hz": rate, "row": k, "p50_us": np.percentile(t, 50) / 1e3,
                         "p90_us": np.percentile(t, 90) / 1e3})
    return rows


if __name__ == "__main__":
    import sys

    from bench.report import header, markdown_table

    print(header("AGC per-frame time (bench/test_agc_speed.py)"))
    print(markdown_table(run(quick="--quick" in sys.argv)))
