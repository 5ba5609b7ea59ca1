"""Pitch period from the normalised autocorrelation, with octave-error checks.

For a candidate lag ``T`` over the analysis window ``n in [end - W, end)``::

    c(T) = sum x[n] x[n-T] / sqrt(sum x[n]^2 * sum x[n-T]^2)

``c`` is 1 for a signal that repeats exactly with period T. The search runs
in two passes to stay cheap: a coarse pass over every lag on the signal
decimated to 4 kHz (mean of ``dec`` samples, dec = fs / 4000), then a fine
pass at the full rate over +-dec samples around the winner. Autocorrelation
peaks as strongly at 2T, 3T as at T, so before refining the coarse winner
``T*`` is checked against its submultiples ``T*/k`` (k = 4, 3, 2): the
smallest submultiple whose correlation reaches ``OCTAVE_RATIO * c(T*)``
wins (the classic guard against pitch doubling, e.g. in the G.711 Appendix I
and YIN-style estimators). The period is refined to a fraction of a sample by
the vertex of the parabola through the correlations at T-1, T, T+1.
"""
import numpy as np

from .._jit import kernel

PITCH_MIN_HZ = 60.0
PITCH_MAX_HZ = 400.0
COARSE_RATE_HZ = 4000
OCTAVE_RATIO = 0.85


@kernel(fastmath=True)
def similarity(z, a0, b0, n):
    """Normalised cross-correlation of z[a0:a0+n] and z[b0:b0+n] (0 where either is silent)."""
    za = z[a0:a0 + n]  # slices indexed from 0 let the loop vectorise (no negative-index wrap)
    zb = z[b0:b0 + n]
    ab = 0.0
    aa = 0.0
    bb = 0.0
    for i in range(n):
        a = za[i]
        b = zb[i]
        ab += a * b
        aa += a * a
        bb += b * b
    den = np.sqrt(aa * bb)
    if den <= 1e-20:
        return 0.0
    return ab / den


@kernel(fastmath=True)
def _ncorr(x, end, win, lag):
    """Normalised correlation of x[end-win:end] with x[end-win-lag:end-lag]."""
    return similarity(x, end - win, end - win - lag, win)


@kernel(fastmath=True)
def _coarse_curve(d, end, win, lag_lo, lag_hi, curve):
    """curve[T - lag_lo] = c(T) of d[end-win:end] against d[end-win-T:end-T], T = lag_lo..lag_hi,
    the lagged window's energy slid one sample per lag (``pitch_search`` runs it on the decimated
    signal, ``period_near`` at the full rate)."""
    xx = 0.0
    for n in range(end - win, end):
        xx += d[n] * d[n]
    yy = 0.0
    for n in range(end - win - lag_lo, end - lag_lo):
        yy += d[n] * d[n]
    cur = d[end - win:end]
    for lag in range(lag_lo, lag_hi + 1):
        past = d[end - win - lag:end - lag]
        xy = 0.0
        for i in range(win):
            xy += cur[i] * past[i]
        den = np.sqrt(xx * yy)
        curve[lag - lag_lo] = xy / den if den > 1e-20 else 0.0
        # energy of the window one lag further back
        yy += d[end - win - lag - 1] ** 2 - d[end - lag - 1] ** 2
        if yy < 0.0:
            yy = 0.0


@kernel
def _local_max(curve, lo, hi, centre, radius):
    """Index of the largest curve value within centre +- radius (clipped to [lo, hi])."""
    best = -1
    bv = -2.0
    for i in range(max(lo, centre - radius), min(hi, centre + radius) + 1):
        if curve[i] > bv:
            bv = curve[i]
            best = i
    return best


