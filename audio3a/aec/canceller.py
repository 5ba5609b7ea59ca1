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

Cost: a capture frame is one kernel call (``capture_frame``: steps 1-4 and the
bookkeeping around them), its 34 arrays prebuilt as one ``FrameState`` structref
(one argument to unbox per call, not 34: ~3 us less per frame); the scalar
state is held in three small arrays (``_ints``, ``_state``, ``_params``, named
by the ``I_*``, ``S_*``, ``P_*`` indices) so no Python runs per frame. Per frame
about 14 real FFTs of N = 2B = 320 points at 16 kHz (the canonical overlap-save
size: 161 bins; with the next power of two, 512, every array a filter frame streams
was 1.6 times larger: AEC p50 per frame ~20 % lower with N = 320 in the interleaved
latency suite). The far spectra ring and the
filter coefficients are complex64, the ring of far powers |X|^2 float32 (the
multiply-accumulate loops stream them; their sums run in float64).

The filter covers ``tail_ms`` after the offset, which sits ``margin_ms`` before
the estimated bulk delay (so the direct path and early reflections stay inside).
250 ms by default: with N = 512 the taps B..N-B of a partition not yet constrained
acted as extra taps into older far samples, so 200 ms covered more than 200 ms of
tail; at N = 2B those taps alias instead, and 200 ms left the bench's measured room
(T60 ~0.7 s) at 20.7 dB of ERLE (24.9 with N = 512; 23.4 at 250 ms).

48 kHz runs the same structure full band: B = 480, N = 960, partitions of
10 ms; the delay estimator and suppressor bands scale with the rate.
"""
import math
from dataclasses import dataclass

import numpy as np
from numba.core import types
from numba.experimental import structref

from .._jit import kernel
from ..fft import make_plan, rfft
from ..frames import all_finite
from ..stage import RenderStage
from .comfort_noise import ComfortNoise
from .delay import LV_MIC_FLOOR, ST_CANDIDATE, DelayEstimator, accept, far_frame_update, mic_frame_update, observe, \
    proposes
from .filter import FilterPair, copy_filter, filter_pair_frame, mic_frame, misalignment_from_error, \
    peak_partition, shift_partitions
from .render_buffer import RenderBuffer, pop_frame, push_frame, window_spectrum
from .suppressor import EchoSuppressor, suppress_frame


# indices of EchoCanceller._ints (int64 state): filter offset (frames), round-robin constraint
# partition and adaptation count of each filter, copy-rule counters, counts for the stats, the
# frame count, the main filter's peak partition, flags of the last frame, far-active
# frames whose mic did not follow the far end
(I_OFFSET, I_PART_M, I_COUNT_M, I_PART_S, I_COUNT_S, I_COPY_COUNT, I_RESET_COUNT, I_DIVERGE_COUNT,
 I_DIVERGENCE_RESETS, I_FILTER_COPIES, I_FRAME_COUNT, I_LAG_PART, I_DOUBLE_TALK, I_ECHO_DOMINANT,
 I_SHADOW_WON, I_NO_ECHO_FRAMES) = range(16)
N_INTS = 16
# indices of EchoCanceller._state (float64 state): leakage, smoothed energies of the ERLE stats,
# of the copy rules, the ERLE trackers, the initial-phase weight, leakage regression [Pey, Pyy]
(S_ETA, S_ERLE_NUM, S_ERLE_DEN, S_LIN_NUM, S_LIN_DEN, S_EM_AVG, S_ES_AVG, S_MIC_AVG, S_CONVERGED_DB,
 S_ST_ERLE_DB, S_INIT_W, S_LEAK) = range(12)
N_STATE = S_LEAK + 2  # S_LEAK: the two of ``filter.leakage_update``
# indices of EchoCanceller._params (float64 constants); P_KAL starts the five of the main step
# (``filter.kalman_step``: 1/(4P), process noise q, mu_max, c = B/N, M at reset)
(P_MARGIN, P_INIT_LO_DB, P_INIT_HI_DB, P_ST_SHARE, P_DELAY_SMOOTHING, P_DELAY_HOLD, P_DELAY_MIN_CONF,
 P_BETA0, P_GAIN_SCALE, P_DELTA, P_ALPHA, P_NL, P_BETA, P_G_MIN, P_RELEASE, P_ECHO_DECAY,
 P_WINDOW_SCALE, P_SMOOTH, P_ENV_DECAY, P_INIT_EXTRA_DB, P_CN_SCALE, P_CN_RISE, P_INIT_END0, P_INIT_END1,
 P_KAL) = range(25)
N_PARAMS = P_KAL + 5


@kernel
def suppress_step(E, Xal, Xal2, e_time, eta, residual_ratio, Xcur2, w_init, use_mic, d, pad, Dblk, D, D2,
                  nl, beta, g_min, release, echo_decay, window_scale, smooth, spectra, G, kernel_taps, phase,
                  plan, reals, noise, cn_scale, cn_rise, rng_state, out, env_decay, init_extra_db):
    """``suppressor.suppress_frame``; with ``use_mic`` on the mic frame ``d`` instead of a
    filter's error (``E``, ``e_time`` ignored): its block spectrum FFT([0 ... 0, d]) goes to ``Dblk``.
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


