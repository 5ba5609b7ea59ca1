"""The echo canceller stage: delay estimation, two adaptive filters, residual suppression.

Per capture frame (10 ms, B samples):

1. the paired far frame j leaves the render FIFO and its N-point spectrum is
   stored (``render_buffer``);
2. the bulk delay estimator compares binary spectra of far and mic
   (``delay``); when it settles on a new delay the filter offset moves by whole
   partitions, keeping the converged coefficients;
3. the main (Kalman step, ``filter.kalman_step``) and shadow PBFDAF filters
   (``filter``) produce their errors; the shadow (fixed step 0.5) is copied
   into the main filter when its error is under half the main filter's and
   under a quarter of the mic for 2 frames and, smoothed over ~10 frames, under
   half the main's smoothed error (fast convergence at start and after
   echo-path changes; the second and third conditions keep a shadow that
   tracks the near-end talker in double talk from being copied: it wins single
   frames, not a window); the copy also sets the main filter's misalignment
   state from the shadow's error. The shadow is reset to the main filter when
   its error is twice the main's for 5 frames; a main filter whose smoothed
   error exceeds twice the mic for 10 frames is zeroed (a divergence reset).
   The linear output is the shadow's error when the copy condition holds, else
   the main's, else the mic;
   a converged filter is moved to a new bulk delay only when the estimator has
   held it ~1 s with confidence >= 0.4 (double talk cannot drag it away);
4. the residual echo suppressor (``suppressor``) computes per-bin gains and
   applies them as a linear-phase FIR (3.5 ms delay, the stage's only
   algorithmic delay), with comfort noise (``comfort_noise``) where it attenuates;
   until the filter first shows 10-16 dB of ERLE in far-end single talk it also
   assumes echo at the far end's recent peak level (the initial phase: the first
   1-2 s; not re-armed later), which is what keeps echo out of the output
   before convergence.

Cost: a capture frame is three kernel calls, their fixed arguments prebuilt as
tuples: ``capture_front`` (far spectrum into the ring, delay estimator, mic
spectrum), ``filter_pair_step`` (both filters) and ``suppress_step``; the Python
work per frame is bookkeeping; per frame about 14 real FFTs of N = 512 points at
16 kHz. The far spectra ring and the filter coefficients are complex64 (the
multiply-accumulate loops stream them; their sums run in float64).

The filter covers ``tail_ms`` after the offset, which sits ``margin_ms`` before
the estimated bulk delay (so the direct path and early reflections stay inside).

48 kHz runs the same structure full band: B = 480, N = 1024, partitions of
10 ms; the delay estimator and suppressor bands scale with the rate.
"""
import math
from dataclasses import dataclass

import numpy as np

from .._jit import kernel
from ..fft import make_plan, rfft
from ..stage import RenderStage
from .comfort_noise import ComfortNoise
from .delay import DelayEstimator, far_frame_update, mic_frame_update
from .filter import (AdaptiveFilter, filter_pair_frame, mic_frame, misalignment_from_error, peak_partition,
                     shift_partitions)
from .render_buffer import RenderBuffer, window_spectrum
from .suppressor import EchoSuppressor, suppress_frame


@kernel
def capture_front(j, x, frames, cap, frame_len, window, rplan, Xs, spectra, power, energy, edges, far_mean,
                  mic_mean, far_bits, far_active, floors, dist, rate, scratch, d, mic_hist, plan, D, D2):
    """The first steps of a capture frame in one call: far frame j's spectrum into the ring
    (``RenderBuffer.pop``), its binary spectrum (``DelayEstimator.add_far``), the mic spectrum
    (``filter.mic_frame``) and the delay distances (``delay.mic_frame_update``).

    The per-frame arguments come first, the state (fixed arrays) after, so the caller passes
    it as one prebuilt tuple. Returns (mic energy, distances updated, arg-min lag, confidence).
    """
    slot = j % cap
    e_far = window_spectrum(frames, j, cap, frame_len, window, rplan, Xs, spectra[slot], power[slot])
    energy[slot] = e_far
    far_frame_update(power[slot], e_far, slot, edges, far_mean, far_bits, far_active, floors)
    mic_energy = mic_frame(x, d, mic_hist, plan, D, D2)
    updated, lag, conf = mic_frame_update(D2, mic_energy, j, cap, edges, mic_mean, far_bits, far_active,
                                          floors, dist, rate, scratch)
    return mic_energy, updated, lag, conf


