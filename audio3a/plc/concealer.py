"""Packet-loss concealment: pitch-synchronous waveform substitution in the LPC residual domain.

On the first missing frame of a burst the history (what was played out) is
analysed once:

* pitch period ``T`` (fractional) and its normalised correlation ``c``
  (``pitch.py``);
* the LPC envelope ``A(z)`` of the last 20 ms (``lpc.py``) and the residual
  ``e = A(z) x`` of the last ``3 T (1 + PITCH_DRIFT_MAX) + M`` samples (the template).

The excitation repeats the template pitch-synchronously, as in G.711
Appendix I: the last period first, after 30 / 50 ms of loss the last two /
three periods, which breaks up the buzz of a single repeated cycle (Appendix
I switches at 10 / 20 ms; later switching scored better on PLCMOS here:
in the sweeps 10 / 20 ms and 40 / 60 ms both scored lower than 30 / 50 ms on bursts).
Jumps are whole samples and their rounding error is carried, so a fractional
period does not wander. The period itself follows the pitch contour: it is
re-measured ``PITCH_TREND_MS`` (10 ms) earlier, within +-3 % of ``T``
(``pitch.period_near``), and when that window is voiced (correlation >= the
upper voicing threshold) its relative slope ``(T - T_0) / (T D)`` per sample,
times ``PITCH_TREND_GAIN`` (2) and at most 0.4 % per ms, is continued through
the burst, so a gliding pitch stays in phase (PESQ-WB at 10 % loss 2.35 -> 2.45;
gains 1 / 1.5 / 2 scored PESQ-WB 2.45 / 2.47 / 2.46, and GE-burst PLCMOS with the
drift below 2.91 / 2.91 / 2.91, 1.75 giving 2.89: differences within the noise). After
``PITCH_DRIFT_HOLD_MS`` (10 ms) the period also lengthens by 1 % per 5 ms (at
most 10 % in all), which breaks up the monotony of a long repetition (GE bursts
PLCMOS 2.90 -> 2.91 on top of the trend, B20 2.87 -> 2.89, two noise seeds); a steady pitch is
therefore continued exactly for the first 10 ms. Drift from the first sample
scored higher on bursts but lowered PESQ-WB (2.38) and the phase of a steady
vowel; a progressive bandwidth expansion of ``A(z)`` per lost frame (SILK style,
gamma 0.99-0.95) lowered GE PLCMOS by 0.07-0.12. Every splice (jump back by 1, 2 or 3 periods) is
overlap-added over ``M = T/4`` samples (at least 1 ms), linear cross-fade.
The excitation is mixed with white noise,
``v = a(t) p + sqrt(1 - a(t)^2) sigma w``: ``sigma`` gives the filtered
noise the power of the last 20 ms (``sigma^2 = P / sum h^2``, with
``sum h^2 = prod 1/(1 - k_i^2)`` the power gain of ``1/A(z)``), and the
voiced share ``a`` starts at a value mapped from ``c`` and falls to 0 over a
long burst, so unvoiced sounds and long bursts become noise shaped by the
LPC envelope. The mix is filtered by ``1/A(z)`` whose memory is the last
played samples, so the synthetic signal continues the history without a step
(the mismatch between history and substitution decays as the filter's own
impulse response).

Level over a burst: full level for ``fade_start_ms`` (20 ms), except that a
level already falling before the loss (a speech offset: the energy of the
last whole pitch periods, >= 10 ms, below that of the periods before) keeps
falling at that rate (at most 10 dB per 10 ms); then a dB-linear fade
that reaches the comfort-noise level at ``fade_end_ms`` (150 ms) and stays
there. (The earlier 20 -> 100 ms fade scored 0.07 lower PLCMOS on GE bursts; 130-190 ms
scored alike within 0.02, 150 best on GE; a fade start of 30 ms lowered single-loss PESQ.)
A gentle fade alone does not make the level fall every frame: the frame energy of a
periodic excitation beats with the frame rate (+-2 dB per 10 ms on a steady 140 Hz
vowel even though every period is identical, so it cannot be removed by equalising
the periods), and the noise share adds more. A decay limiter therefore works on the
output frames while the fade curve falls: each frame's energy is held at least
``TRACK_FALL`` (0.3) of the curve's drop over that frame below the previous frame's, by an
extra gain (<= 1, >= 0.5) that ramps from its last value over the first quarter of the
frame, so it adds no step; once the curve is flat that gain lets the level rise by at
most 0.5 dB per 10 ms back toward the curve. On speech at 20 ms frames it is rarely
active (it cost <= 0.01 PLCMOS); forcing every frame onto the curve instead (also raising
frames that fall short) cost 0.03.
The comfort level is the tracked noise floor of received frames (a
minimum that rises 3 dB/s), at most ``COMFORT_BELOW_DB`` (30 dB) under the
level before the loss. The fade curve never rises during a burst.

When a real frame returns, the synthetic signal is continued and cross-faded
into it over the merge window (``merge_ms`` = 7.5 ms after one lost frame,
growing by ``merge_ms`` per further 10 ms lost up to three times that, at most one
frame: a whole 20 ms frame after two or more lost 20 ms frames, which scored
better on bursts than 15 ms; a longer window after a single loss lowered
PESQ), with weights from the
correlation ``rho`` of the two overlapping pieces: the power-complementary
pair ``(cos phi, sin phi)`` divided by ``sqrt(1 + 2 rho cos phi sin phi)``,
which satisfies ``s^2 + r^2 + 2 rho s r = 1``: the overlap keeps its power
whether the two are in phase (this is then the linear fade), uncorrelated
(power-complementary fade) or out of phase (rho down to -0.8, weights
above 1 in the middle), so a continuation that has drifted out of phase does
not cancel the new frame.
Aligning the phase instead, by searching the best lag of the continuation
against the new frame and time-warping the synthetic side to it inside the
window, was measured too and lowered PLCMOS (by 0.01-0.08 depending on the
warp allowed), so it is not used. After the merge window the output is the
input, sample for sample. All cross-fades lie on the concealed side or inside the returning
frame, so the stage adds no delay (``latency_ms = 0``).
"""
from dataclasses import dataclass

