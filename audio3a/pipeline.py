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
and given back in the caller's dtype (int16 stays int16). One ``Pipeline`` per
call session: its methods take a lock, so a render thread and a capture
thread may share it, and many pipelines run in parallel on threads because
the kernels release the GIL.
"""
import importlib
import threading

import numpy as np

from .frames import as_float_frame, check_rate, frame_len_for, from_float
from .registry import CAPTURE_CHAIN
from .stage import RenderStage

_DEFAULT = object()


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
        self._lock = threading.Lock()
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

    def process_render(self, frame) -> None:
        """Feed one 10 ms far-end (loudspeaker) frame, as it is played out."""
        x = as_float_frame(frame, self.frame_len, "far-end frame")
        with self._lock:
            for s in self._render_stages:
                s._process_render(x)

    def process_capture(self, frame) -> np.ndarray:
        """Process one 10 ms near-end (microphone) frame; returns a new array in the input's dtype."""
        dtype = np.asarray(frame).dtype
        x = as_float_frame(frame, self.frame_len, "near-end frame")
        with self._lock:
            echo = False
            for s in self.stages:
                s.far_talk = echo
                x = s._process(x)
                echo = echo or s.echo_dominant
            return from_float(x, dtype)

    def process(self, near, far=None) -> np.ndarray:
        """``process_render(far)`` (when given) then ``process_capture(near)`` for one aligned frame pair."""
        if far is not None:
            self.process_render(far)
        return self.process_capture(near)

    def __repr__(self):
        chain = " -> ".join(s.name for s in self.stages) or "identity"
        return f"Pipeline({self.sample_rate} Hz: {chain}, {self.latency_ms:g} ms)"


def warmup(sample_rates=(16000, 48000)) -> None:
    """Compile (or load from the on-disk cache) every kernel of the default pipeline."""
    for rate in sample_rates:
        Pipeline(rate)
