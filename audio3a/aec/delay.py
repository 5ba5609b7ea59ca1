"""Bulk render-to-capture delay estimation from binary spectra.

After the delay estimator of WebRTC (Andersson, ``delay_estimator.c``): each
10 ms frame of the far end and of the mic is reduced to a 32-bit "binary
spectrum", bit b set when the power in band b (32 bands, log-spaced over
300-4000 Hz, from the same ``n_fft`` window for both signals) exceeds its
slowly tracked mean. Echo reproduces the far end's spectro-temporal pattern
with a lag, so the Hamming distance between the mic pattern now and the far
pattern ``lag`` frames ago is smallest at the bulk delay. Per lag the distance
is smoothed over time,

    dist[lag] <- dist[lag] + a (popcount(mic XOR far[j - lag]) - dist[lag]),

updated only when that far frame was active and the mic frame is above its
noise floor (near-end-only or silent frames carry no delay information). The
estimate is the arg-min; its confidence is the depth of the minimum below the
median distance, (median - min) / median in [0, 1]. A new delay is accepted
when it has been the arg-min for ``hold`` consecutive updates with confidence
above ``min_confidence``; the canceller asks for much longer persistence once
its filter has converged, so double talk cannot move a good filter.
Resolution is one frame (10 ms); the adaptive filter refines it to a sample.
"""
import numpy as np

from .._jit import kernel

N_BANDS = 32


@kernel
def binary_spectrum(power, edges, mean, rate):
    """Bits of band powers above their running mean; updates the mean (rate ``rate``)."""
    bits = np.int64(0)
    for b in range(edges.shape[0] - 1):
        p = 0.0
        for k in range(edges[b], edges[b + 1]):
            p += power[k]
        if mean[b] <= 0.0:
            mean[b] = p
        else:
            mean[b] += rate * (p - mean[b])
        if p > mean[b]:
            bits |= np.int64(1) << b
    return bits


@kernel
def popcount(v):
    v = v - ((v >> 1) & 0x5555555555555555)
    v = (v & 0x3333333333333333) + ((v >> 2) & 0x3333333333333333)
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (v * 0x0101010101010101 & 0xFFFFFFFFFFFFFFFF) >> 56


@kernel
def select_kth(a, k):
    """The k-th smallest element of ``a`` (quickselect, reorders ``a`` in place, no allocation)."""
    lo = 0
    hi = a.shape[0] - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


