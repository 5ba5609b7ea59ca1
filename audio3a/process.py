"""Offline processing of a file: read, resample, run one pipeline per channel, write.

This is what ``audio3a process`` does; it is a function so servers and
notebooks can call it without the command line.

Far-end rule: the far file is the loudspeaker signal over the same span of
time as the near (mic) file. It is downmixed to mono, resampled to the
processing rate, and cut or padded with silence to the near length (the
summary says when that happened). Echo of far audio played after the mic
stopped cannot be in the mic, and a far file that ends early means silence.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import AudioFileError
from .frames import from_float, to_float
from .io import AudioInfo, fit_length, processing_rate, read_audio, resample, write_audio
from .metrics import active_speech_level
from .pipeline import Pipeline
from .stream import process_signal


@dataclass
class ProcessSummary:
    """What ``process_file`` did, for the CLI's closing lines."""

    input: str
    output: str
    info: AudioInfo
    processing_rate: int
    duration_s: float
    elapsed_s: float
    level_in_db: float
    level_out_db: float
    latency_ms: float
    stages: list
    stats: dict
    notices: list = field(default_factory=list)

    @property
    def realtime_factor(self) -> float:
        """Processing time / audio duration (below 1 is faster than real time)."""
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


def process_file(in_path, out_path, far_path=None, rate=None, downmix=False,
                 progress=None, **configs) -> ProcessSummary:
    """Process ``in_path`` into ``out_path``; ``configs`` are Pipeline slot configs (None = off)."""
    near, info = read_audio(in_path)
    notices = []
    fs = processing_rate(info.sample_rate, rate)
    if info.sample_rate != fs:
        notices.append(
            f"{in_path}: resampled {info.sample_rate} Hz -> {fs} Hz for processing "
            f"and back to {info.sample_rate} Hz for the output"
        )
    x = to_float(near)
    if x.ndim == 2 and downmix:
        x = x.mean(axis=1)
        notices.append(f"{in_path}: downmixed {info.channels} channels to mono")
    x = resample(x, info.sample_rate, fs)

    far = None
    if far_path is not None:
        f, finfo = read_audio(far_path)
        f = to_float(f)
        if f.ndim == 2:
            f = f.mean(axis=1)
        f = resample(f, finfo.sample_rate, fs)
        if f.shape[0] != x.shape[0]:
            notices.append(
                f"{far_path}: {f.shape[0] / fs:.2f} s of far end for {x.shape[0] / fs:.2f} s of near end; "
                + ("cut to the near length" if f.shape[0] > x.shape[0] else "padded with silence")
            )
        far = fit_length(f, x.shape[0])

    channels = [x] if x.ndim == 1 else [x[:, c] for c in range(x.shape[1])]
    total = sum(c.shape[0] for c in channels)
    done = 0
    outs, pipes = [], []
    t0 = time.perf_counter()
    for ch in channels:
        p = Pipeline(fs, **configs)
        pipes.append(p)

        def report(n, _total, _base=done):
            if progress is not None:
                progress(_base + n, total)

        outs.append(process_signal(p, np.ascontiguousarray(ch), far, progress=report))
        done += ch.shape[0]
    elapsed = time.perf_counter() - t0
    y = outs[0] if len(outs) == 1 else np.stack(outs, axis=1)

    y = fit_length(resample(y, fs, info.sample_rate), x.shape[0] if fs == info.sample_rate else info.frames)
    y = fit_length(y, info.frames)
    dtype = near.dtype
    if str(out_path) == str(in_path):
        raise AudioFileError(f"{out_path}: output would overwrite the input; pass another -o")
    write_audio(out_path, from_float(y, dtype), info.sample_rate, info.subtype)

    mono_in = x if x.ndim == 1 else x.mean(axis=1)
    y_fs = outs[0] if len(outs) == 1 else np.mean(outs, axis=0)
    return ProcessSummary(
        input=str(in_path),
        output=str(out_path),
        info=info,
        processing_rate=fs,
        duration_s=info.duration_s,
        elapsed_s=elapsed,
        level_in_db=active_speech_level(mono_in, fs)[0],
        level_out_db=active_speech_level(y_fs, fs)[0],
        latency_ms=pipes[0].latency_ms,
        stages=[s.name for s in pipes[0].stages],
        stats=pipes[0].stats,
        notices=notices,
    )
