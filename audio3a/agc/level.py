"""Running speech level and noise floor, one 10 ms frame at a time.

Speech level: ITU-T P.56 method B, made recursive. P.56 smooths |x| twice
with a 30 ms one-pole filter into an envelope q, calls a sample active at
threshold c when q reached c within the last 200 ms (hangover), and for a
ladder of thresholds c_j (1 dB apart) forms A_j = energy / active samples.
The active level is the A_j whose distance above its threshold equals the
margin M = 15.9 dB, interpolated between the two thresholds around it.

Here the unit of activity is the frame: a frame is active at every c_j up
to the largest q seen in the last 200 ms (a 20-frame sliding maximum), so
one 1-dB histogram N[j] of frame lengths indexed by that maximum gives the
active sample count at every threshold (N_j = sum of N over bins >= j).
Energy E and histogram are exponentially weighted over admitted frames:

    E <- lambda E + sum x^2,    N <- lambda N,  N[bin(max q)] += frame_len,

with lambda = 1 for the first ``level_time_s`` of speech (exactly P.56 over
what was heard) and 1 - frame / ``level_time_s`` after that (the past is
forgotten with that time constant, in seconds of speech). The estimate is
scale invariant: a talker 20 dB quieter reads 20 dB lower.

A frame is admitted when the VAD says speech *and* its power stands
``SPEECH_SNR_DB`` above the noise floor: webrtcvad takes much noise for
speech, and this keeps noise from setting the level.

Noise floor: minimum statistics (after Martin, 2001, much simplified): the
frame power, smoothed over about two frames, is tracked by its minimum over
the last ``NOISE_BLOCKS`` blocks of ``NOISE_BLOCK_FRAMES`` frames (2 to
2.5 s). Speech leaves short gaps between words more often than that, so the
minimum mostly sits on the noise (a long unbroken phrase can lift it for a
moment); a louder noise is followed within 2.5 s.

State: ``state`` (scalars, ``LV_*`` indices), ``hist`` (``N_BINS`` bins) and
``ring`` (the last ``HANG_FRAMES`` envelope maxima, then the minima of the
last ``NOISE_BLOCKS`` blocks).
"""
import numpy as np

from .._jit import kernel

P56_MARGIN_DB = 15.9        # ITU-T P.56 margin M between the active level and its threshold
P56_TIME_CONST_S = 0.03     # P.56 envelope smoothing
HANG_FRAMES = 20            # P.56 activity hangover, 200 ms in 10 ms frames
SPEECH_SNR_DB = 6.0         # an admitted frame stands this far above the noise floor
NOISE_BLOCK_FRAMES = 50     # minimum statistics: block length (0.5 s)
NOISE_BLOCKS = 5            # ... and blocks remembered (2 to 2.5 s)
NOISE_SMOOTH = 0.5          # one-pole smoothing of the frame power before the minimum
FLOOR_DBFS = -100.0         # lowest threshold / reported level
N_BINS = 101                # thresholds -100 .. 0 dBFS in 1 dB steps

# level state indices
LV_ENERGY = 0       # weighted sum of x^2 over admitted frames
LV_LEVEL_DB = 1     # active speech level A, dBFS (FLOOR_DBFS before any speech)
LV_COUNT = 2        # admitted frames so far
LV_NOISE_DB = 3     # noise floor, dBFS
LV_FRAME_DB = 4     # last frame power, dBFS
LV_PEAK = 5         # last frame peak |x|
LV_ADMITTED = 6     # 1.0 when the last frame was admitted
LV_FRAMES = 7       # frames seen so far
LV_ENV1 = 8         # first smoothing stage of |x|
LV_ENV2 = 9         # envelope q
LV_POWER_SMOOTH = 10  # smoothed frame power (linear)
LV_BLOCK_MIN = 11   # minimum of the smoothed power in the current block, dBFS
LV_SIZE = 12
_NONE_DB = 1000.0   # "no minimum yet"
SILENCE_POWER = 10.0 ** (FLOOR_DBFS / 10.0)  # a stream's opening frames under this are digital silence


