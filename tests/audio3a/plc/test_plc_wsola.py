"""WSOLA time-scale modification: exact lengths, kept pitch, continuity, pass-through."""
import numpy as np
import pytest

from audio3a.errors import FrameError
from audio3a.plc.pitch import PitchEstimator
from audio3a.plc.wsola import TimeStretcher, time_stretch

from plc_signals import vowel


def stretched_stream(rate, frame_ms, delta, f0=140.0):
    x = vowel(rate, 1.0, f0=f0)
    ts = TimeStretcher(rate, frame_ms)
    flen = ts.frame_len
    out, lags = [], []
    for i in range(len(x) // flen):
        y = ts.stretch(x[i * flen:(i + 1) * flen], flen + delta)
        assert y.shape == (flen + delta,)
        out.append(y.copy())
        lags.append(ts.lag)
    return x, np.concatenate(out), lags, ts


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("frame_ms,delta_ms", [(20, 2.5), (20, -2.5), (20, 5.0), (20, -10.0), (10, 2.5), (10, -5.0)])
def test_length_changes_by_the_asked_amount_and_pitch_is_kept(rate, frame_ms, delta_ms):
    delta = int(round(delta_ms * rate / 1000))
    f0 = 140.0
    x, y, lags, ts = stretched_stream(rate, frame_ms, delta, f0)
    n_fr = len(x) // ts.frame_len
    assert len(y) == n_fr * (ts.frame_len + delta)
    # pitch measured on the output, away from the start-up frame
    pe = PitchEstimator(rate, window_ms=30)
    ends = range(rate // 10, len(y), rate // 20)
    f_out = np.median([rate / pe(y, e)[0] for e in ends])
    assert abs(f_out - f0) / f0 < 0.02          # resampling would move it by delta/frame (12-50 %)
    assert min(pe(y, e)[1] for e in ends) > 0.9  # and it stays periodic (no phase jumps)
    assert max(lags) <= ts.tol
    # continuity: no step larger than the signal's own
    skip = 2 * ts.frame_len
    assert np.max(np.abs(np.diff(y[skip:]))) <= 1.05 * np.max(np.abs(np.diff(x)))


def test_unchanged_length_passes_through():
    x = vowel(16000, 0.2)
    ts = TimeStretcher(16000, 20)
    for i in range(len(x) // 320):
        assert np.array_equal(ts.stretch(x[i * 320:(i + 1) * 320], 320), x[i * 320:(i + 1) * 320])
    assert ts.lag == 0


def test_offline_time_stretch_keeps_pitch():
    rate, f0 = 16000, 180.0
    x = vowel(rate, 0.5, f0=f0)
    y = time_stretch(x, int(len(x) * 1.2), rate)
    assert len(y) == int(len(x) * 1.2)
    period, c = PitchEstimator(rate)(y, len(y) - 800)
    assert abs(rate / period - f0) / f0 < 0.02 and c > 0.9


def test_out_of_range_requests_error_clearly():
    ts = TimeStretcher(16000, 20, max_change_ms=5)
    with pytest.raises(FrameError, match="out of range"):
        ts.stretch(np.zeros(320, np.float32), 320 + 81)
    with pytest.raises(FrameError, match="expected 320"):
        ts.stretch(np.zeros(100, np.float32), 320)
