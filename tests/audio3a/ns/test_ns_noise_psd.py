import numpy as np
import pytest

from audio3a.ns import NoiseSuppressor
from audio3a.ns.noise_psd import NOISE

from ns_helpers import run


def _noise_level_db(ns):
    """Mean of the noise PSD over the bins, as a level per sample (Parseval)."""
    return ns.stats.noise_floor_dbfs


@pytest.mark.parametrize("level_db", [-50.0, -30.0])
def test_tracks_stationary_white_noise_level(level_db):
    x = np.random.default_rng(1).standard_normal(16000 * 3) * 10 ** (level_db / 20)
    _, ns, stats = run(x)
    assert ns.stats.noise_floor_dbfs == pytest.approx(level_db, abs=1.5)
    assert np.all(ns.imcra.state[NOISE] > 0)


def test_follows_noise_steps_up_and_down():
    rng = np.random.default_rng(2)
    g = np.concatenate([np.full(16000 * 3, 0.003), np.full(16000 * 3, 0.03), np.full(16000 * 3, 0.003)])
    x = rng.standard_normal(g.size) * g
    _, _, stats = run(x)
    floor = np.array([s.noise_floor_dbfs for s in stats])
    hi_db = 20 * np.log10(0.03)
    lo_db = 20 * np.log10(0.003)
    # within 2 dB of the new level 2 s after a 20 dB rise, and 0.5 s after the fall
    assert floor[300 + 200] == pytest.approx(hi_db, abs=2.0)
    assert floor[600 + 50] == pytest.approx(lo_db, abs=2.0)


def test_stats_report_probability_and_snr():
    ns = NoiseSuppressor(16000)
    rng = np.random.default_rng(3)
    for _ in range(100):
        ns.process((rng.standard_normal(160) * 0.01).astype(np.float32))
    assert ns.stats.speech_prob < 0.2
    t = np.arange(160 * 30) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + rng.standard_normal(t.size) * 0.01
    for i in range(30):
        ns.process(tone[i * 160:(i + 1) * 160].astype(np.float32))
    assert ns.stats.speech_prob > 0.0
    assert ns.stats.snr_db > 10.0


def test_window_minimum_is_the_minimum_over_the_last_u_subwindows():
    """At each sub-window boundary S_min = min of S over the last U*V + 1 frames.

    (Each sub-window's minimum starts from S of the boundary frame before it.)
    """
    from audio3a.ns.noise_psd import N_SUBWIN, S, S_MIN, SUBWIN_LEN, Imcra, imcra_smoothing

    k = 9
    t = Imcra(k)
    rng = np.random.default_rng(4)
    history = []
    for frame in range(1, 12 * N_SUBWIN * SUBWIN_LEN + 1):
        power = rng.exponential(1.0, k) * (1.0 + 20.0 * (frame % 97 < 30))  # bursts move the minima
        imcra_smoothing(power, t.state, t.ring, t.counters, t.scratch)
        history.append(t.state[S].copy())
        if frame % SUBWIN_LEN == 0 and frame >= N_SUBWIN * SUBWIN_LEN:
            window = np.array(history[-(N_SUBWIN * SUBWIN_LEN + 1):])
            assert np.array_equal(t.state[S_MIN], window.min(axis=0))


@pytest.mark.parametrize("lead_frames", [0, 3])
def test_abrupt_or_silent_start_seeds_the_noise_estimate(lead_frames):
    """A loud hum that starts at once (its first frame zeroed by the click restoration), or after
    a few frames of digital silence: the noise estimate is within 3 dB of the hum's level 0.5 s
    in, instead of held near zero by minima seeded at zero."""
    rate = 16000
    t = np.arange(rate * 2) / rate
    hum = sum(np.sin(2 * np.pi * 50.0 * h * t + h) / h for h in range(1, 21, 2))
    hum = 0.1 * hum / np.std(hum) + 1e-3 * np.random.default_rng(5).standard_normal(t.size)
    x = np.concatenate([np.zeros(160 * lead_frames), hum])
    _, _, stats = run(x)
    floor = np.array([s.noise_floor_dbfs for s in stats])
    assert floor[lead_frames + 50] == pytest.approx(20 * np.log10(0.1), abs=3.0)


@pytest.mark.parametrize("rate, lead", [(16000, 56), (48000, 168)])
def test_onset_late_in_the_first_frame_restarts_the_tracker(rate, lead):
    """Noise and a tone that start a few ms into the first frame (the AEC's 3.5 ms delay gives
    this): the first periodogram holds only the window's tail, and minima seeded from it sat
    ~10 dB under the noise, so the start-up cap held the estimate low and the noise passed
    (before the restart: 18.1 dB of cut at 16 kHz, 25.5 dB at 48 kHz, over 0.5-1 s). The
    tracker restarts from the second frame: 0.5-1 s in, the noise is cut >= 30 dB."""
    n = 2 * rate
    t = np.arange(n) / rate
    x = 0.02 * np.sin(2 * np.pi * 1000.0 * t) + 0.02 * np.random.default_rng(0).standard_normal(n)
    x[:lead] = 0.0
    y, _, stats = run(x, rate=rate)
    s = slice(rate // 2, rate)
    assert 10 * np.log10(np.mean(x[s] ** 2) / np.mean(y[s] ** 2)) >= 30.0
    floor = np.array([st.noise_floor_dbfs for st in stats])
    assert floor[50] == pytest.approx(10 * np.log10(np.mean(x[lead:] ** 2)), abs=3.0)