@kernel
def pitch_search(x, end, win, lag_min, lag_max, dec, scratch, curve):
    """Pitch period (fractional samples at the full rate) and its normalised correlation for x[..end).

    Needs ``win + lag_max + dec`` samples before ``end``. ``scratch`` holds at least
    ``(win + lag_max) // dec + 2`` values, ``curve`` at least ``lag_max // dec + 2``.
    """
    nd = (win + lag_max) // dec + 2
    base = end - nd * dec
    inv = 1.0 / dec
    for i in range(nd):
        s = 0.0
        for j in range(dec):
            s += x[base + i * dec + j]
        scratch[i] = s * inv
    wd = win // dec
    lo = max(2, lag_min // dec)
    hi = (lag_max + dec - 1) // dec
    if hi > nd - wd - 1:
        hi = nd - wd - 1
    _coarse_curve(scratch, nd, wd, lo, hi, curve)
    n_lags = hi - lo + 1
    best = 0
    for i in range(1, n_lags):
        if curve[i] > curve[best]:
            best = i
    cbest = curve[best]
    # octave checks: prefer the smallest submultiple that correlates nearly as well
    lag_c = best + lo
    for k in range(4, 1, -1):
        cand = int(np.round(lag_c / k)) - lo
        if cand < 0:
            continue
        j = _local_max(curve, 0, n_lags - 1, cand, 1)
        if j >= 0 and curve[j] >= OCTAVE_RATIO * cbest and cbest > 0.0:
            best = j
            break
    centre = (best + lo) * dec
    lag = centre
    cmax = -2.0
    for t in range(max(lag_min, centre - dec), min(lag_max, centre + dec) + 1):
        c = _ncorr(x, end, win, t)
        if c > cmax:
            cmax = c
            lag = t
    # fractional period: vertex of the parabola through c(T-1), c(T), c(T+1)
    frac = 0.0
    if lag_min < lag < lag_max:
        cm = _ncorr(x, end, win, lag - 1)
        cp = _ncorr(x, end, win, lag + 1)
        den = cm - 2.0 * cmax + cp
        if den < 0.0:
            frac = min(0.5, max(-0.5, 0.5 * (cm - cp) / den))
    return lag + frac, cmax


@kernel(fastmath=True)
def period_near(x, end, win, lag_lo, lag_hi, curve):
    """Period (fractional) and correlation of x[end-win:end] searched over lags lag_lo..lag_hi only.

    The full-rate correlation curve of ``_coarse_curve`` (into ``curve``, at least
    ``lag_hi - lag_lo + 1`` values), its first maximum and the parabolic vertex as in
    ``pitch_search``; for re-measuring a known period elsewhere.
    """
    _coarse_curve(x, end, win, lag_lo, lag_hi, curve)
    best = 0
    for i in range(1, lag_hi - lag_lo + 1):
        if curve[i] > curve[best]:
            best = i
    cb = curve[best]
    lag = best + lag_lo
    frac = 0.0
    if lag_lo < lag < lag_hi:
        cm = curve[best - 1]
        cp = curve[best + 1]
        den = cm - 2.0 * cb + cp
        if den < 0.0:
            frac = min(0.5, max(-0.5, 0.5 * (cm - cp) / den))
    return lag + frac, cb


class PitchEstimator:
    """Reusable pitch search for one sample rate (buffers preallocated)."""

    def __init__(self, sample_rate: int, window_ms: float = 20.0):
        self.sample_rate = int(sample_rate)
        self.dec = max(1, self.sample_rate // COARSE_RATE_HZ)
        self.lag_min = int(np.floor(self.sample_rate / PITCH_MAX_HZ))
        self.lag_max = int(np.ceil(self.sample_rate / PITCH_MIN_HZ))
        self.win = int(round(window_ms * self.sample_rate / 1000))
        self.needed = self.win + self.lag_max + 2 * self.dec
        self._scratch = np.zeros((self.win + self.lag_max) // self.dec + 4)
        self._curve = np.zeros(self.lag_max // self.dec + 4)

    def __call__(self, x: np.ndarray, end: int | None = None) -> tuple[float, float]:
        """(period in samples, normalised correlation) of the ``win`` samples ending at ``end``."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        end = x.shape[0] if end is None else int(end)
        if end < self.needed:
            raise ValueError(f"pitch search needs {self.needed} samples of history, got {end}")
        lag, c = pitch_search(x, end, self.win, self.lag_min, self.lag_max, self.dec,
                              self._scratch, self._curve)
        return float(lag), float(c)
