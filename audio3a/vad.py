"""Voice activity detection: speech or not, one frame at a time.

Two detectors behind one ``Vad`` class:

* ``webrtc``: the GMM detector of WebRTC (``webrtcvad``), for 10/20/30 ms
  frames at 8, 16, 32 or 48 kHz. It works on int16, so float frames are
  rounded into a preallocated int16 buffer, and the kernel ``vad_frame``
  calls webrtcvad's C function ``WebRtcVad_Process`` on it directly, by
  address (``webrtc_process``), on the detector instance that a
  ``webrtcvad.Vad`` created and owns: conversion, detection and hangover are
  one call that releases the GIL (webrtcvad's own ``is_speech`` holds it),
  and a stage can run them inside its own kernel. ``aggressiveness`` is its mode 0..3:
  higher says "speech" less often. At 48 kHz the frame is first decimated
  to 16 kHz by an 11-tap FIR low-pass (webrtcvad only looks below 4 kHz, so
  only 12-20 kHz must be kept from folding there): webrtcvad's own 48 kHz
  path costs about four times its 16 kHz one.
* ``energy``: the fallback for every other rate or frame size. The frame
  power e = 10 log10(mean x^2) is compared with a noise floor n tracked by
  a minimum follower (falls at once to a quieter frame, rises slowly at
  ``NOISE_RISE_DB_PER_S``): speech when e > n + ``energy_snr_db`` and
  e > ``ENERGY_MIN_DBFS``.

Both add a hangover: after the last speech frame the decision stays "speech"
for ``hangover_ms``, so word endings and short stops are not cut.

Note that webrtcvad calls much non-stationary noise (clatter, babble) speech;
users that must not be fooled by it (the AGC) add their own SNR checks.
"""
import ctypes
from dataclasses import dataclass

import _webrtcvad
import numpy as np
import webrtcvad
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import kernel
from .errors import FrameError
from .frames import as_float_frame, float_to_int16

WEBRTC_RATES = (8000, 16000, 32000, 48000)
WEBRTC_FRAME_MS = (10, 20, 30)
MIN_RATE, MAX_RATE = 8000, 192000
BACKENDS = ("auto", "webrtc", "energy")

DECIMATE_FROM_48K = 3       # 48 kHz frames go to webrtcvad at 16 kHz
DECIMATION_TAPS = 11
NOISE_RISE_DB_PER_S = 3.0   # energy detector: how fast the noise floor may creep up
ENERGY_MIN_DBFS = -75.0     # energy detector: quieter frames are never speech
_EPS = 1e-12

# Vad._ints: the webrtcvad call's operands, then the hangover state
(I_PROCESS, I_INSTANCE, I_WEBRTC_RATE, I_FACTOR, I_WEBRTC, I_HANGOVER_FRAMES,
 I_HANG, I_RAW, I_SPEECH, I_FRAMES, I_SPEECH_FRAMES) = range(11)
I_SIZE = 11
# Vad._floats: the energy detector's noise floor and constants, then the decimator's taps and history
F_NOISE_DB, F_RISE_DB, F_SNR_DB, F_TAPS = range(4)
F_HIST = F_TAPS + DECIMATION_TAPS
F_SIZE = F_HIST + DECIMATION_TAPS - 1

# ``int WebRtcVad_Process(VadInst *inst, int fs, const int16_t *frame, size_t frame_length)``
# (older builds: ``int frame_length``; the value goes in the same register either way),
# exported by webrtcvad's extension module; 1 speech, 0 not, -1 for a rate/length it does not take
_WEBRTC_PROCESS = ctypes.cast(ctypes.CDLL(_webrtcvad.__file__).WebRtcVad_Process, ctypes.c_void_p).value
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def webrtc_instance(detector: webrtcvad.Vad) -> int:
    """Address of the C detector (``VadInst``) inside a ``webrtcvad.Vad`` (the capsule it keeps
    as ``_vad``); valid while the ``webrtcvad.Vad`` lives."""
    return _capsule_pointer(detector._vad, b"WebRtcVadPtr")


