"""The stage protocol shared by every sample-domain processor.

A stage turns one 10 ms float32 frame into one 10 ms float32 frame::

    stage = SomeStage(sample_rate=16000, config=SomeConfig())
    y = stage.process(x)          # x: frame_len samples; y: the stage's own buffer
    stage.reset()                 # back to the state after construction
    stage.latency_ms              # algorithmic delay this stage adds
    stage.stats                   # cheap snapshot (a dataclass)

Stages that need the loudspeaker (render) signal, such as echo cancellation,
also implement ``process_render(frame)``.

``process`` validates its input (length, channels, dtype, NaN/Inf) and calls
``_process``, which subclasses implement and which the pipeline calls
directly after validating once. A contiguous float32 frame of the right
length (``frames.is_ready_frame``) goes to ``_process_checked`` instead, and
a far-end one to ``_process_render_checked``: they check the samples for
NaN/Inf and process in one go (a stage whose kernel can do both overrides
them; the pipeline hands its first stage the caller's frame the same way). The returned array belongs to the stage and is overwritten by
the next call: copy it to keep it.

Echo state crosses stages through two attributes, so no stage knows another:
a stage that cancels echo sets ``echo_dominant`` after each frame (this mic
frame was mostly loudspeaker echo: far-end single talk), and the pipeline
hands the running value to every later stage as ``far_talk`` before its
frame. A stage that adapts to the talker's level (AGC) treats a ``far_talk``
frame as a pause, as WebRTC's AGC does with ``stream_has_echo``, so residual
echo neither sets the speech level nor gets the talker's gain.

A stage that can run inside one kernel call for the whole chain
(``audio3a.chain``) exposes its work as a jitted function and its fixed
arguments::

    stage.kernel(x, far_talk, stage.kernel_args) -> (y, echo_dominant)
    stage.render_kernel(x, stage.render_kernel_args)     # render stages

``kernel`` does exactly what ``_process`` does with ``far_talk`` (the same
kernels, state and output buffer ``y``) on a frame whose samples are checked,
and returns the frame's ``echo_dominant`` (the fused chain hands ``far_talk``
to the kernel as that argument and does not set the attribute); ``render_kernel`` is
``_process_render``. ``kernel_args`` is one object (a tuple of arrays and
constants, or a structref) built once: the stage only ever updates those
arrays in place, ``reset()`` included. A stage without them (``kernel = None``)
makes the pipeline run stage by stage.

Each stage's config is a dataclass with a ``build(sample_rate)`` method that
returns the stage; that is how ``Pipeline`` creates stages it knows only by
name (see ``audio3a.registry``).
"""
from dataclasses import dataclass

import numpy as np

from .frames import SAMPLE_RATES, all_finite, as_float_frame, check_rate, frame_len_for, is_ready_frame


@dataclass(frozen=True)
class NoStats:
    """Stats of a stage that has nothing to report."""


class Stage:
    """Base class: rate/frame bookkeeping and input validation."""

    name = "stage"
    supported_rates = SAMPLE_RATES
    latency_ms = 0.0
    echo_dominant = False  # set by an echo canceller: the last mic frame was mostly echo
    far_talk = False       # set by the pipeline: an earlier stage found this frame mostly echo
    kernel = None          # jitted (x, far_talk, kernel_args) -> (y, echo_dominant); see the module docstring
    kernel_args = ()

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = check_rate(sample_rate, self.supported_rates)
        self.frame_len = frame_len_for(self.sample_rate)

    def process(self, frame) -> np.ndarray:
        """Process one validated frame; see the module docstring."""
        if is_ready_frame(frame, self.frame_len):
            y = self._process_checked(frame)
            if y is not None:
                return y
        return self._process(as_float_frame(frame, self.frame_len, f"{self.name} frame"))

    def _process(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _process_checked(self, x: np.ndarray):
        """``_process`` on a contiguous float32 frame of unchecked samples: None, with the
        stage unchanged, when ``x`` holds NaN or Inf."""
        return self._process(x) if all_finite(x) else None

    def reset(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def stats(self):
        return NoStats()

    def __repr__(self):
        return f"{type(self).__name__}(sample_rate={self.sample_rate})"


class RenderStage(Stage):
    """A stage that also consumes the far-end (loudspeaker) signal."""

    render_kernel = None   # jitted (x, render_kernel_args): ``_process_render``; see the module docstring
    render_kernel_args = ()

    def process_render(self, frame) -> None:
        """Feed one far-end frame, as it is played out."""
        if is_ready_frame(frame, self.frame_len) and self._process_render_checked(frame):
            return
        self._process_render(as_float_frame(frame, self.frame_len, f"{self.name} far-end frame"))

    def _process_render(self, x: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _process_render_checked(self, x: np.ndarray) -> bool:
        """``_process_render`` on a contiguous float32 frame of unchecked samples: False, with the
        stage unchanged, when ``x`` holds NaN or Inf."""
        if not all_finite(x):
            return False
        self._process_render(x)
        return True
