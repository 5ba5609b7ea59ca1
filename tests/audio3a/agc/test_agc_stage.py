"""AutomaticGainControl: convergence, steps, noise, clipping, errors, reset."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio3a.agc import AgcConfig, AutomaticGainControl
from audio3a.errors import FrameError
from audio3a.metrics import active_speech_level
from bench.scenarios import levels

RATE = 16000
CEILING = 10 ** (-1 / 20)


def run(x, agc):
    n = agc.frame_len
    frames = x[: x.size // n * n].astype(np.float32).reshape(-1, n)
    y = np.empty(frames.shape, np.float32)
    gains = np.empty(frames.shape[0])
    for i, f in enumerate(frames):
        y[i] = agc.process(f)
        gains[i] = agc.stats.level_gain_db
    return y.reshape(-1), gains


@pytest.fixture(scope="module")
def speech():
    return levels.speaker("en_cmuarctic_aew_M", RATE)


@pytest.mark.parametrize("level_dbfs", [-40.0, -30.0, -20.0, -10.0])
@pytest.mark.corpus
def test_converges_to_target_within_2_s(speech, level_dbfs):
    x, _ = levels.set_level(speech, level_dbfs, RATE)
    agc = AgcConfig().build(RATE)
    y, g = run(x, agc)
    needed = -18.0 - active_speech_level(x, RATE)[0]
    # measured convergence time: the first frame whose gain is within 2 dB of what this talker needs
    t_conv = np.argmax(np.abs(g - needed) <= 2.0) / 100
    assert t_conv <= 2.0, f"converged after {t_conv:.2f} s"
    # from then on the gain only follows the talker's own phrasing (a few dB) ...
    assert np.all(np.abs(g[200:] - needed) < 4.0)
    # ... and the output from 2 s on is at the target (P.56 level)
    assert abs(active_speech_level(y[2 * RATE:], RATE)[0] - (-18.0)) < 1.5


@pytest.mark.corpus
def test_48_khz_converges_too():
    x, _ = levels.set_level(levels.speaker("en_cmuarctic_axb_F", 48000), -35.0, 48000)
    agc = AgcConfig().build(48000)
    y, _ = run(x, agc)
    assert agc.frame_len == 480
    assert abs(active_speech_level(y[2 * 48000:], 48000)[0] - (-18.0)) < 2.0


@pytest.mark.corpus
def test_plus_20_db_step_is_limited_within_50_ms_without_clipping(speech):
    x, _ = levels.set_level(speech, -30.0, RATE)
    power = 10 * np.log10(np.mean(x[: x.size // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-20)
    f0 = 400 + int(np.argmax(power[400:] > -30.0))        # a loud frame after 4 s: mid-word
    x = x.copy()
    x[f0 * 160:] *= 10.0
    x = np.clip(x, -1.0, levels.FULL_SCALE)
    agc = AgcConfig().build(RATE)
    y, _ = run(x, agc)
    out_db = 10 * np.log10(np.mean(y.reshape(-1, 160) ** 2, axis=1) + 1e-20)
    gain_before = np.median((out_db - power)[f0 - 100:f0][power[f0 - 100:f0] > -45.0])
    held_db = power[f0:] + 20.0 + gain_before        # what the gain before the step would give
    # from 50 ms after the step on, no frame is louder than the loudness guard allows ...
    guard = -18.0 + 10.0
    assert out_db[f0 + 5:].max() <= guard + 1.5
    assert held_db[5:].max() > guard + 10.0          # ... where the old gain would put it 10+ dB higher
    # the step's first second is back within 6 dB of the target, and nothing clips
    assert active_speech_level(y[(f0 + 5) * 160:(f0 + 100) * 160], RATE)[0] < -18.0 + 6.0
    assert np.max(np.abs(y)) <= CEILING


@pytest.mark.parametrize("kind,level_dbfs", [("room", -50.0), ("dishes", -45.0), ("room", -70.0)])
@pytest.mark.corpus
def test_noise_only_is_not_amplified_beyond_the_cap(kind, level_dbfs):
    x = levels.noise(kind, 10 * RATE, RATE, seed=4) * 10 ** (level_dbfs / 20)
    cfg = AgcConfig()
    y, _ = run(x, cfg.build(RATE))
    n = y.size
    in_db = 10 * np.log10(np.mean(x[:n].reshape(-1, 160) ** 2, axis=1))
    out_db = 10 * np.log10(np.mean(y.reshape(-1, 160) ** 2, axis=1))
    rise = out_db - in_db
    assert np.median(rise) <= cfg.noise_cap_db + 0.1
    assert 10 * np.log10(np.mean(y ** 2) / np.mean(x[:n] ** 2)) <= cfg.noise_cap_db + 1.0


@pytest.mark.corpus
def test_pauses_in_noisy_speech_stay_under_the_cap():
    clean, gap = levels.paused(rate=RATE)
    s, _ = levels.set_level(clean, -40.0, RATE)
    x = s + levels.noise("room", s.size, RATE, seed=1) * 10 ** (-60 / 20)
    cfg = AgcConfig()
    y, g = run(x, cfg.build(RATE))
    n = y.size
    frames_in = 10 * np.log10(np.mean(x[:n].reshape(-1, 160) ** 2, axis=1))
    frames_out = 10 * np.log10(np.mean(y.reshape(-1, 160) ** 2, axis=1))
    pause = gap[:n].reshape(-1, 160).all(axis=1)
    pause[:300] = False
    pause = pause & np.roll(pause, 20) & np.roll(pause, -20)   # 0.2 s away from speech
    assert np.median(frames_out[pause] - frames_in[pause]) <= cfg.noise_cap_db + 0.1
    assert np.median(g[~gap[:n:160]]) > 18.0                    # while speech gets its +20 dB


@pytest.mark.parametrize("rate", [16000, 48000])
def test_full_scale_square_wave_stays_below_minus_1_dbfs(rate):
    t = np.arange(3 * rate)
    x = np.where((t // (rate // 1000)) % 2 == 0, levels.FULL_SCALE, -1.0)
    y, _ = run(x, AgcConfig().build(rate))
    assert np.max(np.abs(y)) <= CEILING


@pytest.mark.corpus
def test_loud_speech_is_never_clipped(speech):
    x = np.clip(speech * 30.0, -1.0, levels.FULL_SCALE)        # hard-clipped, ~ -2 dBFS active
    y, _ = run(x, AgcConfig(target_level_dbfs=-3.0).build(RATE))
    assert np.max(np.abs(y)) <= CEILING


@pytest.mark.corpus
def test_stats_report_level_gain_and_vad(speech):
    x, _ = levels.set_level(speech, -30.0, RATE)
    agc = AgcConfig().build(RATE)
    st0 = agc.stats
    assert st0.speech_level_dbfs == float("-inf") and st0.gain_db == 0.0 and not st0.vad_speech
    run(x[: 6 * RATE], agc)
    st = agc.stats
    assert abs(st.speech_level_dbfs - (-30.0)) < 3.0
    assert abs(st.level_gain_db - 12.0) < 3.0
    assert st.noise_floor_dbfs < -60.0
    assert agc.vad.stats.frames == 600


@pytest.mark.corpus
def test_reset_gives_the_output_of_a_fresh_stage(speech):
    x, _ = levels.set_level(speech, -35.0, RATE)
    agc = AgcConfig().build(RATE)
    run(levels.noise("dishes", 3 * RATE, RATE) * 0.1, agc)
    agc.reset()
    a, _ = run(x[: 4 * RATE], agc)
    b, _ = run(x[: 4 * RATE], AgcConfig().build(RATE))
    assert np.array_equal(a, b)


def test_process_writes_its_own_buffer_and_adds_no_delay():
    agc = AutomaticGainControl(RATE)
    f = np.zeros(160, np.float32)
    assert agc.process(f) is agc.process(f)
    assert agc.latency_ms == 0.0
    pcm = np.zeros(160, np.int16)
    assert agc.process(pcm).dtype == np.float32


@pytest.mark.parametrize("rate", [8000, 44100, 16000.5])
def test_bad_rates_get_clear_errors(rate):
    with pytest.raises(FrameError, match="sample rate"):
        AgcConfig().build(rate)


def test_bad_frames_get_clear_errors():
    agc = AgcConfig().build(RATE)
    with pytest.raises(FrameError, match="expected 160"):
        agc.process(np.zeros(480, np.float32))
    with pytest.raises(FrameError, match="NaN"):
        agc.process(np.full(160, np.inf, np.float32))
    with pytest.raises(FrameError, match="mono"):
        agc.process(np.zeros((160, 2), np.float32))


@pytest.mark.parametrize("kw,match", [
    (dict(max_gain_db=-1.0), "min_gain_db"), (dict(gain_up_db_per_s=0.0), "slew"),
    (dict(noise_cap_db=-1.0), "noise_cap_db"), (dict(limiter_dbfs=1.0), "limiter_dbfs"),
    (dict(target_level_dbfs=-0.5), "target_level_dbfs"), (dict(level_time_s=0.0), "level_time_s"),
])
def test_bad_config_gets_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        AgcConfig(**kw).build(RATE)


@settings(max_examples=25, deadline=None)
@given(scales=st.lists(st.floats(1e-5, 1.0), min_size=5, max_size=60), seed=st.integers(0, 2**16),
       target=st.floats(-30.0, -6.0))
def test_any_input_in_range_stays_under_the_ceiling(scales, seed, target):
    rng = np.random.default_rng(seed)
    agc = AgcConfig(target_level_dbfs=target).build(RATE)
    for s in scales:
        f = np.clip(rng.standard_normal(160) * s * rng.choice([0.3, 3.0]), -1.0, levels.FULL_SCALE)
        y = agc.process(f.astype(np.float32))
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= CEILING
