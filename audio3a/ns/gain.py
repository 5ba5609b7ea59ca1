"""Spectral gain: decision-directed a-priori SNR, OM-LSA gain, gain release, frame floor.

* A-posteriori SNR gamma = |Y|^2 / lambda_d; decision-directed a-priori SNR
  (Ephraim & Malah 1984):
  xi(l) = max(a G_H1(l-1)^2 gamma(l-1) + (1 - a) max(gamma(l) - 1, 0), xi_min).
* Log-spectral amplitude gain under speech presence (Ephraim & Malah 1985):
  G_H1 = xi / (1 + xi) exp(E1(v) / 2),  v = gamma xi / (1 + xi).
* Optimally-modified LSA (Cohen & Berdugo 2001) with speech presence
  probability p and floor G_min:  G = G_H1^p G_min^(1 - p).
* Gain release (musical-noise control, ``release_gain``): a first-order
  recursion on a falling gain only, g = b g_prev + (1 - b) g with
  b = a (1 - p) where g < g_prev (its factor grows as p falls, so isolated
  residual-noise peaks fade instead of flickering), and a rising gain taken
  as it is. A recursion on the rise delays every onset whose first frames
  still have a low p: the gain of a bin whose floor jumps from the pause
  floor to the speech floor (P_held 0 -> 1) climbed by (1 - b) ~ 0.2 of the
  step per frame, 14 and 9 dB short after one and two frames, and low-level
  onsets and consonants are what the envelope correlation of STOI (Taal et
  al. 2011) weighs. The fall keeps its recursion: the tails of words and the
  speech -> pause floor step fade instead of being gated (PESQ: 1.38
  without it on the deep set).

* Frame floor: in speech frames (the held frame presence P_held of
  ``presence`` near 1) the floor is G_speech = G_min S, S = ``SPEECH_LIFT_DB``
  above the level's floor, so weak speech between and above the strong
  bins is cut less (the speech masks the residual noise there); in pauses
  (P_held near 0) the floor deepens so that the residual noise sits a fixed
  depth D below the speech:  G_pause = clip(sqrt(SNR_lt / D), G_min / E, G_min),
  SNR_lt the recursive mean (~1 s) of the frame SNR over speech frames
  (P_held > 0.5). The floor is G_speech^P_held G_pause^(1 - P_held). While
  SNR_lt >= D G_min^2 (65 dB at "high") pauses keep the level's floor;
  below, they are cut deeper, by up to E = ``PAUSE_EXTRA_DB`` (the pauses
  are all but muted: -65 dB at SNR_lt = 25 dB). SNR_lt starts at 30 dB.
  D and E (in dB) are those of "high" and scale with the level's floor:
  D r, E r with r = G_min_dB / -25 dB, so the gentle levels stay gentle
  ("low": pauses at most 20 dB under its -10 dB floor, and only below
  SNR_lt = 26 dB).

E1 is evaluated with Abramowitz & Stegun 5.1.53 (x <= 1) and 5.1.56 (x > 1),
absolute/relative error below 5e-5, ample for a gain. G_H1 needs no log
and an exp only where 1 < v <= 60 (``lsa_gain``).
"""
import numpy as np

from .._jit import kernel

# suppression floor G_min per named level, in dB
FLOOR_DB = {"low": -10.0, "moderate": -17.0, "high": -25.0, "very-high": -30.0}

XI_MIN_DB = -25.0
PAUSE_DEPTH_DB = 90.0       # D: residual noise in pauses this far below the speech (at "high")
PAUSE_EXTRA_DB = 50.0       # E: deepest pause floor, below the level's floor (at "high")
PAUSE_REF_DB = FLOOR_DB["high"]  # D and E scale by G_min_dB / PAUSE_REF_DB
SPEECH_LIFT_DB = 6.0        # S: floor in speech frames, above the level's floor
SNR_LT_INIT = 1e3           # 30 dB
SNR_LT_ALPHA = 0.99         # ~1 s at the 10 ms hop
DD_ALPHA = 0.92
LN10_20 = np.log(10.0) / 20.0   # nepers per dB of amplitude


@kernel
def _e1_series(x):
    """E1(x) + ln x for 0 < x <= 1 (A&S 5.1.53)."""
    return -0.57721566 + x * (0.99999193 + x * (-0.24991055 + x * (
        0.05519968 + x * (-0.00976004 + x * 0.00107857))))


@kernel
def _e1_ratio(x):
    """x e^x E1(x) for x >= 1 (A&S 5.1.56)."""
    return (x * x + 2.334733 * x + 0.250621) / (x * x + 3.330657 * x + 1.681534)


@kernel
def exp1(x):
    """Exponential integral E1(x) = int_x^inf e^-t / t dt for x > 0."""
    if x <= 0.0:
        x = 1e-30
    if x <= 1.0:
        return _e1_series(x) - np.log(x)
    if x > 60.0:
        return 0.0
    return _e1_ratio(x) * np.exp(-x) / x


