"""Vad: backends, agreement with a P.56 energy reference on clean speech, errors, reset."""
import numpy as np
import pytest
from scipy.signal import lfilter

from audio3a.errors import FrameError
from audio3a.metrics import active_speech_level
from audio3a.vad import Vad, VadConfig
from bench.scenarios import corpus, levels

# clean studio / IVR recordings (the JFK broadcast is noisy and left out)
CLEAN = ("en_cmuarctic_aew_M", "en_cmuarctic_axb_F", "en_librispeech_1995", "fr_asterisk_june_F",
         "it_asterisk_carlo_M", "en_vctk_p240")


def energy_reference(x, rate, frame_len):
    """Per frame: speech when most samples are P.56-active (envelope within 15.9 dB of the
    active level, 200 ms hangover), the activity definition of ITU-T P.56 method B."""
    level, _ = active_speech_level(x, rate)
    g = np.exp(-1.0 / (0.03 * rate))
    env = lfilter([1 - g], [1, -g], lfilter([1 - g], [1, -g], np.abs(x)))
    above = 20 * np.log10(env + 1e-20) >= level - 15.9
    hang = int(0.2 * rate)
    c = np.concatenate([[0], np.cumsum(above)])
    idx = np.arange(1, x.size + 1)
    active = (c[idx] - c[np.maximum(idx - hang - 1, 0)]) > 0
    n = x.size // frame_len * frame_len
    return active[:n].reshape(-1, frame_len).mean(axis=1) >= 0.5


