"""Voice activity detection: speech or not, one frame at a time.

Two detectors behind one ``Vad`` class:

* ``webrtc``: the GMM detector of WebRTC (``webrtcvad``), for 10/20/30 ms
  frames at 8, 16, 32 or 48 kHz. It works on int16, so float frames are
  rounded into a preallocated int16 buffer and handed over as a byte view
  (no copy of the samples, no array allocated per frame). ``aggressiveness`` is its mode 0..3:
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
from dataclasses import dataclass

import numpy as np
import webrtcvad

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
        self.hangover_frames = int(round(config.hangover_ms / self.frame_ms))
        self._factor = DECIMATE_FROM_48K if self.sample_rate == 48000 and self.backend == "webrtc" else 1
        self._webrtc_rate = self.sample_rate // self._factor
        self._pcm = np.zeros(self.frame_len // self._factor, np.int16)
        self._pcm_bytes = memoryview(self._pcm).cast("B")
        self._taps = lowpass_taps(DECIMATION_TAPS, 8000.0 / 48000.0)
        self._fir_hist = np.zeros(DECIMATION_TAPS - 1, np.float64)
        self._noise_db = np.zeros(1, np.float64)
        self._rise_db = NOISE_RISE_DB_PER_S * self.frame_ms / 1000.0
        self._webrtc = webrtcvad.Vad(config.aggressiveness) if self.backend == "webrtc" else None
        self.reset()

    def reset(self) -> None:
        """Forget everything: hangover, counters, noise floor, webrtcvad's adaptive models."""
        if self._webrtc is not None:
            self._webrtc = webrtcvad.Vad(self.config.aggressiveness)
        self._noise_db[0] = 0.0
        self._fir_hist[:] = 0.0
        self._hang = 0
        self.raw_speech = False
        self.speech = False
        self._frames = 0
        self._speech_frames = 0

    def is_speech(self, frame) -> bool:
        """Validate one frame and return the decision (with hangover)."""
        x = np.asarray(frame) if frame is not None else None
        if x is not None and x.dtype == np.int16 and x.ndim == 1 and x.shape[0] == self.frame_len:
            if self.backend == "webrtc" and self._factor == 1:
                self._pcm[:] = x
                return self._decide_pcm()
        return self.decide(as_float_frame(frame, self.frame_len, "VAD frame"))

    def decide(self, x: np.ndarray) -> bool:
        """``is_speech`` without validation, for stages that validated ``x`` already.

        ``x`` must be a contiguous float32 array of ``frame_len`` finite samples.
        """
        if self.backend == "webrtc":
            if self._factor > 1:
                decimate_to_int16(x, self._taps, self._fir_hist, self._factor, self._pcm)
            else:
                float_to_int16(x, self._pcm)
            return self._decide_pcm()
        raw = energy_vad_frame(x, self._noise_db, self._rise_db, self.config.energy_snr_db, ENERGY_MIN_DBFS)
        return self._hangover(raw)

    def _decide_pcm(self) -> bool:
        raw = self._webrtc.is_speech(self._pcm_bytes, self._webrtc_rate, self._pcm.shape[0])
        return self._hangover(raw)

    def _hangover(self, raw: bool) -> bool:
        self.raw_speech = bool(raw)
        if raw:
            self._hang = self.hangover_frames
            self.speech = True
        elif self._hang > 0:
            self._hang -= 1
            self.speech = True
        else:
            self.speech = False
        self._frames += 1
        self._speech_frames += self.speech
        return self.speech

    @property
    def stats(self) -> VadStats:
        noise = float(self._noise_db[0]) if self.backend == "energy" and self._frames else float("nan")
        return VadStats(self.backend, self._frames, self._speech_frames, self.speech, noise)

    def __repr__(self):
        return f"Vad(sample_rate={self.sample_rate}, frame_ms={self.frame_ms}, backend={self.backend!r})"
