"""Signal measurements used by tests, benchmarks and ``audio3a eval``.

Plain numpy functions over whole signals (offline, not per frame). Levels are
in dB relative to full scale (dBFS) for float signals in [-1, 1), where a
full-scale sine reads -3.01 dBFS.
"""
import numpy as np

from ._jit import kernel

_EPS = 1e-20


@kernel
def _envelope(x, g):
    """Twice-smoothed rectified signal: two cascaded one-pole low-passes p = g p + (1 - g) |x|."""
    out = np.empty_like(x)
    p = 0.0
    q = 0.0
    for i in range(x.shape[0]):
        p = g * p + (1.0 - g) * abs(x[i])
        q = g * q + (1.0 - g) * p
        out[i] = q
    return out


@kernel
def _trailing_max(x, width):
    """out[i] = max(x[i - width + 1 .. i]) (shorter at the start), by a monotonic deque: O(n)."""
    n = x.shape[0]
    out = np.empty_like(x)
    dq = np.empty(n, np.int64)      # indices whose values decrease from head to tail
    head = 0
    tail = 0
    for i in range(n):
        while tail > head and x[dq[tail - 1]] <= x[i]:
            tail -= 1
        dq[tail] = i
        tail += 1
        if dq[head] <= i - width:
            head += 1
        out[i] = x[dq[head]]
    return out


def _f64(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.int16:
        return x.astype(np.float64) / 32768.0
    return x.astype(np.float64)


def rms_db(x) -> float:
    """RMS level in dBFS: 10 log10(mean(x^2))."""
    x = _f64(x)
    if x.size == 0:
        return float("-inf")
    return float(10.0 * np.log10(np.mean(x * x) + _EPS))


def active_speech_level(x, sample_rate: int, margin_db: float = 15.9,
                        hangover_s: float = 0.2, time_const_s: float = 0.03) -> tuple[float, float]:
    """Active speech level in dBFS and activity factor, after ITU-T P.56 method B.

    The envelope is a twice-smoothed rectified signal (time constant 30 ms).
    For a ladder of thresholds c_j (1 dB steps) the activity a_j is the share
    of samples whose envelope reaches c_j, extended by a 200 ms hangover; the
    level estimate A_j = energy / a_j. The active level is the A_j whose
    distance above its threshold equals the margin M = 15.9 dB, interpolated
    between the two thresholds around it. Returns (-inf, 0) for silence.
    """
    x = _f64(x)
    n = x.size
    if n == 0 or not np.any(x):
        return float("-inf"), 0.0
    g = np.exp(-1.0 / (time_const_s * sample_rate))
    env = _envelope(x, g)
    energy = np.mean(x * x)
    hang = int(hangover_s * sample_rate)
    thresholds_db = np.arange(-100.0, 1.0, 1.0)
    # with the hangover a sample is active at threshold c when any of the last
    # hang + 1 envelope samples reaches c, i.e. when their maximum does: one
    # trailing maximum, sorted once, gives the activity of every threshold
    env_db = 20 * np.log10(_trailing_max(env, hang + 1) + _EPS)
    activity = 1.0 - np.searchsorted(np.sort(env_db), thresholds_db, side="left") / n
    with np.errstate(divide="ignore"):
        levels = np.where(activity > 0, 10 * np.log10(energy / np.maximum(activity, 1e-300) + _EPS), -np.inf)
    diff = levels - thresholds_db
    ok = np.where(np.isfinite(diff) & (diff <= margin_db))[0]
    if ok.size == 0:
        return rms_db(x), 1.0
    j = ok[0]
    if j == 0 or not np.isfinite(diff[j - 1]):
        level = levels[j]
    else:
        # interpolate between threshold j-1 (diff > M) and j (diff <= M)
        t = (diff[j - 1] - margin_db) / (diff[j - 1] - diff[j])
        level = levels[j - 1] + t * (levels[j] - levels[j - 1])
    activity = 10 ** ((10 * np.log10(energy + _EPS) - level) / 10)
    return float(level), float(min(activity, 1.0))


def snr_db(reference, estimate) -> float:
    """SNR of ``estimate`` against ``reference``: 10 log10(|r|^2 / |e - r|^2)."""
    r, e = _aligned(reference, estimate)
    return float(10 * np.log10((np.sum(r * r) + _EPS) / (np.sum((e - r) ** 2) + _EPS)))


def si_sdr_db(reference, estimate) -> float:
    """Scale-invariant SDR (Le Roux et al., 2019), both signals made zero-mean."""
    r, e = _aligned(reference, estimate)
    r = r - r.mean()
    e = e - e.mean()
    alpha = np.dot(e, r) / (np.dot(r, r) + _EPS)
    target = alpha * r
    return float(10 * np.log10((np.sum(target ** 2) + _EPS) / (np.sum((e - target) ** 2) + _EPS)))


def erle_db(mic, out, start: int = 0) -> float:
    """Echo return loss enhancement: 10 log10(sum mic^2 / sum out^2) from ``start``.

    Meaningful in far-end single talk, where the mic holds only echo (and noise).
    """
    m, o = _aligned(mic, out)
    m, o = m[start:], o[start:]
    return float(10 * np.log10((np.sum(m * m) + _EPS) / (np.sum(o * o) + _EPS)))


def segmental_erle_db(mic, out, sample_rate: int, segment_s: float = 0.5) -> np.ndarray:
    """ERLE per segment of ``segment_s`` seconds (for convergence curves)."""
    m, o = _aligned(mic, out)
    seg = int(segment_s * sample_rate)
    n = m.size // seg
    m2 = (m[: n * seg] ** 2).reshape(n, seg).sum(1)
    o2 = (o[: n * seg] ** 2).reshape(n, seg).sum(1)
    return 10 * np.log10((m2 + _EPS) / (o2 + _EPS))


def _aligned(a, b):
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise ValueError(f"signals differ in shape: {a.shape} vs {b.shape}")
    return a, b
