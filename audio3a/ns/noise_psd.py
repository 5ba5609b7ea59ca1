"""Noise PSD tracking by improved minima-controlled recursive averaging (IMCRA).

After I. Cohen, "Noise spectrum estimation in adverse environments: improved
minima controlled recursive averaging", IEEE Trans. Speech Audio Process.
11(5), 2003. Per bin k and frame l, with |Y|^2 the noisy periodogram:

1. Smoothing in frequency (b = Hann of 2w+1 = 3 taps, normalised) and time:
   S(k,l) = a_s S(k,l-1) + (1 - a_s) sum_i b(i) |Y(k-i,l)|^2.
2. Minimum of S over D = U*V frames, tracked in U sub-windows of V frames.
3. Rough speech detection excludes strong components: I = 1 where
   |Y|^2 / (B_min S_min) < gamma_0 and S / (B_min S_min) < zeta_0. A second
   smoothing of the periodogram over the bins with I = 1 gives S~, and its
   minimum S~_min (same sub-window scheme) is nearly free of speech.
4. A-priori speech absence probability from gamma~ = |Y|^2 / (B_min S~_min):
   q = 1 if gamma~ <= 1, (gamma_1 - gamma~) / (gamma_1 - 1) if 1 < gamma~ < gamma_1,
   0 otherwise (and q = 0 whenever S / (B_min S~_min) >= zeta_0).
5. Speech presence probability (Gaussian model, a-priori SNR xi, v = gamma xi / (1 + xi)):
   p = 1 / (1 + q / (1 - q) (1 + xi) exp(-v)).
6. Recursive averaging with a presence-controlled factor
   a~_d = a_d + (1 - a_d) p,  lambda~ = a~_d lambda~ + (1 - a~_d) |Y|^2,
   and bias compensation lambda_d = beta lambda~.

B_min = 1.66 compensates the bias of the minimum of smoothed periodograms
(Cohen's value for D ~ 120 frames, a_s = 0.9). The minimum window here is
U*V = 8*8 frames = 0.64 s at the 10 ms hop; a rise of the noise level
reaches S_min, then S~_min within about two windows, so the estimate follows
a 20 dB rise in about 1.5 s; falls are followed at once.
"""
import numpy as np

from .._jit import kernel

# rows of the per-bin state array
S = 0            # smoothed periodogram
S_MIN = 1        # its running minimum over the window
S_MIN_SW = 2     # minimum within the current sub-window
S_TILDE = 3      # second smoothing, speech bins excluded
S_TILDE_MIN = 4
S_TILDE_MIN_SW = 5
NOISE_TILDE = 6  # recursive average before bias compensation
NOISE = 7        # noise PSD estimate lambda_d = beta * lambda~
N_ROWS = 8

# counters
FRAME = 0        # frames seen
SUB_COUNT = 1    # frames in the current sub-window
RING_POS = 2     # ring slot of the oldest sub-window minimum (overwritten next)
N_COUNTERS = 3

ALPHA_S = 0.9
ALPHA_D = 0.85
BETA = 1.47
B_MIN = 1.66
GAMMA_0 = 4.6
GAMMA_1 = 3.0
ZETA_0 = 1.67
N_SUBWIN = 8     # U
SUBWIN_LEN = 8   # V, frames per sub-window
INIT_FRAMES = 20  # first 0.2 s: learn the noise without presence control
INIT_CAP = 8.0   # the initial average is capped at this factor (9 dB) over B_min S_min
RESTART_RATIO = 2.5  # a second frame this much stronger than the first restarts the tracker
EPS = 1e-12


class Imcra:
    """Buffers of one tracker over ``n_bins`` bins, all zero initially (the initial state).

    ``state`` (N_ROWS, K) per-bin rows, ``ring`` (2, U, K) sub-window minima of S and S~,
    ``counters`` (N_COUNTERS,) int64, ``scratch`` (3, K) work rows (free between kernel calls):
    views of one float64 array ``buf`` (``imcra_views``), which may be handed in (``size`` floats).
    """

    def __init__(self, n_bins: int, buf=None):
        self.buf = np.zeros(imcra_size(n_bins)) if buf is None else buf
        self.state, self.ring, self.counters, self.scratch = imcra_views(self.buf, n_bins)

    @property
    def noise(self) -> np.ndarray:
        """The noise PSD estimate lambda_d per bin (a view)."""
        return self.state[NOISE]

    def reset(self) -> None:
        self.buf[:] = 0.0


