"""Peak limiter: nothing above the ceiling, nothing touched below it."""
import numpy as np
import pytest

from audio3a.agc import limiter as lim

RATE = 16000
CEILING = 10 ** (-1 / 20)


def run(x, ceiling=CEILING):
    state = np.zeros(1)
    y = x.astype(np.float32).copy()
    release = lim.release_coef(RATE)
    for f in y.reshape(-1, 160):
        lim.limit(f, ceiling, release, state)
    return y


@pytest.mark.parametrize("gain", [1.0, 4.0, 100.0])
def test_no_sample_above_the_ceiling(gain):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(RATE) * 0.3 * gain
    y = run(x)
    assert np.max(np.abs(y)) <= CEILING


def test_full_scale_square_wave():
    t = np.arange(RATE)
    x = np.where((t // 16) % 2 == 0, 1.0, -1.0)          # 500 Hz square at 0 dBFS
    y = run(x)
    assert np.max(np.abs(y)) <= CEILING
    # after the first sample the gain holds: the square stays a square, 1 dB down
    assert np.allclose(np.abs(y[160:]), CEILING, rtol=1e-5)


def test_signals_below_the_ceiling_pass_untouched():
    x = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE) * 0.8
    assert np.array_equal(run(x), x.astype(np.float32))


def test_gain_recovers_after_a_peak():
    x = np.full(RATE, 0.5)
    x[1000] = 5.0                                          # one spike, 20 dB over
    y = run(x)
    assert abs(y[1000]) <= CEILING
    assert y[1000 + 160] < 0.5 * 0.9                       # still holding 10 ms later
    assert y[1000 + int(0.5 * RATE)] == pytest.approx(0.5)  # recovered after 0.5 s


def test_returns_the_deepest_gain_and_no_lookahead():
    state = np.zeros(1)
    f = np.full(160, 2.0, np.float32)
    g = lim.limit(f, CEILING, lim.release_coef(RATE), state)
    assert g == pytest.approx(CEILING / 2.0, rel=1e-5)
    assert lim.LOOKAHEAD_MS == 0.0
