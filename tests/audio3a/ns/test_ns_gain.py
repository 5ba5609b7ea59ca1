import numpy as np
import pytest
from scipy.special import exp1 as scipy_exp1

from audio3a.ns.gain import (PAUSE_DEPTH_DB, PAUSE_EXTRA_DB, SNR_LT_INIT, SPEECH_LIFT_DB, decision_directed,
                             exp1, lsa_gain, omlsa_gain, pause_floor, release_gain)


def test_exp1_matches_scipy():
    for x in np.geomspace(1e-6, 50.0, 200):
        ref = scipy_exp1(x)
        assert abs(exp1(x) - ref) <= 1e-4 * max(ref, 1e-3)


def test_lsa_gain_limits():
    # high SNR: no attenuation; LSA lies above the Wiener gain xi / (1 + xi)
    assert lsa_gain(1e3, 1e3 * 1e3 / (1 + 1e3)) == pytest.approx(1.0, abs=2e-3)
    for xi_db in (-10.0, 0.0, 10.0):
        xi = 10 ** (xi_db / 10)
        g = lsa_gain(xi, (1 + xi) * xi / (1 + xi))
        assert xi / (1 + xi) < g <= 1.0
    # at a fixed a-posteriori SNR the gain grows with the a-priori SNR (up to the cap of 1)
    gains = [lsa_gain(10 ** (d / 10), 2.0 * 10 ** (d / 10) / (1 + 10 ** (d / 10))) for d in range(-20, 21, 5)]
    assert np.all(np.diff(gains) >= 0) and gains[0] < 0.2


def test_lsa_gain_matches_the_exponential_integral_form():
    """G_H1 = min(xi / (1 + xi) exp(E1(v) / 2), 1) on both sides of v = 1 and past v = 60 (1e-4: A&S E1)."""
    v = np.geomspace(1e-9, 200.0, 400)
    for xi in (10 ** -2.5, 0.1, 1.0, 10.0, 1e3):
        ref = np.minimum(xi / (1 + xi) * np.exp(0.5 * scipy_exp1(v)), 1.0)
        got = np.array([lsa_gain(xi, x) for x in v])
        assert np.allclose(got, ref, rtol=1e-4, atol=0.0)
        gh1, g = np.zeros(v.size), np.zeros(v.size)
        omlsa_gain(np.full(v.size, xi), v, np.full(v.size, 0.5), 0.1, gh1, g)
        assert np.allclose(gh1, got, rtol=1e-14, atol=0.0)  # the vectorised pass: the same G_H1
        assert np.allclose(g, np.sqrt(np.maximum(got, 0.1) * 0.1), rtol=1e-12, atol=0.0)


def test_omlsa_gain_floor_and_presence():
    k = 5
    xi = np.full(k, 10.0)
    v = np.full(k, 10.0)
    p = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    gh1, g = np.zeros(k), np.zeros(k)
    omlsa_gain(xi, v, p, 0.1, gh1, g)
    assert g[0] == pytest.approx(0.1)
    assert g[-1] == pytest.approx(gh1[-1])
    assert np.all(np.diff(g) > 0)


def test_decision_directed_floor_and_ml_term():
    k = 3
    power = np.array([1.0, 10.0, 100.0])
    noise = np.ones(k)
    gamma, xi, v = np.zeros(k), np.zeros(k), np.zeros(k)
    decision_directed(power, noise, np.zeros(k), np.zeros(k), 1e-3, gamma, xi, v)
    assert np.allclose(gamma, power)
    assert xi[0] == 1e-3
    assert xi[2] == pytest.approx(0.08 * 99)


def test_release_passes_rises_and_smooths_falls_where_speech_is_absent():
    prev = np.array([0.1, 0.1, 0.9, 0.9])
    g = np.array([0.1, 0.9, 0.1, 0.1])
    p = np.array([0.0, 0.0, 0.0, 1.0])
    out, state = g.copy(), prev.copy()
    release_gain(out, p, state, 0.5)
    assert out[1] == 0.9                              # a rise (an onset) passes at once
    assert out[2] == pytest.approx(0.5 * 0.9 + 0.5 * 0.1)  # a fall where speech is absent is released slowly
    assert out[3] == 0.1                              # ... and follows at once where speech is present
    assert out[0] == 0.1 and np.array_equal(state, out)


def test_floor_lifted_in_speech_and_deepened_in_pauses_at_low_snr():
    g_min = 10 ** (-25 / 20)
    db = lambda g: 20 * np.log10(g)  # noqa: E731
    # speech frames: the floor is S above G_min, whatever the SNR
    assert db(pause_floor(1.0, 1.0, np.array([1.0]), g_min)) == pytest.approx(-25 + SPEECH_LIFT_DB)
    assert db(pause_floor(1e4, 1.0, np.array([1e4]), g_min)) == pytest.approx(-25 + SPEECH_LIFT_DB)
    # pauses at high long-term SNR (>= D + G_min in dB): the level's floor
    assert pause_floor(0.0, 0.0, np.array([10 ** ((PAUSE_DEPTH_DB - 20) / 10)]), g_min) == pytest.approx(g_min)
    # pause at 20 dB long-term SNR: G_pause^2 = SNR_lt / D, so the residual noise sits D below the speech
    assert db(pause_floor(0.0, 0.0, np.array([100.0]), g_min)) == pytest.approx(20.0 - PAUSE_DEPTH_DB)
    assert db(pause_floor(0.0, 0.0, np.array([SNR_LT_INIT]), g_min)) == pytest.approx(30.0 - PAUSE_DEPTH_DB)
    # very low SNR: clipped at the deepest pause floor; half-held presence: half way in dB
    assert db(pause_floor(0.0, 0.0, np.array([1e-3]), g_min)) == pytest.approx(-25 - PAUSE_EXTRA_DB)
    assert db(pause_floor(0.0, 0.5, np.array([1e-3]), g_min)) == pytest.approx(
        -25 + 0.5 * (SPEECH_LIFT_DB - PAUSE_EXTRA_DB))
    # SNR_lt follows the frame SNR in speech frames only
    s = np.array([100.0])
    pause_floor(0.0, 0.0, s, g_min)
    assert s[0] == 100.0
    pause_floor(0.0, 1.0, s, g_min)
    assert s[0] < 100.0


def test_pause_depth_scales_with_the_level():
    """D and E scale with the level's floor in dB: "low" (-10 dB) cuts pauses by at most 0.4 E under its floor."""
    db = lambda g: 20 * np.log10(g)  # noqa: E731
    floors = {"low": -10.0, "moderate": -17.0, "high": -25.0}
    for name, fl in floors.items():
        r = fl / -25.0
        g_min = 10 ** (fl / 20)
        assert db(pause_floor(0.0, 0.0, np.array([1e-3]), g_min)) == pytest.approx(fl - r * PAUSE_EXTRA_DB)
        assert db(pause_floor(0.0, 0.0, np.array([100.0]), g_min)) == pytest.approx(
            min(max(20.0 - r * PAUSE_DEPTH_DB, fl - r * PAUSE_EXTRA_DB), fl))
        assert db(pause_floor(0.0, 1.0, np.array([1.0]), g_min)) == pytest.approx(fl + SPEECH_LIFT_DB)
    # at the initial long-term SNR "low" keeps its floor in pauses, "high" cuts 35 dB deeper
    assert db(pause_floor(0.0, 0.0, np.array([SNR_LT_INIT]), 10 ** (-10 / 20))) == pytest.approx(-10.0)
    assert db(pause_floor(0.0, 0.0, np.array([SNR_LT_INIT]), 10 ** (-25 / 20))) == pytest.approx(-60.0)