@intrinsic
def webrtc_process(typingctx, fn, instance, fs, frame, n):
    """``fn(instance, fs, frame, n)`` for the C function at address ``fn`` with the signature of
    ``WebRtcVad_Process``; every operand an int64 (pointers as addresses)."""
    sig = types.int64(types.int64, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(i32, [ir.IntType(8).as_pointer(), i32, ir.IntType(16).as_pointer(), i64])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        r = builder.call(f, [builder.inttoptr(args[1], ir.IntType(8).as_pointer()), builder.trunc(args[2], i32),
                             builder.inttoptr(args[3], ir.IntType(16).as_pointer()), args[4]])
        return builder.sext(r, i64)

    return sig, codegen


@kernel
def energy_vad_frame(x, noise_db, rise_db, snr_db, min_dbfs):
    """Energy/SNR decision for one frame; updates ``noise_db[0]`` in place.

    e = 10 log10(mean x^2); n <- e if e < n else n + rise_db;
    speech = e > n + snr_db and e > min_dbfs.
    """
    acc = 0.0
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        acc += v * v
    e = 10.0 * np.log10(acc / x.shape[0] + _EPS)
    n = noise_db[0]
    if e < n:
        n = e
    else:
        n += rise_db
    noise_db[0] = n
    return e > n + snr_db and e > min_dbfs


def lowpass_taps(n: int, cutoff: float) -> np.ndarray:
    """Hamming-windowed sinc low-pass, ``cutoff`` in cycles/sample, unit DC gain (as scipy's firwin)."""
    m = np.arange(n) - (n - 1) / 2.0
    h = 2.0 * cutoff * np.sinc(2.0 * cutoff * m) * np.hamming(n)
    return h / h.sum()


@kernel
def decimate_to_int16(x, taps, hist, factor, out):
    """out[j] = int16(sum_k taps[k] x[factor j + factor - 1 - k]): FIR low-pass and keep every factor-th sample.

    ``hist`` holds the last len(taps) - 1 input samples of the previous frame.
    """
    nt = taps.shape[0]
    nh = nt - 1
    for j in range(out.shape[0]):
        newest = j * factor + factor - 1
        acc = 0.0
        for k in range(nt):
            i = newest - k
            v = x[i] if i >= 0 else hist[nh + i]
            acc += taps[k] * v
        v = np.round(acc * 32768.0)
        if v > 32767.0:
            v = 32767.0
        elif v < -32768.0:
            v = -32768.0
        out[j] = np.int16(v)
    n = x.shape[0]
    for i in range(nh):
        hist[i] = x[n - nh + i]


@kernel
def vad_frame(x, ints, floats, pcm):
    """One frame's decision with hangover; ``ints`` / ``floats`` laid out by the ``I_*`` / ``F_*``
    offsets, ``pcm`` the int16 buffer webrtcvad reads.

    webrtc: x rounded (or low-passed and decimated) to int16, then ``WebRtcVad_Process``;
    energy: ``energy_vad_frame``. Hangover: after a raw "speech" the decision stays
    "speech" for ``hangover_frames`` more frames.
    """
    if ints[I_WEBRTC]:
        factor = ints[I_FACTOR]
        if factor > 1:
            decimate_to_int16(x, floats[F_TAPS:F_HIST], floats[F_HIST:F_SIZE], factor, pcm)
        else:
            float_to_int16(x, pcm)
        raw = webrtc_process(ints[I_PROCESS], ints[I_INSTANCE], ints[I_WEBRTC_RATE],
                             np.int64(pcm.ctypes.data), pcm.shape[0]) == 1
    else:
        raw = energy_vad_frame(x, floats[F_NOISE_DB:F_NOISE_DB + 1], floats[F_RISE_DB], floats[F_SNR_DB],
                               ENERGY_MIN_DBFS)
    if raw:
        ints[I_HANG] = ints[I_HANGOVER_FRAMES]
        speech = True
    elif ints[I_HANG] > 0:
        ints[I_HANG] -= 1
        speech = True
    else:
        speech = False
    ints[I_RAW] = raw
    ints[I_SPEECH] = speech
    ints[I_FRAMES] += 1
    ints[I_SPEECH_FRAMES] += speech
    return speech


@dataclass(frozen=True)
class VadConfig:
    """VAD settings.

    ``aggressiveness``: webrtcvad mode 0 (most "speech") .. 3 (least).
    ``hangover_ms``: how long "speech" is held after the last speech frame.
    ``backend``: "auto" (webrtc where it applies, else energy), "webrtc" or "energy".
    ``energy_snr_db``: energy detector threshold above the noise floor.
    """

    aggressiveness: int = 2
    hangover_ms: int = 100
    backend: str = "auto"
    energy_snr_db: float = 9.0

    def build(self, sample_rate: int, frame_ms: int = 10) -> "Vad":
        return Vad(sample_rate, self, frame_ms)


@dataclass(frozen=True)
class VadStats:
    backend: str
    frames: int
    speech_frames: int
    is_speech: bool
    noise_floor_dbfs: float

    @property
    def speech_fraction(self) -> float:
        return self.speech_frames / self.frames if self.frames else 0.0


def _check_rate(sample_rate) -> int:
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise FrameError(f"VAD sample_rate must be an integer in Hz, got {sample_rate!r}") from None
    if rate != sample_rate or not MIN_RATE <= rate <= MAX_RATE:
        raise FrameError(
            f"unsupported VAD sample rate {sample_rate!r} Hz: use an integer rate from {MIN_RATE} to "
            f"{MAX_RATE} Hz (webrtcvad itself runs at {', '.join(map(str, WEBRTC_RATES))} Hz)"
        )
    return rate


class Vad:
    """Frame-by-frame voice activity detector (see the module docstring).

    ``is_speech(frame)`` takes ``frame_len = sample_rate * frame_ms // 1000``
    samples (int16, float32 or float64) and returns the decision with hangover.
    One detector's state: call it from one thread at a time.
    """

    def __init__(self, sample_rate: int = 16000, config: VadConfig = VadConfig(), frame_ms: int = 10):
        self.sample_rate = _check_rate(sample_rate)
        if not isinstance(frame_ms, (int, np.integer)) or not 1 <= frame_ms <= 100 \
                or (self.sample_rate * frame_ms) % 1000:
            raise FrameError(
                f"unsupported VAD frame size {frame_ms!r} ms at {self.sample_rate} Hz: use a whole number of "
                f"ms from 1 to 100 that gives whole samples (webrtcvad itself takes 10, 20 or 30 ms)"
            )
        if config.backend not in BACKENDS:
            raise ValueError(f"VadConfig.backend must be one of {BACKENDS}, got {config.backend!r}")
        if config.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"VadConfig.aggressiveness must be 0, 1, 2 or 3, got {config.aggressiveness!r}")
        if config.hangover_ms < 0:
            raise ValueError(f"VadConfig.hangover_ms must be >= 0, got {config.hangover_ms}")
        self.config = config
        self.frame_ms = int(frame_ms)
        self.frame_len = self.sample_rate * self.frame_ms // 1000
        webrtc_ok = self.sample_rate in WEBRTC_RATES and self.frame_ms in WEBRTC_FRAME_MS
        if config.backend == "webrtc" and not webrtc_ok:
            raise FrameError(
                f"webrtcvad does not run at {self.sample_rate} Hz with {self.frame_ms} ms frames: it needs "
                f"{'/'.join(map(str, WEBRTC_RATES))} Hz and 10/20/30 ms frames; use backend='auto' or 'energy'"
            )
        self.backend = "webrtc" if webrtc_ok and config.backend != "energy" else "energy"
        factor = DECIMATE_FROM_48K if self.sample_rate == 48000 and self.backend == "webrtc" else 1
        self._pcm = np.zeros(self.frame_len // factor, np.int16)
        self._x = np.zeros(self.frame_len, np.float32)  # int16 frames converted into this
        self._ints = np.zeros(I_SIZE, np.int64)
        self._ints[I_PROCESS] = _WEBRTC_PROCESS
        self._ints[I_WEBRTC_RATE] = self.sample_rate // factor
        self._ints[I_FACTOR] = factor
        self._ints[I_WEBRTC] = self.backend == "webrtc"
        self._ints[I_HANGOVER_FRAMES] = self.hangover_frames = int(round(config.hangover_ms / self.frame_ms))
        self._floats = np.zeros(F_SIZE, np.float64)
        self._floats[F_RISE_DB] = NOISE_RISE_DB_PER_S * self.frame_ms / 1000.0
        self._floats[F_SNR_DB] = config.energy_snr_db
        self._floats[F_TAPS:F_HIST] = lowpass_taps(DECIMATION_TAPS, 8000.0 / 48000.0)
        self._webrtc = None
        self.reset()

    def reset(self) -> None:
        """Forget everything: hangover, counters, noise floor, webrtcvad's adaptive models."""
        if self.backend == "webrtc":
            # a new detector (webrtcvad's state at creation); this object owns it, the kernel borrows it
            self._webrtc = webrtcvad.Vad(self.config.aggressiveness)
            self._ints[I_INSTANCE] = webrtc_instance(self._webrtc)
        self._floats[F_NOISE_DB] = 0.0
        self._floats[F_HIST:] = 0.0
        self._ints[I_HANG:] = 0

    @property
    def raw_speech(self) -> bool:
        """The last frame's decision before the hangover."""
        return bool(self._ints[I_RAW])

    @property
    def speech(self) -> bool:
        """The last frame's decision (with hangover)."""
        return bool(self._ints[I_SPEECH])

    def is_speech(self, frame) -> bool:
        """Validate one frame and return the decision (with hangover)."""
        return self.decide(as_float_frame(frame, self.frame_len, "VAD frame", self._x))

    def decide(self, x: np.ndarray) -> bool:
        """``is_speech`` without validation, for stages that validated ``x`` already.

        ``x`` must be a contiguous float32 array of ``frame_len`` finite samples.
        """
        return vad_frame(x, self._ints, self._floats, self._pcm)

    @property
    def stats(self) -> VadStats:
        frames = int(self._ints[I_FRAMES])
        noise = float(self._floats[F_NOISE_DB]) if self.backend == "energy" and frames else float("nan")
        return VadStats(self.backend, frames, int(self._ints[I_SPEECH_FRAMES]), self.speech, noise)

    def __repr__(self):
        return f"Vad(sample_rate={self.sample_rate}, frame_ms={self.frame_ms}, backend={self.backend!r})"