import numpy as np

from .._jit import kernel
from ..errors import FrameError
from ..frames import as_float_frame
from ..stage import Stage
from .lpc import (BANDWIDTH_GAMMA, analysis_filter, analysis_window, bandwidth_expand, lag_window,
                  levinson, lpc_order, power_gain, synthesis_filter, windowed_autocorr)
from .pitch import PitchEstimator, period_near, pitch_search

FRAME_MS_CHOICES = (10, 20)
# voiced share a0 = (c - lo) / (hi - lo) clipped to [0, 1], from the pitch correlation c
VOICING_CORR = (0.2, 0.5)
# a(t) = a0 until VOICED_HOLD_MS, then falls linearly to 0 at VOICED_END_MS
VOICED_HOLD_MS = 40.0
VOICED_END_MS = 200.0
# the template grows from one to two / three pitch periods after these times
TWO_PERIODS_MS = 30.0
THREE_PERIODS_MS = 50.0
COMFORT_BELOW_DB = 30.0
# the merge cross-fade compensates partial cancellation down to this correlation
MERGE_RHO_MIN = -0.8
# the merge window grows by this fraction of merge_ms per ms lost beyond one frame, up to this factor
MERGE_GROWTH_PER_MS = 0.1
MERGE_MAX_FACTOR = 3.0
# a level falling (by more than TREND_DEADZONE_DB) from one block of whole pitch periods (>= 10 ms)
# to the next before the loss keeps falling at that rate (at most TREND_MAX_DB per 10 ms) until the fade
TREND_BLOCK_MS = 10.0
TREND_DEADZONE_DB = 0.0
TREND_MAX_DB = 10.0
NOISE_FLOOR_RISE_DB_PER_S = 3.0
# decay limiter (during the fade): each frame's energy falls by at least TRACK_FALL of the fade
# curve's drop over that frame below the previous frame's, by an extra gain of at least
# TRACK_RANGE_LO (never above 1) reached over the first TRACK_RAMP of the frame
TRACK_FALL = 0.3
TRACK_RANGE_LO = 0.5
TRACK_RAMP = 0.25
# once the curve is flat (comfort level) that extra gain returns to 1 at this rate per 10 ms
TRACK_RECOVER_DB = 0.5
# pitch trend: the period re-measured PITCH_TREND_MS before the end (searched within
# +-PITCH_TREND_SEARCH of it); the relative change per ms, times PITCH_TREND_GAIN and
# clipped to +-PITCH_SLOPE_MAX_PER_MS, continues through the burst
PITCH_TREND_MS = 10.0
PITCH_TREND_SEARCH = 0.03
PITCH_TREND_GAIN = 2.0
PITCH_SLOPE_MAX_PER_MS = 0.004
# after PITCH_DRIFT_HOLD_MS the period also lengthens by PITCH_DRIFT_PER_MS (1 % per 5 ms);
# the total change stays within +-PITCH_DRIFT_MAX of the measured period
PITCH_DRIFT_HOLD_MS = 10.0
PITCH_DRIFT_PER_MS = 0.002
PITCH_DRIFT_MAX = 0.1
HISTORY_MS = 80