def new_level_state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(state, hist, ring) arrays, reset."""
    s = np.zeros(LV_SIZE, np.float64)
    hist = np.zeros(N_BINS, np.float64)
    ring = np.zeros(HANG_FRAMES + NOISE_BLOCKS, np.float64)
    reset_level_state(s, hist, ring)
    return s, hist, ring


def reset_level_state(s: np.ndarray, hist: np.ndarray, ring: np.ndarray) -> None:
    s[:] = 0.0
    s[LV_LEVEL_DB] = FLOOR_DBFS
    s[LV_NOISE_DB] = FLOOR_DBFS
    s[LV_FRAME_DB] = FLOOR_DBFS
    s[LV_BLOCK_MIN] = _NONE_DB
    hist[:] = 0.0
    ring[:HANG_FRAMES] = 0.0
    ring[HANG_FRAMES:] = _NONE_DB


@kernel
def level_db(power):
    """10 log10(power), floored at FLOOR_DBFS."""
    if power <= 1e-10:
        return FLOOR_DBFS
    return 10.0 * np.log10(power)


@kernel
def p56_level(energy, hist):
    """Active level from energy and activity histogram (P.56 method B on the ladder).

    Walks c_j upward from FLOOR_DBFS; A_j = energy / N_j; the first j with
    A_j - c_j <= M is interpolated with j - 1, as in
    ``audio3a.metrics.active_speech_level``. The test A_j - c_j <= M is done
    as energy <= N_j 10^((c_j + M) / 10), so only the crossing takes logs.
    """
    total = 0.0
    for j in range(hist.shape[0]):
        total += hist[j]
    if total <= 0.0:
        return FLOOR_DBFS
    step = 10.0 ** 0.1
    bound = 10.0 ** ((FLOOR_DBFS + P56_MARGIN_DB) / 10.0)
    below = 0.0
    prev_active = 0.0
    for j in range(hist.shape[0]):
        active = total - below
        below += hist[j]
        if active <= 1e-9 * total:
            break
        if energy <= active * bound:
            level = level_db(energy / active)
            if prev_active <= 0.0:
                return level
            prev_level = level_db(energy / prev_active)
            prev_diff = prev_level - (FLOOR_DBFS + j - 1)
            diff = level - (FLOOR_DBFS + j)
            t = (prev_diff - P56_MARGIN_DB) / (prev_diff - diff)
            return prev_level + t * (level - prev_level)
        prev_active = active
        bound *= step
    return level_db(energy / prev_active)


@kernel
def update_level(x, vad_speech, state, hist, ring, lam, env_coef):
    """Update envelope, noise floor and active speech level with one frame.

    ``lam`` is the forgetting factor once the startup running sum is over.
    Returns True when the frame was admitted to the level estimate.
    """
    e1 = state[LV_ENV1]
    e2 = state[LV_ENV2]
    acc = 0.0
    peak = 0.0
    q_max = 0.0
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        a = abs(v)
        acc += v * v
        if a > peak:
            peak = a
        e1 = env_coef * e1 + (1.0 - env_coef) * a
        e2 = env_coef * e2 + (1.0 - env_coef) * e1
        if e2 > q_max:
            q_max = e2
    state[LV_ENV1] = e1
    state[LV_ENV2] = e2
    # 200 ms hangover: the largest envelope over the last HANG_FRAMES frames
    frame = int(state[LV_FRAMES])
    ring[frame % HANG_FRAMES] = q_max
    q_hold = 0.0
    for k in range(HANG_FRAMES):
        if ring[k] > q_hold:
            q_hold = ring[k]

    e = level_db(acc / x.shape[0])
    state[LV_FRAME_DB] = e
    state[LV_PEAK] = peak
    # minimum statistics on the smoothed frame power
    # (the minimum starts at the first frame with power: the digital silence (under FLOOR_DBFS)
    # that opens a stream, such as the zeros of an earlier stage's delay line, says nothing
    # about its noise, and seeded at it the floor would let anything that follows count as
    # speech above the noise; no frame is admitted before that first frame)
    p = acc / x.shape[0]
    block_min = state[LV_BLOCK_MIN]
    started = state[LV_POWER_SMOOTH] > 0.0
    if started or p > SILENCE_POWER:
        ps = NOISE_SMOOTH * state[LV_POWER_SMOOTH] + (1.0 - NOISE_SMOOTH) * p if started else p
        state[LV_POWER_SMOOTH] = ps
        block_min = min(block_min, level_db(ps))
    n = block_min
    for k in range(HANG_FRAMES, HANG_FRAMES + NOISE_BLOCKS):
        n = min(n, ring[k])
    if (frame + 1) % NOISE_BLOCK_FRAMES == 0:
        for k in range(HANG_FRAMES, HANG_FRAMES + NOISE_BLOCKS - 1):
            ring[k] = ring[k + 1]
        ring[HANG_FRAMES + NOISE_BLOCKS - 1] = block_min
        block_min = _NONE_DB
    state[LV_BLOCK_MIN] = block_min
    state[LV_NOISE_DB] = n if n < _NONE_DB else FLOOR_DBFS
    state[LV_FRAMES] = frame + 1.0

    admitted = vad_speech and e >= n + SPEECH_SNR_DB
    if admitted:
        k = state[LV_COUNT] + 1.0
        decay = lam if k * (1.0 - lam) > 1.0 else 1.0
        state[LV_ENERGY] = decay * state[LV_ENERGY] + acc
        if decay != 1.0:
            for j in range(hist.shape[0]):
                hist[j] *= decay
        top = int(np.floor(20.0 * np.log10(q_hold) - FLOOR_DBFS)) if q_hold > 1e-5 else -1
        if top >= hist.shape[0]:
            top = hist.shape[0] - 1
        if top >= 0:
            hist[top] += x.shape[0]
        state[LV_COUNT] = k
        state[LV_LEVEL_DB] = p56_level(state[LV_ENERGY], hist)
    state[LV_ADMITTED] = 1.0 if admitted else 0.0
    return admitted
