"""Gain computer: slew limits, startup, saturation and loudness guard, pause cap."""
import numpy as np
import pytest

from audio3a.agc import gain as gn
from audio3a.agc import level as lv

FRAME_S = 0.01
TARGET = -18.0
CAP = 5.0


def params(up=6.0, down=40.0):
    return gn.gain_params(FRAME_S, TARGET, -20.0, 30.0, up, down, CAP, -1.0, 0.0)


def level_state(level_db, frame_db=None, peak_db=None, noise_db=-90.0, count=1000.0):
    s, _, _ = lv.new_level_state()
    s[lv.LV_LEVEL_DB] = level_db
    s[lv.LV_COUNT] = count
    s[lv.LV_NOISE_DB] = noise_db
    s[lv.LV_FRAME_DB] = level_db if frame_db is None else frame_db
    s[lv.LV_PEAK] = 10 ** (((level_db + 12) if peak_db is None else peak_db) / 20)
    return s


def run(p, state, ls, frames, speech=True):
    return np.array([gn.update_gain(ls, speech, state, p) for _ in range(frames)])


def test_rises_at_most_6_db_per_second_after_startup():
    p = params()
    state = gn.new_gain_state(p)
    g = run(p, state, level_state(-40.0), 400)             # needs +22 dB
    assert np.max(np.diff(g)) <= 6.0 * FRAME_S + 1e-9
    assert g[100] == pytest.approx(6.0, abs=0.1)           # 6 dB after 1 s
    assert g[-1] == pytest.approx(22.0, abs=1e-6)          # reached after 22/6 s


def test_startup_rises_fast():
    p = params()
    state = gn.new_gain_state(p)
    g = run(p, state, level_state(-40.0, count=1.0), 60)   # first second of speech
    assert g[-1] == pytest.approx(22.0, abs=1e-6)


def test_falls_faster_than_it_rises():
    p = params()
    state = gn.new_gain_state(p)
    run(p, state, level_state(-40.0), 400)
    g = run(p, state, level_state(-20.0), 100)             # 20 dB louder talker
    assert g[0] < 22.0 - 0.3                                # 40 dB/s = 0.4 dB per frame
    assert g[50] == pytest.approx(2.0, abs=1e-6)           # 20 dB in 0.5 s


def test_loudness_guard_and_saturation_act_at_once():
    p = params()
    state = gn.new_gain_state(p)
    run(p, state, level_state(-30.0), 300)                 # gain 12 dB
    g = gn.update_gain(level_state(-30.0, frame_db=-10.0, peak_db=-2.0), True, state, p)
    assert g <= TARGET + gn.LOUDNESS_GUARD_DB - (-10.0) + 1e-9      # <= -2 dB on this very frame
    g = gn.update_gain(level_state(-30.0, frame_db=-30.0, peak_db=0.0), True, state, p)
    assert g <= -1.0 + gn.SATURATION_HEADROOM_DB - 0.0 + 1e-9


def test_pause_cap_holds_and_releases():
    p = params()
    state = gn.new_gain_state(p)
    run(p, state, level_state(-40.0), 400)                 # gain 22 dB in speech
    pause = level_state(-40.0, frame_db=-70.0, noise_db=-72.0)
    g = run(p, state, pause, 100, speech=False)
    assert g[-1] == pytest.approx(CAP)                      # pauses get the cap
    hold = int(gn.HOLD_MS / 10)
    assert np.all(g[:hold] > CAP + 5)                       # not before the hold is over
    g = run(p, state, level_state(-40.0), 10)              # speech again
    assert g[-1] == pytest.approx(22.0)


def test_clicks_barely_open_the_gate():
    p = params()
    state = gn.new_gain_state(p)
    run(p, state, level_state(-40.0), 400)
    pause = level_state(-40.0, frame_db=-70.0, noise_db=-72.0)
    run(p, state, pause, 100, speech=False)
    click = level_state(-40.0, frame_db=-45.0, noise_db=-72.0)
    g = run(p, state, click, gn.CONFIRM_FRAMES - 1)        # a short burst the VAD calls speech
    g2 = run(p, state, pause, 30, speech=False)
    assert g.max() < CAP + 2 * gn.GATE_RISE_DB_PER_S * FRAME_S + 1e-9
    assert g2[-1] == pytest.approx(CAP)


def test_apply_gain_ramps_linearly_in_amplitude():
    x = np.ones(160, np.float32)
    y = np.zeros(160, np.float32)
    gn.apply_gain(x, 0.0, 20.0, y)
    assert y[-1] == pytest.approx(10.0) and y[0] == pytest.approx(1.0 + 9.0 / 160)
    assert np.allclose(np.diff(y), 9.0 / 160, atol=1e-5)