def decisions(vad, x):
    n = vad.frame_len
    return np.array([vad.is_speech(f) for f in x[: x.size // n * n].astype(np.float32).reshape(-1, n)])


@pytest.mark.parametrize("name", CLEAN)
@pytest.mark.corpus
def test_webrtc_agrees_with_energy_reference_on_clean_speech(name):
    x = levels.speaker(name, 16000)
    vad = Vad(16000)
    assert vad.backend == "webrtc"
    agree = np.mean(decisions(vad, x) == energy_reference(x, 16000, vad.frame_len))
    assert agree >= 0.90, f"{name}: {agree:.3f}"


@pytest.mark.parametrize("rate,frame_ms", [(48000, 10), (16000, 30), (8000, 20)])
@pytest.mark.corpus
def test_webrtc_other_rates_and_frame_sizes(rate, frame_ms):
    path = [p for p in corpus.files("speech") if "aew" in p.name][0]
    x = corpus.load(path, rate)
    vad = Vad(rate, frame_ms=frame_ms)
    assert vad.backend == "webrtc" and vad.frame_len == rate * frame_ms // 1000
    agree = np.mean(decisions(vad, x) == energy_reference(x, rate, vad.frame_len))
    assert agree >= 0.90


@pytest.mark.parametrize("rate,frame_ms", [(24000, 10), (22050, 20), (16000, 15)])
@pytest.mark.corpus
def test_energy_fallback_where_webrtc_does_not_apply(rate, frame_ms):
    vad = Vad(rate, frame_ms=frame_ms)
    assert vad.backend == "energy"
    agrees = []
    for name in CLEAN[:4]:
        path = [p for p in corpus.files("speech") if name in p.name][0]
        x = corpus.load(path, rate)
        vad.reset()
        agrees.append(np.mean(decisions(vad, x) == energy_reference(x, rate, vad.frame_len)))
    assert min(agrees) >= 0.88 and np.mean(agrees) >= 0.90, agrees


def test_silence_and_quiet_noise_are_not_speech():
    rng = np.random.default_rng(0)
    for backend in ("webrtc", "energy"):
        vad = Vad(16000, VadConfig(backend=backend))
        frames = (rng.standard_normal((200, 160)) * 1e-4).astype(np.float32)
        frames[:50] = 0.0
        assert np.mean([vad.is_speech(f) for f in frames]) < 0.05, backend


@pytest.mark.corpus
def test_int16_and_float_frames_decide_alike():
    x = levels.speaker("en_cmuarctic_axb_F", 16000)[:16000 * 3]
    pcm = np.round(x * 32767).astype(np.int16)
    a, b = Vad(16000), Vad(16000)
    da = [a.is_speech(f) for f in pcm.reshape(-1, 160)]
    db = [b.is_speech(f.astype(np.float64) / 32768.0) for f in pcm.reshape(-1, 160)]
    assert da == db


@pytest.mark.corpus
@pytest.mark.parametrize("aggressiveness", [0, 3])
def test_kernel_decides_as_webrtcvad_itself(aggressiveness):
    """vad_frame calls WebRtcVad_Process by address: the raw decisions are webrtcvad's own."""
    import webrtcvad

    x = levels.speaker("en_cmuarctic_aew_M", 16000)[:16000 * 4]
    x = x + np.random.default_rng(2).standard_normal(x.size) * 0.003
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16).reshape(-1, 160)
    vad, ref = Vad(16000, VadConfig(aggressiveness=aggressiveness, hangover_ms=0)), webrtcvad.Vad(aggressiveness)
    ours = [vad.is_speech(f) for f in pcm]
    theirs = [ref.is_speech(f.tobytes(), 16000) for f in pcm]
    assert ours == theirs and 0 < sum(ours) < len(ours)


@pytest.mark.corpus
def test_hangover_holds_speech_after_the_last_speech_frame():
    x = levels.speaker("en_cmuarctic_aew_M", 16000)
    raw = decisions(Vad(16000, VadConfig(hangover_ms=0)), x)
    held = decisions(Vad(16000, VadConfig(hangover_ms=100)), x)
    expected = raw.copy()
    for i in np.flatnonzero(raw):
        expected[i + 1:i + 11] = True
    assert np.array_equal(held, expected) and held.sum() > raw.sum()


@pytest.mark.corpus
def test_aggressiveness_orders_speech_fraction_on_noisy_speech():
    x = levels.speaker("en_cmuarctic_aew_M", 16000)
    noise = levels.noise("dishes", x.size, 16000, seed=3) * 10 ** (-35 / 20)
    y = levels.set_level(x, -26.0)[0] + noise
    frac = [np.mean(decisions(Vad(16000, VadConfig(aggressiveness=a, hangover_ms=0)), y)) for a in (0, 3)]
    assert frac[0] > frac[1]


@pytest.mark.corpus
def test_stats_count_frames():
    x = levels.speaker("en_cmuarctic_aew_M", 16000)[:16000 * 2]
    vad = Vad(16000)
    d = decisions(vad, x)
    st = vad.stats
    assert st.frames == d.size and st.speech_frames == d.sum() and st.backend == "webrtc"
    assert st.speech_fraction == pytest.approx(d.mean())


@pytest.mark.corpus
def test_reset_gives_the_decisions_of_a_fresh_detector():
    x = levels.speaker("en_cmuarctic_axb_F", 16000)[:16000 * 3]
    noise = np.random.default_rng(1).standard_normal(16000 * 2) * 0.01
    for backend in ("webrtc", "energy"):
        vad = Vad(16000, VadConfig(backend=backend))
        decisions(vad, noise)
        vad.reset()
        assert np.array_equal(decisions(vad, x), decisions(Vad(16000, VadConfig(backend=backend)), x))
        assert vad.stats.frames == x.size // 160


@pytest.mark.parametrize("rate", [7999, 200000, 16000.5, "16k", None])
def test_bad_rates_get_clear_errors(rate):
    with pytest.raises(FrameError, match="sample rate|sample_rate"):
        Vad(rate)


@pytest.mark.parametrize("frame_ms", [0, 101, 7.5, "10"])
def test_bad_frame_sizes_get_clear_errors(frame_ms):
    with pytest.raises(FrameError, match="frame size"):
        Vad(16000, frame_ms=frame_ms)


def test_webrtc_backend_refuses_what_webrtcvad_cannot_do():
    with pytest.raises(FrameError, match="webrtcvad does not run at 44100 Hz"):
        Vad(44100, VadConfig(backend="webrtc"))
    with pytest.raises(FrameError, match="15 ms"):
        Vad(16000, VadConfig(backend="webrtc"), frame_ms=15)


def test_wrong_frame_length_and_bad_config():
    vad = Vad(16000)
    with pytest.raises(FrameError, match="expected 160"):
        vad.is_speech(np.zeros(320, np.float32))
    with pytest.raises(FrameError, match="expected 160"):
        vad.is_speech(np.zeros(100, np.int16))
    with pytest.raises(FrameError, match="NaN"):
        vad.is_speech(np.full(160, np.nan, np.float32))
    with pytest.raises(ValueError, match="aggressiveness"):
        Vad(16000, VadConfig(aggressiveness=4))
    with pytest.raises(ValueError, match="backend"):
        Vad(16000, VadConfig(backend="neural"))


@pytest.mark.corpus
def test_48_khz_decides_like_16_khz_on_the_same_speech():
    path = [p for p in corpus.files("speech") if "axb" in p.name][0]
    d16 = decisions(Vad(16000), corpus.load(path, 16000))
    d48 = decisions(Vad(48000), corpus.load(path, 48000))
    n = min(d16.size, d48.size)
    assert np.mean(d16[:n] == d48[:n]) >= 0.95


def test_decimation_keeps_the_voice_band():
    from audio3a.vad import DECIMATION_TAPS, decimate_to_int16, lowpass_taps

    t = np.arange(4800) / 48000
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    taps, hist = lowpass_taps(DECIMATION_TAPS, 1 / 6), np.zeros(DECIMATION_TAPS - 1)
    out = np.zeros(160, np.int16)
    y = []
    for f in x.reshape(-1, 480):
        decimate_to_int16(f, taps, hist, 3, out)
        y.append(out.copy())
    y = np.concatenate(y)[160:] / 32768.0
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
