"""PLC speed: time per concealed frame and per received frame, 16 and 48 kHz, 10 and 20 ms packets.

pytest-benchmark (``pytest bench/test_plc_speed.py --benchmark-enable --benchmark-only``):
each timed round is one call; for concealed frames the untimed setup first
feeds a received frame, so every timed call is the first of a burst (pitch +
LPC analysis + synthesis, the worst case). ``--benchmark-enable`` is needed
where the project disables benchmarks by default.

As a script (``.venv/bin/python -m bench.test_plc_speed``) it prints p50 / p99
/ max per frame over real speech with a 20 % Bernoulli loss mask, each call
timed with ``perf_counter_ns`` and the garbage collector off. The machine is
shared: read the figures as upper bounds.
"""
import gc
import itertools
import sys
import time

import numpy as np
import pytest

from audio3a.plc import Concealer, PlcConfig
from bench.scenarios import corpus

CASES = [(rate, ms) for rate in (16000, 48000) for ms in (10, 20)]


def _frames(rate, frame_ms, seconds=20.0):
    x = corpus.speech(0, rate)
    x = np.tile(x, int(np.ceil(seconds * rate / len(x))))[: int(seconds * rate)].astype(np.float32)
    flen = rate * frame_ms // 1000
    return x[: len(x) // flen * flen].reshape(-1, flen)


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0] // 1000}k-{c[1]}ms")
def case(request):
    rate, ms = request.param
    return rate, ms, _frames(rate, ms, 5.0)


def test_concealed_frame(benchmark, case):
    rate, ms, frames = case
    plc = Concealer(rate, PlcConfig(frame_ms=ms))
    nxt = itertools.cycle(range(frames.shape[0]))
    for _ in range(50):
        plc.process(frames[next(nxt)])
    benchmark.group = f"plc {rate // 1000} kHz {ms} ms"
    benchmark.name = "concealed frame (first of a burst)"
    def receive_one():  # untimed: ends the previous burst, so each timed call starts a new one
        plc.process(frames[next(nxt)])

    benchmark.pedantic(plc.conceal, setup=receive_one, rounds=2000, iterations=1, warmup_rounds=20)


def test_received_frame(benchmark, case):
    rate, ms, frames = case
    plc = Concealer(rate, PlcConfig(frame_ms=ms))
    nxt = itertools.cycle(range(frames.shape[0]))
    benchmark.group = f"plc {rate // 1000} kHz {ms} ms"
    benchmark.name = "received frame"
    benchmark(lambda: plc.process(frames[next(nxt)]))


def measure(seconds=20.0, loss=0.2, seed=1):
    """Rows of p50/p99/max µs per concealed and per received frame over speech with Bernoulli loss."""
    rows = []
    for rate, ms in CASES:
        frames = _frames(rate, ms, seconds)
        lost = np.random.default_rng(seed).random(frames.shape[0]) < loss
        plc = Concealer(rate, PlcConfig(frame_ms=ms))
        for i in range(50):
            plc.process(None if lost[i] else frames[i])
        t_con, t_rec = [], []
        gc.disable()
        try:
            for i in range(frames.shape[0]):
                f = None if lost[i] else frames[i]
                t0 = time.perf_counter_ns()
                plc.process(f)
                dt = (time.perf_counter_ns() - t0) / 1000.0
                (t_con if f is None else t_rec).append(dt)
        finally:
            gc.enable()
        for kind, t in (("concealed", t_con), ("received", t_rec)):
            t = np.array(t)
            rows.append({"rate": rate, "frame_ms": ms, "frame": kind, "n": t.size,
                         "p50_us": float(np.percentile(t, 50)), "p99_us": float(np.percentile(t, 99)),
                         "max_us": float(t.max())})
    return rows


if __name__ == "__main__":
    rows = measure(seconds=5.0 if "--quick" in sys.argv else 20.0)
    print("| rate | packet | frame | n | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rate'] // 1000} kHz | {r['frame_ms']} ms | {r['frame']} | {r['n']} | {r['p50_us']:.1f} "
              f"| {r['p99_us']:.1f} | {r['max_us']:.1f} |")