@kernel
def imcra_size(n_bins):
    """Floats of ``Imcra.buf`` for ``n_bins`` bins."""
    return (N_ROWS + 2 * N_SUBWIN + 3) * n_bins + N_COUNTERS


@kernel
def imcra_views(buf, n_bins):
    """(state, ring, counters, scratch) of a tracker, views of ``buf`` (``Imcra``)."""
    k = n_bins
    o_ring = N_ROWS * k
    o_scratch = o_ring + 2 * N_SUBWIN * k
    o_counters = o_scratch + 3 * k
    return (buf[:o_ring].reshape((N_ROWS, k)), buf[o_ring:o_scratch].reshape((2, N_SUBWIN, k)),
            buf[o_counters:o_counters + N_COUNTERS].view(np.int64),
            buf[o_scratch:o_counters].reshape((3, k)))


@kernel
def smooth_freq(src, dst):
    """dst[k] = (src[k-1] + 2 src[k] + src[k+1]) / 4, edges renormalised."""
    n = src.shape[0]
    if n == 1:
        dst[0] = src[0]
        return
    dst[0] = (2.0 * src[0] + src[1]) / 3.0
    for k in range(1, n - 1):
        dst[k] = 0.25 * src[k - 1] + 0.5 * src[k] + 0.25 * src[k + 1]
    dst[n - 1] = (2.0 * src[n - 1] + src[n - 2]) / 3.0


@kernel
def imcra_smoothing(power, state, ring, counters, scratch):
    """Steps 1-3: update S, S~ and their minima from this frame's periodogram ``power``.

    ``scratch`` is a (3, K) work array. Must run before ``imcra_update``. The
    tracker starts (frame 1, seeding S, the minima and the average) at the first
    frame with any power: a stream that opens with digital silence, or whose
    first frame the click restoration zeroes, would otherwise seed the minima at
    zero, the start-up cap (``noise_update``) would then clear the noise
    estimate, and the presence held at 1 would keep it cleared for seconds.
    """
    n = power.shape[0]
    sf = scratch[0]
    smooth_freq(power, sf)
    first = counters[FRAME] == 0
    if counters[FRAME] == 1:
        # the first frame with power may hold only the end of an onset (the analysis
        # window two hops long, the signal starting late in the newest hop, its power
        # then well under the half a start at the hop's beginning gives): when the
        # second frame carries over RESTART_RATIO times more power, the tracker starts
        # again from it
        seeded = 0.0
        now = 0.0
        for k in range(n):
            seeded += state[S, k]
            now += sf[k]
        first = now > RESTART_RATIO * seeded
    if first:
        energy = 0.0
        for k in range(n):
            energy += power[k]
        for k in range(n):
            v = sf[k] + EPS
            state[S, k] = v
            state[S_MIN, k] = v
            state[S_MIN_SW, k] = v
            state[S_TILDE, k] = v
            state[S_TILDE_MIN, k] = v
            state[S_TILDE_MIN_SW, k] = v
            state[NOISE_TILDE, k] = sf[k] + EPS
            state[NOISE, k] = BETA * (sf[k] + EPS)
            for u in range(ring.shape[1]):
                ring[0, u, k] = v
                ring[1, u, k] = v
        if energy <= 0.0:  # digital silence (or a zeroed frame) does not start the tracker
            return
        counters[FRAME] = 0  # frame 1 again when restarted at the second frame
        counters[SUB_COUNT] = 0
    else:
        for k in range(n):
            s = ALPHA_S * state[S, k] + (1.0 - ALPHA_S) * sf[k]
            state[S, k] = s
            if s < state[S_MIN, k]:
                state[S_MIN, k] = s
            if s < state[S_MIN_SW, k]:
                state[S_MIN_SW, k] = s
    # rough speech indicator and the second smoothing over speech-free bins
    ind = scratch[1]
    for k in range(n):
        bs = B_MIN * state[S_MIN, k]
        if power[k] < GAMMA_0 * bs and state[S, k] < ZETA_0 * bs:
            ind[k] = 1.0
        else:
            ind[k] = 0.0
    num = scratch[2]
    for k in range(n):
        num[k] = ind[k] * power[k]
    smooth_freq(num, sf)
    smooth_freq(ind, num)
    if not first:
        for k in range(n):
            if num[k] > 0.0:
                st = ALPHA_S * state[S_TILDE, k] + (1.0 - ALPHA_S) * sf[k] / num[k]
            else:
                st = state[S_TILDE, k]
            state[S_TILDE, k] = st
            if st < state[S_TILDE_MIN, k]:
                state[S_TILDE_MIN, k] = st
            if st < state[S_TILDE_MIN_SW, k]:
                state[S_TILDE_MIN_SW, k] = st
    # sub-window bookkeeping: every V frames the sub-window minima replace the oldest
    # of the U in the ring, and the window minima become the minima over the ring
    counters[FRAME] += 1
    counters[SUB_COUNT] += 1
    if counters[SUB_COUNT] >= SUBWIN_LEN:
        counters[SUB_COUNT] = 0
        n_sub = ring.shape[1]
        pos = counters[RING_POS]
        counters[RING_POS] = (pos + 1) % n_sub
        r0 = ring[0]
        r1 = ring[1]
        for k in range(n):
            r0[pos, k] = state[S_MIN_SW, k]
            r1[pos, k] = state[S_TILDE_MIN_SW, k]
            state[S_MIN_SW, k] = state[S, k]
            state[S_TILDE_MIN_SW, k] = state[S_TILDE, k]
        for k in range(n):
            m0 = r0[0, k]
            m1 = r1[0, k]
            for u in range(1, n_sub):
                m0 = r0[u, k] if r0[u, k] < m0 else m0
                m1 = r1[u, k] if r1[u, k] < m1 else m1
            state[S_MIN, k] = m0
            state[S_TILDE_MIN, k] = m1


