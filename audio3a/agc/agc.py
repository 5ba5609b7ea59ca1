"""The automatic gain control stage: VAD -> speech level -> gain -> limiter.

Per 10 ms frame:

1. ``Vad`` (webrtcvad at 16/48 kHz, with hangover) says speech or not; a
   frame the echo canceller found mostly echo (``far_talk``, see
   ``audio3a.stage``) counts as a pause whatever the VAD says.
2. ``level.update_level`` tracks the noise floor (minimum statistics) and
   the active speech level A (ITU-T P.56 made recursive) over frames that
   are speech by the VAD *and* stand above the noise floor, so noise the
   VAD mistakes for speech does not set the level.
3. ``gain.update_gain`` moves the gain toward T - A (slew limited: slow up,
   fast down), bounds it at once by the input peaks and loudness
   (saturation protection, loudness guard) and caps it to ``noise_cap_db``
   in pauses (the noise floor is never pumped up by more than that).
4. ``gain.apply_gain`` ramps the gain across the frame, and
   ``limiter.limit`` (zero lookahead) keeps every sample at or below
   ``limiter_dbfs``.

The stage adds no delay: ``latency_ms = 0``.

Cost: one kernel call per frame (``agc_vad_frame``: the VAD's ``vad_frame``, then
``agc_frame``), which holds the GIL only for its dispatch; two arrays hold all the
AGC's state and constants, two the VAD's. ``agc_vad_frame`` compiles the kernels of
``audio3a.vad``, ``level``, ``gain`` and ``limiter`` into itself, and numba's on-disk cache only
watches this file: after editing those, delete ``audio3a/agc/__pycache__`` (or touch this file).
"""
from dataclasses import dataclass, field

import numpy as np

from .._jit import kernel
from ..stage import Stage
from ..vad import I_RAW, Vad, VadConfig, vad_frame
from . import gain as gn
from . import level as lv
from . import limiter as lim


# AutomaticGainControl._state: the level, gain and limiter states, then the level histogram
# and ring, as one float64 array (the attributes level_state, ... are views of it)
ST_LEVEL = 0
ST_GAIN = ST_LEVEL + lv.LV_SIZE
ST_LIMITER = ST_GAIN + gn.GN_SIZE
ST_HIST = ST_LIMITER + 1
ST_RING = ST_HIST + lv.N_BINS
ST_LIMITER_GAIN = ST_RING + lv.HANG_FRAMES + lv.NOISE_BLOCKS  # the limiter's smallest gain in the last frame
ST_SIZE = ST_LIMITER_GAIN + 1
# AutomaticGainControl._params: level forgetting factor, P.56 envelope coefficient, limiter
# ceiling and release, then the gain's parameters (``gain.gain_params``)
PA_LAM, PA_ENV_COEF, PA_CEILING, PA_RELEASE, PA_GAIN = range(5)
PA_SIZE = PA_GAIN + gn.GP_SIZE


@kernel
def agc_frame(x, vad_speech, vad_raw, state, params, y):
    """One frame of AGC: level, gain, ramped gain into ``y``, limiter on ``y``; returns the
    limiter's smallest gain. ``state`` and ``params`` are laid out by the ``ST_*`` / ``PA_*`` offsets."""
    level_state = state[ST_LEVEL:ST_GAIN]
    gain_state = state[ST_GAIN:ST_LIMITER]
    lv.update_level(x, vad_speech, level_state, state[ST_HIST:ST_RING], state[ST_RING:ST_LIMITER_GAIN],
                    params[PA_LAM], params[PA_ENV_COEF])
    g_from = gain_state[gn.GN_APPLIED_DB]
    g_to = gn.update_gain(level_state, vad_raw, gain_state, params[PA_GAIN:PA_SIZE])
    gn.apply_gain(x, g_from, g_to, y)
    gain_state[gn.GN_APPLIED_DB] = g_to
    g_min = lim.limit(y, params[PA_CEILING], params[PA_RELEASE], state[ST_LIMITER:ST_HIST])
    state[ST_LIMITER_GAIN] = g_min
    return g_min


@kernel
def agc_vad_frame(x, far_talk, vad_ints, vad_floats, pcm, state, params, y):
    """``vad.vad_frame`` on ``x`` (the VAD's arrays ``vad_ints``, ``vad_floats``, ``pcm``), then
    ``agc_frame`` with its decisions, both taken as a pause when ``far_talk``."""
    speech = vad_frame(x, vad_ints, vad_floats, pcm)
    raw = vad_ints[I_RAW] != 0
    if far_talk:  # residual echo is no near-end speech: a pause for level and gain
        speech = raw = False
    agc_frame(x, speech, raw, state, params, y)


@kernel
def agc_step(x, far_talk, args):
    """``AutomaticGainControl._process`` as a chain kernel (``audio3a.stage``): ``agc_vad_frame``
    with the stage's arrays ``(vad_ints, vad_floats, pcm, state, params, y)``."""
    vad_ints, vad_floats, pcm, state, params, y = args
    agc_vad_frame(x, far_talk, vad_ints, vad_floats, pcm, state, params, y)
    return y, False


