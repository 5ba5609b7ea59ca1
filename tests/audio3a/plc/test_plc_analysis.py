"""Pitch estimator (accuracy, octave checks) and LPC (Levinson-Durbin against a direct solve)."""
import numpy as np
import pytest
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from audio3a.plc.lpc import analysis_filter, levinson, lpc
from audio3a.plc.pitch import PitchEstimator, period_near


def harmonic(rate, f0, seconds=0.1, amps=None, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    amps = amps or [1.0 / k for k in range(1, 12)]
    rng = np.random.default_rng(seed)
    return sum(a * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(amps, 1))


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("f0", [65.0, 100.0, 180.0, 260.0, 390.0])
def test_pitch_of_harmonic_signals(rate, f0):
    period, c = PitchEstimator(rate)(harmonic(rate, f0))
    assert abs(period - rate / f0) <= 1.0 + 0.005 * rate / f0
    assert c > 0.95


def test_octave_check_prefers_the_true_period():
    # every other cycle slightly different: correlation at 2T is a bit higher than at T
    rate, f0 = 16000, 200.0
    x = harmonic(rate, f0) + 0.15 * harmonic(rate, f0 / 2, amps=[1.0])
    period, c = PitchEstimator(rate)(x)
    assert abs(period - rate / f0) <= 1 or abs(period - 2 * rate / f0) <= 1  # either is a valid period
    y = harmonic(rate, f0)
    period, _ = PitchEstimator(rate)(y)
    assert abs(period - rate / f0) <= 1  # never a multiple for a clean periodic signal


def test_noise_has_low_pitch_correlation():
    x = np.random.default_rng(0).standard_normal(1600)
    _, c = PitchEstimator(16000)(x)
    assert c < 0.5


def test_levinson_matches_direct_solve():
    rng = np.random.default_rng(2)
    x = lfilter([1.0], [1.0, -1.6, 0.9], rng.standard_normal(4000))
    r = np.array([x[: len(x) - k] @ x[k:] for k in range(11)]) / len(x)
    a = np.zeros(11)
    err = levinson(r, a)
    direct = solve_toeplitz(r[:10], -r[1:11])
    assert np.allclose(a[1:], direct, atol=1e-8)
    assert err > 0 and err < r[0]


def test_lpc_whitens_an_ar_process():
    rng = np.random.default_rng(3)
    e = rng.standard_normal(3200)
    x = lfilter([1.0], [1.0, -1.6, 0.9], e)
    a = lpc(x[-640:], 16, 16000)
    res = np.zeros(600)
    analysis_filter(a, x, len(x) - 600, 600, res)
    assert 10 * np.log10(np.var(x) / np.var(res)) > 10.0


@pytest.mark.parametrize("rate", [16000, 48000])
def test_period_near_finds_the_period_inside_a_narrow_range(rate):
    f0 = 137.0
    x = harmonic(rate, f0)
    true = rate / f0
    lo, hi = int(true * 0.97), int(np.ceil(true * 1.03))
    period, c = period_near(x, len(x), rate // 50, lo, hi, np.zeros(hi - lo + 1))
    assert abs(period - true) <= 0.25 + 0.002 * true and c > 0.95