@kernel
def speech_absence_prob(power, state, q):
    """Step 4: a-priori speech absence probability q per bin."""
    for k in range(power.shape[0]):
        bs = B_MIN * state[S_TILDE_MIN, k]
        g = power[k] / bs
        z = state[S, k] / bs
        if z >= ZETA_0 or g >= GAMMA_1:
            q[k] = 0.0
        elif g <= 1.0:
            q[k] = 1.0
        else:
            q[k] = (GAMMA_1 - g) / (GAMMA_1 - 1.0)


@kernel
def speech_presence_prob(q, xi, v, p):
    """Step 5: p = 1 / (1 + q / (1 - q) (1 + xi) exp(-v))."""
    for k in range(q.shape[0]):
        if q[k] >= 1.0:
            p[k] = 0.0
        elif q[k] <= 0.0:
            p[k] = 1.0
        else:
            p[k] = 1.0 / (1.0 + q[k] / (1.0 - q[k]) * (1.0 + xi[k]) * np.exp(-v[k]))


@kernel
def noise_update(power, p, state, counters):
    """Step 6: presence-controlled recursive averaging and bias compensation.

    During the first INIT_FRAMES frames the presence is ignored and the
    factor is min(1 - 1/l, a_d): the estimate starts as the plain average of
    the first periodograms instead of waiting for the minima to settle. At
    the last of them the average is capped at INIT_CAP B_min S_min, so a
    talker who starts at once does not leave the noise estimate high (and
    the speech over-suppressed, the presence then holding it) until the
    first pause.
    """
    frame = counters[FRAME]
    init = frame <= INIT_FRAMES
    a_init = min(1.0 - 1.0 / max(frame, 1), ALPHA_D)
    for k in range(power.shape[0]):
        if init:
            a = a_init
        else:
            a = ALPHA_D + (1.0 - ALPHA_D) * p[k]
        nt = a * state[NOISE_TILDE, k] + (1.0 - a) * power[k]
        if frame == INIT_FRAMES:
            cap = INIT_CAP * B_MIN * state[S_MIN, k]
            if nt > cap:
                nt = cap
        if nt < EPS:
            nt = EPS
        state[NOISE_TILDE, k] = nt
        state[NOISE, k] = BETA * nt
