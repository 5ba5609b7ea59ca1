import numpy as np
import pytest

from audio3a.errors import FrameError
from audio3a.metrics import active_speech_level, rms_db
from audio3a.ns import NoiseSuppressor, NsConfig
from audio3a.ns.suppressor import METHODS
from bench.scenarios import corpus
from bench.scenarios.noisy import mixture, noise

from ns_helpers import run, shadow

needs_corpus = pytest.mark.skipif(corpus.corpus_dir() is None, reason="needs the speech corpus")
methods = pytest.mark.parametrize("method", METHODS)


@needs_corpus
@pytest.mark.parametrize("kind", ["white", "pink"])
@pytest.mark.parametrize("talker", [1, 2])
@methods
def test_speech_in_noise_at_5_db(kind, talker, method):
    """SNR gain >= 10 dB (gains applied to speech and noise separately) with speech within 1.5 dB."""
    mix = mixture(talker, kind, 5.0, seconds=8.0, lead_s=1.0)
    y, s_out, n_out = shadow(mix, NsConfig(method=method))
    speech_in, _ = active_speech_level(mix.clean, mix.rate)
    speech_out, _ = active_speech_level(s_out, mix.rate)
    snr_gain = (speech_out - rms_db(n_out)) - (speech_in - rms_db(mix.noise))
    assert snr_gain >= 10.0
    level_out, _ = active_speech_level(y, mix.rate)
    assert abs(level_out - speech_in) <= 1.5


@needs_corpus
@pytest.mark.parametrize("rate", [16000, 48000])
@methods
def test_clean_speech_passes(rate, method):
    clean = corpus.speech(1, rate)
    clean = clean * 10 ** ((-26.0 - active_speech_level(clean, rate)[0]) / 20)
    y, _, _ = run(clean, rate, NsConfig(method=method))
    assert abs(active_speech_level(y, rate)[0] - active_speech_level(clean, rate)[0]) <= 0.5
    assert np.corrcoef(clean, y)[0, 1] >= 0.98


@pytest.mark.parametrize("rate", [16000, 48000])
@methods
def test_silence_in_silence_out(rate, method):
    y, ns, _ = run(np.zeros(rate), rate, NsConfig(method=method))
    assert np.all(y == 0.0)
    assert ns.stats.noise_floor_dbfs < -100.0
    assert np.isfinite(ns.stats.snr_db) and 0.0 <= ns.stats.speech_prob <= 1.0


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "room"])
@methods
def test_noise_only_is_attenuated_after_one_second(kind, method):
    if kind == "room" and corpus.corpus_dir() is None:
        pytest.skip("needs the noise corpus")
    x = noise(kind, 16000 * 4, seed=5)
    x *= 10 ** ((-35.0 - rms_db(x)) / 20)
    y, _, _ = run(x, config=NsConfig(method=method))
    assert rms_db(x[16000:]) - rms_db(y[16000:]) >= 15.0


@needs_corpus
@methods
def test_48_khz_speech_in_white_noise(method):
    mix = mixture(2, "white", 5.0, rate=48000, seconds=6.0, lead_s=1.0)
    y, s_out, n_out = shadow(mix, NsConfig(method=method))
    snr_gain = ((active_speech_level(s_out, 48000)[0] - rms_db(n_out))
                - (active_speech_level(mix.clean, 48000)[0] - rms_db(mix.noise)))
    assert snr_gain >= 10.0
    assert abs(active_speech_level(y, 48000)[0] - active_speech_level(mix.clean, 48000)[0]) <= 1.5


@methods
def test_reset_restores_initial_state(method):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(16000) * 0.05
    y1, ns, _ = run(x, config=NsConfig(method=method))
    run(rng.standard_normal(8000) * 0.3, ns=ns)  # different history
    ns.reset()
    y2, _, _ = run(x, ns=ns)
    assert np.array_equal(y1, y2)


@methods
def test_config_levels_and_build(method):
    ns = NsConfig("low").build(48000)
    assert isinstance(ns, NoiseSuppressor) and ns.frame_len == 480
    assert ns.latency_ms == 10.0
    with pytest.raises(ValueError, match="level"):
        NsConfig("extreme").build(16000)
    with pytest.raises(ValueError, match="method"):
        NsConfig(method="magic").build(16000)
    # deeper levels attenuate stationary noise more
    x = np.random.default_rng(8).standard_normal(16000 * 2) * 0.02
    att = [rms_db(x[8000:]) - rms_db(run(x, config=NsConfig(lv, method))[0][8000:])
           for lv in ("low", "moderate", "high", "very-high")]
    assert np.all(np.diff(att) > 2.0)


def test_lower_level_cuts_noise_only_pauses_less():
    """The pause floor scales with the level: "low" keeps noise-only stretches near its -10 dB floor."""
    x = noise("pink", 16000 * 3, seed=9) * 10 ** (-35.0 / 20)
    att = {lv: rms_db(x[16000:]) - rms_db(run(x, config=NsConfig(lv, "dsp"))[0][16000:])
           for lv in ("low", "high")}
    assert att["low"] <= 11.0
    assert att["high"] - att["low"] >= 15.0


@methods
def test_bad_frames_are_rejected(method):
    ns = NoiseSuppressor(16000, NsConfig(method=method))
    ref = NoiseSuppressor(16000, NsConfig(method=method))
    x = (np.random.default_rng(9).standard_normal(1600) * 0.05).astype(np.float32)
    for i in range(5):
        assert np.array_equal(ns.process(x[i * 160:(i + 1) * 160]), ref.process(x[i * 160:(i + 1) * 160]))
    with pytest.raises(FrameError, match="160"):
        ns.process(np.zeros(100, np.float32))
    with pytest.raises(FrameError, match="NaN"):
        ns.process(np.full(160, np.nan, np.float32))
    # a rejected frame leaves the state as it was
    for i in range(5, 10):
        assert np.array_equal(ns.process(x[i * 160:(i + 1) * 160]), ref.process(x[i * 160:(i + 1) * 160]))
