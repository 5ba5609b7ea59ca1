import threading

import numpy as np
import pytest

from audio3a.errors import FrameError
from audio3a.pipeline import Pipeline, slot_names
from audio3a.stream import process_signal

OFF = {name: None for name in slot_names()}


def speechlike(n, seed=0):
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.uniform(0, 1, n // 800 + 1), 800)[:n]
    return (0.3 * env * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("fs", [16000, 48000])
def test_all_stages_off_is_bit_exact_identity(dtype, fs):
    p = Pipeline(fs, **OFF)
    assert p.stages == [] and p.latency_ms == 0.0
    x = speechlike(fs // 2 + 37)
    if dtype == np.int16:
        x = np.round(x * 20000).astype(np.int16)
        x[:3] = (-32768, 32767, 0)
    y = process_signal(p, x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert np.array_equal(y, x)


def test_int16_in_int16_out_frame_api():
    p = Pipeline(16000)
    y = p.process_capture(np.zeros(160, np.int16))
    assert y.dtype == np.int16 and y.shape == (160,)


def test_process_equals_render_then_capture():
    near, far = speechlike(16000, 1), speechlike(16000, 2)
    a, b = Pipeline(16000), Pipeline(16000)
    for i in range(0, 16000, 160):
        y1 = a.process(near[i:i + 160], far[i:i + 160])
        b.process_render(far[i:i + 160])
        y2 = b.process_capture(near[i:i + 160])
        assert np.array_equal(y1, y2)


def test_reset_makes_second_run_identical():
    near, far = speechlike(8000, 3), speechlike(8000, 4)
    p = Pipeline(16000)
    first = process_signal(p, near, far)
    p.reset()
    assert np.array_equal(process_signal(p, near, far), first)


def test_latency_is_sum_of_stages():
    p = Pipeline(16000)
    assert p.latency_ms == sum(s.latency_ms for s in p.stages)
    assert set(p.stats) == {s.name for s in p.stages}


def test_unknown_slot_and_bad_frames():
    with pytest.raises(TypeError, match="unknown stage slot"):
        Pipeline(16000, reverb=None)
    p = Pipeline(16000)
    with pytest.raises(FrameError, match="expected 160"):
        p.process_capture(np.zeros(159, np.float32))
    with pytest.raises(FrameError, match="expected 160"):
        p.process_render(np.zeros(480, np.float32))
    with pytest.raises(FrameError, match="mono"):
        p.process_capture(np.zeros((160, 2), np.float32))
    with pytest.raises(FrameError, match="NaN or Inf"):
        p.process_capture(np.full(160, np.nan, np.float32))
    with pytest.raises(FrameError, match="NaN or Inf"):
        p.process_render(np.full(160, np.inf, np.float32))
    with pytest.raises(FrameError, match="dtype"):
        p.process_capture(np.zeros(160, np.int32))
    with pytest.raises(FrameError, match="unsupported sample rate"):
        Pipeline(44100)


def test_sessions_on_threads_match_sequential():
    signals = [speechlike(16000, s) for s in range(4)]
    expected = [process_signal(Pipeline(16000), x) for x in signals]
    results = [None] * 4

    def work(i):
        results[i] = process_signal(Pipeline(16000), signals[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, e in zip(results, expected):
        assert np.array_equal(r, e)


def _run_pair(p, mic, far):
    n = p.frame_len
    out = np.zeros(mic.size // n * n)
    for i in range(mic.size // n):
        s = slice(i * n, (i + 1) * n)
        out[s] = p.process(mic[s].astype(np.float32), far[s].astype(np.float32))
    return out


def test_agc_does_not_lift_residual_echo_in_far_end_single_talk():
    """Echo frames are pauses to the AGC: it lifts residual echo by at most its pause cap."""
    from bench.scenarios.echo import echo_scenario

    s = echo_scenario(8.0, 16000, delay_ms=40.0, echo_level_db=-40.0, seed=0)  # a quiet echo: AGC wants +20 dB
    with_agc = _run_pair(Pipeline(16000), s.mic, s.far)
    without = _run_pair(Pipeline(16000, agc=None), s.mic, s.far)
    k = 3 * 16000                                                  # after the canceller has converged
    lift_db = 10 * np.log10(np.sum(with_agc[k:] ** 2) / np.sum(without[k:] ** 2))
    assert lift_db <= 6.0                                          # the pause bound of the AGC issue


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_capture_returns_a_new_array_every_frame(dtype):
    p = Pipeline(16000)
    x = np.round(speechlike(160, 5) * 20000).astype(dtype) if dtype == np.int16 else speechlike(160, 5).astype(dtype)
    a = p.process(x, x)
    b = p.process(x, x)
    assert a.dtype == b.dtype == dtype
    assert not np.shares_memory(a, b) and not np.shares_memory(a, x)


def test_frames_in_any_layout_give_the_output_of_ready_frames():
    """Strided, (1, n) and float64 frames take the validating path; their output is that of the
    contiguous float32 frames the fast path takes as they are."""
    near, far = speechlike(4800, 8), speechlike(4800, 9)
    a, b = Pipeline(16000), Pipeline(16000)
    wide_near, wide_far = np.repeat(near, 2), np.repeat(far, 2)  # every other sample: a strided view
    for k, i in enumerate(range(0, 4800, 160)):
        y = a.process(near[i:i + 160], far[i:i + 160])
        n, f = (wide_near[2 * i:2 * i + 320:2], wide_far[2 * i:2 * i + 320:2]) if k % 3 == 0 else \
            (near[i:i + 160].reshape(1, 160), far[i:i + 160].reshape(160, 1)) if k % 3 == 1 else \
            (near[i:i + 160].astype(np.float64), far[i:i + 160].astype(np.float64))
        z = b.process(n, f)
        assert z.dtype == n.dtype and np.array_equal(y, z.astype(np.float32))


@pytest.mark.parametrize("bad", ["near", "far"])
def test_nan_frame_raises_and_changes_nothing(bad):
    """A NaN in a contiguous float32 frame (checked inside the first stage's kernel) raises the
    pipeline's FrameError, and the session goes on as if the call had not been made."""
    near, far = speechlike(3200, 6), speechlike(3200, 7)
    a, b = Pipeline(16000), Pipeline(16000)
    poisoned = np.full(160, np.nan, np.float32)
    for i in range(0, 3200, 160):
        if i == 1600:
            with pytest.raises(FrameError, match=f"{'near' if bad == 'near' else 'far'}-end frame contains NaN"):
                if bad == "near":
                    a.process_capture(poisoned)
                else:
                    a.process_render(poisoned)
        assert np.array_equal(a.process(near[i:i + 160], far[i:i + 160]), b.process(near[i:i + 160], far[i:i + 160]))
