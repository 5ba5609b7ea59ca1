"""Speech level (online P.56) and noise floor (minimum statistics)."""
import numpy as np
import pytest

from audio3a.agc import level as lv
from audio3a.metrics import active_speech_level
from bench.scenarios import levels

RATE = 16000
ENV_COEF = float(np.exp(-1.0 / (lv.P56_TIME_CONST_S * RATE)))


def run_level(x, vad=True, lam=1.0):
    state, hist, ring = lv.new_level_state()
    trace = []
    for f in x[: x.size // 160 * 160].astype(np.float32).reshape(-1, 160):
        lv.update_level(f, vad, state, hist, ring, lam, ENV_COEF)
        trace.append((state[lv.LV_LEVEL_DB], state[lv.LV_NOISE_DB]))
    return state, np.array(trace)


@pytest.mark.parametrize("name", levels.SPEAKERS)
@pytest.mark.corpus
def test_level_matches_p56_on_clean_speech(name):
    x, _ = levels.set_level(levels.speaker(name, RATE), -26.0)
    state, _ = run_level(x)
    assert abs(state[lv.LV_LEVEL_DB] - active_speech_level(x, RATE)[0]) < 1.0


@pytest.mark.corpus
def test_level_is_scale_invariant():
    x, _ = levels.set_level(levels.speaker("en_cmuarctic_axb_F", RATE), -20.0)
    a, _ = run_level(x, lam=0.98)
    b, _ = run_level(x * 0.1, lam=0.98)
    assert a[lv.LV_LEVEL_DB] - b[lv.LV_LEVEL_DB] == pytest.approx(20.0, abs=0.05)


@pytest.mark.corpus
def test_level_follows_a_drop_within_seconds():
    x, _ = levels.set_level(levels.speaker("en_cmuarctic_aew_M", RATE), -20.0)
    y = np.concatenate([x[:5 * RATE], x[5 * RATE:] * 10 ** (-12 / 20)])
    _, trace = run_level(y, lam=1.0 - 0.01 / 0.5)
    ref = active_speech_level(y[5 * RATE:], RATE)[0]
    after = trace[int((5 + 2.5) * 100):, 0]          # from 2.5 s after the drop
    # the estimate follows the talker (0.5 s memory), so it wanders around the segment level
    assert abs(np.median(after) - ref) < 1.5 and np.mean(np.abs(after - ref) < 3.0) > 0.9


@pytest.mark.corpus
def test_frames_the_vad_rejects_do_not_count():
    x, _ = levels.set_level(levels.speaker("en_cmuarctic_aew_M", RATE), -20.0)
    state, _ = run_level(x, vad=False)
    assert state[lv.LV_COUNT] == 0 and state[lv.LV_LEVEL_DB] == lv.FLOOR_DBFS


@pytest.mark.corpus
def test_noise_floor_sits_near_stationary_noise_and_follows_a_rise():
    n = levels.noise("room", 8 * RATE, RATE, seed=0)
    x = np.concatenate([n[:4 * RATE] * 10 ** (-60 / 20), n[4 * RATE:] * 10 ** (-40 / 20)])
    _, trace = run_level(x)
    assert -66.0 < np.median(trace[200:400, 1]) < -59.0      # min statistics sit a little below the mean
    assert -46.0 < trace[-1, 1] < -39.0                      # 4 s after a 20 dB rise
    assert trace[int(5.5 * 100), 1] < -55.0                  # but not within 1.5 s


@pytest.mark.corpus
def test_noise_floor_ignores_speech():
    s, _ = levels.set_level(levels.speaker("en_cmuarctic_aew_M", RATE), -20.0)
    x = s + levels.noise("room", s.size, RATE, seed=2) * 10 ** (-55 / 20)
    _, trace = run_level(x)
    _, alone = run_level(x - s)
    floor, noise_db = trace[300:, 1], np.median(alone[300:, 1])
    # most of the time the floor stays within a few dB of the noise alone; a long
    # unbroken phrase may lift it for a moment, never to the speech level
    assert np.median(floor) < noise_db + 6.0 and np.mean(floor < noise_db + 10.0) > 0.8
    assert floor.max() < -20.0 - 20.0


def test_p56_level_on_a_constant_envelope():
    # every sample active at thresholds up to -20 dBFS, power -20 dBFS: A = -20 dBFS
    hist = np.zeros(lv.N_BINS)
    hist[80] = 1600.0
    energy = 1600.0 * 10 ** (-20 / 10)
    assert lv.p56_level(energy, hist) == pytest.approx(-20.0, abs=1e-9)
    assert lv.p56_level(0.0, np.zeros(lv.N_BINS)) == lv.FLOOR_DBFS


def test_opening_digital_silence_does_not_seed_the_noise_floor():
    """A stream that opens with a frame of zeros (an earlier stage's delay line), then steady noise
    that the VAD takes for speech: the floor starts at the noise, so none of it sets a speech
    level (seeded at the silent frame, the floor sat at -100 dBFS and every noise frame counted)."""
    noise = 10 ** (-40 / 20) * np.random.default_rng(3).standard_normal(2 * RATE)
    x = np.concatenate([np.zeros(160), noise])
    state, trace = run_level(x, vad=True)
    assert state[lv.LV_COUNT] == 0 and state[lv.LV_LEVEL_DB] == lv.FLOOR_DBFS
    assert trace[-1, 1] == pytest.approx(-40.0, abs=2.0)
    assert trace[0, 1] == lv.FLOOR_DBFS          # nothing reported before the first frame with power
