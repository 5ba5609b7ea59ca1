"""The noise suppression stage: STFT -> IMCRA noise PSD -> OM-LSA gain -> overlap-add.

One jitted call per 10 ms frame (``ns_frame``: ``ns_gain``, then
``ns_synthesis``) runs the whole chain:

1. analysis: 20 ms sqrt-Hann window, zero-padded FFT (``stft``); in a frame
   with a click, the spectrum restored to its recent mean (``click``);
2. noise PSD by IMCRA (``noise_psd``), updated under IMCRA's own speech
   presence probability;
3. decision-directed a-priori SNR; the presence probability for the gain
   ANDs IMCRA's with the a-priori SNR based likelihood of ``presence``, so
   noise-only frames fall to the floor; OM-LSA gain with the level's floor,
   lifted in speech frames and deeper in pauses at low SNR
   (``gain.pause_floor``), and a smoothed release of falling gains
   (``gain.release_gain``);
4. synthesis by overlap-add.

With ``NsConfig(method="hybrid")`` (``ns_hybrid_frame``) the gain of step 3
is capped per bin by a small MLP's band gains, predicted from band features
of that step's own estimates (``features``, ``model.cap_gain``):
G = min(G_dsp, G_learned), before the click factor.

The algorithmic delay is one hop: ``latency_ms = 10.0``.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._jit import kernel
from ..frames import all_finite
from ..stage import Stage
from . import noise_psd as imcra
from .model import LearnedGain, cap_gain
from .gain import (FLOOR_DB, SNR_LT_INIT, XI_MIN_DB, decision_directed, omlsa_gain, pause_floor,
                   release_gain)
from .noise_psd import (imcra_smoothing, noise_update, speech_absence_prob,
                        speech_presence_prob)
from .presence import F_HELD, GLOBAL_HALF_HZ, N_FRAME_STATE, presence_likelihood
from .stft import Stft, fft_size, stft_analysis, stft_synthesis, stft_views
from .click import N_STATE as N_CLICK_STATE, click_restore

# params vector layout
P_GAIN_MIN = 0
P_XI_MIN = 1
P_ALPHA_TIME = 2
P_POWER_NORM = 3   # periodogram -> power per sample (Parseval with the window energy)
P_BAND_LO = 4      # bins averaged for the speech probability stat
P_BAND_HI = 5
P_GLOBAL_HALF = 6  # half-width in bins of the global a-priori SNR average
N_PARAMS = 7

# rows of the per-bin array ``bins`` (K bins each)
B_POWER = 0        # periodogram |Y|^2
B_GAMMA = 1        # a-posteriori SNR
B_XI = 2           # a-priori SNR
B_V = 3            # v = gamma xi / (1 + xi)
B_Q = 4            # speech absence probability
B_P = 5            # speech presence probability
B_GAIN_H1 = 6      # LSA gain under speech presence
B_GAIN = 7         # applied gain
B_GAIN_PREV = 8    # last frame's gain (gain release / musical-noise smoothing)
B_ZETA = 9         # recursively averaged a-priori SNR (presence)
B_PRESENCE = 10    # a-priori SNR based presence likelihood
B_MEAN_POWER = 11  # mean power of the click-free frames (``click``)
B_RESTORE = 12     # this frame's click restoration factor
N_BIN_ROWS = 13

# stats vector layout
ST_NOISE = 0       # noise power per sample
ST_SPEECH = 1      # estimated speech power per sample
ST_PROB = 2        # mean speech presence probability over the voice band
N_STATS = 3

# the stage's small vectors, packed into one array ``vec`` (one kernel argument)
V_PARAMS = 0
V_STATS = V_PARAMS + N_PARAMS
V_SNR_LT = V_STATS + N_STATS
V_FRAME = V_SNR_LT + 1                     # presence's frame state
V_CLICK = V_FRAME + N_FRAME_STATE          # click detector state
N_VEC = V_CLICK + N_CLICK_STATE

GAIN_RELEASE = 0.82   # release of a falling gain where speech is absent (``gain.release_gain``)
METHODS = ("dsp", "hybrid")
DEFAULT_METHOD = "hybrid"


@kernel
def mem_offsets(hop):
    """Offsets in the stage's one float64 array ``mem``: (bins, IMCRA, STFT); ``vec`` at 0.

    The STFT part (whose plan runs to the end of ``mem``) starts at an even offset, so its
    spectrum, viewed as complex, is 16-byte aligned.
    """
    k = fft_size(hop) // 2 + 1
    o_imcra = N_VEC + N_BIN_ROWS * k
    o_stft = o_imcra + imcra.imcra_size(k)
    return N_VEC, o_imcra, o_stft + o_stft % 2


@kernel
def mem_views(mem, hop):
    """(plan, window, history, overlap, frame, spec, bins, state, ring, counters, scratch, vec) of ``mem``."""
    o_bins, o_imcra, o_stft = mem_offsets(hop)
    k = fft_size(hop) // 2 + 1
    state, ring, counters, scratch = imcra.imcra_views(mem[o_imcra:o_stft], k)
    plan, window, history, overlap, frame, spec = stft_views(mem[o_stft:], hop)
    return (plan, window, history, overlap, frame, spec, mem[o_bins:o_imcra].reshape((N_BIN_ROWS, k)),
            state, ring, counters, scratch, mem[:N_VEC])


@kernel
def frame_stats(power, noise, p, lo, hi, power_norm, stats):
    """Stats: noise PSD, excess power over it (per sample) and mean presence over bins [lo, hi)."""
    n = power.shape[0]
    noise_sum = 0.0
    speech_sum = 0.0
    for k in range(n):
        w = 1.0 if (k == 0 or k == n - 1) else 2.0
        noise_sum += w * noise[k]
        d = power[k] - noise[k]
        if d > 0.0:
            speech_sum += w * d
    prob = 0.0
    for k in range(lo, hi):
        prob += p[k]
    stats[ST_NOISE] = noise_sum * power_norm
    stats[ST_SPEECH] = speech_sum * power_norm
    stats[ST_PROB] = prob / max(hi - lo, 1)


@kernel
def ns_gain(x, mem):
    """Steps 1-3 for one hop ``x``: its spectrum, the estimates and the gain (before the click factor, row
    B_GAIN) in ``mem`` (``mem_views``: ``bins`` rows as B_*, ``vec`` as V_*)."""
    (plan, window, history, overlap, frame, spec, bins, state, ring, counters, scratch,
     vec) = mem_views(mem, x.shape[0])
    params = vec[V_PARAMS:V_PARAMS + N_PARAMS]
    stats = vec[V_STATS:V_STATS + N_STATS]
    snr_lt = vec[V_SNR_LT:V_SNR_LT + 1]
    frame_state = vec[V_FRAME:V_FRAME + N_FRAME_STATE]
    click_state = vec[V_CLICK:V_CLICK + N_CLICK_STATE]
    power = bins[B_POWER]
    gamma = bins[B_GAMMA]
    xi = bins[B_XI]
    v = bins[B_V]
    q = bins[B_Q]
    p = bins[B_P]
    gain_h1 = bins[B_GAIN_H1]
    gain = bins[B_GAIN]
    stft_analysis(plan, window, history, x, frame, spec)
    n = spec.shape[0]
    for k in range(n):
        c = spec[k]
        power[k] = c.real * c.real + c.imag * c.imag
    # a click: the estimators see the restored power, the gain takes the factor (below)
    restore = bins[B_RESTORE]
    click_restore(x, click_state, bins[B_MEAN_POWER], power, restore, frame_state[F_HELD] >= 0.5)
    lo = int(params[P_BAND_LO])
    hi = int(params[P_BAND_HI])
    imcra_smoothing(power, state, ring, counters, scratch)
    noise = state[imcra.NOISE]
    decision_directed(power, noise, gain_h1, gamma, params[P_XI_MIN], gamma, xi, v)
    presence = bins[B_PRESENCE]
    presence_likelihood(xi, bins[B_ZETA], frame_state, int(params[P_GLOBAL_HALF]), lo, hi, scratch, presence)
    speech_absence_prob(power, state, q)
    # IMCRA's own presence probability drives the noise update ...
    speech_presence_prob(q, xi, v, p)
    noise_update(power, p, state, counters)
    # ... and, ANDed with the a-priori SNR based presence, the gain
    for k in range(n):
        q[k] = 1.0 - (1.0 - q[k]) * presence[k]
    speech_presence_prob(q, xi, v, p)
    frame_stats(power, noise, p, lo, hi, params[P_POWER_NORM], stats)
    floor = pause_floor(stats[ST_SPEECH] / max(stats[ST_NOISE], 1e-30), frame_state[F_HELD], snr_lt,
                        params[P_GAIN_MIN])
    omlsa_gain(xi, v, p, floor, gain_h1, gain)
    release_gain(gain, p, bins[B_GAIN_PREV], params[P_ALPHA_TIME])


@kernel
def ns_synthesis(y, mem):
    """Step 4: the gain of ``ns_gain`` times the click factor applied to the spectrum, overlap-added into ``y``."""
    plan, window, _, overlap, frame, spec, bins, _, _, _, _, _ = mem_views(mem, y.shape[0])
    gain = bins[B_GAIN]
    restore = bins[B_RESTORE]
    for k in range(spec.shape[0]):
        gain[k] *= restore[k]
        spec[k] = spec[k] * gain[k]
    stft_synthesis(plan, window, spec, frame, overlap, y)


@kernel
def ns_frame(x, y, mem):
    """Suppress noise in one hop ``x`` into ``y`` (delayed by one hop) by the DSP gain; the state is ``mem``."""
    ns_gain(x, mem)
    ns_synthesis(y, mem)


@kernel
def ns_hybrid_frame(x, y, mem, net):
    """``ns_frame`` with the gain capped by the learned band gain (``model.cap_gain``, state ``net``)."""
    ns_gain(x, mem)
    _, _, _, _, _, _, bins, state, _, _, _, vec = mem_views(mem, x.shape[0])
    cap_gain(bins[B_POWER], state[imcra.NOISE], bins[B_XI], bins[B_P], vec[V_PARAMS + P_GAIN_MIN], net,
             bins[B_GAIN])
    ns_synthesis(y, mem)


@kernel
def ns_frame_checked(x, y, mem):
    """``ns_frame`` when every sample of ``x`` is finite (returns True); else False, nothing changed."""
    if not all_finite(x):
        return False
    ns_frame(x, y, mem)
    return True


@kernel
def ns_hybrid_frame_checked(x, y, mem, net):
    """``ns_hybrid_frame`` when every sample of ``x`` is finite (returns True); else False, nothing changed."""
    if not all_finite(x):
        return False
    ns_hybrid_frame(x, y, mem, net)
    return True


@kernel
def ns_step(x, far_talk, args):
    """``NoiseSuppressor._process`` (method "dsp") as a chain kernel (``audio3a.stage``):
    ``ns_frame`` with the stage's ``(y, mem)``."""
    y, mem = args
    ns_frame(x, y, mem)
    return y, False


