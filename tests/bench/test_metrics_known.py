"""audio3a.metrics on signals whose answer is known in closed form."""
import numpy as np
import pytest

from audio3a import metrics

FS = 16000


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n)


@pytest.mark.parametrize("atten_db", [0.0, 6.0, 26.0, 60.0])
def test_erle_of_known_attenuation(atten_db):
    mic = 0.3 * _noise(4 * FS)
    out = mic * 10 ** (-atten_db / 20)
    assert metrics.erle_db(mic, out) == pytest.approx(atten_db, abs=1e-9)


def test_erle_from_start_ignores_convergence():
    mic = 0.3 * _noise(4 * FS)
    out = mic.copy()
    out[FS:] *= 0.01                                       # converges after 1 s to 40 dB
    assert metrics.erle_db(mic, out, start=FS) == pytest.approx(40.0, abs=1e-9)
    seg = metrics.segmental_erle_db(mic, out, FS, 0.5)
    assert seg.shape == (8,)
    assert np.allclose(seg[:2], 0.0) and np.allclose(seg[2:], 40.0)


@pytest.mark.parametrize("gain", [0.25, 1.0, 3.0])
def test_si_sdr_of_scaled_copy_is_very_high(gain):
    x = _noise(FS)
    assert metrics.si_sdr_db(x, gain * x) > 100.0


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_snr_and_si_sdr_of_known_added_noise(snr):
    x = _noise(4 * FS, 1)
    n = _noise(4 * FS, 2)
    n *= np.sqrt(np.sum(x ** 2) / np.sum(n ** 2)) * 10 ** (-snr / 20)
    assert metrics.snr_db(x, x + n) == pytest.approx(snr, abs=1e-9)
    # independent noise: SI-SDR agrees within the chance correlation of 64k samples
    assert metrics.si_sdr_db(x, x + n) == pytest.approx(snr, abs=0.1)


@pytest.mark.parametrize("amp_dbfs", [0.0, -20.0, -40.0])
def test_active_level_of_calibrated_sine(amp_dbfs):
    """A sine of peak A reads 20 log10(A) - 3.01 dBFS (full scale: -3.01)."""
    t = np.arange(4 * FS) / FS
    x = 10 ** (amp_dbfs / 20) * np.sin(2 * np.pi * 1000 * t)
    level, activity = metrics.active_speech_level(x, FS)
    assert metrics.rms_db(x) == pytest.approx(amp_dbfs - 3.0103, abs=1e-3)
    # the envelope's ~20 ms attack at the onset counts as inactive: 0.5 % of 4 s
    assert level == pytest.approx(amp_dbfs - 3.0103, abs=0.05)
    assert activity > 0.99


def test_active_level_ignores_silence_gaps_mostly():
    """Speech-like bursts with pauses: the active level tracks the bursts, not the long-term RMS."""
    t = np.arange(8 * FS) / FS
    x = 0.1 * np.sin(2 * np.pi * 300 * t)
    x *= (np.floor(t) % 2 == 0)                            # 1 s on, 1 s off
    level, activity = metrics.active_speech_level(x, FS)
    assert metrics.rms_db(x) == pytest.approx(-26.02, abs=0.05)
    # P.56 counts the 200 ms hangover as active, so the level sits ~0.8 dB under the burst level
    assert -24.2 < level < -23.0
    assert 0.5 < activity < 0.7


def test_int16_input_scaled():
    x = (0.5 * np.sin(np.arange(FS) * 0.1) * 32768).astype(np.int16)
    assert metrics.rms_db(x) == pytest.approx(20 * np.log10(0.5) - 3.01, abs=0.02)
