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
    """``DelayEstimator.add_far`` of far frame slot ``s`` (floors[0]: the far noise floor)."""
    far_bits[s] = binary_spectrum(power, edges, far_mean, 0.05)
    floors[0] = track_floor(floors[0], energy)
    far_active[s] = energy > 1e-9 and energy > 4.0 * floors[0]


@kernel
def mic_frame_update(mic_power, mic_energy, j, cap, edges, mic_mean, far_bits, far_active, floors, dist,
                     rate, scratch):
    """The kernel part of ``DelayEstimator.update`` (floors[1]: the mic noise floor).

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


class DelayEstimator:
    """Frame-resolution bulk delay from binary spectra (see the module docstring)."""

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
        self.dist = np.zeros(self.max_lag + 1, np.float64)
        self._scratch = np.zeros(self.max_lag + 1, np.float64)
        self._far_mean = np.zeros(N_BANDS, np.float64)
        self._mic_mean = np.zeros(N_BANDS, np.float64)
        self._floors = np.zeros(2, np.float64)  # far, mic noise-floor energies
        self.reset()

    def reset(self) -> None:
        self.far_bits[:] = 0
        self.far_active[:] = False
        self.dist[:] = N_BANDS / 2.0
        self._far_mean[:] = 0.0
        self._mic_mean[:] = 0.0
        self._floors[:] = 0.0
        self.delay_frames = -1  # none accepted yet
        self.confidence = 0.0
        self._candidate = -1
        self._count = 0

    @property
    def _far_floor(self) -> float:
        return float(self._floors[0])

    @property
    def _mic_floor(self) -> float:
        return float(self._floors[1])

    def add_far(self, j: int, power: np.ndarray, energy: float) -> None:
        """Record far frame j (its window power spectrum and sample energy)."""
        far_frame_update(power, energy, j % self.capacity, self.edges, self._far_mean, self.far_bits,
                         self.far_active, self._floors)

    def update(self, j: int, mic_power: np.ndarray, mic_energy: float) -> bool:
        """Add mic frame j; return True when a new delay is proposed (``accept`` takes it)."""
        updated, lag, conf = mic_frame_update(mic_power, mic_energy, j, self.capacity, self.edges,
                                              self._mic_mean, self.far_bits, self.far_active, self._floors,
                                              self.dist, self.smoothing, self._scratch)
        return updated and self.observe(lag, conf)

    def observe(self, lag: int, confidence: float) -> bool:
        """Count an arg-min ``lag`` of the distances (from ``mic_frame_update``); return True when
        a new delay is proposed (``accept`` takes it)."""
        self.confidence = confidence
        if lag == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = lag, 1
        return self.proposes(self.hold, self.min_confidence)

    def proposes(self, hold: int, min_confidence: float) -> bool:
        """True when the current arg-min differs from the accepted delay and has held ``hold``
        updates with at least ``min_confidence``."""
        return (self._candidate >= 0 and self._candidate != self.delay_frames
                and self._count >= hold and self.confidence >= min_confidence)

    def accept(self) -> int:
        """Make the current candidate the accepted delay; return it (frames)."""
        self.delay_frames = self._candidate
        return self.delay_frames