@kernel
def ns_hybrid_step(x, far_talk, args):
    """``NoiseSuppressor._process`` (method "hybrid") as a chain kernel: ``ns_hybrid_frame`` with
    the stage's ``(y, mem, net)``."""
    y, mem, net = args
    ns_hybrid_frame(x, y, mem, net)
    return y, False


@dataclass(frozen=True)
class NsStats:
    """Noise floor (dBFS), estimated SNR (dB) and speech presence probability (0-1) of the last frame."""

    noise_floor_dbfs: float
    snr_db: float
    speech_prob: float


@dataclass(frozen=True)
class NsConfig:
    """Noise suppression settings.

    ``level`` sets how deep the suppressor may cut where no speech is found:
    the gain floor is -10 / -17 / -25 / -30 dB for "low" / "moderate" / "high" /
    "very-high". The DSP route lifts it by 6 dB in speech frames and in pauses
    deepens it by up to 50 dB where the long-term SNR is below 40 dB, so the
    residual noise stays 90 dB below the speech (figures of "high"; they scale
    with the floor, ``gain.pause_floor``); it also restores the spectrum of
    frames holding a click (``click``).

    ``method`` picks the gain rule: "hybrid" (the default: the DSP gain capped
    by the 29 band gains that the small MLP of ``model`` predicts from band
    features of the DSP estimates; weights shipped in ``audio3a/ns/weights``,
    trained by ``bench/train_ns.py``) or "dsp" (IMCRA + OM-LSA per bin alone,
    the fallback: less suppression of non-stationary noise, ~2/3 of the CPU).
    """

    level: str = "high"
    method: str = DEFAULT_METHOD

    def build(self, sample_rate: int) -> "NoiseSuppressor":
        return NoiseSuppressor(sample_rate, self)


