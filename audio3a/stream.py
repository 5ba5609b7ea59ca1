"""Chunks of any size in, whole 10 ms frames through a pipeline, the same samples out.

``Framer`` cuts a stream of chunks (1 sample to minutes) into frames.
``Stream`` runs near (and far) chunks through a ``Pipeline``: each ``push``
returns the output of every frame completed so far and ``flush`` processes
the zero-padded tail and returns only its real samples, so the output has
exactly as many samples as the input and sample i out belongs to sample i in.
The framer adds no algorithmic delay; it holds back at most
``frame_len - 1`` samples (just under 10 ms) until a frame is complete, and
none when chunks are whole frames.
"""
import numpy as np

from .errors import FrameError
from .frames import FRAME_MS


class Framer:
    """Buffer chunks into frames of ``frame_len`` samples."""

    def __init__(self, frame_len: int, dtype=np.float32):
        self.frame_len = int(frame_len)
        self.dtype = np.dtype(dtype)
        self._buf = np.zeros(self.frame_len, self.dtype)
        self._fill = 0

    @property
    def pending(self) -> int:
        """Samples held back, waiting for the rest of their frame."""
        return self._fill

    def max_delay_ms(self, sample_rate: int) -> float:
        """Longest hold-back: frame_len - 1 samples."""
        return 1000.0 * (self.frame_len - 1) / sample_rate

    def push(self, chunk):
        """Yield every frame completed by ``chunk`` (copies; safe to keep)."""
        x = np.asarray(chunk)
        if x.ndim != 1:
            raise FrameError(f"chunk has shape {x.shape}: pass mono 1-D chunks")
        n, fl, i = x.shape[0], self.frame_len, 0
        if self._fill:
            take = min(fl - self._fill, n)
            self._buf[self._fill:self._fill + take] = x[:take]
            self._fill += take
            i = take
            if self._fill < fl:
                return
            yield self._buf.copy()
            self._fill = 0
        while n - i >= fl:
            yield np.array(x[i:i + fl], dtype=self.dtype)
            i += fl
        rest = n - i
        if rest:
            self._buf[:rest] = x[i:]
            self._fill = rest

    def flush(self):
        """The held-back samples zero-padded to a frame, and how many are real; None when empty."""
        if not self._fill:
            return None
        frame = np.zeros(self.frame_len, self.dtype)
        frame[:self._fill] = self._buf[:self._fill]
        n = self._fill
        self._fill = 0
        return frame, n

    def reset(self) -> None:
        self._fill = 0


class Stream:
    """Run arbitrary-size near/far chunks through ``pipeline``, sample-aligned.

    Near and far chunks of one ``push`` must have the same length (they cover
    the same span of time); far may be omitted for a pipeline without AEC or
    when no loudspeaker signal exists.
    """

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.frame_len = pipeline.frame_len
        self._near = None
        self._far = None
        self._dtype = None

    @property
    def max_delay_ms(self) -> float:
        return 1000.0 * (self.frame_len - 1) / self.pipeline.sample_rate

    def _framers(self, dtype):
        if self._near is None:
            self._dtype = np.dtype(dtype)
            self._near = Framer(self.frame_len, self._dtype)
            self._far = Framer(self.frame_len, self._dtype)
        elif np.dtype(dtype) != self._dtype:
            raise FrameError(f"chunk dtype changed from {self._dtype} to {dtype} mid-stream")

    def push(self, near, far=None) -> np.ndarray:
        """Process what ``near`` completes; returns the finished output samples (maybe none)."""
        near = np.asarray(near)
        if far is not None:
            far = np.asarray(far)
            if far.shape != near.shape:
                raise FrameError(
                    f"far chunk has {far.shape} samples but near has {near.shape}: "
                    "push equal spans of far and near"
                )
        self._framers(near.dtype)
        p = self.pipeline
        near_frames = list(self._near.push(near))
        far_frames = list(self._far.push(far)) if far is not None else None
        if far_frames is not None and len(far_frames) != len(near_frames):
            raise FrameError("far and near streams fell out of step: push far with every near chunk")
        out = [
            p.process(n, far_frames[k] if far_frames is not None else None)
            for k, n in enumerate(near_frames)
        ]
        if not out:
            return np.zeros(0, near.dtype)
        return np.concatenate(out)

    def flush(self) -> np.ndarray:
        """Process the zero-padded tail; returns only its real samples."""
        if self._near is None:
            return np.zeros(0, np.float32)
        tail = self._near.flush()
        far_tail = self._far.flush()
        if tail is None:
            return np.zeros(0, self._dtype)
        frame, n = tail
        far_frame = far_tail[0] if far_tail is not None else None
        return self.pipeline.process(frame, far_frame)[:n]

    def reset(self) -> None:
        self.pipeline.reset()
        if self._near is not None:
            self._near.reset()
            self._far.reset()


def process_signal(pipeline, near, far=None, chunk: int | None = None, progress=None) -> np.ndarray:
    """Process a whole mono signal (and its far-end reference) and return as many samples.

    ``chunk`` feeds it in pieces of that many samples (default: 1 s);
    ``progress(done, total)`` is called after each piece.
    """
    near = np.asarray(near)
    if far is not None and np.asarray(far).shape != near.shape:
        raise FrameError(
            f"far has {np.asarray(far).shape[0]} samples but near has {near.shape[0]}: "
            "pad or trim far to the near length first"
        )
    s = Stream(pipeline)
    step = chunk or pipeline.sample_rate
    step = max(1, int(step))
    parts = []
    for i in range(0, near.shape[0], step):
        parts.append(s.push(near[i:i + step], None if far is None else far[i:i + step]))
        if progress is not None:
            progress(min(i + step, near.shape[0]), near.shape[0])
    parts.append(s.flush())
    if not parts:
        return near.copy()
    return np.concatenate(parts).astype(near.dtype, copy=False)


__all__ = ["Framer", "Stream", "process_signal", "FRAME_MS"]