@kernel
def median_inplace(a):
    """np.median(a) without its copy (``a`` is reordered)."""
    n = a.shape[0]
    upper = select_kth(a, n // 2)
    if n % 2 == 1:
        return upper
    lower = a[0]  # after the selection a[:n // 2] holds the smaller half
    for i in range(1, n // 2):
        if a[i] > lower:
            lower = a[i]
    return 0.5 * (lower + upper)


@kernel
def track_floor(floor, e):
    """Noise-floor energy: follows drops at once, rises by 0.05 dB per frame (5 dB/s)."""
    if floor <= 0.0 or e < floor:
        return e if e > 1e-12 else 1e-12
    return floor * 1.0116


@kernel
def far_frame_update(power, energy, s, edges, far_mean, far_bits, far_active, floors):
    """Record far frame slot ``s``: its binary spectrum and activity (floors[0]: the far noise floor)."""
    far_bits[s] = binary_spectrum(power, edges, far_mean, 0.05)
    floors[0] = track_floor(floors[0], energy)
    far_active[s] = energy > 1e-9 and energy > 4.0 * floors[0]


@kernel
def mic_frame_update(mic_power, mic_energy, j, cap, edges, mic_mean, far_bits, far_active, floors, dist,
                     rate, scratch):
    """Add a mic frame: its binary spectrum against the far ones (floors[1]: the mic noise floor).

    Returns (updated, arg-min lag, confidence); not updated for mic frames at the noise floor.
    """
    bits = binary_spectrum(mic_power, edges, mic_mean, 0.05)
    floors[1] = track_floor(floors[1], mic_energy)
    if mic_energy < 4.0 * floors[1] or mic_energy <= 1e-10:
        return False, 0, 0.0
    lag, conf = update_distances(bits, far_bits, far_active, j, cap, dist, rate, scratch)
    return True, lag, conf


@kernel
def update_distances(mic_bits, far_bits, far_active, j, cap, dist, rate, scratch):
    """dist[lag] += rate (hamming(mic, far[j - lag]) - dist[lag]) for active far frames.

    Returns (arg-min lag, confidence = (median - min) / median).
    """
    for lag in range(dist.shape[0]):
        if j - lag < 0:
            break
        s = (j - lag) % cap
        if far_active[s]:
            d = popcount(mic_bits ^ far_bits[s])
            dist[lag] += rate * (d - dist[lag])
    best = 0
    for lag in range(dist.shape[0]):
        scratch[lag] = dist[lag]
        if dist[lag] < dist[best]:
            best = lag
    med = median_inplace(scratch)
    conf = (med - dist[best]) / med if med > 0.0 else 0.0
    return best, max(conf, 0.0)


# indices of ``DelayEstimator.state`` (int64) and ``DelayEstimator.levels`` (float64)
ST_DELAY, ST_CANDIDATE, ST_COUNT = 0, 1, 2
LV_FAR_FLOOR, LV_MIC_FLOOR, LV_CONFIDENCE = 0, 1, 2


@kernel
def proposes(state, levels, hold, min_confidence):
    """True when the current arg-min differs from the accepted delay and has held ``hold``
    updates with at least ``min_confidence``."""
    return (state[ST_CANDIDATE] >= 0 and state[ST_CANDIDATE] != state[ST_DELAY]
            and state[ST_COUNT] >= hold and levels[LV_CONFIDENCE] >= min_confidence)


@kernel
def observe(lag, confidence, state, levels, hold, min_confidence):
    """Count an arg-min ``lag`` of the distances (from ``mic_frame_update``); return True when a
    new delay is proposed (``accept`` takes it)."""
    levels[LV_CONFIDENCE] = confidence
    if lag == state[ST_CANDIDATE]:
        state[ST_COUNT] += 1
    else:
        state[ST_CANDIDATE] = lag
        state[ST_COUNT] = 1
    return proposes(state, levels, hold, min_confidence)


@kernel
def accept(state):
    """Make the current candidate the accepted delay; return it (frames)."""
    state[ST_DELAY] = state[ST_CANDIDATE]
    return state[ST_DELAY]


class DelayEstimator:
    """Frame-resolution bulk delay from binary spectra (see the module docstring).

    The per-frame work runs in kernels (``far_frame_update``, ``mic_frame_update``, ``observe``)
    called by the canceller's frame kernel; the scalar state lives in two small arrays:
    ``state`` = [accepted delay (frames, -1: none yet), candidate lag, frames it has held] and
    ``levels`` = [far noise floor, mic noise floor, confidence].
    """

    def __init__(self, sample_rate: int, n_fft: int, frame_len: int, max_delay_ms: float,
                 capacity: int, smoothing: float = 0.04, hold: int = 8, min_confidence: float = 0.2):
        self.frame_ms = 1000.0 * frame_len / sample_rate
        self.max_lag = int(round(max_delay_ms / self.frame_ms))
        hz = np.geomspace(300.0, min(4000.0, 0.45 * sample_rate), N_BANDS + 1)
        edges = np.round(hz * n_fft / sample_rate).astype(np.int64)
        for i in range(1, edges.size):  # at least one bin per band
            edges[i] = max(edges[i], edges[i - 1] + 1)
        self.edges = edges
        self.capacity = capacity
        self.smoothing = smoothing
        self.hold = hold
        self.min_confidence = min_confidence
        self.far_bits = np.zeros(capacity, np.int64)
        self.far_active = np.zeros(capacity, np.bool_)
        self.dist = np.zeros((2, self.max_lag + 1), np.float64)  # distances, median scratch
        self.means = np.zeros((2, N_BANDS), np.float64)  # band means: far, mic
        self.state = np.zeros(3, np.int64)
        self.levels = np.zeros(3, np.float64)
        self.reset()

    def reset(self) -> None:
        self.far_bits[:] = 0
        self.far_active[:] = False
        self.dist[0] = N_BANDS / 2.0
        self.means[:] = 0.0
        self.levels[:] = 0.0
        self.state[:] = (-1, -1, 0)  # no delay accepted yet, no candidate

    @property
    def delay_frames(self) -> int:
        return int(self.state[ST_DELAY])

    @property
    def confidence(self) -> float:
        return float(self.levels[LV_CONFIDENCE])
