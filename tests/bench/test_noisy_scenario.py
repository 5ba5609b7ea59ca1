import numpy as np
import pytest

from audio3a.metrics import active_speech_level, rms_db
from bench.scenarios import corpus
from bench.scenarios.noisy import NOISE_KINDS, mixture, noise

needs_corpus = pytest.mark.skipif(corpus.corpus_dir() is None, reason="needs the speech corpus")


@needs_corpus
@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_mixture_has_requested_snr_and_is_seeded(kind):
    m = mixture(1, kind, 0.0, seconds=3.0)
    assert m.noisy.size == 3 * 16000
    np.testing.assert_allclose(m.noisy, m.clean + m.noise)
    snr = active_speech_level(m.clean, 16000)[0] - rms_db(m.noise)
    assert snr == pytest.approx(0.0, abs=0.01)
    assert np.max(np.abs(m.noisy)) <= 0.95 + 1e-9
    again = mixture(1, kind, 0.0, seconds=3.0)
    assert np.array_equal(m.noisy, again.noisy)


def test_synthetic_noise_spectra_have_their_slopes():
    n = 16000 * 4
    f = np.fft.rfftfreq(n, 1 / 16000)
    band = lambda x, lo, hi: np.mean(np.abs(np.fft.rfft(x))[(f >= lo) & (f < hi)] ** 2)  # noqa: E731
    for kind, slope_db in (("white", 0.0), ("pink", -3.0), ("brown", -6.0)):
        x = noise(kind, n, seed=1)
        per_octave = 10 * np.log10(band(x, 2000, 4000) / band(x, 1000, 2000))
        assert per_octave == pytest.approx(slope_db, abs=0.7)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown noise kind"):
        noise("traffic", 100)
