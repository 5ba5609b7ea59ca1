import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio3a.errors import FrameError
from audio3a.pipeline import Pipeline
from audio3a.stream import Framer, Stream, process_signal

N = 4000  # 250 ms at 16 kHz: 25 frames, not a whole number of them when trimmed below
SIGNAL = (0.2 * np.random.default_rng(7).standard_normal(N)).astype(np.float32)
FAR = (0.2 * np.random.default_rng(8).standard_normal(N)).astype(np.float32)
PIPE = Pipeline(16000)


def frame_by_frame(near, far):
    PIPE.reset()
    s = Stream(PIPE)
    out = [s.push(near[i:i + 160], far[i:i + 160]) for i in range(0, len(near), 160)]
    return np.concatenate(out + [s.flush()])


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=N), max_size=12), length=st.integers(1, N))
def test_any_chunking_is_bit_identical_to_frame_by_frame(cuts, length):
    near, far = SIGNAL[:length], FAR[:length]
    expected = frame_by_frame(near, far)
    bounds = sorted({c for c in cuts if c < length})
    PIPE.reset()
    s = Stream(PIPE)
    parts, prev = [], 0
    for b in bounds + [length]:
        parts.append(s.push(near[prev:b], far[prev:b]))
        prev = b
    parts.append(s.flush())
    got = np.concatenate(parts)
    assert got.shape == (length,)
    assert np.array_equal(got, expected)


def test_one_sample_chunks_and_output_length():
    p = Pipeline(16000)
    x = SIGNAL[:1234]
    s = Stream(p)
    out = np.concatenate([s.push(x[i:i + 1]) for i in range(len(x))] + [s.flush()])
    assert out.shape == x.shape
    p.reset()
    assert np.array_equal(out, process_signal(p, x))


def test_framer_holds_back_less_than_a_frame():
    f = Framer(160)
    assert list(f.push(np.zeros(159, np.float32))) == []
    assert f.pending == 159
    frames = list(f.push(np.ones(322, np.float32)))
    assert len(frames) == 3 and f.pending == 1
    assert f.max_delay_ms(16000) == pytest.approx(9.9375)
    frame, n = f.flush()
    assert n == 1 and frame.shape == (160,) and frame[0] == 1 and not frame[1:].any()
    assert f.flush() is None


def test_far_and_near_of_different_lengths_are_an_error():
    s = Stream(Pipeline(16000))
    with pytest.raises(FrameError, match="far chunk has"):
        s.push(np.zeros(320, np.float32), np.zeros(300, np.float32))
    with pytest.raises(FrameError, match="pad or trim far"):
        process_signal(Pipeline(16000), np.zeros(320, np.float32), np.zeros(400, np.float32))
