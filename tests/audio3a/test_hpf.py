import numpy as np
import pytest

from audio3a.errors import FrameError
from audio3a.hpf import HighPassFilter, HpfConfig
from audio3a.metrics import rms_db


def run(stage, x):
    fl = stage.frame_len
    return np.concatenate([stage.process(x[i:i + fl]).copy() for i in range(0, len(x), fl)])


def tone(freq_hz, fs, seconds=2.0, amp=0.5):
    t = np.arange(int(seconds * fs)) / fs
    return (amp * np.cos(2 * np.pi * freq_hz * t) + (0.5 if freq_hz == 0 else 0.0)).astype(np.float32)


@pytest.mark.parametrize("fs", [16000, 48000])
def test_removes_dc_and_30hz_passes_1khz(fs):
    h = HighPassFilter(fs)
    half = fs  # measure the second second, after the transient
    dc = np.full(2 * fs, 0.5, np.float32)
    assert rms_db(run(h, dc)[half:]) - rms_db(dc[half:]) <= -30.0
    for f, lo, hi in ((30.0, -np.inf, -30.0), (1000.0, -0.5, 0.5)):
        h.reset()
        x = tone(f, fs)
        gain_db = rms_db(run(h, x)[half:]) - rms_db(x[half:])
        assert lo <= gain_db <= hi, (f, gain_db)


def test_state_carries_across_frames_like_one_long_filter():
    from scipy.signal import sosfilt
    fs = 16000
    h = HighPassFilter(fs)
    x = np.random.default_rng(1).standard_normal(fs).astype(np.float32) * 0.1
    ref = sosfilt(h.sos, x.astype(np.float64))
    assert np.max(np.abs(run(h, x) - ref)) < 1e-6


def test_reset_repeats_output():
    h = HighPassFilter(16000)
    x = np.random.default_rng(2).standard_normal(3200).astype(np.float32) * 0.1
    a = run(h, x)
    h.reset()
    assert np.array_equal(run(h, x), a)


def test_bad_config_and_frames():
    with pytest.raises(ValueError, match="even"):
        HighPassFilter(16000, HpfConfig(order=3))
    with pytest.raises(ValueError, match="cutoff"):
        HighPassFilter(16000, HpfConfig(cutoff_hz=9000))
    h = HighPassFilter(16000)
    with pytest.raises(FrameError, match="expected 160"):
        h.process(np.zeros(161, np.float32))
    with pytest.raises(FrameError, match="unsupported sample rate"):
        HighPassFilter(44100)


@pytest.mark.parametrize("order, fs", [(2, 16000), (4, 16000), (4, 48000), (6, 48000)])
def test_sections_match_scipy_butterworth(order, fs):
    from scipy.signal import butter, sosfreqz

    from audio3a.hpf import butterworth_highpass_sos
    ours = butterworth_highpass_sos(order, 90.0, fs)
    ref = butter(order, 90.0, btype="highpass", fs=fs, output="sos")
    _, h1 = sosfreqz(ours, worN=2048, fs=fs)
    _, h2 = sosfreqz(ref, worN=2048, fs=fs)
    assert np.max(np.abs(h1 - h2)) < 1e-9


def test_nan_frame_raises_and_leaves_the_state():
    a, b = HighPassFilter(16000), HighPassFilter(16000)
    x = np.random.default_rng(3).standard_normal(1600).astype(np.float32) * 0.1
    run(a, x[:800])
    run(b, x[:800])
    bad = x[800:960].copy()
    bad[100] = np.inf
    with pytest.raises(FrameError, match="NaN or Inf"):
        a.process(bad)
    assert np.array_equal(run(a, x[800:]), run(b, x[800:]))


@pytest.mark.parametrize("order", [2, 4, 6, 8, 10])
@pytest.mark.parametrize("fs", [16000, 48000])
def test_stage_equals_the_reference_cascade_bit_for_bit(order, fs):
    """The stage's kernel sweeps two sections at a time; every sample and the state must be the
    values of ``sosfilt_df2t`` (one section after the other, per sample) exactly."""
    from audio3a.hpf import sosfilt_df2t
    h = HighPassFilter(fs, HpfConfig(order=order))
    x = np.random.default_rng(order).standard_normal(50 * h.frame_len).astype(np.float32) * 0.3
    zi = np.zeros_like(h.zi)
    ref = np.zeros(h.frame_len, np.float32)
    for i in range(0, x.size, h.frame_len):
        sosfilt_df2t(h.sos, x[i:i + h.frame_len], zi, ref)
        assert np.array_equal(h.process(x[i:i + h.frame_len]), ref)
        assert np.array_equal(h.zi, zi)
