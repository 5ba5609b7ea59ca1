"""Kernel-level checks of the echo canceller's parts (leakage, suppressor FIR, initial phase,
delay-estimator median)."""
import numpy as np

from audio3a.aec import AecConfig, EchoCanceller
from audio3a.aec.filter import leakage_update
from audio3a.aec.suppressor import EVIDENCE_SMOOTHING, MIXED_FLOOR_DB, EchoSuppressor, echo_path_evidence, \
    gain_fir_direct, hann_spectrum, suppression_gain
from audio3a.fft import make_plan
from audio3a.metrics import erle_db
from bench.scenarios.echo import echo_scenario

RATE = 16000


def _run(aec, mic, far):
    n = aec.frame_len
    out = np.zeros(mic.size // n * n)
    for i in range(mic.size // n):
        aec.process_render(far[i * n:(i + 1) * n].astype(np.float32))
        out[i * n:(i + 1) * n] = aec.process(mic[i * n:(i + 1) * n].astype(np.float32))
    d = int(round(aec.latency_ms * aec.sample_rate / 1000))
    return np.concatenate([out[d:], np.zeros(d)])


def test_leakage_recovers_from_negative_covariance():
    """A stretch of anti-correlated error/echo-estimate fluctuations (as while a filter converges)
    must not pin the leakage at its floor once the two correlate: the state is clamped."""
    rng = np.random.default_rng(0)
    nb = 257
    Eh, Ya, state = np.zeros(nb), np.zeros(nb), np.zeros(2)

    def frame(anti):
        y = (rng.standard_normal(nb) + 1j * rng.standard_normal(nb)) / np.sqrt(2)
        y2 = np.abs(y) ** 2
        e2 = 0.1 * np.maximum(4.0 - y2, 0.0) if anti else 0.1 * y2
        return leakage_update(np.sqrt(e2) + 0j, y, Eh, Ya, state, 0.02, 0.005)

    for _ in range(300):  # error power falls where the echo estimate's rises
        frame(True)
    for _ in range(150):  # then a residual of 10 % of the echo estimate
        eta = frame(False)
    # unclamped (ratio clipped only), eta would still be about 0.02 here
    assert eta > 0.03


def test_gain_fir_direct_matches_folded_convolution():
    sup = EchoSuppressor(160, 512, make_plan(512), 56, -12.0, 2.0, -20.0, 90.0)
    G = np.random.default_rng(1).uniform(0.05, 1.0, 257)
    H = np.zeros(257, np.complex128)
    gain_fir_direct(G, sup.kernel_taps, sup.phase, H, np.zeros(512))
    K = (sup.kernel_taps.size - 1) // 2
    idx = np.arange(257)[:, None] - np.arange(-K, K + 1)[None, :]
    idx = np.abs(idx)
    idx = np.where(idx >= 257, 512 - idx, idx)
    ref = (G[idx] * sup.kernel_taps[None, :]).sum(1) * sup.phase
    np.testing.assert_allclose(H, ref, atol=1e-14)
    H1 = np.zeros(257, np.complex128)
    gain_fir_direct(np.ones(257), sup.kernel_taps, sup.phase, H1, np.zeros(512))
    np.testing.assert_allclose(H1, sup.phase, atol=1e-12)  # G = 1: the pure delay


def test_hann_spectrum_matches_windowed_fft():
    """The three-tap form equals the FFT of the frame under the shifted Hann window."""
    n = 512
    x = np.random.default_rng(2).standard_normal(n)
    Xw = np.zeros(n // 2 + 1, np.complex128)
    hann_spectrum(np.fft.rfft(x), Xw)
    w = 0.5 * (1.0 - np.sin(2.0 * np.pi * np.arange(n) / n))
    np.testing.assert_allclose(Xw, np.fft.rfft(w * x), atol=1e-12)


def test_initial_phase_suppresses_before_convergence():
    """In the first second (delay not yet found at 330 ms) the output echo is cut far more than
    the linear filter can; with the initial phase disabled it is not."""
    s = echo_scenario(3.0, RATE, delay_ms=330.0, seed=0)
    k0, k1 = RATE // 2, int(1.5 * RATE)
    early = erle_db(s.mic[k0:k1], _run(EchoCanceller(RATE), s.mic, s.far)[k0:k1])
    off = EchoCanceller(RATE, AecConfig(init_erle_db=(-101.0, -100.0), init_extra_suppression_db=0.0))
    early_off = erle_db(s.mic[k0:k1], _run(off, s.mic, s.far)[k0:k1])
    assert early >= 25.0
    assert early >= early_off + 8.0


def test_initial_phase_latches_off_after_convergence():
    """Once the filter has converged, double talk (which lowers the single-talk ERLE estimate)
    does not bring the initial-phase suppression back."""
    s = echo_scenario(8.0, RATE, delay_ms=40.0, double_talk=True, near_start_s=4.0, seed=2)
    aec = EchoCanceller(RATE)
    n = aec.frame_len
    weights = []
    for i in range(s.mic.size // n):
        aec.process_render(s.far[i * n:(i + 1) * n].astype(np.float32))
        aec.process(s.mic[i * n:(i + 1) * n].astype(np.float32))
        weights.append(aec._init_w)
    weights = np.array(weights)
    assert weights[0] == 1.0
    assert np.all(weights[300:] == 0.0)


def test_median_inplace_matches_numpy():
    from audio3a.aec.delay import median_inplace

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 10, 100, 101):
        for trial in range(50):
            a = rng.integers(0, 5, n).astype(np.float64) if trial % 2 else rng.random(n)
            assert median_inplace(a.copy()) == np.median(a)


def test_pair_kernels_match_complex_reference():
    """The split/float32 forms of echo_spectra_pair and adapt_pair equal the plain complex
    arithmetic of echo_spectrum and adapt (complex64 ring and coefficients)."""
    from audio3a.aec.filter import adapt_pair, echo_spectra_pair

    rng = np.random.default_rng(3)
    cap, n_part, n_bins, base = 30, 20, 257, 27

    def crandn(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

    spectra = crandn(cap, n_bins).astype(np.complex64)
    power = np.abs(spectra.astype(np.complex128)) ** 2
    Wm = (0.1 * crandn(n_part, n_bins)).astype(np.complex64)
    Ws = (0.1 * crandn(n_part, n_bins)).astype(np.complex64)
    rows = [(base - p) % cap for p in range(n_part)]
    X = spectra[rows].astype(np.complex128)
    Ym, Ys = np.zeros(n_bins, complex), np.zeros(n_bins, complex)
    echo_spectra_pair(spectra, base, cap, Wm, Ws, Ym, Ys, np.zeros((2, n_bins)), np.zeros((2, n_bins)))
    np.testing.assert_allclose(Ym, (X * Wm).sum(0), rtol=0, atol=1e-5)
    np.testing.assert_allclose(Ys, (X * Ws).sum(0), rtol=0, atol=1e-5)

    Em, Es = 1e-3 * crandn(n_bins), 1e-3 * crandn(n_bins)
    gm, gs = rng.uniform(0.5, 1.5, n_part), rng.uniform(0.5, 1.5, n_part)
    mum, mus = rng.uniform(0.0, 0.5, n_bins), np.full(n_bins, 0.5)
    scale, delta = 512 / 160, 1e-2
    refs = []
    for W, E, g, mu in ((Wm, Em, gm, mum), (Ws, Es, gs, mus)):
        X2 = (g[:, None] * power[rows]).sum(0)
        t = E * (mu * scale / (X2 + delta + 0.01 * X2.mean()))
        refs.append(W.astype(np.complex128) + np.conj(X) * (g[:, None] * t))
    adapt_pair(spectra, power, base, cap, Wm, Em, gm, mum, Ws, Es, gs, mus, scale, delta, np.zeros(n_bins),
               np.zeros(n_bins), np.zeros((2, n_bins)), np.zeros((2, n_bins)))
    np.testing.assert_allclose(Wm, refs[0], rtol=0, atol=1e-7)  # the steps are ~1e-4
    np.testing.assert_allclose(Ws, refs[1], rtol=0, atol=1e-7)


def test_kalman_step_shrinks_in_double_talk_without_inflating_the_state():
    """filter.kalman_step: with the error equal to the predicted residual the step is mu_max;
    with 20 dB of near-end speech on top it falls to about R / S_ee, and the misalignment state
    only decays (near-end power does not raise it)."""
    from audio3a.aec.filter import kalman_step

    nb, c = 257, 160 / 512
    kal = np.array([1 / 20, 0.0, 0.5, c, 1.0])
    X2 = np.full(nb, 100.0)
    M = np.full(nb, 1e-3)
    r = c * X2 * M  # predicted residual echo per bin
    mu = np.zeros(nb)
    See, Syy = r.copy(), np.zeros(nb)
    kalman_step(np.sqrt(r) + 0j, np.zeros(nb, complex), X2, M, See, Syy, kal, mu)
    np.testing.assert_allclose(mu, 0.5)  # capped at mu_max
    m_before = M.copy()
    See[:] = 100.0 * r
    for _ in range(10):  # double talk: error 20 dB over the residual
        kalman_step(np.sqrt(100.0 * r) + 0j, np.zeros(nb, complex), X2, M, See, Syy, kal, mu)
    assert np.all(mu < 0.012) and np.all(mu > 0.005)
    assert np.all(M <= m_before)


def test_misalignment_bounded_by_error():
    """The state cannot predict more residual than twice the smoothed error (its calibration
    from above)."""
    from audio3a.aec.filter import kalman_step

    nb, c = 257, 160 / 512
    kal = np.array([1 / 20, 0.0, 0.5, c, 1.0])
    X2 = np.full(nb, 10.0)
    M = np.full(nb, 1e3)
    See, Syy, mu = np.zeros(nb), np.zeros(nb), np.zeros(nb)
    E = np.full(nb, 0.1 + 0j)
    for _ in range(20):
        kalman_step(E, np.zeros(nb, complex), X2, M, See, Syy, kal, mu)
    assert np.all(c * X2 * M <= 2.0 * See * (1 + 1e-9))


def test_gain_floor_follows_the_echo_share():
    """Bins the residual estimate covers fully sit at the floor: g_min when the mic is coherent
    with the far end (all echo), MIXED_FLOOR_DB when it is not (a near end may be under it), and
    the initial phase's deep floor whatever the coherence."""
    nb = 257

    def floor(coherent, w_init=0.0):
        ones = np.ones(nb)
        See, Syy, Sxx, Sdd = ones.copy(), ones.copy(), ones.copy(), ones.copy()
        Sxd = ones.copy() if coherent else np.zeros(nb)
        G = ones.copy()
        share, t = suppression_gain(ones + 0j, ones + 0j, ones, ones, 1.0, 0.0, 2.0, 0.1, 0.5, 0.9, 1.0, 0.375,
                                    See, Syy, Sxx, Sdd, Sxd, G, 0.5, np.zeros(nb), np.zeros(nb), w_init, 0.9,
                                    15.0, np.zeros(nb), np.ones(nb))
        assert t == 0.0 and share == (1.0 if coherent else 0.0)
        return 20 * np.log10(np.median(G))

    assert abs(floor(True) - -20.0) < 1e-9
    assert abs(floor(False) - MIXED_FLOOR_DB) < 1e-9
    assert abs(floor(False, w_init=1.0) - -35.0) < 1e-9



def test_initial_phase_floor_not_lifted_by_the_double_talk_weight():
    """Before convergence the echo estimate S_yy is far below the error, so the double-talk
    weight t is 1; the initial phase still keeps its deep floor (g_min - init_extra_db w^2), not
    the -12 dB double-talk floor (with that floor the first echo, before the bulk delay is found,
    leaked at only ~27 dB under the mic: bench DT seed 10)."""
    nb = 257

    def floor(w_init):
        ones = np.ones(nb)
        See, Syy, Sxx, Sdd, Sxd = ones.copy(), np.zeros(nb), ones.copy(), ones.copy(), np.zeros(nb)
        G = ones.copy()
        share, t = suppression_gain(ones + 0j, 0.01 * ones + 0j, ones, ones, 1.0, 0.0, 2.0, 0.1, 0.5, 0.9, 1.0,
                                    0.375, See, Syy, Sxx, Sdd, Sxd, G, 0.5, 100.0 * ones, np.zeros(nb), w_init,
                                    0.9, 15.0, np.zeros(nb), np.ones(nb))
        assert t == 1.0
        return 20 * np.log10(np.median(G))

    assert abs(floor(1.0) - -35.0) < 1e-9
    assert abs(floor(0.5) - (-20.0 * 0.5 - 12.0 * 0.5 - 15.0 * 0.25)) < 1e-9

def test_echo_path_evidence_needs_coherence_above_its_bias():
    """Independent far and mic spectra give a long-term coherence near its bias a / (2 - a):
    little evidence of an echo path; a mic that is a filtered far end gives full evidence."""
    nb, frames = 257, 400
    rng = np.random.default_rng(0)
    path = rng.standard_normal(nb) + 1j * rng.standard_normal(nb)

    def evidence(coherent):
        cross = np.zeros(nb, np.complex128)
        Sxx, Sdd, ev = np.zeros(nb), np.zeros(nb), np.zeros(nb)
        for _ in range(frames):
            X = rng.standard_normal(nb) + 1j * rng.standard_normal(nb)
            D = path * X if coherent else rng.standard_normal(nb) + 1j * rng.standard_normal(nb)
            echo_path_evidence(X, D, np.abs(X) ** 2, np.abs(D) ** 2, cross, Sxx, Sdd, ev, EVIDENCE_SMOOTHING)
        return ev

    assert np.mean(evidence(False)) < 0.15
    assert np.all(evidence(True) > 0.999)