@kernel
def move_offset(W, ints, new_offset):
    """Move both filters to a new bulk offset by whole partitions (keeping their coefficients)."""
    shift = new_offset - ints[I_OFFSET]
    if shift == 0:
        return
    shift_partitions(W[0], shift)
    shift_partitions(W[1], shift)
    ints[I_OFFSET] = new_offset


@kernel
def shadow_wins(em, es, mic_energy, state):
    """The shadow's error is under half the main's and a quarter of the mic in this frame and,
    once the filter has converged (10 dB), under half the main's on average over the last ~10
    far-active frames (``S_ES_AVG``, ``S_EM_AVG``). A shadow that partly tracks the near-end
    talker in double talk wins single frames, not a window: without the window such a shadow was
    copied into a converged main filter (then a divergence reset) when double talk began at 6 s."""
    if not (es < 0.5 * em and es < 0.25 * mic_energy):
        return False
    return state[S_CONVERGED_DB] < 10.0 or state[S_ES_AVG] < 0.5 * state[S_EM_AVG]


@kernel
def copy_rules(em, es, mic_energy, loud, W, spec, bins, leak, ints, state, params):
    """Shadow-to-main copy, main-to-shadow reset and the divergence reset (module docstring, step 3)."""
    # copy only when the shadow clearly wins and removes most of the mic: in double
    # talk a fast filter also "wins" by partly tracking the near-end talker
    state[S_ES_AVG] += 0.1 * (es - state[S_ES_AVG])
    state[S_EM_AVG] += 0.1 * (em - state[S_EM_AVG])
    won = shadow_wins(em, es, mic_energy, state)
    ints[I_SHADOW_WON] = won
    if won:
        ints[I_COPY_COUNT] += 1
    else:
        ints[I_COPY_COUNT] = 0
    if ints[I_COPY_COUNT] >= 2:
        copy_filter(W[1], W[0])
        # the copied filter's misalignment: what the shadow leaves, per bin
        misalignment_from_error(spec[1, 1], bins[0, 1], params[P_KAL + 3], leak[4])
        ints[I_FILTER_COPIES] += 1
        ints[I_COPY_COUNT] = 0
    if es > 2.0 * em:
        ints[I_RESET_COUNT] += 1
    else:
        ints[I_RESET_COUNT] = 0
    if ints[I_RESET_COUNT] >= 5:
        copy_filter(W[0], W[1])
        ints[I_RESET_COUNT] = 0
    state[S_MIC_AVG] += 0.1 * (mic_energy - state[S_MIC_AVG])
    if state[S_EM_AVG] > 2.0 * state[S_MIC_AVG] and loud:
        ints[I_DIVERGE_COUNT] += 1
    else:
        ints[I_DIVERGE_COUNT] = 0
    if ints[I_DIVERGE_COUNT] >= 10:
        main = W[0]
        for p in range(main.shape[0]):
            for k in range(main.shape[1]):
                main[p, k] = 0.0
        for k in range(leak.shape[1]):
            leak[4, k] = params[P_KAL + 4]
        state[S_CONVERGED_DB] = 0.0
        ints[I_DIVERGENCE_RESETS] += 1
        ints[I_DIVERGE_COUNT] = 0


