"""Frame conventions and the checks every public entry point applies.

A frame is 10 ms of mono audio: ``frame_len = sample_rate // 100`` samples
(160 at 16 kHz, 480 at 48 kHz). Inside audio3a samples are float32 in [-1, 1);
at the boundary int16 and float32/float64 are accepted and given back as they
came: int16 maps to float by ``x / 32768`` and back by ``round(y * 32768)``
clipped to the int16 range, which is exact for every int16 value.
"""
import numpy as np

from ._jit import kernel
from .errors import FrameError

FRAME_MS = 10
SAMPLE_RATES = (16000, 48000)
INT16_SCALE = 32768.0
_FLOAT32 = np.dtype(np.float32)
_NDARRAY = np.ndarray
_UNIT_STRIDE = (4,)


def frame_len_for(sample_rate: int) -> int:
    """Samples in one 10 ms frame at ``sample_rate``."""
    return int(sample_rate) * FRAME_MS // 1000


def check_rate(sample_rate, supported=SAMPLE_RATES) -> int:
    """Return ``sample_rate`` as int, or raise naming the supported rates."""
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise FrameError(f"sample_rate must be an integer in Hz, got {sample_rate!r}") from None
    if rate != sample_rate or rate not in supported:
        rates = " or ".join(str(r) for r in supported)
        raise FrameError(
            f"unsupported sample rate {sample_rate} Hz: use {rates} "
            "(audio3a.io.read_audio resamples files for you)"
        )
    return rate


@kernel
def all_finite(x):
    """True when no sample is NaN or +-Inf (one pass, no allocation)."""
    for i in range(x.shape[0]):
        v = x[i]
        if v != v or v - v != 0.0:
            return False
    return True


@kernel
def int16_to_float(src, dst):
    """dst[i] = src[i] / 32768."""
    for i in range(src.shape[0]):
        dst[i] = np.float32(src[i]) * np.float32(1.0 / 32768.0)


@kernel
def float_to_int16(src, dst):
    """dst[i] = clip(round(src[i] * 32768), -32768, 32767)."""
    for i in range(src.shape[0]):
        v = np.round(np.float64(src[i]) * 32768.0)
        if v > 32767.0:
            v = 32767.0
        elif v < -32768.0:
            v = -32768.0
        dst[i] = np.int16(v)


def is_ready_frame(frame, frame_len: int) -> bool:
    """A contiguous mono float32 ndarray of ``frame_len`` samples: the form the kernels take as is
    (only its samples are left to check, which a stage may do in its own kernel call)."""
    # strides == (4,) with dtype float32: one dimension, contiguous (one tuple built, not two)
    return (type(frame) is _NDARRAY and frame.dtype is _FLOAT32 and frame.strides == _UNIT_STRIDE
            and frame.size == frame_len)


def as_float_frame(frame, frame_len: int, what: str = "frame", out=None) -> np.ndarray:
    """Validate one frame and return it as contiguous float32.

    Accepts int16 (scaled by 1/32768, into ``out`` when given, else a new
    array), float32 (returned as is when contiguous) and float64. Raises
    ``FrameError`` on a wrong length, more than one channel, another dtype,
    or NaN/Inf samples.
    """
    if is_ready_frame(frame, frame_len):
        # fast path: a contiguous mono float32 frame of the right length (the common case) is
        # returned as is, as the general path below would, once its samples are checked
        if not all_finite(frame):
            raise FrameError(f"{what} contains NaN or Inf samples")
        return frame
    if frame is None:
        raise FrameError(f"{what} is None: pass {frame_len} samples (10 ms)")
    x = np.asarray(frame)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise FrameError(
            f"{what} has shape {x.shape}: pass mono frames of {frame_len} samples "
            "(run one pipeline per channel, or downmix)"
        )
    if x.shape[0] != frame_len:
        raise FrameError(
            f"{what} has {x.shape[0]} samples, expected {frame_len} (10 ms); "
            "use audio3a.Framer to cut chunks of any size into frames"
        )
    if x.dtype == np.int16:
        if out is None:
            out = np.empty(frame_len, np.float32)
        int16_to_float(x, out)
        return out
    if x.dtype == np.float32:
        x = np.ascontiguousarray(x)
    elif x.dtype == np.float64:
        x = x.astype(np.float32)
    else:
        raise FrameError(f"{what} has dtype {x.dtype}: pass int16, float32 or float64 samples")
    if not all_finite(x):
        raise FrameError(f"{what} contains NaN or Inf samples")
    return x


def to_float(x: np.ndarray) -> np.ndarray:
    """Samples of any shape as float32: int16 scaled by 1/32768, floats cast."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        out = np.empty(x.size, np.float32)
        int16_to_float(np.ascontiguousarray(x).reshape(-1), out)
        return out.reshape(x.shape)
    return x.astype(np.float32)


def from_float(y: np.ndarray, dtype) -> np.ndarray:
    """Float samples of any shape back in ``dtype``: int16 rounded and clipped, floats cast (a new array)."""
    if np.dtype(dtype) == np.int16:
        out = np.empty(y.size, np.int16)
        float_to_int16(np.ascontiguousarray(y).reshape(-1), out)
        return out.reshape(y.shape)
    return y.astype(dtype, copy=True)
