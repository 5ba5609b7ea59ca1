"""Adaptive digital gain: from the speech level to the gain applied, per frame.

Three gains in dB are combined, all updated once per 10 ms frame:

1. Level gain g. Its goal is g* = clip(T - A, g_min, g_max): target level T
   minus the active speech level A from ``level.py``. g moves toward g* at
   most ``up`` dB per frame when rising (e.g. 6 dB/s) and ``down`` dB per
   frame when falling (faster: loud talkers are turned down before they
   annoy). During the first second of speech the estimate is a running mean
   and g may rise at the fast rate too, so a new call starts at the right
   loudness instead of creeping up for several seconds.

2. Saturation protection and loudness guard. Two envelopes of the input
   with instant attack and release ``ENVELOPE_RELEASE_DB_PER_S``, one of the
   frame peak p and one of the frame power s (dB), bound the gain so that
   amplified peaks stay within ``SATURATION_HEADROOM_DB`` of the limiter
   ceiling and amplified frames within ``LOUDNESS_GUARD_DB`` of the target
   (loud vowels sit up to about 8 dB above the active level):

       g_sat = min(g, ceiling + headroom - p, target + guard - s).

   This acts at once, with no slew: a sudden +20 dB is brought back near the
   target on its first frame, the limiter rounds off what remains, and the
   slow gain g then follows at its own pace.

3. Pause gate. A frame is speech-like when the VAD (without its hangover)
   says speech and the frame stands ``PAUSE_SNR_DB`` above the noise floor.
   Outside speech the gain applied may not exceed the noise cap c: an
   attenuation a = min(0, c - g_sat) is approached at
   ``GATE_FALL_DB_PER_S`` and released at ``GATE_RISE_DB_PER_S`` while
   speech-like frames come. Only a run of ``CONFIRM_FRAMES`` speech-like
   frames holds the gate open for ``HOLD_MS`` after it, so a clink or a
   click opens it by a few dB for a frame or two, while words keep it open
   across their short gaps. So the noise floor in pauses rises by at most
   c dB, however much gain a quiet talker needs.

The gain applied is g_sat + a; ``apply_gain`` ramps it linearly (in
amplitude) across the frame from the previous frame's value.
"""
import numpy as np

from .._jit import kernel
from .level import LV_COUNT, LV_FRAME_DB, LV_LEVEL_DB, LV_NOISE_DB, LV_PEAK, level_db

PAUSE_SNR_DB = 10.0             # frames this close to the (minimum-statistics) noise floor are pause frames
HOLD_MS = 150.0                 # confirmed speech holds the gate open this long
CONFIRM_FRAMES = 3              # speech-like frames in a row that confirm speech
GATE_FALL_DB_PER_S = 200.0      # how fast the gate closes in a pause
GATE_RISE_DB_PER_S = 200.0      # how fast it opens when speech starts (16 dB in 80 ms)
ENVELOPE_RELEASE_DB_PER_S = 20.0  # release of the input peak and power envelopes
SATURATION_HEADROOM_DB = 3.0    # amplified peaks may exceed the ceiling by this much (the limiter takes it)
LOUDNESS_GUARD_DB = 10.0        # amplified frames may exceed the target level by this much
STARTUP_S = 1.0                 # seconds of speech during which the gain may rise fast

# params indices (filled by ``gain_params``)
GP_TARGET_DB = 0
GP_MIN_GAIN_DB = 1
GP_MAX_GAIN_DB = 2
GP_UP_DB = 3            # per frame
GP_DOWN_DB = 4          # per frame
GP_STARTUP_FRAMES = 5
GP_NOISE_CAP_DB = 6
GP_CEILING_DB = 7
GP_ENV_RELEASE_DB = 8  # per frame
GP_HOLD_FRAMES = 9
GP_GATE_FALL_DB = 10    # per frame
GP_INITIAL_GAIN_DB = 11
GP_GATE_RISE_DB = 12    # per frame
GP_SIZE = 13

# state indices
GN_GAIN_DB = 0      # level gain g
GN_SAT_GAIN_DB = 1  # g after saturation protection
GN_GATE_DB = 2      # pause-gate attenuation a (<= 0)
GN_APPLIED_DB = 3   # gain applied at the end of the last frame
GN_PEAK_DB = 4      # input peak envelope, dBFS
GN_HOLD = 5         # frames of speech hold left
GN_RUN = 6          # speech-like frames in a row
GN_POWER_DB = 7     # input frame power envelope, dBFS
GN_SIZE = 8


