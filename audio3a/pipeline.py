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
and given back in the caller's dtype (int16 stays int16). When every stage
exposes its kernel (``audio3a.stage``), each API call is one kernel call for
the whole chain (``audio3a.chain``: ``process(near, far)`` runs render and
capture in one), which checks the samples before any stage sees them; else a
contiguous float32 frame goes to the first stage as is, which checks its
samples in the same kernel call as its work (``Stage._process_checked``), and
the others follow one call each.

Threads. One ``Pipeline`` per call session; sessions share nothing, so many
run in parallel on threads (every kernel, the VAD's included, releases the
GIL; the fused chain releases it once per call, so two sessions on two cores
rarely wait for it). Every method takes the session's lock (``process`` once
for both frames), so a render thread and a capture thread may share a session.
"""
import importlib
import threading

import numpy as np

from . import chain
from .chain import is_native
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
        self._out = np.zeros(self.frame_len, np.float32)  # the fused chain's output (copied out)
        self._fuse()
        self._warm()
        self._bind_entry_points()

    def _fuse(self) -> None:
        """The whole chain as one kernel call per API call (``audio3a.chain``), when every stage
        exposes its kernel (``audio3a.stage``); else ``_capture_chain`` is None: stage by stage."""
        self._render_chain = self._capture_chain = self._process_chain = None
        render = self._render_stages
        if not self.stages or len(self.stages) > chain.MAX_CAPTURE or len(render) > chain.MAX_RENDER:
            return
        if any(s.kernel is None for s in self.stages) or any(s.render_kernel is None for s in render):
            return
        self._render_chain, self._capture_chain, self._process_chain = chain.chain_kernels(
            [s.kernel for s in self.stages], [s.render_kernel for s in render])
        # the chain kernels' arguments after the frames: absent slots are None
        self._render_args = chain.pad([s.render_kernel_args for s in render], chain.MAX_RENDER)
        self._capture_args = (self._out,) + chain.pad([s.kernel_args for s in self.stages], chain.MAX_CAPTURE)
        self._process_args = (self._out,) + self._render_args + self._capture_args[1:]

    def _bind_entry_points(self) -> None:
        """The chain kernels' compiled functions for this pipeline's argument types (frames as
        ``_near``), called directly: they skip the dispatcher's per-call typing of the ~10
        arguments (~2 µs with the GIL held: 2 threads 1.75x -> 1.81x one, one thread 4 % faster).
        Every frame they get is native (``_native``)."""
        self._render_entry = self._capture_entry = self._process_entry = None
        if self._capture_chain is None:
            return
        x = self._near
        self._capture_entry = chain.entry_point(self._capture_chain, x, *self._capture_args)
        if self._render_chain is not None:
            self._render_entry = chain.entry_point(self._render_chain, x, *self._render_args)
            self._process_entry = chain.entry_point(self._process_chain, x, x, *self._process_args)

    def _warm(self) -> None:
        """Run a few frames through every stage, then reset: the first real frame never compiles."""
        rng = np.random.default_rng(0)
        for _ in range(3):
            x = (0.01 * rng.standard_normal(self.frame_len)).astype(np.float32)
            if self._capture_chain is not None:
                if self._render_chain is not None:
                    self._render_chain(x, *self._render_args)
                    self._process_chain(x, x, *self._process_args)
                self._capture_chain(x, *self._capture_args)
                continue
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

    # The fused path (``audio3a.chain``, every stage exposing its kernel): a frame is converted
    # when it is not ready (``frames.is_ready_frame``: contiguous mono float32 of the right
    # length; ``as_float_frame`` validates the others), then one kernel call runs the render
    # and/or capture chain, checks the samples first and returns a status, raised here with the
    # pipeline's message (nothing changed). Without it, a ready frame goes to the first stage as
    # is, which checks its samples in the same kernel call as its work
    # (``Stage._process_checked``, ``RenderStage._process_render_checked``), and the others
    # follow one kernel call each. Every Python operation on these paths counts: between the
    # kernels the interpreter's code and data are out of cache, so each costs microseconds.
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
            if far is None:
                return self._capture(near)
            if self._process_chain is None:
                self._render(far)
                return self._capture(near)
            if not is_ready_frame(far, self.frame_len):
                far = as_float_frame(far, self.frame_len, "far-end frame", self._far)
            far = _native(far, self._far)
            ready = is_ready_frame(near, self.frame_len)
            if ready:
                x = _native(near, self._near)
            else:
                try:
                    x = _native(as_float_frame(near, self.frame_len, "near-end frame", self._near), self._near)
                except FrameError:
                    self._render(far)  # as two calls would: the far frame is queued, then near fails
                    raise
            status = self._process_entry(x, far, *self._process_args)
            if status:
                raise FrameError(("far-end" if status == 1 else "near-end")
                                 + " frame contains NaN or Inf samples")
            return self._out.copy() if ready else self._output(near)

    def _output(self, frame) -> np.ndarray:
        """The fused chain's output in the dtype of the caller's ``frame`` (a new array)."""
        dtype = np.asarray(frame).dtype
        return self._out.copy() if dtype == _FLOAT32 else from_float(self._out, dtype)

    def _render(self, frame) -> None:
        if self._render_chain is not None:
            if not is_ready_frame(frame, self.frame_len):
                frame = as_float_frame(frame, self.frame_len, "far-end frame", self._far)
            if not self._render_entry(_native(frame, self._far), *self._render_args):
                raise FrameError("far-end frame contains NaN or Inf samples")
            return
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
        if self._capture_chain is not None:
            ready = is_ready_frame(frame, self.frame_len)
            x = frame if ready else as_float_frame(frame, self.frame_len, "near-end frame", self._near)
            if not self._capture_entry(_native(x, self._near), *self._capture_args):
                raise FrameError("near-end frame contains NaN or Inf samples")  # (a ready frame's)
            return self._out.copy() if ready else self._output(frame)
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


def _native(frame: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """``frame`` when it is native (``chain.is_native``), else its samples copied into ``buf``: a
    read-only or unaligned frame would make the dispatcher compile a new specialisation of the
    chain, seconds of stall on a live call, where a copy of 10 ms costs ~1 µs."""
    if is_native(frame):
        return frame
    buf[:] = frame
    return buf


def warmup(sample_rates=(16000, 48000)) -> None:
    """Compile (or load from the on-disk cache) every kernel of the default pipeline."""
    for rate in sample_rates:
        Pipeline(rate)