@kernel
def filter_pair_step(base, part_m, part_s, update_weights, spectra, power, energy, cap, d, plan, Wm, spec_m,
                     time_m, block_m, bins_m, g_m, Ws, spec_s, time_s, block_s, bins_s, g_s, Yh, leak,
                     leak_state, beta0, gain_scale, delta, alpha, kal):
    """``filter.filter_pair_frame`` with the per-frame arguments first (the state: one tuple)."""
    return filter_pair_frame(spectra, power, energy, base, cap, d, plan, Wm, spec_m, time_m, block_m, bins_m,
                             g_m, part_m, Ws, spec_s, time_s, block_s, bins_s, g_s, part_s, Yh, leak,
                             leak_state, beta0, gain_scale, delta, alpha, update_weights, kal)


@kernel
def suppress_step(E, Xal, Xal2, e_time, eta, residual_ratio, Xcur2, w_init, use_mic, d, pad, Dblk, D, D2,
                  nl, beta, g_min, release, echo_decay, window_scale, smooth, spectra, G, kernel_taps, phase,
                  plan, reals, noise, cn_scale, cn_rise, rng_state, out, env_decay, init_extra_db):
    """``suppressor.suppress_frame`` with the per-frame arguments first (the state: one tuple).

    With ``use_mic`` the suppressor works on the mic frame ``d`` instead of a filter's error
    (``E``, ``e_time`` ignored): its block spectrum FFT([0 ... 0, d]) goes to ``Dblk``.
    """
    if use_mic:
        n = pad.shape[0]
        b = d.shape[0]
        for i in range(n - b):
            pad[i] = 0.0
        for i in range(b):
            pad[n - b + i] = d[i]
        rfft(plan, pad, Dblk)
        E = Dblk
        e_time = d
    return suppress_frame(E, Xal, Xal2, D, D2, e_time, eta, nl, beta, g_min, release, echo_decay,
                          residual_ratio, window_scale, smooth, spectra, G, kernel_taps, phase, plan, reals,
                          noise, cn_scale, cn_rise, rng_state, out, Xcur2, w_init, env_decay, init_extra_db)


@dataclass(frozen=True)
class AecStats:
    """Snapshot of the canceller.

    erle_db: smoothed echo return loss enhancement, mic over output energy in
    frames with far-end activity (dB); linear_erle_db: the same for the linear
    filter alone; delay_ms: render-to-capture delay (bulk offset plus the
    filter's main tap once converged, else the estimator's); delay_confidence
    in [0, 1]; double_talk: near-end speech detected over echo in this frame;
    divergence_resets, filter_copies: counts since reset; render_underruns /
    render_overflows: capture frames that found no far frame / far frames dropped.
    """

    erle_db: float
    linear_erle_db: float
    delay_ms: float
    delay_confidence: float
    double_talk: bool
    divergence_resets: int
    filter_copies: int
    render_underruns: int
    render_overflows: int