# integer configuration (cfg)
C_WIN, C_LAG_MIN, C_LAG_MAX, C_DEC, C_LPC_WIN, C_MS, C_ATT_START, C_ATT_END, \
    C_V_START, C_V_END, C_TWO_PERIODS, C_THREE_PERIODS, C_TREND_BLOCK, C_PITCH_TREND, C_DRIFT_HOLD = range(15)
# float configuration (fcfg)
F_C_LO, F_C_HI, F_GAMMA, F_COMFORT_BELOW, F_TREND_DEADZONE, F_TREND_MAX, F_RHO_MIN, \
    F_TRACK_LO, F_TRACK_RAMP, F_TRACK_FALL, F_TRACK_RECOVER, F_TREND_GAIN, F_DRIFT, F_DRIFT_MAX = range(14)
# integer state (ist)
S_ELAPSED, S_T, S_R, S_SPLICE, S_POS, S_XF_SRC, S_XF_K = range(7)
# float state (fst)
G_VOICING, G_SIGMA, G_GAIN, G_GAIN_STEP, G_FLOOR_DB, G_LEVEL_DB, G_PERIOD, G_CARRY, G_TREND_STEP, G_GAIN_END, \
    G_CURVE, G_PREV_E, G_PREV_DROP, G_PERIOD_SLOPE = range(14)