@structref.register
class FrameStateType(types.StructRef):
    """Numba type of ``FrameState``."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class FrameState(structref.StructRefProxy):
    """The fixed arguments of ``capture_frame`` (the canceller's arrays, ``FRAME_FIELDS``) as one
    object: the dispatcher unboxes one argument per frame instead of 34 (~3 us at 16 kHz)."""


FRAME_FIELDS = ("frames", "spectra", "power", "energy", "counters", "edges", "means", "far_bits",
                "far_active", "dist", "dstate", "levels", "W", "spec", "time", "block", "bins", "g", "cspec",
                "rspec", "rtime", "d", "plan", "ints", "state", "params", "sup_spectra", "sup_reals", "G",
                "kernel_taps", "phase", "noise", "rng_state", "out")
structref.define_proxy(FrameState, FrameStateType, FRAME_FIELDS)


@kernel
def new_frame_state(frames, spectra, power, energy, counters, edges, means, far_bits, far_active, dist,
                    dstate, levels, W, spec, time, block, bins, g, cspec, rspec, rtime, d, plan, ints, state,
                    params, sup_spectra, sup_reals, G, kernel_taps, phase, noise, rng_state, out):
    """A ``FrameState`` holding the given arrays (not copies); compiled once and cached, unlike
    the proxy's own constructor."""
    return FrameState(frames, spectra, power, energy, counters, edges, means, far_bits, far_active, dist,
                      dstate, levels, W, spec, time, block, bins, g, cspec, rspec, rtime, d, plan, ints,
                      state, params, sup_spectra, sup_reals, G, kernel_taps, phase, noise, rng_state, out)


@kernel
def capture_frame(x, st):
    """One capture frame (module docstring, steps 1-4) with its bookkeeping: far frame j's
    spectrum into the ring, the delay estimator (and a filter move on a new delay), both filters
    and their copy rules, the suppressor, the ERLE / double-talk state. ``out`` receives the frame.

    The state comes as one prebuilt ``FrameState`` (``EchoCanceller._frame_state``); scratch rows:
    ``cspec`` = [far spectrum, mic spectrum D, main echo-estimate block spectrum Yh, mic block
    spectrum], ``rspec`` = [|D|^2, the main step's state rows Eh, Yavg, See, Syy, M],
    ``rtime`` = [far window, mic history, zero-padded mic block].
    Returns False, with nothing changed, when ``x`` holds NaN or Inf (``EchoCanceller.process``
    then raises through the stage's general input check).
    """
    if not all_finite(x):
        return False
    (frames, spectra, power, energy, counters, edges, means, far_bits, far_active, dist, dstate, levels, W,
     spec, time, block, bins, g, cspec, rspec, rtime, d, plan, ints, state, params, sup_spectra, sup_reals,
     G, kernel_taps, phase, noise, rng_state, out) = (
        st.frames, st.spectra, st.power, st.energy, st.counters, st.edges, st.means, st.far_bits,
        st.far_active, st.dist, st.dstate, st.levels, st.W, st.spec, st.time, st.block, st.bins, st.g,
        st.cspec, st.rspec, st.rtime, st.d, st.plan, st.ints, st.state, st.params, st.sup_spectra,
        st.sup_reals, st.G, st.kernel_taps, st.phase, st.noise, st.rng_state, st.out)
    cap = frames.shape[0]
    n_part = W.shape[1]
    frame_len = frames.shape[1]
    Xs, D, Yh, Dblk = cspec[0], cspec[1], cspec[2], cspec[3]
    D2 = rspec[0]
    leak = rspec[1:]
    window, mic_hist, pad = rtime[0], rtime[1], rtime[2]
    # 1. the paired far frame's spectrum into the ring, its binary spectrum; the mic spectrum
    j = pop_frame(frames, counters)
    slot = j % cap
    e_far = window_spectrum(frames, j, cap, frame_len, window, plan, Xs, spectra[slot], power[slot])
    energy[slot] = e_far
    far_frame_update(power[slot], e_far, slot, edges, means[0], far_bits, far_active, levels)
    mic_energy = mic_frame(x, d, mic_hist, plan, D, D2)
    # 2. bulk delay: a new estimate moves the filters by whole partitions
    updated, lag, conf = mic_frame_update(D2, mic_energy, j, cap, edges, means[1], far_bits, far_active,
                                          levels, dist[0], params[P_DELAY_SMOOTHING], dist[1])
    if updated and observe(lag, conf, dstate, levels, params[P_DELAY_HOLD], params[P_DELAY_MIN_CONF]):
        lag = dstate[ST_CANDIDATE]
        offset = ints[I_OFFSET]
        inside = offset + 1 <= lag <= offset + n_part // 2
        margin = int(params[P_MARGIN])
        if state[S_CONVERGED_DB] < 10.0:
            # nothing to lose yet: follow the estimator
            move_offset(W, ints, max(0, accept(dstate) - margin))
        elif not inside and proposes(dstate, levels, 100, 0.4):
            # a converged filter moves only for a delay that persists for ~1 s
            move_offset(W, ints, max(0, accept(dstate) - margin))
    loud = mic_energy > 10.0 * levels[LV_MIC_FLOOR]

    # 3. both filters
    base = j - ints[I_OFFSET]
    em, es, eta, far_active_now = filter_pair_frame(
        spectra, power, energy, base, cap, d, plan, W, spec, time, block, bins, g, ints[I_PART_M],
        ints[I_PART_S], Yh, leak, state[S_LEAK:S_LEAK + 2], params[P_BETA0], params[P_GAIN_SCALE],
        params[P_DELTA], params[P_ALPHA], ints[I_COUNT_M] % 4 == 0, params[P_KAL:P_KAL + 5])
    if far_active_now:
        state[S_ETA] = eta
        ints[I_COUNT_M] += 1
        ints[I_PART_M] = (ints[I_PART_M] + 1) % n_part
        ints[I_COUNT_S] += 1
        ints[I_PART_S] = (ints[I_PART_S] + 1) % n_part
        copy_rules(em, es, mic_energy, loud, W, spec, bins, leak, ints, state, params)

    # output of the linear stage: the clearly better filter
    if far_active_now:
        use_shadow = ints[I_SHADOW_WON] != 0
    else:
        use_shadow = shadow_wins(em, es, mic_energy, state)
    e_lin = es if es < em else em
    use_mic = e_lin > mic_energy  # worse than nothing: pass the mic through the suppressor
    if use_mic:
        E = Dblk  # suppress_step computes the mic's block spectrum into it
        e_time = d
        lin_energy = mic_energy
    else:
        k = 1 if use_shadow else 0
        E = spec[k, 1]
        e_time = block[k, 1]
        lin_energy = e_lin
    if far_active_now:
        if mic_energy > 0.0:
            state[S_LIN_NUM] = 0.95 * state[S_LIN_NUM] + 0.05 * mic_energy
            state[S_LIN_DEN] = 0.95 * state[S_LIN_DEN] + 0.05 * lin_energy
        if loud:
            frame_erle = 10.0 * math.log10((mic_energy + 1e-20) / (e_lin + 1e-20))
            # fast rise, slow decay (1 dB/s): survives double talk, tells "converged"
            state[S_CONVERGED_DB] = max(frame_erle if frame_erle < 40.0 else 40.0, state[S_CONVERGED_DB] - 0.01)
    st = state[S_ST_ERLE_DB]
    residual_ratio = 10.0 ** (-min(max(st, 0.0), 40.0) / 10.0)

    # 4. the suppressor, on the far frame the echo mostly comes from: the filter's main partition
    # once it has converged, before that the delay estimator's best lag
    if ints[I_FRAME_COUNT] % 10 == 0:
        ints[I_LAG_PART] = peak_partition(W[0])
    ints[I_FRAME_COUNT] += 1
    if state[S_CONVERGED_DB] >= 10.0 or dstate[ST_CANDIDATE] < 0:
        lag = ints[I_OFFSET] + ints[I_LAG_PART]
    else:
        lag = dstate[ST_CANDIDATE]
    xs = (j - lag) % cap
    # weight of the initial-phase echo assumption: 1 until the linear filter shows init_erle_db[0]
    # of ERLE in far-end single talk, 0 from init_erle_db[1] on, and at the latest over
    # init_phase_s of far-end activity in which the mic does not follow the far end (echo share
    # under P_ST_SHARE: no echo path at all, a headset, and the ERLE never shows); a latch: once
    # over, the initial phase does not come back (double talk also lowers the single-talk ERLE
    # estimate)
    w = (params[P_INIT_HI_DB] - st) / (params[P_INIT_HI_DB] - params[P_INIT_LO_DB])
    w_time = (params[P_INIT_END1] - ints[I_NO_ECHO_FRAMES]) / (params[P_INIT_END1] - params[P_INIT_END0])
    if w_time < w:
        w = w_time
    if w < state[S_INIT_W]:
        state[S_INIT_W] = 0.0 if w <= 0.0 else w
    # the initial phase's extra floor depth fades with the far-active frames the mic does not
    # follow (over init_phase_s[0]): with no echo path (a conference participant, whose reference
    # is the others' mix) the full depth cut the near talker for the first seconds (server
    # conference test: "b hears a" 0.61 -> 0.52); with an echo path those frames are few (~60 in
    # the first second of the bench DT scenes, before the bulk delay is found)
    extra_db = params[P_INIT_EXTRA_DB] * max(0.0, 1.0 - ints[I_NO_ECHO_FRAMES] / params[P_INIT_END0])
    share, out_energy = suppress_step(
        E, spectra[xs], power[xs], e_time, state[S_ETA], residual_ratio, power[slot], state[S_INIT_W], use_mic,
        d, pad, Dblk, D, D2, params[P_NL], params[P_BETA], params[P_G_MIN], params[P_RELEASE],
        params[P_ECHO_DECAY], params[P_WINDOW_SCALE], params[P_SMOOTH], sup_spectra, G, kernel_taps, phase,
        plan, sup_reals, noise, params[P_CN_SCALE], params[P_CN_RISE], rng_state, out, params[P_ENV_DECAY],
        extra_db)
    if far_active_now:
        if share < params[P_ST_SHARE]:
            ints[I_NO_ECHO_FRAMES] += 1
        if share > params[P_ST_SHARE] and loud:
            # far-end single talk: the linear filter's ERLE, which sets the residual the
            # suppressor assumes (frozen in double talk, drops at once after a path change)
            frame_erle = 10.0 * math.log10((mic_energy + 1e-20) / (e_lin + 1e-20))
            state[S_ST_ERLE_DB] = st + 0.2 * ((frame_erle if frame_erle < 40.0 else 40.0) - st)
        if mic_energy > 0.0:
            state[S_ERLE_NUM] = 0.95 * state[S_ERLE_NUM] + 0.05 * mic_energy
            state[S_ERLE_DEN] = 0.95 * state[S_ERLE_DEN] + 0.05 * out_energy
        # double talk: far end active, the mic not explained by the far end (low echo share)
        # and the linear error well above the residual the filter leaves in single talk
        ints[I_DOUBLE_TALK] = share < params[P_ST_SHARE] and e_lin > 4.0 * mic_energy * residual_ratio and loud
        # far-end single talk: what is left of this frame is residual echo (see audio3a.stage):
        # the mic is coherent with the far end, or the linear filter removed >= 10 dB of it
        ints[I_ECHO_DOMINANT] = share > params[P_ST_SHARE] or (loud and e_lin < 0.1 * mic_energy)
    else:
        ints[I_DOUBLE_TALK] = 0
        ints[I_ECHO_DOMINANT] = 0
    return True


@kernel
def aec_step(x, far_talk, st):
    """``EchoCanceller._process`` as a chain kernel (``audio3a.stage``): ``capture_frame`` on the
    stage's ``FrameState``; returns its output and the frame's echo-dominant flag."""
    capture_frame(x, st)
    return st.out, st.ints[I_ECHO_DOMINANT] != 0


@kernel
def aec_render_step(x, args):
    """``EchoCanceller._process_render`` as a chain kernel: ``push_frame`` with the render
    buffer's ``(frames, counters, max_ahead)``."""
    frames, counters, max_ahead = args
    push_frame(x, frames, counters, max_ahead)


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
    assumption fades out (and never returns); init_phase_s: the far-end activity the mic
    does not follow (seconds of active far frames with a low echo share) over which it fades
    out at the latest, even when no echo ever shows (a headset, no echo path: without that
    limit a near-end talker over an active far end lost ~17 dB for good); init_extra_suppression_db: how much deeper its floor is during
    that phase (times w^2, w the initial-phase weight, see ``suppressor``; fading over the first
    init_phase_s[0] of far activity the mic does not follow, see ``capture_frame``).

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
    tail_ms: float = 250.0
    margin_ms: float = 20.0
    suppression_db: float = -20.0
    nonlinear_db: float = -12.0
    overdrive: float = 2.0
    suppressor_delay_ms: float = 3.5
    echo_decay_db_per_s: float = 90.0
    max_render_ahead_ms: float = 500.0
    init_erle_db: tuple = (10.0, 16.0)
    init_phase_s: tuple = (3.0, 4.0)
    init_extra_suppression_db: float = 35.0

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
        n_fft = 2 * b
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
        self.filters = FilterPair(self.n_part, b, n_fft, shadow_mu=0.5)
        self.main, self.shadow = self.filters.main, self.filters.shadow
        d_samples = int(round(config.suppressor_delay_ms * sample_rate / 1000))
        self.latency_ms = 1000.0 * d_samples / sample_rate
        self.suppressor = EchoSuppressor(b, n_fft, self.plan, d_samples, config.nonlinear_db,
                                         config.overdrive, config.suppression_db, config.echo_decay_db_per_s,
                                         config.init_extra_suppression_db)
        self.cng = ComfortNoise(self.n_bins, b, n_fft)
        # per-frame scratch and state (see capture_frame)
        self._d = np.zeros(b)
        self._cspec = np.zeros((4, self.n_bins), np.complex128)  # far X, mic D, Yh, mic block spectrum
        self._rspec = np.zeros((6, self.n_bins))  # |D|^2; main step state Eh, Yavg, See, Syy, M
        self._rtime = np.zeros((3, n_fft))  # far window, mic history, zero-padded mic block
        self._out = np.zeros(b, np.float32)
        self._ints = np.zeros(N_INTS, np.int64)
        self._state = np.zeros(N_STATE)
        sup, cng = self.suppressor, self.cng
        params = np.zeros(N_PARAMS)
        params[P_MARGIN] = self.margin
        params[P_INIT_LO_DB], params[P_INIT_HI_DB] = config.init_erle_db
        params[P_INIT_END0], params[P_INIT_END1] = (s * sample_rate / self.frame_len for s in config.init_phase_s)
        params[P_ST_SHARE] = self.ST_SHARE
        params[P_DELAY_SMOOTHING] = self.delay.smoothing
        params[P_DELAY_HOLD] = self.delay.hold
        params[P_DELAY_MIN_CONF] = self.delay.min_confidence
        params[P_BETA0] = 2.0 * b / sample_rate  # leakage smoothing (Valin: 2 frames per second)
        params[P_GAIN_SCALE] = self.filters.gain_scale
        params[P_DELTA] = 1e-6 * n_fft * self.n_part
        params[P_ALPHA] = self.filters.alpha
        # the misalignment state falls by mu / (4 P) per frame, not the textbook mu / P: with mu / P
        # the predicted residual c X2 M ran ~5 dB under the true residual (one partition constrained
        # per frame, coloured speech: the real misalignment falls slower), which starved the step in
        # double talk (~3 dB under with 1 / (4 P); bench AECMOS DT degradation 3.33 -> 3.40)
        params[P_KAL:P_KAL + 5] = (0.25 / self.n_part, 1e-4, 0.5, b / n_fft, 1e3)
        params[P_NL], params[P_BETA], params[P_G_MIN] = sup.nl, sup.beta, sup.g_min
        params[P_RELEASE], params[P_ECHO_DECAY], params[P_WINDOW_SCALE] = sup.release, sup.echo_decay, sup.window_scale
        params[P_SMOOTH], params[P_ENV_DECAY], params[P_INIT_EXTRA_DB] = sup.smooth, sup.env_decay, sup.init_extra_db
        params[P_CN_SCALE], params[P_CN_RISE] = cng.scale, cng.rise
        self._params = params
        render, delay, fp = self.render, self.delay, self.filters
        # the fixed arguments of capture_frame (arrays are only ever updated in place)
        self._frame_state = new_frame_state(
            render.frames, render.spectra, render.power, render.energy, render.counters, delay.edges, delay.means,
            delay.far_bits, delay.far_active, delay.dist, delay.state, delay.levels, fp.W, fp.spec, fp.time,
            fp.block, fp.bins, fp.g, self._cspec, self._rspec, self._rtime, self._d, self.plan, self._ints,
            self._state, params, sup.spectra, sup.reals, sup.G, sup.kernel_taps, sup.phase, cng.noise,
            cng.rng_state, self._out)
        self.kernel, self.kernel_args = aec_step, self._frame_state
        self.render_kernel = aec_render_step
        self.render_kernel_args = (render.frames, render.counters, render.max_ahead)
        self.reset()

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        self.render.reset()
        self.delay.reset()
        self.filters.reset()
        self.suppressor.reset()
        self.cng.reset()
        self._rtime[:] = 0.0
        self._rspec[:] = 0.0
        self._rspec[5] = self._params[P_KAL + 4]  # M at reset
        self._out[:] = 0.0
        self._ints[:] = 0
        self._state[:] = 0.0
        self._state[S_ETA] = 1.0
        self._state[S_INIT_W] = 1.0

    @property
    def stats(self) -> AecStats:
        st = self._state
        return AecStats(
            erle_db=self._ratio_db(st[S_ERLE_NUM], st[S_ERLE_DEN]),
            linear_erle_db=self._ratio_db(st[S_LIN_NUM], st[S_LIN_DEN]),
            delay_ms=self.delay_ms,
            delay_confidence=self.delay.confidence,
            double_talk=bool(self._ints[I_DOUBLE_TALK]),
            divergence_resets=int(self._ints[I_DIVERGENCE_RESETS]),
            filter_copies=int(self._ints[I_FILTER_COPIES]),
            render_underruns=self.render.underruns,
            render_overflows=self.render.overflows,
        )

    @property
    def delay_ms(self) -> float:
        """Bulk offset plus the main filter's largest tap (the direct path) once it has converged."""
        frame_ms = 1000.0 * self.frame_len / self.sample_rate
        if self._ratio_db(self._state[S_LIN_NUM], self._state[S_LIN_DEN]) > 6.0:
            taps = self.main.impulse_response()
            return self.offset * frame_ms + 1000.0 * int(np.argmax(np.abs(taps))) / self.sample_rate
        if self.delay.delay_frames >= 0:
            return self.delay.delay_frames * frame_ms
        return 0.0

    @property
    def offset(self) -> int:
        """Far frames between the current one and the filter's first partition."""
        return int(self._ints[I_OFFSET])

    @property
    def echo_dominant(self) -> bool:
        """The last mic frame was mostly loudspeaker echo (see ``audio3a.stage``)."""
        return bool(self._ints[I_ECHO_DOMINANT])

    @property
    def _init_w(self) -> float:
        """Weight of the suppressor's initial-phase echo assumption (``capture_frame``)."""
        return float(self._state[S_INIT_W])

    @staticmethod
    def _ratio_db(num: float, den: float) -> float:
        if num <= 0.0 or den <= 0.0:
            return 0.0
        return float(10.0 * math.log10(num / den))

    # the kernels check the samples of a ready frame themselves (``Stage._process_checked``)
    def _process_render_checked(self, x: np.ndarray) -> bool:
        render = self.render
        return push_frame(x, render.frames, render.counters, render.max_ahead)

    def _process_checked(self, x: np.ndarray):
        return self._out if capture_frame(x, self._frame_state) else None

    def _process_render(self, x: np.ndarray) -> None:
        self.render.push(x)

    def _process(self, x: np.ndarray) -> np.ndarray:
        capture_frame(x, self._frame_state)
        return self._out