def gain_params(frame_s, target_db, min_gain_db, max_gain_db, up_db_per_s, down_db_per_s,
                noise_cap_db, ceiling_db, initial_gain_db) -> np.ndarray:
    p = np.zeros(GP_SIZE, np.float64)
    p[GP_TARGET_DB] = target_db
    p[GP_MIN_GAIN_DB] = min_gain_db
    p[GP_MAX_GAIN_DB] = max_gain_db
    p[GP_UP_DB] = up_db_per_s * frame_s
    p[GP_DOWN_DB] = down_db_per_s * frame_s
    p[GP_STARTUP_FRAMES] = round(STARTUP_S / frame_s)
    p[GP_NOISE_CAP_DB] = noise_cap_db
    p[GP_CEILING_DB] = ceiling_db
    p[GP_ENV_RELEASE_DB] = ENVELOPE_RELEASE_DB_PER_S * frame_s
    p[GP_HOLD_FRAMES] = round(HOLD_MS / 1000.0 / frame_s)
    p[GP_GATE_FALL_DB] = GATE_FALL_DB_PER_S * frame_s
    p[GP_INITIAL_GAIN_DB] = initial_gain_db
    p[GP_GATE_RISE_DB] = GATE_RISE_DB_PER_S * frame_s
    return p


def new_gain_state(params: np.ndarray) -> np.ndarray:
    s = np.zeros(GN_SIZE, np.float64)
    reset_gain_state(s, params)
    return s


def reset_gain_state(s: np.ndarray, params: np.ndarray) -> None:
    g0 = params[GP_INITIAL_GAIN_DB]
    s[:] = 0.0
    s[GN_GAIN_DB] = g0
    s[GN_SAT_GAIN_DB] = g0
    s[GN_GATE_DB] = min(0.0, params[GP_NOISE_CAP_DB] - g0)
    s[GN_APPLIED_DB] = g0 + s[GN_GATE_DB]
    s[GN_PEAK_DB] = -100.0
    s[GN_POWER_DB] = -100.0


@kernel
def update_gain(level_state, vad_raw, state, params):
    """Advance the three gains by one frame; return the gain to apply, in dB."""
    # 1. level gain, slew limited
    g = state[GN_GAIN_DB]
    count = level_state[LV_COUNT]
    if count > 0.0:
        goal = params[GP_TARGET_DB] - level_state[LV_LEVEL_DB]
        goal = min(max(goal, params[GP_MIN_GAIN_DB]), params[GP_MAX_GAIN_DB])
        up = params[GP_DOWN_DB] if count < params[GP_STARTUP_FRAMES] else params[GP_UP_DB]
        if goal > g:
            g = min(goal, g + up)
        else:
            g = max(goal, g - params[GP_DOWN_DB])
    state[GN_GAIN_DB] = g

    # 2. saturation protection and loudness guard from the input envelopes
    release = params[GP_ENV_RELEASE_DB]
    peak = level_db(level_state[LV_PEAK] * level_state[LV_PEAK])
    peak_env = max(peak, state[GN_PEAK_DB] - release)
    state[GN_PEAK_DB] = peak_env
    frame_db = level_state[LV_FRAME_DB]
    power_env = max(frame_db, state[GN_POWER_DB] - release)
    state[GN_POWER_DB] = power_env
    g_sat = min(g, params[GP_CEILING_DB] + SATURATION_HEADROOM_DB - peak_env,
                params[GP_TARGET_DB] + LOUDNESS_GUARD_DB - power_env)
    state[GN_SAT_GAIN_DB] = g_sat

    # 3. pause gate
    speech_like = vad_raw and frame_db >= level_state[LV_NOISE_DB] + PAUSE_SNR_DB
    if speech_like:
        state[GN_RUN] += 1.0
        if state[GN_RUN] >= CONFIRM_FRAMES:
            state[GN_HOLD] = params[GP_HOLD_FRAMES]
    else:
        state[GN_RUN] = 0.0
        if state[GN_HOLD] > 0.0:
            state[GN_HOLD] -= 1.0
    gate_goal = min(0.0, params[GP_NOISE_CAP_DB] - g_sat)
    if speech_like or state[GN_HOLD] > 0.0:
        gate = min(0.0, state[GN_GATE_DB] + params[GP_GATE_RISE_DB])
    else:
        gate = max(gate_goal, state[GN_GATE_DB] - params[GP_GATE_FALL_DB])
    state[GN_GATE_DB] = gate
    return g_sat + gate


@kernel
def apply_gain(x, g_from_db, g_to_db, y):
    """y[i] = x[i] * (a0 + (a1 - a0) (i + 1) / n): a linear ramp between the two gains."""
    n = x.shape[0]
    a0 = 10.0 ** (g_from_db / 20.0)
    a1 = 10.0 ** (g_to_db / 20.0)
    step = (a1 - a0) / n
    for i in range(n):
        y[i] = np.float64(x[i]) * (a0 + step * (i + 1))
