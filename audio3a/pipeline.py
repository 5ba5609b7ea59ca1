"""The capture pipeline: ordered stages behind one render/capture API.

::

    p = Pipeline(sample_rate=16000)                  # every stage with its defaults
    p = Pipeline(16000, aec=AecConfig(), agc=None)   # a config per slot, None = off
    p.process_render(speaker_frame)                  # far-end reference, as it is played
    out = p.process_capture(mic_frame)               # near end, processed
    out = p.process(mic_frame, speaker_frame)        # both, for aligned offline use

The slots and their order come from ``audio3a.registry.CAPTURE_CHAIN``; the
pipeline knows a stage only through the protocol in ``audio3a.stage``.
Frames are validated once at the boundary (length, channels, dtype, NaN/Inf)
and given back in the caller's dtype (int16 stays int16). A contiguous
float32 frame goes to the first stage as is, which checks its samples in the
same kernel call as its work (``Stage._process_checked``).

Threads. One ``Pipeline`` per call session; sessions share nothing, so many
run in parallel on threads (every kernel, the VAD's included, releases the
GIL). Every method takes the session's lock (``process`` once for both
frames), so a render thread and a capture thread may share a session.
"""
import importlib
import threading

import numpy as np

from .errors import FrameError
from .frames import as_float_frame, check_rate, frame_len_for, from_float, is_ready_frame
from .registry import CAPTURE_CHAIN
from .stage import RenderStage

_DEFAULT = object()
_FLOAT32 = np.dtype(np.float32)


def _config_class(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def slot_names() -> tuple[str, ...]:
    """Names of the capture-chain slots, in processing order."""
    return tuple(name for name, _ in CAPTURE_CHAIN)


class Pipeline:
    """One call session's capture-side processing (HPF → AEC → NS → AGC, as registered)."""

    def __init__(self, sample_rate: int = 16000, **configs):
        unknown = set(configs) - set(slot_names())
        if unknown:
            raise TypeError(
                f"unknown stage slot(s) {sorted(unknown)}; the slots are {list(slot_names())}"
            )
        self.sample_rate = check_rate(sample_rate)
        self.frame_len = frame_len_for(self.sample_rate)
        self.stages = []
        for name, spec in CAPTURE_CHAIN:
            config = configs.get(name, _DEFAULT)
            if config is None:
                continue
            if config is _DEFAULT:
                config = _config_class(spec)()
            stage = config.build(self.sample_rate)
            stage.name = name
            self.stages.append(stage)
        self._render_stages = [s for s in self.stages if isinstance(s, RenderStage)]
        # the fast path's fixed parts, looked up once: the first stages' checked entry points
        # (bound methods) and the stages a ready frame meets after them
        first, render_first = self.stages[:1], self._render_stages[:1]
        self._capture_first = first[0]._process_checked if first else None
        self._render_first = render_first[0]._process_render_checked if render_first else None
        self._after_first = tuple(self.stages[1:])
        self._render_after_first = tuple(self._render_stages[1:])
        self._lock = threading.Lock()
        self._near = np.zeros(self.frame_len, np.float32)  # int16 frames converted into these
        self._far = np.zeros(self.frame_len, np.float32)
        self._warm()

    def _warm(self) -> None:
        """Run a few frames through every stage, then reset: the first real frame never compiles."""
        rng = np.random.default_rng(0)
        for _ in range(3):
            x = (0.01 * rng.standard_normal(self.frame_len)).astype(np.float32)
            for s in self._render_stages:
                s._process_render(x)
            for s in self.stages:
                x = s._process(x)
        self.reset()

    @property
    def latency_ms(self) -> float:
        """Algorithmic delay of the capture path: the sum of the stages' delays."""
        return float(sum(s.latency_ms for s in self.stages))

    @property
    def stats(self) -> dict:
        """A snapshot of every stage's stats, keyed by slot name."""
        with self._lock:
            return {s.name: s.stats for s in self.stages}

    def stage(self, name: str):
        """The stage in slot ``name`` (KeyError when it is off)."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"stage {name!r} is not in this pipeline ({[s.name for s in self.stages]})")

    def reset(self) -> None:
        """Forget all history: the next frame is processed as if the pipeline were new."""
        with self._lock:
            for s in self.stages:
                s.reset()

    # A contiguous mono float32 frame of the right length (the common case, ``frames.is_ready_frame``)
    # goes to the first stage as is: for such a frame the only error left is NaN/Inf, which the
    # stage finds in the same kernel call as its work (``Stage._process_checked``,
    # ``RenderStage._process_render_checked``) and which is raised here with the pipeline's
    # message. Other frames are validated and converted by ``as_float_frame``. Every Python
    # operation on this path counts: between the kernels the interpreter's code and data are out
    # of cache, so each costs microseconds, not nanoseconds.
    def process_render(self, frame) -> None:
        """Feed one 10 ms far-end (loudspeaker) frame, as it is played out."""
        with self._lock:
            self._render(frame)

    def process_capture(self, frame) -> np.ndarray:
        """Process one 10 ms near-end (microphone) frame; returns a new array in the input's dtype."""
        with self._lock:
            return self._capture(frame)

    def process(self, near, far=None) -> np.ndarray:
        """``process_render(far)`` (when given) then ``process_capture(near)`` for one aligned frame pair."""
        with self._lock:
            if far is not None:
                self._render(far)
            return self._capture(near)

    def _render(self, frame) -> None:
        if self._render_first is not None and is_ready_frame(frame, self.frame_len):
            if not self._render_first(frame):
                raise FrameError("far-end frame contains NaN or Inf samples")
            for s in self._render_after_first:
                s._process_render(frame)
            return
        x = as_float_frame(frame, self.frame_len, "far-end frame", self._far)
        for s in self._render_stages:
            s._process_render(x)

    def _capture(self, frame) -> np.ndarray:
        if self._capture_first is not None and is_ready_frame(frame, self.frame_len):
            x = self._capture_first(frame)
            if x is None:
                raise FrameError("near-end frame contains NaN or Inf samples")
            echo = self.stages[0].echo_dominant
            for s in self._after_first:
                s.far_talk = echo
                x = s._process(x)
                echo = echo or s.echo_dominant
            return x.copy()
        dtype = np.asarray(frame).dtype
        x = as_float_frame(frame, self.frame_len, "near-end frame", self._near)
        echo = False
        for s in self.stages:
            s.far_talk = echo
            x = s._process(x)
            echo = echo or s.echo_dominant
        if dtype == _FLOAT32:
            return x.copy()
        return from_float(x, dtype)

    def __repr__(self):
        chain = " -> ".join(s.name for s in self.stages) or "identity"
        return f"Pipeline({self.sample_rate} Hz: {chain}, {self.latency_ms:g} ms)"


def warmup(sample_rates=(16000, 48000)) -> None:
    """Compile (or load from the on-disk cache) every kernel of the default pipeline."""
    for rate in sample_rates:
        Pipeline(rate)