@lru_cache(maxsize=None)
def _layers() -> np.ndarray:
    """The shipped MLP, packed (``model.pack_layers``), read-only and shared by every stage."""
    from .model import load_weights, pack_layers

    layers = pack_layers(load_weights())
    layers.setflags(write=False)
    return layers


class NoiseSuppressor(Stage):
    """Single-channel noise suppressor (IMCRA + OM-LSA, optionally capped by a learned band gain), 10 ms delay."""

    name = "ns"
    latency_ms = 10.0  # one hop of the STFT at either rate

    def __init__(self, sample_rate: int = 16000, config: NsConfig = NsConfig()):
        super().__init__(sample_rate)
        if config.level not in FLOOR_DB:
            names = ", ".join(repr(k) for k in FLOOR_DB)
            raise ValueError(f"NsConfig.level must be one of {names}, got {config.level!r}")
        if config.method not in METHODS:
            raise ValueError(f"NsConfig.method must be one of {', '.join(map(repr, METHODS))}, "
                             f"got {config.method!r}")
        self.config = config
        # one array for the whole state (``mem_views``): one kernel argument
        k = fft_size(self.frame_len) // 2 + 1
        o_bins, o_imcra, o_stft = mem_offsets(self.frame_len)
        self.mem = np.zeros(o_stft + Stft.size(self.frame_len))
        self.stft = Stft(self.frame_len, self.mem[o_stft:])
        self.imcra = imcra.Imcra(k, self.mem[o_imcra:o_stft])
        self.latency_ms = 1000.0 * self.stft.latency_samples / self.sample_rate
        self.bins = self.mem[o_bins:o_imcra].reshape(N_BIN_ROWS, k)
        self.gain = self.bins[B_GAIN]  # the last frame's applied gain per bin (a view)
        self.vec = self.mem[:N_VEC]
        self.params = self.vec[V_PARAMS:V_PARAMS + N_PARAMS]
        self._stats = self.vec[V_STATS:V_STATS + N_STATS]
        self.snr_lt = self.vec[V_SNR_LT:V_SNR_LT + 1]
        self.frame_state = self.vec[V_FRAME:V_FRAME + N_FRAME_STATE]
        self.click_state = self.vec[V_CLICK:V_CLICK + N_CLICK_STATE]
        self.params[P_GAIN_MIN] = 10.0 ** (FLOOR_DB[config.level] / 20.0)
        self.params[P_XI_MIN] = 10.0 ** (XI_MIN_DB / 10.0)
        self.params[P_ALPHA_TIME] = GAIN_RELEASE
        self.params[P_POWER_NORM] = 1.0 / (self.stft.n_fft * np.sum(self.stft.window ** 2))
        bin_hz = self.sample_rate / self.stft.n_fft
        self.params[P_BAND_LO] = int(np.ceil(100.0 / bin_hz))
        self.params[P_BAND_HI] = int(np.floor(min(4000.0, self.sample_rate / 2) / bin_hz)) + 1
        self.params[P_GLOBAL_HALF] = max(1, int(round(GLOBAL_HALF_HZ / bin_hz)))
        self._out = np.zeros(self.frame_len, np.float32)
        # the kernels' arguments after the input hop (reset() keeps every array in place)
        self.learned = None
        if config.method == "hybrid":
            self.learned = LearnedGain(self.sample_rate, self.stft.n_fft, self.params[P_POWER_NORM], _layers())
            self._args = (self._out, self.mem, self.learned.args())
            self.kernel, self._frame, self._frame_checked = ns_hybrid_step, ns_hybrid_frame, ns_hybrid_frame_checked
        else:
            self._args = (self._out, self.mem)
            self.kernel, self._frame, self._frame_checked = ns_step, ns_frame, ns_frame_checked
        self.kernel_args = self._args
        self.reset()

    def _process(self, x: np.ndarray) -> np.ndarray:
        self._frame(x, *self._args)
        return self._out

    # the kernel checks the samples of a ready frame itself (``Stage._process_checked``)
    def _process_checked(self, x: np.ndarray):
        return self._out if self._frame_checked(x, *self._args) else None

    def reset(self) -> None:
        self.stft.reset()
        self.imcra.reset()
        for a in (self.bins, self.frame_state, self.click_state, self._stats, self._out):
            a[...] = 0
        self.bins[B_RESTORE] = 1.0
        self.bins[B_GAIN] = 1.0
        self.bins[B_GAIN_PREV] = 1.0
        self.snr_lt[:] = SNR_LT_INIT
        if self.learned is not None:
            self.learned.reset()

    @property
    def stats(self) -> NsStats:
        noise, speech, prob = self._stats
        if noise <= 0.0:
            return NsStats(float("-inf"), 0.0, float(prob))
        return NsStats(
            noise_floor_dbfs=float(10.0 * np.log10(noise)),
            snr_db=float(10.0 * np.log10(max(speech, 1e-30) / noise)),
            speech_prob=float(prob),
        )
