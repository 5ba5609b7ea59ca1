"""aiortc adapter (extra ``audio3a[aiortc]``): a ``MediaStreamTrack`` that runs a pipeline on audio.

``ProcessedAudioTrack(source)`` wraps any audio track (a remote WebRTC
track, a microphone): each ``recv()`` takes the next PyAV ``AudioFrame``
from ``source`` (any format, layout and rate; aiortc's Opus decoder gives
20 ms of s16 stereo at 48 kHz), converts it to mono s16 at
``sample_rate`` (48 kHz by default), runs it through the capture pipeline
in 10 ms frames (``audio3a.stream.Stream``: no samples added or lost, no
delay beyond the pipeline's own) and returns a mono s16 ``AudioFrame`` with
the source frame's timestamp. ``render(frame)`` feeds what the loudspeaker
plays, as the echo reference. One track is one pipeline (one call session).
"""
import fractions

import numpy as np

try:
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
except ImportError as exc:                 # pragma: no cover - exercised only without the extra
    raise ImportError("audio3a.integrations.aiortc needs the optional extra: pip install 'audio3a[aiortc]'") from exc

from ..pipeline import Pipeline
from ..stream import Framer, Stream

__all__ = ["ProcessedAudioTrack", "MediaStreamError"]


class ProcessedAudioTrack(MediaStreamTrack):
    """Audio from ``source`` through ``pipeline`` (default: every stage at ``sample_rate``)."""

    kind = "audio"

    def __init__(self, source, pipeline=None, sample_rate: int = 48000):
        super().__init__()
        self.source = source
        self.pipeline = pipeline if pipeline is not None else Pipeline(sample_rate)
        self.sample_rate = self.pipeline.sample_rate
        self._stream = Stream(self.pipeline)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.sample_rate)
        self._render_resampler = av.AudioResampler(format="s16", layout="mono", rate=self.sample_rate)
        self._render = Framer(self.pipeline.frame_len, np.int16)
        self._held = np.zeros(0, np.int16)
        self.frames_in = 0
        self.samples_out = 0

    def render(self, frame) -> None:
        """Feed a frame that the loudspeaker plays (``AudioFrame`` or mono int16 samples)."""
        if isinstance(frame, av.AudioFrame):
            x = np.concatenate([f.to_ndarray().reshape(-1) for f in self._render_resampler.resample(frame)] or
                               [np.zeros(0, np.int16)])
        else:
            x = np.asarray(frame, np.int16).reshape(-1)
        for f in self._render.push(x):
            self.pipeline.process_render(f)

    async def recv(self):
        frame = await self.source.recv()
        self.frames_in += 1
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        x = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
        y = self._stream.push(x) if x.size else np.zeros(0, np.int16)
        # the framer holds back a partial 10 ms frame: pad the output to the input's length with
        # what is pending from the previous call, so every frame out has the frame's duration
        y = np.concatenate((self._held, y))
        n = x.size
        out, self._held = y[:n], y[n:]
        if out.size < n:
            out = np.concatenate((np.zeros(n - out.size, np.int16), out))
        self.samples_out += out.size
        result = av.AudioFrame.from_ndarray(out.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        result.sample_rate = self.sample_rate
        result.pts = frame.pts if frame.pts is not None else self.samples_out - out.size
        result.time_base = frame.time_base if frame.time_base is not None else fractions.Fraction(1, self.sample_rate)
        return result

    def stop(self) -> None:
        super().stop()
        self.source.stop()
