"""Reading and writing audio files, and moving between file and processing rates.

Formats: whatever libsndfile reads and writes (WAV, FLAC, OGG/Vorbis, ...).
16-bit PCM files are read as int16 and written back as int16; every other
subtype is read as float32 (float64 for 64-bit float files) and written back
in the subtype it came in. Processing runs at 16 or 48 kHz: a file at another
rate is resampled (``scipy.signal.resample_poly``) to the nearer supported
rate above it and back to its own rate on output.
"""
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioFileError
from .frames import SAMPLE_RATES, from_float, to_float  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class AudioInfo:
    """What a file was, so output can be written the same way."""

    sample_rate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _dtype_for(subtype: str) -> str:
    if subtype == "PCM_16":
        return "int16"
    if subtype == "DOUBLE":
        return "float64"
    return "float32"


def read_audio(path) -> tuple[np.ndarray, AudioInfo]:
    """Read ``path``: samples as (frames,) for mono or (frames, channels), and its ``AudioInfo``.

    Raises ``AudioFileError`` for a missing, unreadable, empty or truncated
    file, and for NaN/Inf samples, with the file name and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype=_dtype_for(info.subtype), always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        reason = str(e).split("\n")[0]
        raise AudioFileError(
            f"{path}: not an audio file audio3a can read ({reason}); use WAV, FLAC or OGG"
        ) from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: holds no samples (empty or truncated file)")
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            first = int(np.argmax(bad.any(axis=1)))
            raise AudioFileError(
                f"{path}: sample {first} ({first / rate:.3f} s) is NaN or Inf; repair the file"
            )
    if data.shape[1] == 1:
        data = data[:, 0]
    meta = AudioInfo(int(rate), int(info.channels), int(data.shape[0]), info.subtype, info.format)
    return data, meta


def write_audio(path, data: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a partial file never appears under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = sf.available_formats()
    ext = path.suffix.lstrip(".").upper()
    if ext == "OGG":
        ext = "OGG"
    if ext not in fmt:
        raise AudioFileError(f"{path}: unknown output format {path.suffix!r}; use .wav, .flac or .ogg")
    if subtype is not None and not sf.check_format(ext, subtype):
        subtype = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, data, int(sample_rate), subtype=subtype, format=ext)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def processing_rate(file_rate: int, requested: int | None = None) -> int:
    """The rate to process a file of ``file_rate`` at: ``requested``, or 16 kHz up to 16 kHz files, else 48 kHz."""
    if requested is not None:
        if requested not in SAMPLE_RATES:
            raise AudioFileError(f"--rate {requested} is not supported; use one of {SAMPLE_RATES}")
        return int(requested)
    return 16000 if file_rate <= 16000 else 48000


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (Kaiser-windowed FIR, ``scipy.signal.resample_poly``)."""
    if from_rate == to_rate:
        return x
    from scipy.signal import resample_poly  # imported here: scipy.signal costs ~1 s to import

    g = np.gcd(int(from_rate), int(to_rate))
    y = resample_poly(x.astype(np.float64), to_rate // g, from_rate // g, axis=0)
    return y.astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``x`` along axis 0 to exactly ``n`` samples."""
    if x.shape[0] >= n:
        return x[:n]
    pad = [(0, n - x.shape[0])] + [(0, 0)] * (x.ndim - 1)
    return np.pad(x, pad)