@kernel
def _exp_small(t):
    """e^t = 1 + t (1 + t/2 (1 + t/3 (... (1 + t/12)))); relative error < 1e-15 for |t| <= 0.3."""
    r = 1.0 + t * (1.0 / 12.0)
    r = 1.0 + t * (1.0 / 11.0) * r
    r = 1.0 + t * (1.0 / 10.0) * r
    r = 1.0 + t * (1.0 / 9.0) * r
    r = 1.0 + t * (1.0 / 8.0) * r
    r = 1.0 + t * (1.0 / 7.0) * r
    r = 1.0 + t * (1.0 / 6.0) * r
    r = 1.0 + t * (1.0 / 5.0) * r
    r = 1.0 + t * (1.0 / 4.0) * r
    r = 1.0 + t * (1.0 / 3.0) * r
    r = 1.0 + t * 0.5 * r
    return 1.0 + t * r


@kernel
def _lsa_factor_low(v):
    """exp(E1(v) / 2) for 1e-30 <= v <= 1: exp((E1(v) + ln v) / 2) / sqrt(v), no log."""
    return _exp_small(0.5 * _e1_series(v)) / np.sqrt(v)


@kernel
def _lsa_factor_high(v):
    """exp(E1(v) / 2) for v > 1, where E1(v) / 2 <= 0.11 (one exp, for e^-v; 1 above v = 60)."""
    if v > 60.0:
        return 1.0
    return _exp_small(0.5 * _e1_ratio(v) * np.exp(-v) / v)


@kernel
def lsa_gain(xi, v):
    """G_H1 = xi / (1 + xi) exp(E1(v) / 2), capped at 1."""
    if v <= 1.0:
        g = xi / (1.0 + xi) * _lsa_factor_low(max(v, 1e-30))
    else:
        g = xi / (1.0 + xi) * _lsa_factor_high(v)
    return g if g < 1.0 else 1.0


@kernel
def decision_directed(power, noise, gain_h1_prev, gamma_prev, xi_min, gamma, xi, v):
    """gamma, xi (decision-directed) and v = gamma xi / (1 + xi) for every bin."""
    for k in range(power.shape[0]):
        g = power[k] / noise[k]
        ml = g - 1.0
        if ml < 0.0:
            ml = 0.0
        x = DD_ALPHA * gain_h1_prev[k] * gain_h1_prev[k] * gamma_prev[k] + (1.0 - DD_ALPHA) * ml
        if x < xi_min:
            x = xi_min
        gamma[k] = g
        xi[k] = x
        v[k] = g * x / (1.0 + x)


@kernel
def omlsa_gain(xi, v, p, gain_min, gain_h1, gain):
    """G_H1 per bin and the OM-LSA gain G = G_H1^p G_min^(1-p) = G_min (G_H1 / G_min)^p.

    G_H1 is floored at G_min in the mix. A first, branch-free (vectorised) pass takes the
    v <= 1 form of G_H1 for every bin; the second redoes the few bins with v > 1 and mixes,
    where p = 0 and p = 1 need no power.
    """
    n = xi.shape[0]
    for k in range(n):
        vk = min(max(v[k], 1e-30), 1.0)
        gain_h1[k] = min(xi[k] / (1.0 + xi[k]) * _lsa_factor_low(vk), 1.0)
    for k in range(n):
        if v[k] > 1.0:
            gain_h1[k] = lsa_gain(xi[k], v[k])
        gh = gain_h1[k]
        pk = p[k]
        if gh <= gain_min or pk <= 0.0:
            gain[k] = gain_min
        elif pk >= 1.0:
            gain[k] = gh
        else:
            gain[k] = gain_min * np.exp(pk * np.log(gh / gain_min))


@kernel
def release_gain(gain, p, gain_prev, alpha_time):
    """Gain release: g = b g_prev + (1 - b) g, b = alpha_time (1 - p), where g < g_prev; a rise passes.

    ``gain_prev`` is updated to the result.
    """
    for k in range(gain.shape[0]):
        g = gain[k]
        if g < gain_prev[k]:
            b = alpha_time * (1.0 - p[k])
            g = b * gain_prev[k] + (1.0 - b) * g
        gain[k] = g
        gain_prev[k] = g


@kernel
def pause_floor(frame_snr, held_presence, snr_lt, gain_min):
    """Gain floor G_speech^P_held G_pause^(1 - P_held); updates ``snr_lt[0]`` (SNR_lt) with ``frame_snr``.

    In natural logs: ln G_pause = clip(ln SNR_lt / 2 - r D', ln G_min - r E', ln G_min), with
    D', E' the dB depths in nepers and r = ln G_min / ln G_min("high").
    """
    if held_presence > 0.5:
        snr_lt[0] = SNR_LT_ALPHA * snr_lt[0] + (1.0 - SNR_LT_ALPHA) * frame_snr
    ln_min = np.log(gain_min)
    r = ln_min / (PAUSE_REF_DB * LN10_20)
    ln_pause = 0.5 * np.log(snr_lt[0]) - r * PAUSE_DEPTH_DB * LN10_20
    ln_pause = min(max(ln_pause, ln_min - r * PAUSE_EXTRA_DB * LN10_20), ln_min)
    ln_speech = ln_min + SPEECH_LIFT_DB * LN10_20
    return np.exp(held_presence * ln_speech + (1.0 - held_presence) * ln_pause)