@kernel
def _uniform(rng):
    """xorshift64* (Marsaglia / Vigna): a uniform number in [-1, 1); state in rng[0]."""
    s = rng[0]
    s ^= s >> np.uint64(12)
    s ^= s << np.uint64(25)
    s ^= s >> np.uint64(27)
    rng[0] = s
    v = s * np.uint64(2685821657736338717)
    return np.float64(v >> np.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0


@kernel
def _push(hist, y):
    """Shift the history left by len(y) and append y."""
    n = y.shape[0]
    h = hist.shape[0]
    for i in range(h - n):
        hist[i] = hist[i + n]
    for i in range(n):
        hist[h - n + i] = y[i]


@kernel(fastmath=True)
def _energy_db(x, start, n):
    acc = 0.0
    for i in range(start, start + n):
        acc += np.float64(x[i]) * x[i]
    return 10.0 * np.log10(acc / n + 1e-20)


@kernel
def begin_burst(hist, cfg, fcfg, lpc_win, lagwin, lpc_scratch, r, a, exc, mem,
                pitch_scratch, curve, ist, fst, work):
    """Analyse the history once per burst: pitch, LPC, residual template, levels."""
    h = hist.shape[0]
    period, c = pitch_search(hist, h, cfg[C_WIN], cfg[C_LAG_MIN], cfg[C_LAG_MAX], cfg[C_DEC],
                             pitch_scratch, curve)
    lag = int(np.round(period))
    nl = cfg[C_LPC_WIN]
    windowed_autocorr(hist, h - nl, lpc_win, lagwin, lpc_scratch, r)
    levinson(r, a)
    bandwidth_expand(a, fcfg[F_GAMMA])
    splice = max(lag // 4, cfg[C_MS])  # T/4, at least 1 ms
    # the template reaches back three periods of the longest (drifted) period
    rlen = 3 * int(np.ceil(lag * (1.0 + fcfg[F_DRIFT_MAX]))) + splice + 3
    # pitch trend: the period re-measured PITCH_TREND_MS earlier, near the current one
    d = cfg[C_PITCH_TREND]
    radius = int(PITCH_TREND_SEARCH * period) + 2
    p0, c0 = period_near(hist, h - d, cfg[C_WIN], max(cfg[C_LAG_MIN], lag - radius),
                         min(cfg[C_LAG_MAX], lag + radius), curve)
    slope = 0.0
    if c0 >= fcfg[F_C_HI]:
        slope = fcfg[F_TREND_GAIN] * (period - p0) / (period * d)
        slope_max = PITCH_SLOPE_MAX_PER_MS / cfg[C_MS]
        slope = min(slope_max, max(-slope_max, slope))
    fst[G_PERIOD_SLOPE] = slope
    analysis_filter(a, hist, h - rlen, rlen, exc)
    p = a.shape[0] - 1
    gain = power_gain(a, r)  # white-noise power gain of 1/A(z) (r is free after levinson)
    level_db = _energy_db(hist, h - cfg[C_WIN], cfg[C_WIN])
    power = max(10.0 ** (level_db / 10.0) - 1e-20, 0.0)  # _energy_db adds 1e-20
    sigma = np.sqrt(power / max(gain, 1e-12))
    for k in range(p):
        mem[k] = hist[h - 1 - k]
    voicing = (c - fcfg[F_C_LO]) / (fcfg[F_C_HI] - fcfg[F_C_LO])
    voicing = min(1.0, max(0.0, voicing))
    comfort_db = min(fst[G_FLOOR_DB], level_db - fcfg[F_COMFORT_BELOW])
    end_db = min(0.0, comfort_db - level_db)
    span = max(1, cfg[C_ATT_END] - cfg[C_ATT_START])
    # a level already falling before the loss (a speech offset) keeps falling until the fade
    # (energy of the last whole pitch periods spanning >= TREND_BLOCK_MS against the periods before)
    ten_ms = 10 * cfg[C_MS]
    block = lag * ((cfg[C_TREND_BLOCK] + lag - 1) // lag)
    trend_db = _energy_db(hist, h - block, block) - _energy_db(hist, h - 2 * block, block) + fcfg[F_TREND_DEADZONE]
    trend_db = max(-fcfg[F_TREND_MAX] * block / ten_ms, min(0.0, trend_db))
    fst[G_TREND_STEP] = 10.0 ** (trend_db / 20.0 / block)
    fst[G_GAIN_END] = 10.0 ** (end_db / 20.0)
    ist[S_ELAPSED] = 0
    ist[S_T] = lag
    ist[S_R] = rlen
    ist[S_SPLICE] = splice
    ist[S_POS] = rlen - lag
    ist[S_XF_SRC] = 0
    ist[S_XF_K] = -1
    fst[G_VOICING] = voicing
    fst[G_SIGMA] = sigma
    fst[G_GAIN] = 1.0
    fst[G_CURVE] = 1.0
    fst[G_PREV_E] = 0.0
    fst[G_PREV_DROP] = 0.0
    fst[G_GAIN_STEP] = 10.0 ** (end_db / 20.0 / span)
    fst[G_LEVEL_DB] = level_db
    fst[G_PERIOD] = period
    fst[G_CARRY] = period - lag


@kernel(fastmath=True)
def synthesize(cfg, fcfg, exc, a, mem, ist, fst, rng, y, n, work, track):
    """Write n concealment samples into y, continuing the burst state."""
    period = fst[G_PERIOD]
    carry = fst[G_CARRY]
    rlen = ist[S_R]
    splice = ist[S_SPLICE]
    pos = ist[S_POS]
    src = ist[S_XF_SRC]
    k = ist[S_XF_K]
    t0 = ist[S_ELAPSED]
    a0 = fst[G_VOICING]
    noise_amp = fst[G_SIGMA] * np.sqrt(3.0)
    v_start = cfg[C_V_START]
    v_end = cfg[C_V_END]
    inv_splice = 1.0 / splice
    slope = fst[G_PERIOD_SLOPE]
    drift = fcfg[F_DRIFT]
    hold = cfg[C_DRIFT_HOLD]
    dev_max = fcfg[F_DRIFT_MAX]
    # excitation: pitch-synchronous template replay with OLA splices, mixed with noise
    for i in range(n):
        t = t0 + i
        if k < 0 and pos >= rlen - splice:
            periods = 1
            if t >= cfg[C_THREE_PERIODS]:
                periods = 3
            elif t >= cfg[C_TWO_PERIODS]:
                periods = 2
            # period at t: T (1 + slope t + drift max(0, t - hold)), within +-DRIFT_MAX of T
            dev = slope * t
            if t > hold:
                dev += drift * (t - hold)
            pt = period * (1.0 + min(dev_max, max(-dev_max, dev)))
            exact = periods * pt + carry
            jump = int(np.round(exact))
            carry = exact - jump
            src = pos - jump
            k = 0
        if k >= 0:
            w = (k + 0.5) * inv_splice
            v = (1.0 - w) * exc[pos] + w * exc[src]
            pos += 1
            src += 1
            k += 1
            if k == splice:
                pos = src
                k = -1
        else:
            v = exc[pos]
            pos += 1
        if t < v_start:
            av = a0
        elif t < v_end:
            av = a0 * (v_end - t) / (v_end - v_start)
        else:
            av = 0.0
        y[i] = av * v + np.sqrt(1.0 - av * av) * noise_amp * _uniform(rng)
    # LPC synthesis 1/A(z), memory = the last synthetic (unattenuated) samples
    synthesis_filter(a, mem, y, y, n, work)
    # attenuation: the curve gc is 1 until att_start, then dB-linear to the comfort level at att_end
    gc = fst[G_CURVE]
    g = fst[G_GAIN]
    g_step = fst[G_GAIN_STEP]
    g_trend = fst[G_TREND_STEP]
    g_end = fst[G_GAIN_END]
    att_start = cfg[C_ATT_START]
    att_end = cfg[C_ATT_END]
    c = g / gc if gc > 0.0 else 1.0  # the limiter's correction on top of the curve (<= 1)
    gc0 = gc
    acc = 0.0
    for i in range(n):
        t = t0 + i
        if t < att_start:
            gc *= g_trend
        elif t < att_end:
            gc *= g_step
        if gc < g_end:
            gc = g_end
        y[i] *= gc
        acc += y[i] * y[i]
    drop_db = 20.0 * np.log10(gc0 / gc) if gc > 0.0 else 0.0
    prev = fst[G_PREV_E] * n
    c1 = 1.0
    if track and prev > 0.0:
        # decay limiter: while the curve falls (and on the first frame after), the frame's energy
        # falls by at least TRACK_FALL of the curve's drop below the last frame's, whatever the
        # frame-rate beat of the periodic excitation or the noise; once the curve is flat it may
        # rise by at most TRACK_RECOVER_DB per 10 ms. The correction c ramps from its last value
        # to c1 <= 1 over the first TRACK_RAMP of the frame, c1 solving for that energy.
        if drop_db > 0.0:
            target = prev * 10.0 ** (-0.1 * fcfg[F_TRACK_FALL] * drop_db)
        elif fst[G_PREV_DROP] > 0.0:
            target = prev * 10.0 ** (-0.1 * fcfg[F_TRACK_FALL] * fst[G_PREV_DROP])
        else:
            target = prev * 10.0 ** (0.1 * fcfg[F_TRACK_RECOVER] * n / (10.0 * cfg[C_MS]))
        inv_ramp = 1.0 / max(1, int(n * fcfg[F_TRACK_RAMP]))
        ca = 0.0
        cb = 0.0
        cc = 0.0
        for i in range(n):
            w = min(1.0, (i + 1) * inv_ramp)
            e = y[i] * y[i]
            ca += (1.0 - w) * (1.0 - w) * e
            cb += (1.0 - w) * w * e
            cc += w * w * e
        if cc > 1e-30:
            disc = cb * cb * c * c - cc * (ca * c * c - target)
            c1 = (-cb * c + np.sqrt(disc)) / cc if disc > 0.0 else 0.0
        c1 = min(1.0, max(fcfg[F_TRACK_LO], c1))
    if track and (c != 1.0 or c1 != 1.0):
        inv_ramp = 1.0 / max(1, int(n * fcfg[F_TRACK_RAMP]))
        acc = 0.0
        for i in range(n):
            w = min(1.0, (i + 1) * inv_ramp)
            y[i] *= c + (c1 - c) * w
            acc += y[i] * y[i]
    elif not track and c != 1.0:
        for i in range(n):
            y[i] *= c
    if track:
        fst[G_PREV_E] = acc / n
        fst[G_PREV_DROP] = drop_db
        g = gc * c1
    else:
        g = gc * c
    fst[G_CURVE] = gc
    ist[S_POS] = pos
    ist[S_XF_SRC] = src
    ist[S_XF_K] = k
    ist[S_ELAPSED] = t0 + n
    fst[G_GAIN] = g
    fst[G_CARRY] = carry


@kernel
def conceal_frame(hist, cfg, fcfg, lpc_win, lagwin, lpc_scratch, r, a, exc, mem,
                  pitch_scratch, curve, ist, fst, rng, syn, out, first, work):
    """One missing frame: analyse on the first of a burst, synthesise, play out, remember."""
    if first:
        begin_burst(hist, cfg, fcfg, lpc_win, lagwin, lpc_scratch, r, a, exc, mem,
                    pitch_scratch, curve, ist, fst, work)
    n = out.shape[0]
    synthesize(cfg, fcfg, exc, a, mem, ist, fst, rng, syn, n, work, True)
    for i in range(n):
        out[i] = syn[i]
    _push(hist, out)


@kernel
def receive_frame(hist, x, out, fst, rise_db):
    """A received frame with no burst to merge: copy, remember, track the noise floor."""
    n = x.shape[0]
    for i in range(n):
        out[i] = x[i]
    _push(hist, out)
    e_db = max(_energy_db(x, 0, n), -90.0)
    if e_db < fst[G_FLOOR_DB]:
        fst[G_FLOOR_DB] = e_db
    else:
        fst[G_FLOOR_DB] = min(fst[G_FLOOR_DB] + rise_db, e_db)


@kernel(fastmath=True)
def merge_frame(cfg, fcfg, exc, a, mem, ist, fst, rng, syn, x, m, out, work):
    """Continue the synthetic signal m samples and cross-fade it into the received frame x.

    Weights ``(s, r) = (cos phi, sin phi) / sqrt(1 + 2 rho cos phi sin phi)``, phi
    rising from 0 to pi/2, with ``rho`` the normalised correlation of the two over the
    window (clipped to [MERGE_RHO_MIN, 1]); they satisfy ``s^2 + r^2 + 2 rho s r = 1``,
    so the overlap keeps its power.
    """
    synthesize(cfg, fcfg, exc, a, mem, ist, fst, rng, syn, m, work, False)
    sx = 0.0
    ss = 0.0
    xx = 0.0
    for i in range(m):
        sx += syn[i] * x[i]
        ss += syn[i] * syn[i]
        xx += np.float64(x[i]) * x[i]
    den = np.sqrt(ss * xx)
    rho = sx / den if den > 1e-20 else 0.0
    rho = min(1.0, max(fcfg[F_RHO_MIN], rho))
    for i in range(m):
        phi = 0.5 * np.pi * (i + 0.5) / m
        u = np.cos(phi)
        v = np.sin(phi)
        scale = 1.0 / np.sqrt(1.0 + 2.0 * rho * u * v)
        out[i] = scale * (u * syn[i] + v * x[i])
    for i in range(m, x.shape[0]):
        out[i] = x[i]


def check_packet(frame, frame_len: int, frame_ms: int, sample_rate: int, what: str) -> np.ndarray:
    """``as_float_frame`` with a length message that names the packet duration (10 or 20 ms)."""
    x = np.asarray(frame)
    n = x.shape[-1] if x.ndim else 0
    if x.ndim in (1, 2) and x.size == n and n != frame_len:
        raise FrameError(
            f"{what} has {n} samples, expected {frame_len} ({frame_ms} ms at {sample_rate} Hz, "
            "as set by frame_ms): pass one whole packet per call")
    return as_float_frame(x, frame_len, what)


@dataclass(frozen=True)
class PlcConfig:
    """Concealer settings.

    ``frame_ms``: packet duration, 10 or 20 ms (one frame in, one frame out).
    ``fade_start_ms`` / ``fade_end_ms``: a burst plays at full level until
    ``fade_start_ms``, then fades (dB-linear) to the comfort-noise level reached
    at ``fade_end_ms``. ``merge_ms``: cross-fade into a returning frame after a
    one-frame loss (grows by ``merge_ms`` per further 10 ms lost, capped at
    ``3 * merge_ms`` and one frame).
    """

    frame_ms: int = 10
    fade_start_ms: float = 20.0
    fade_end_ms: float = 150.0
    merge_ms: float = 7.5

    def build(self, sample_rate: int) -> "Concealer":
        return Concealer(sample_rate, self)


@dataclass(frozen=True)
class PlcStats:
    """Frames received and concealed, and the longest run of consecutive concealed frames."""

    received_frames: int = 0
    concealed_frames: int = 0
    bursts: int = 0
    longest_burst: int = 0


class Concealer(Stage):
    """Packet-loss concealer: ``process(frame)`` for a received frame, ``process(None)`` for a lost one."""

    name = "plc"
    latency_ms = 0.0

    def __init__(self, sample_rate: int = 16000, config: PlcConfig = PlcConfig()):
        super().__init__(sample_rate)
        if config.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"PlcConfig.frame_ms must be 10 or 20 (ms per packet), got {config.frame_ms}")
        if not 0.0 <= config.fade_start_ms < config.fade_end_ms:
            raise ValueError("PlcConfig needs 0 <= fade_start_ms < fade_end_ms")
        if not 0.0 < config.merge_ms <= config.frame_ms:
            raise ValueError(f"PlcConfig.merge_ms must lie in (0, frame_ms={config.frame_ms}]")
        self.config = config
        fs = self.sample_rate
        self.frame_len = fs * config.frame_ms // 1000
        ms = fs // 1000
        self.pitch = PitchEstimator(fs)
        self.order = lpc_order(fs)
        lpc_win_len = 20 * ms
        self._cfg = np.zeros(15, np.int64)
        self._cfg[C_WIN] = self.pitch.win
        self._cfg[C_LAG_MIN] = self.pitch.lag_min
        self._cfg[C_LAG_MAX] = self.pitch.lag_max
        self._cfg[C_DEC] = self.pitch.dec
        self._cfg[C_LPC_WIN] = lpc_win_len
        self._cfg[C_MS] = ms
        self._cfg[C_ATT_START] = int(round(config.fade_start_ms * ms))
        self._cfg[C_ATT_END] = int(round(config.fade_end_ms * ms))
        self._cfg[C_V_START] = int(round(VOICED_HOLD_MS * ms))
        self._cfg[C_V_END] = int(round(VOICED_END_MS * ms))
        self._cfg[C_TWO_PERIODS] = int(round(TWO_PERIODS_MS * ms))
        self._cfg[C_THREE_PERIODS] = int(round(THREE_PERIODS_MS * ms))
        self._cfg[C_TREND_BLOCK] = int(round(TREND_BLOCK_MS * ms))
        self._cfg[C_PITCH_TREND] = int(round(PITCH_TREND_MS * ms))
        self._cfg[C_DRIFT_HOLD] = int(round(PITCH_DRIFT_HOLD_MS * ms))
        self._fcfg = np.array([VOICING_CORR[0], VOICING_CORR[1], BANDWIDTH_GAMMA, COMFORT_BELOW_DB,
                               TREND_DEADZONE_DB, TREND_MAX_DB, MERGE_RHO_MIN,
                               TRACK_RANGE_LO, TRACK_RAMP, TRACK_FALL, TRACK_RECOVER_DB, PITCH_TREND_GAIN,
                               PITCH_DRIFT_PER_MS / ms, PITCH_DRIFT_MAX], np.float64)
        self._rise_db = NOISE_FLOOR_RISE_DB_PER_S * config.frame_ms / 1000.0
        lag_max = self.pitch.lag_max
        hist_len = max(HISTORY_MS * ms, self.pitch.needed, 4 * lag_max + self.order + 2 * ms)
        self._hist = np.zeros(hist_len, np.float64)
        self._lpc_win = analysis_window(lpc_win_len)
        self._lagwin = lag_window(self.order, fs)
        self._lpc_scratch = np.zeros(lpc_win_len, np.float64)
        self._r = np.zeros(self.order + 1, np.float64)
        self._a = np.zeros(self.order + 1, np.float64)
        self._mem = np.zeros(self.order, np.float64)
        self._exc = np.zeros(4 * lag_max, np.float64)
        self._pitch_scratch = self.pitch._scratch
        # pitch_search's coarse curve, and period_near's full-rate one over +-PITCH_TREND_SEARCH
        self._curve = np.zeros(max(self.pitch._curve.size, 2 * (int(PITCH_TREND_SEARCH * lag_max) + 2) + 1))
        self._ist = np.zeros(8, np.int64)
        self._fst = np.zeros(14, np.float64)
        self._rng = np.zeros(1, np.uint64)
        self._syn = np.zeros(self.frame_len, np.float64)
        self._work = np.zeros(self.order + max(self.frame_len, lpc_win_len), np.float64)
        self._out = np.zeros(self.frame_len, np.float32)
        self.reset()

    def reset(self) -> None:
        self._hist[:] = 0.0
        self._mem[:] = 0.0
        self._ist[:] = 0
        self._fst[:] = 0.0
        self._fst[G_FLOOR_DB] = 0.0
        self._rng[0] = np.uint64(0x9E3779B97F4A7C15)
        self._out[:] = 0.0
        self._burst = 0
        self._received = 0
        self._concealed = 0
        self._bursts = 0
        self._longest = 0

    def process(self, frame=None) -> np.ndarray:
        """One frame out per call: ``frame`` received, or ``None`` when the packet is missing."""
        if frame is None:
            return self.conceal()
        return self._process(check_packet(frame, self.frame_len, self.config.frame_ms, self.sample_rate, "plc frame"))

    def conceal(self) -> np.ndarray:
        """Synthesise the next frame for a missing packet."""
        first = self._burst == 0
        conceal_frame(self._hist, self._cfg, self._fcfg, self._lpc_win, self._lagwin, self._lpc_scratch,
                      self._r, self._a, self._exc, self._mem, self._pitch_scratch, self._curve,
                      self._ist, self._fst, self._rng, self._syn, self._out, first, self._work)
        self._burst += 1
        self._concealed += 1
        if first:
            self._bursts += 1
        if self._burst > self._longest:
            self._longest = self._burst
        return self._out

    def merge_len(self, burst_frames: int) -> int:
        """Samples of cross-fade into the first frame after a burst of ``burst_frames`` frames."""
        lost_ms = burst_frames * self.config.frame_ms
        growth = 1.0 + MERGE_GROWTH_PER_MS * max(0.0, lost_ms - self.config.frame_ms)
        merge_ms = self.config.merge_ms * min(MERGE_MAX_FACTOR, growth)
        return max(1, min(self.frame_len, int(round(merge_ms * self.sample_rate / 1000))))

    def _process(self, x: np.ndarray) -> np.ndarray:
        self._received += 1
        if self._burst:
            m = self.merge_len(self._burst)
            merge_frame(self._cfg, self._fcfg, self._exc, self._a, self._mem, self._ist, self._fst, self._rng,
                        self._syn, x, m, self._out, self._work)
            _push(self._hist, self._out)
            self._burst = 0
        else:
            receive_frame(self._hist, x, self._out, self._fst, self._rise_db)
        return self._out

    @property
    def stats(self) -> PlcStats:
        return PlcStats(self._received, self._concealed, self._bursts, self._longest)

    def __repr__(self):
        return f"Concealer(sample_rate={self.sample_rate}, frame_ms={self.config.frame_ms})"
