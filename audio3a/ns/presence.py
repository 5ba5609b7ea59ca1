"""A-priori speech presence from the recursively averaged a-priori SNR.

After I. Cohen and B. Berdugo, "Speech enhancement for non-stationary noise
environments", Signal Processing 81, 2001 (the OM-LSA estimator). The
a-priori SNR is averaged in time,

    zeta(k,l) = b zeta(k,l-1) + (1 - b) xi(k,l),   b = 0.7,

(Cohen uses xi(k,l-1); the current frame's decision-directed value is used
here so that word onsets are not held at the floor for a frame),

then over a global (~0.9 kHz) neighbourhood in frequency and over the
whole voice band (frame). Each average maps to a
presence likelihood by a log-linear ramp between zeta_min = -10 dB (0) and
zeta_max = -5 dB (1). The frame term keeps a peak value zeta_peak set at
onsets (clamped to [0, 10] dB) and ramps relative to it while the frame
average falls, so it follows the decay of a word without lingering in the
noise that follows; an onset out of a long pause (P_held < 0.01) takes the
plain ramp instead of 1, since the noise-only frame mean of zeta sits only
1-2 dB under zeta_min. A held copy, P_held(l) = max(P_frame(l), h P_held(l-1))
with h = 0.9 per 10 ms frame (~95 ms), marks the pauses for the gain floor
of the suppressor (word tails keep the speech floor). The product
P_global P_frame is the chance that a bin may hold speech; the suppressor
ANDs it with IMCRA's presence (1 - q) so noise-only frames fall to the gain
floor instead of leaving isolated "musical" peaks.

Cohen & Berdugo's third term, P_local (zeta over 3 bins), is left out:
IMCRA's q (Cohen 2003) is already a per-bin test of the same bins, and
ANDing two local tests multiplies their misses on weak speech bins
(onsets, consonants, the bins between harmonics at low SNR), which then
fall to the floor (deep set, with ``gain.release_gain``: STOI 0.8114
with P_local, 0.8142 without).
"""
import numpy as np

from .._jit import kernel

ZETA_BETA = 0.7
ZETA_MIN = 10.0 ** (-10.0 / 10.0)
ZETA_MAX = 10.0 ** (-5.0 / 10.0)
ZETA_PEAK_MIN = 1.0
ZETA_PEAK_MAX = 10.0
GLOBAL_HALF_HZ = 450.0
FRAME_HOLD = 0.9
HELD_PAUSE = 0.01  # P_held under this (~0.45 s after the last speech frame): a long pause

# frame-level state
F_ZETA = 0        # previous frame's band-mean zeta
F_PEAK = 1        # zeta_peak
F_HELD = 2        # P_held, the frame presence with a ~95 ms hold
N_FRAME_STATE = 3


@kernel
def _ramp(z, lo, hi):
    """0 below lo, 1 above hi, log-linear in between."""
    if z <= lo:
        return 0.0
    if z >= hi:
        return 1.0
    return np.log(z / lo) / np.log(hi / lo)


@kernel
def _box_mean(prefix, half, dst):
    """dst[k] = mean of src over [k - half, k + half] clipped to the array, from prefix[k] = sum src[:k+1]."""
    n = prefix.shape[0]
    for k in range(n):
        a = max(k - half, 0)
        b = min(k + half, n - 1)
        below = prefix[a - 1] if a > 0 else 0.0
        dst[k] = (prefix[b] - below) / (b - a + 1)


@kernel
def presence_likelihood(xi, zeta, frame_state, global_half, band_lo, band_hi, work, presence):
    """presence[k] = P_global P_frame from the a-priori SNR ``xi``.

    ``work`` is a (2, K) (or larger) scratch array.
    """
    n = xi.shape[0]
    for k in range(n):
        zeta[k] = ZETA_BETA * zeta[k] + (1.0 - ZETA_BETA) * xi[k]
    zf = 0.0
    for k in range(band_lo, band_hi):
        zf += zeta[k]
    zf /= max(band_hi - band_lo, 1)
    if zf <= ZETA_MIN:
        p_frame = 0.0
    elif zf > frame_state[F_ZETA]:
        peak = min(max(zf, ZETA_PEAK_MIN), ZETA_PEAK_MAX)
        frame_state[F_PEAK] = peak
        # out of a long pause an onset must rise clear of zeta_min: the frame mean of a
        # noise-only zeta sits only ~1-2 dB under it, and one fluctuation would lift the
        # floor for ~0.3 s (a noise burst out of a muted pause)
        p_frame = 1.0 if frame_state[F_HELD] > HELD_PAUSE else _ramp(zf, ZETA_MIN, ZETA_MAX)
    else:
        peak = frame_state[F_PEAK]
        p_frame = _ramp(zf, peak * ZETA_MIN, peak * ZETA_MAX)
    frame_state[F_ZETA] = zf
    frame_state[F_HELD] = max(p_frame, FRAME_HOLD * frame_state[F_HELD])
    if p_frame <= 0.0:  # a noise-only frame: no bin needs the global term
        for k in range(n):
            presence[k] = 0.0
        return
    glob = work[0]
    prefix = work[1]
    acc = 0.0
    for k in range(n):
        acc += zeta[k]
        prefix[k] = acc
    _box_mean(prefix, global_half, glob)
    for k in range(n):
        presence[k] = _ramp(glob[k], ZETA_MIN, ZETA_MAX) * p_frame