@dataclass(frozen=True)
class AecConfig:
    """Echo canceller settings.

    init_erle_db: single-talk ERLE range over which the suppressor's initial-phase echo
    assumption fades out (and never returns); init_extra_suppression_db: how much deeper
    its floor is during that phase.

    max_delay_ms: largest bulk render-to-capture delay searched; tail_ms: echo
    tail the linear filter covers after the bulk delay; suppression_db: the
    residual suppressor's deepest attenuation in far-end single talk (comfort
    noise fills below it); nonlinear_db: assumed level of
    loudspeaker distortion below the echo; overdrive: residual-echo
    overestimation of the suppressor; suppressor_delay_ms: half length of the
    gain FIR (the stage's algorithmic delay); echo_decay_db_per_s: how fast the
    suppressor lets its echo envelope fall (reverberation it assumes after the
    linear estimate; 90 dB/s = a room with T60 of 0.67 s).
    """

    max_delay_ms: float = 1000.0
    tail_ms: float = 200.0
    margin_ms: float = 20.0
    suppression_db: float = -20.0
    nonlinear_db: float = -12.0
    overdrive: float = 2.0
    suppressor_delay_ms: float = 3.5
    echo_decay_db_per_s: float = 90.0
    max_render_ahead_ms: float = 500.0
    init_erle_db: tuple = (10.0, 16.0)
    init_extra_suppression_db: float = 15.0

    def build(self, sample_rate: int) -> "EchoCanceller":
        return EchoCanceller(sample_rate, self)


