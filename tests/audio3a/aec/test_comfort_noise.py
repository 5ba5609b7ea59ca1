import numpy as np
import pytest

from audio3a.aec import EchoCanceller
from audio3a.aec.comfort_noise import noise_update
from bench.scenarios.echo import echo_scenario

RATE = 16000


def _track(powers, echo, rise=10 ** (0.02 / 10)):
    """Run noise_update over frames of |E|^2 = powers (frames x bins); the noise estimate per frame."""
    n_bins = powers.shape[1]
    smoothed, floor, noise = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    out = np.zeros_like(powers)
    for i, p in enumerate(powers):
        noise_update(np.sqrt(p).astype(np.complex128), smoothed, floor, noise, rise, echo[i], 1.0)
        out[i] = noise
    return out


def test_noise_estimate_is_the_mean_and_holds_under_echo():
    """Stationary noise (exponential periodogram, mean 1): the estimate settles near the mean,
    not at its minimum; 10 dB louder frames with echo present leave it where it was, and
    without echo (a louder background) it follows them within 8 s (the 2 dB/s rise)."""
    rng = np.random.default_rng(0)
    n_bins = 64
    quiet = rng.exponential(1.0, (300, n_bins))
    loud = 10.0 * rng.exponential(1.0, (800, n_bins))
    powers = np.vstack([quiet, loud])
    no_echo = np.zeros_like(powers)
    with_echo = np.vstack([no_echo[:300], np.full((800, n_bins), 1e3)])
    est = _track(powers, with_echo)
    assert abs(10 * np.log10(est[299].mean())) <= 1.5
    assert abs(10 * np.log10(est[-1].mean() / est[299].mean())) <= 0.5
    est = _track(powers, no_echo)
    assert abs(10 * np.log10(est[-1].mean()) - 10.0) <= 1.5


@pytest.mark.corpus
def test_comfort_noise_level_stays_at_the_background_in_double_talk():
    """Far end from 0 s, near end from 4 s: the noise estimate (250 Hz - 4 kHz) stays within
    3 dB of the true background throughout, double talk included (the plain minimum follower
    started 5 dB low and drifted 5 dB high by 8 s)."""
    s = echo_scenario(8.0, RATE, delay_ms=40.0, double_talk=True, near_start_s=4.0, seed=2)
    aec = EchoCanceller(RATE)
    n = aec.frame_len
    frames = s.mic.size // n
    band = slice(8, 128)
    est, true = np.zeros(frames), np.zeros(aec.n_bins)
    pad = np.zeros(aec.n_fft)
    for i in range(frames):
        seg = slice(i * n, (i + 1) * n)
        aec.process_render(s.far[seg].astype(np.float32))
        aec.process(s.mic[seg].astype(np.float32))
        est[i] = aec.cng.noise[band].sum()
        pad[-n:] = s.noise[seg]
        true += np.abs(np.fft.rfft(pad)) ** 2 / frames
    err_db = 10 * np.log10(est[100:] / true[band].sum())
    assert np.all(np.abs(err_db) <= 3.0), (err_db.min(), err_db.max())


def test_a_start_on_speech_does_not_set_the_noise_level():
    """The first frames are 30 dB over the background and the echo estimate keeps every bin
    from counting as noise alone (a far end with no echo path, the initial phase assuming
    echo): the estimate still comes down to within 7 dB (delta = 5) of the background once
    quiet frames arrive, instead of holding the speech level."""
    rng = np.random.default_rng(4)
    n_bins = 32
    powers = rng.exponential(1.0, (200, n_bins))
    powers[:20] *= 1e3
    est = _track(powers, np.full_like(powers, 1e3))
    assert 10 * np.log10(est[19].mean()) > 20.0          # it did start on the speech
    assert 10 * np.log10(est[-1].mean()) <= 7.0