@dataclass(frozen=True)
class AgcConfig:
    """AGC settings.

    ``target_level_dbfs``: active speech level the output is steered to.
    ``max_gain_db`` / ``min_gain_db``: range of the level gain (a -40 dBFS talker needs +22 dB).
    ``gain_up_db_per_s`` / ``gain_down_db_per_s``: slew limits of the level gain.
    ``noise_cap_db``: largest gain applied in speech pauses (the noise floor rises by at most this;
    5 dB keeps the measured rise under 6 dB with the gate's transitions and clinks included).
    ``limiter_dbfs``: no output sample exceeds this level.
    ``level_time_s``: memory of the speech level estimate, in seconds of speech.
    ``vad``: settings of the voice activity detector.
    """

    target_level_dbfs: float = -18.0
    max_gain_db: float = 30.0
    min_gain_db: float = -20.0
    gain_up_db_per_s: float = 6.0
    gain_down_db_per_s: float = 40.0
    noise_cap_db: float = 5.0
    limiter_dbfs: float = -1.0
    level_time_s: float = 1.0
    vad: VadConfig = field(default_factory=VadConfig)

    def build(self, sample_rate: int) -> "AutomaticGainControl":
        return AutomaticGainControl(sample_rate, self)


@dataclass(frozen=True)
class AgcStats:
    speech_level_dbfs: float    # active speech level estimate of the input (-inf before any speech)
    gain_db: float              # gain applied at the end of the last frame
    level_gain_db: float        # gain the level alone asks for (before saturation and pause caps)
    noise_floor_dbfs: float     # input noise floor estimate
    vad_speech: bool            # VAD decision for the last frame (with hangover)
    speech_active: bool         # last frame counted as active speech for the level
    limiter_gain_db: float      # deepest limiter gain in the last frame (0 when idle)


class AutomaticGainControl(Stage):
    """Steers active speech to ``target_level_dbfs`` without pumping pauses or clipping."""

    name = "agc"
    latency_ms = lim.LOOKAHEAD_MS

    def __init__(self, sample_rate: int = 16000, config: AgcConfig = AgcConfig()):
        super().__init__(sample_rate)
        c = config
        if not c.min_gain_db <= 0.0 <= c.max_gain_db:
            raise ValueError("AgcConfig needs min_gain_db <= 0 <= max_gain_db")
        if c.gain_up_db_per_s <= 0 or c.gain_down_db_per_s <= 0:
            raise ValueError("AgcConfig gain slew rates must be > 0 dB/s")
        if c.noise_cap_db < 0:
            raise ValueError(f"AgcConfig.noise_cap_db must be >= 0, got {c.noise_cap_db}")
        if not -40.0 <= c.limiter_dbfs <= 0.0:
            raise ValueError(f"AgcConfig.limiter_dbfs must lie in [-40, 0] dBFS, got {c.limiter_dbfs}")
        if not c.target_level_dbfs < c.limiter_dbfs:
            raise ValueError("AgcConfig.target_level_dbfs must lie below limiter_dbfs")
        if c.level_time_s <= 0:
            raise ValueError(f"AgcConfig.level_time_s must be > 0, got {c.level_time_s}")
        self.config = c
        frame_s = self.frame_len / self.sample_rate
        self.vad = Vad(self.sample_rate, c.vad, frame_ms=10)
        gain_params = gn.gain_params(
            frame_s, c.target_level_dbfs, c.min_gain_db, c.max_gain_db, c.gain_up_db_per_s,
            c.gain_down_db_per_s, c.noise_cap_db, c.limiter_dbfs, 0.0)
        self._params = np.zeros(PA_SIZE, np.float64)
        self._params[PA_LAM] = max(0.0, 1.0 - frame_s / c.level_time_s)
        self._params[PA_ENV_COEF] = np.exp(-1.0 / (lv.P56_TIME_CONST_S * self.sample_rate))
        self._params[PA_CEILING] = 10.0 ** (c.limiter_dbfs / 20.0)
        self._params[PA_RELEASE] = lim.release_coef(self.sample_rate)
        self._params[PA_GAIN:] = gain_params
        self._gain_params = self._params[PA_GAIN:]
        self._state = np.zeros(ST_SIZE, np.float64)
        self.level_state = self._state[ST_LEVEL:ST_GAIN]
        self.gain_state = self._state[ST_GAIN:ST_LIMITER]
        self.lim_state = self._state[ST_LIMITER:ST_HIST]
        self.level_hist = self._state[ST_HIST:ST_RING]
        self.env_ring = self._state[ST_RING:ST_LIMITER_GAIN]
        self._out = np.zeros(self.frame_len, np.float32)
        v = self.vad
        self._args = (v._ints, v._floats, v._pcm, self._state, self._params, self._out)  # the kernel's fixed arguments
        self.kernel, self.kernel_args = agc_step, self._args
        self.reset()

    def _process(self, x: np.ndarray) -> np.ndarray:
        agc_vad_frame(x, self.far_talk, *self._args)
        return self._out

    def reset(self) -> None:
        self.far_talk = False
        self.vad.reset()
        lv.reset_level_state(self.level_state, self.level_hist, self.env_ring)
        gn.reset_gain_state(self.gain_state, self._gain_params)
        self.lim_state[:] = 0.0
        self._state[ST_LIMITER_GAIN] = 1.0
        self._out[:] = 0.0

    @property
    def stats(self) -> AgcStats:
        ls, gs = self.level_state, self.gain_state
        level = float(ls[lv.LV_LEVEL_DB]) if ls[lv.LV_COUNT] > 0 else float("-inf")
        return AgcStats(
            speech_level_dbfs=float(level),
            gain_db=float(gs[gn.GN_APPLIED_DB]),
            level_gain_db=float(gs[gn.GN_GAIN_DB]),
            noise_floor_dbfs=float(ls[lv.LV_NOISE_DB]),
            vad_speech=bool(self.vad.speech),
            speech_active=bool(ls[lv.LV_ADMITTED]),
            limiter_gain_db=float(20 * np.log10(max(self._state[ST_LIMITER_GAIN], 1e-10))),
        )