class EchoCanceller(RenderStage):
    """Acoustic echo canceller (see the module docstring)."""

    name = "aec"
    ST_SHARE = 0.5  # echo share of the mic above which a frame counts as far-end single talk

    def __init__(self, sample_rate: int = 16000, config: AecConfig = AecConfig()):
        super().__init__(sample_rate)
        if not 0.0 <= config.max_delay_ms <= 2000.0:
            raise ValueError("AecConfig.max_delay_ms must lie in [0, 2000]")
        if not 10.0 <= config.tail_ms <= 1000.0:
            raise ValueError("AecConfig.tail_ms must lie in [10, 1000]")
        if not 0.5 <= config.suppressor_delay_ms <= 8.0:
            raise ValueError("AecConfig.suppressor_delay_ms must lie in [0.5, 8]")
        self.config = config
        b = self.frame_len
        n_fft = 1
        while n_fft < 2 * b:
            n_fft *= 2
        self.n_fft = n_fft
        self.n_bins = n_fft // 2 + 1
        frame_ms = 1000.0 * b / sample_rate
        self.n_part = int(np.ceil(config.tail_ms / frame_ms))
        self.margin = int(round(config.margin_ms / frame_ms))
        self.max_lag = int(round(config.max_delay_ms / frame_ms))
        ahead = max(1, int(round(config.max_render_ahead_ms / frame_ms)))
        cap = self.max_lag + self.n_part + ahead + n_fft // b + 4
        self.plan = make_plan(n_fft)
        self.render = RenderBuffer(b, n_fft, cap, ahead)
        self.delay = DelayEstimator(sample_rate, n_fft, b, config.max_delay_ms, cap)
        self.main = AdaptiveFilter(self.n_part, b, n_fft, self.plan)
        self.shadow = AdaptiveFilter(self.n_part, b, n_fft, self.plan, fixed_mu=0.5)
        d_samples = int(round(config.suppressor_delay_ms * sample_rate / 1000))
        self.latency_ms = 1000.0 * d_samples / sample_rate
        self.suppressor = EchoSuppressor(b, n_fft, self.plan, d_samples, config.nonlinear_db,
                                         config.overdrive, config.suppression_db, config.echo_decay_db_per_s,
                                         config.init_extra_suppression_db)
        self.cng = ComfortNoise(self.n_bins, b, n_fft)
        # per-frame scratch
        self._d = np.zeros(b)
        self._mic_hist = np.zeros(n_fft)
        self._D = np.zeros(self.n_bins, np.complex128)
        self._D2 = np.zeros(self.n_bins)
        self._Yh = np.zeros(self.n_bins, np.complex128)
        self._pad = np.zeros(n_fft)
        self._Dblk = np.zeros(self.n_bins, np.complex128)
        # step state per bin: Eh, Yavg (leakage), See, Syy, M (misalignment, ``filter.kalman_step``)
        self._leak = np.zeros((5, self.n_bins))
        # main filter step (``filter.kalman_step``): [1/P, process noise q, mu_max, c = B/N, M at reset]
        self._kal = np.array([1.0 / self.n_part, 1e-4, 0.5, b / n_fft, 1e3])
        self._leak_state = np.zeros(2)
        self._out = np.zeros(b, np.float32)
        self._delta = 1e-6 * n_fft * self.n_part
        self._beta0 = 2.0 * b / sample_rate  # leakage smoothing (Valin: 2 frames per second)
        # the fixed arguments of the per-frame kernels (arrays are only ever updated in place)
        render, delay, main, shadow = self.render, self.delay, self.main, self.shadow
        sup, cng = self.suppressor, self.cng
        self._front_args = (render.frames, render.capacity, render.frame_len, render._window, render._plan,
                            render._X, render.spectra, render.power, render.energy, delay.edges,
                            delay._far_mean, delay._mic_mean, delay.far_bits, delay.far_active, delay._floors,
                            delay.dist, delay.smoothing, delay._scratch, self._d, self._mic_hist, self.plan,
                            self._D, self._D2)
        self._filter_args = (render.spectra, render.power, render.energy, render.capacity, self._d, self.plan,
                             main.W, main.spec, main.time, main.block, main.bins, main._g,
                             shadow.W, shadow.spec, shadow.time, shadow.block, shadow.bins, shadow._g,
                             self._Yh, self._leak, self._leak_state, self._beta0, main.gain_scale, self._delta,
                             main.alpha, self._kal)
        self._sup_args = (self._d, self._pad, self._Dblk, self._D, self._D2, sup.nl, sup.beta, sup.g_min, sup.release, sup.echo_decay,
                          sup.window_scale, sup.smooth, sup.spectra, sup.G, sup.kernel_taps, sup.phase, sup.plan,
                          sup.reals, cng.noise, cng.scale, cng.rise, cng.rng_state, self._out, sup.env_decay,
                          sup.init_extra_db)
        self.reset()

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        self.render.reset()
        self.delay.reset()
        self.main.reset()
        self.shadow.reset()
        self.suppressor.reset()
        self.cng.reset()
        self._mic_hist[:] = 0.0
        self._leak[:] = 0.0
        self._leak[4] = self._kal[4]
        self._leak_state[:] = 0.0
        self._out[:] = 0.0
        self.offset = 0
        self.eta = 1.0
        self._copy_count = 0
        self._reset_count = 0
        self._diverge_count = 0
        self.divergence_resets = 0
        self.filter_copies = 0
        self._erle_num = 0.0
        self._erle_den = 0.0
        self._lin_num = 0.0
        self._lin_den = 0.0
        self._lin_erle_db = 0.0
        self._double_talk = False
        self.echo_dominant = False
        self._em_avg = 0.0
        self._converged_db = 0.0
        self._st_erle_db = 0.0
        self._frame_count = 0
        self._init_w = 1.0
        self._lag_part = 0
        self._mic_avg = 0.0
        self._es_avg = 0.0
        self._shadow_won = False

    @property
    def stats(self) -> AecStats:
        return AecStats(
            erle_db=self._ratio_db(self._erle_num, self._erle_den),
            linear_erle_db=self._ratio_db(self._lin_num, self._lin_den),
            delay_ms=self.delay_ms,
            delay_confidence=float(self.delay.confidence),
            double_talk=bool(self._double_talk),
            divergence_resets=self.divergence_resets,
            filter_copies=self.filter_copies,
            render_underruns=self.render.underruns,
            render_overflows=self.render.overflows,
        )

    @property
    def delay_ms(self) -> float:
        """Bulk offset plus the main filter's largest tap (the direct path) once it has converged."""
        frame_ms = 1000.0 * self.frame_len / self.sample_rate
        if self._ratio_db(self._lin_num, self._lin_den) > 6.0:
            taps = self.main.impulse_response()
            return self.offset * frame_ms + 1000.0 * int(np.argmax(np.abs(taps))) / self.sample_rate
        if self.delay.delay_frames >= 0:
            return self.delay.delay_frames * frame_ms
        return 0.0

    @staticmethod
    def _ratio_db(num: float, den: float) -> float:
        if num <= 0.0 or den <= 0.0:
            return 0.0
        return float(10.0 * math.log10(num / den))

    def _process_render(self, x: np.ndarray) -> None:
        self.render.push(x)

    # --------------------------------------------------------------- capture
    def _process(self, x: np.ndarray) -> np.ndarray:
        render = self.render
        delay = self.delay
        cap = render.capacity
        j = render.pop_index()
        slot = j % cap
        d = self._d
        # far spectrum into the ring, both binary spectra and the delay distances: one kernel
        mic_energy, updated, lag, conf = capture_front(j, x, *self._front_args)
        if updated and delay.observe(lag, conf):
            lag = delay._candidate
            inside = self.offset + 1 <= lag <= self.offset + self.n_part // 2
            if self._converged_db < 10.0:
                # nothing to lose yet: follow the estimator
                self._move_offset(max(0, delay.accept() - self.margin))
            elif not inside and delay.proposes(100, 0.4):
                # a converged filter moves only for a delay that persists for ~1 s
                self._move_offset(max(0, delay.accept() - self.margin))
        loud = mic_energy > 10.0 * delay._floors[1]

        base = j - self.offset
        main, shadow = self.main, self.shadow
        em, es, eta, far_active = filter_pair_step(base, main._part, shadow._part, main._count % 4 == 0,
                                                   *self._filter_args)
        if far_active:
            self.eta = eta
            # main.advance(), shadow.advance()
            n_part = self.n_part
            main._count += 1
            main._part = (main._part + 1) % n_part
            shadow._count += 1
            shadow._part = (shadow._part + 1) % n_part
            self._copy_rules(em, es, mic_energy, loud)

        # output of the linear stage: the clearly better filter
        use_shadow = self._shadow_won if far_active else self._shadow_wins(em, es, mic_energy)
        e_lin = es if es < em else em
        use_mic = e_lin > mic_energy  # worse than nothing: pass the mic through the suppressor
        if use_mic:
            E = self._Dblk  # suppress_step computes the mic's block spectrum into it
            e_time = d
            lin_energy = mic_energy
        else:
            lin = shadow if use_shadow else main
            E = lin.E
            e_time = lin.e
            lin_energy = e_lin
        if far_active:
            if mic_energy > 0.0:
                self._lin_num = 0.95 * self._lin_num + 0.05 * mic_energy
                self._lin_den = 0.95 * self._lin_den + 0.05 * lin_energy
            if loud:
                frame_erle = 10.0 * math.log10((mic_energy + 1e-20) / (e_lin + 1e-20))
                # fast rise, slow decay (1 dB/s): survives double talk, tells "converged"
                self._converged_db = max(frame_erle if frame_erle < 40.0 else 40.0,
                                         self._converged_db - 0.01)
        st = self._st_erle_db
        residual_ratio = 10 ** (-min(max(st, 0.0), 40.0) / 10)

        if self._frame_count % 10 == 0:
            self._lag_part = peak_partition(main.W)
        self._frame_count += 1
        # far frame the echo mostly comes from: the filter's main partition once it has
        # converged, before that the delay estimator's best lag
        if self._converged_db >= 10.0 or delay._candidate < 0:
            lag = self.offset + self._lag_part
        else:
            lag = delay._candidate
        xs = (j - lag) % cap
        power = render.power
        share, out_energy = suppress_step(E, render.spectra[xs], power[xs], e_time, self.eta, residual_ratio,
                                          power[slot], self._init_weight(), use_mic, *self._sup_args)
        if far_active:
            if share > self.ST_SHARE and loud:
                # far-end single talk: the linear filter's ERLE, which sets the residual the
                # suppressor assumes (frozen in double talk, drops at once after a path change)
                frame_erle = 10.0 * math.log10((mic_energy + 1e-20) / (e_lin + 1e-20))
                self._st_erle_db = st + 0.2 * ((frame_erle if frame_erle < 40.0 else 40.0) - st)
            if mic_energy > 0.0:
                self._erle_num = 0.95 * self._erle_num + 0.05 * mic_energy
                self._erle_den = 0.95 * self._erle_den + 0.05 * out_energy
            # double talk: far end active, the mic not explained by the far end (low echo share)
            # and the linear error well above the residual the filter leaves in single talk
            self._double_talk = bool(share < self.ST_SHARE and e_lin > 4.0 * mic_energy * residual_ratio
                                     and loud)
            # far-end single talk: what is left of this frame is residual echo (see audio3a.stage):
            # the mic is coherent with the far end, or the linear filter removed >= 10 dB of it
            self.echo_dominant = bool(share > self.ST_SHARE or (loud and e_lin < 0.1 * mic_energy))
        else:
            self._double_talk = False
            self.echo_dominant = False
        return self._out

    # ---------------------------------------------------------------- helpers
    def _init_weight(self) -> float:
        """Weight of the suppressor's initial-phase echo assumption: 1 until the linear filter
        shows ``init_erle_db[0]`` of ERLE in far-end single talk, 0 from ``init_erle_db[1]`` on."""
        lo, hi = self.config.init_erle_db
        w = (hi - self._st_erle_db) / (hi - lo)
        # a latch: once over, the initial phase does not come back (double talk also lowers
        # the single-talk ERLE estimate; a divergence reset is mostly caused by double talk)
        if w < self._init_w:
            self._init_w = 0.0 if w <= 0.0 else w
        return self._init_w


    def _shadow_wins(self, em: float, es: float, mic_energy: float) -> bool:
        """The shadow's error is under half the main's and a quarter of the mic in this frame
        and, once the filter has converged (10 dB), under half the main's on average over the
        last ~10 far-active frames (``_es_avg``, ``_em_avg``). A shadow that partly tracks the near-end talker in double talk wins
        single frames, not a window: without the window such a shadow was copied into a
        converged main filter (then a divergence reset) when double talk began at 6 s."""
        if not (es < 0.5 * em and es < 0.25 * mic_energy):
            return False
        return self._converged_db < 10.0 or self._es_avg < 0.5 * self._em_avg

    def _copy_rules(self, em: float, es: float, mic_energy: float, loud: bool) -> None:
        # copy only when the shadow clearly wins and removes most of the mic: in double
        # talk a fast filter also "wins" by partly tracking the near-end talker
        self._es_avg += 0.1 * (es - self._es_avg)
        self._em_avg += 0.1 * (em - self._em_avg)
        self._shadow_won = self._shadow_wins(em, es, mic_energy)
        if self._shadow_won:
            self._copy_count += 1
        else:
            self._copy_count = 0
        if self._copy_count >= 2:
            self.main.W[:] = self.shadow.W
            # the copied filter's misalignment: what the shadow leaves, per bin
            misalignment_from_error(self.shadow.E, self.main._X2g, self._kal[3], self._leak[4])
            self.filter_copies += 1
            self._copy_count = 0
        if es > 2.0 * em:
            self._reset_count += 1
        else:
            self._reset_count = 0
        if self._reset_count >= 5:
            self.shadow.W[:] = self.main.W
            self._reset_count = 0
        self._mic_avg += 0.1 * (mic_energy - self._mic_avg)
        if self._em_avg > 2.0 * self._mic_avg and loud:
            self._diverge_count += 1
        else:
            self._diverge_count = 0
        if self._diverge_count >= 10:
            self.main.W[:] = 0.0
            self._leak[4] = self._kal[4]
            self._converged_db = 0.0
            self.divergence_resets += 1
            self._diverge_count = 0

    def _move_offset(self, new_offset: int) -> None:
        shift = new_offset - self.offset
        if shift == 0:
            return
        shift_partitions(self.main.W, shift)
        shift_partitions(self.shadow.W, shift)
        self.offset = new_offset
