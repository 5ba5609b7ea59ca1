"""Seeded acoustic-echo scenarios: mic = echo + near-end speech + noise, with references.

The far-end (loudspeaker) signal is corpus speech, one talker per scenario,
files joined with 0.3 s gaps, at an active speech level of ``far_level_db``
(P.56-style). It is optionally soft-clipped by the loudspeaker model
``y = tanh(g x) / g`` (g set so that the signal peak is driven ``clip_db``
into saturation), convolved with a room response and delayed by the bulk
delay ``delay_ms`` (the render-to-capture latency of a device: buffers,
resamplers, Bluetooth). Room responses:

* ``"sim"``       seeded exponential-decay noise, h[t] = n[t] exp(-3 ln(10) t / T60),
                  after a 1-3 ms pre-delay and a direct-path tap; ``t60_s`` sets the decay;
* ``"measured"``  the corpus RIR (``rir/``; a seminar room, T60 about 0.7 s), onset
                  trimmed to 1 ms before its peak;
* a numpy array   used as given (tests: a known FIR).

The echo is scaled to ``echo_level_db`` (its active level at the mic, i.e. the
echo return loss is far_level_db - echo_level_db). An echo-path change at
``path_change_s`` switches to a second response (a new seed, and 4 dB louder)
from that sample on. Near-end speech (another talker, ``near_level_db``) is
present from ``near_start_s`` to the end when ``double_talk`` is set.
Background noise is the corpus kitchen recording at ``noise_level_db`` RMS.

Everything is float64 at ``rate``; a scenario is reproducible from its
arguments (the seed picks talkers, noise offset and simulated rooms).
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import fftconvolve

from audio3a.metrics import active_speech_level, rms_db

from . import corpus

GAP_S = 0.3
BULK_DELAYS_MS = (0, 40, 330, 600, 950)


@dataclass(frozen=True)
class EchoScenario:
    """One echo scenario: ``mic = echo + near + noise`` at ``rate`` Hz."""

    mic: np.ndarray
    far: np.ndarray
    near: np.ndarray
    echo: np.ndarray
    noise: np.ndarray
    rate: int
    meta: dict = field(default_factory=dict)


def simulated_rir(rate: int, t60_s: float, seed: int, length_s: float | None = None) -> np.ndarray:
    """Exponential-decay room response: direct tap then decaying Gaussian noise (unit energy)."""
    rng = np.random.default_rng(seed)
    n = int(rate * (length_s if length_s is not None else min(1.2 * t60_s, 0.6)))
    pre = int(rate * rng.uniform(0.001, 0.003))
    t = np.arange(n - pre) / rate
    h = rng.standard_normal(n - pre) * np.exp(-3.0 * np.log(10.0) * t / t60_s)
    h[0] = 4.0 * np.max(np.abs(h[1:32]))
    h = np.concatenate([np.zeros(pre), h])
    return h / np.sqrt(np.sum(h * h))


def measured_rir(rate: int) -> np.ndarray:
    """The corpus room response, starting 1 ms before its peak, 0.5 s long, unit energy."""
    paths = corpus.files("rir")
    if not paths:
        raise FileNotFoundError("no rir/ files in the corpus; set AUDIO3A_CORPUS")
    h = corpus.load(paths[0], rate)
    start = max(0, int(np.argmax(np.abs(h))) - rate // 1000)
    h = h[start:start + rate // 2]
    return h / np.sqrt(np.sum(h * h))


def _trim(x: np.ndarray, rate: int, floor_db: float = 45.0) -> np.ndarray:
    """Drop leading and trailing 10 ms frames more than ``floor_db`` below the loudest one."""
    hop = rate // 100
    m = x.size // hop
    if m == 0:
        return x
    e = 10 * np.log10((x[: m * hop].reshape(m, hop) ** 2).sum(1) + 1e-20)
    on = np.nonzero(e > e.max() - floor_db)[0]
    return x[on[0] * hop:(on[-1] + 1) * hop]


def _talker(index: int, n: int, rate: int, level_db: float) -> np.ndarray:
    """Corpus speech from file ``index`` on (leading/trailing silence trimmed), joined with
    gaps, ``n`` samples at ``level_db`` active level."""
    parts, total, i = [], 0, index
    gap = np.zeros(int(GAP_S * rate))
    while total < n:
        s = _trim(corpus.speech(i, rate), rate)
        parts += [s, gap]
        total += s.size + gap.size
        i += 1
    x = np.concatenate(parts)[:n]
    level, _ = active_speech_level(x, rate)
    return x * 10 ** ((level_db - level) / 20)


def _soft_clip(x: np.ndarray, clip_db: float) -> np.ndarray:
    """Loudspeaker saturation tanh(g x)/g with the peak driven ``clip_db`` into the knee."""
    g = 10 ** (clip_db / 20) / (np.max(np.abs(x)) + 1e-12)
    return np.tanh(g * x) / g


def _noise(n: int, rate: int, level_db: float, rng) -> np.ndarray:
    paths = [p for p in corpus.files("noise") if "dishes" in p.name] or corpus.files("noise")
    if not paths:
        return rng.standard_normal(n) * 10 ** (level_db / 20)
    src = corpus.load(paths[0], rate)
    reps = -(-(n + src.size) // src.size)
    src = np.tile(src, reps)
    off = int(rng.integers(0, src.size - n))
    x = src[off:off + n]
    return x * 10 ** ((level_db - rms_db(x)) / 20)


def echo_scenario(seconds: float = 8.0, rate: int = 16000, delay_ms: float = 40.0, room="sim",
                  t60_s: float = 0.3, clip_db: float | None = None, double_talk: bool = False,
                  near_start_s: float = 4.0, path_change_s: float | None = None,
                  far_level_db: float = -20.0, echo_level_db: float = -26.0, near_level_db: float = -26.0,
                  noise_level_db: float = -70.0, seed: int = 0) -> EchoScenario:
    """Build one scenario; see the module docstring for every argument."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    n_speech = len(corpus.files("speech")) or 1
    far_idx = int(rng.integers(0, n_speech))
    near_idx = (far_idx + 1 + int(rng.integers(0, max(n_speech - 1, 1)))) % n_speech
    far = _talker(far_idx, n, rate, far_level_db)
    played = _soft_clip(far, clip_db) if clip_db is not None else far
    if isinstance(room, np.ndarray):
        h1 = np.asarray(room, np.float64)
        h2 = np.roll(h1, 3) * -0.8
        room_name = "fir"
    elif room == "measured":
        h1 = measured_rir(rate)
        h2 = simulated_rir(rate, 0.45, seed + 1000)
        room_name = "measured"
    elif room == "sim":
        h1 = simulated_rir(rate, t60_s, seed + 100)
        h2 = simulated_rir(rate, t60_s, seed + 1000)
        room_name = f"sim T60={t60_s:g}s"
    else:
        raise ValueError(f"room must be 'sim', 'measured' or an FIR array, got {room!r}")
    d = int(round(delay_ms * rate / 1000))
    delayed = np.concatenate([np.zeros(d), played])[:n]
    echo = fftconvolve(delayed, h1)[:n]
    if path_change_s is not None:
        k = int(path_change_s * rate)
        echo2 = fftconvolve(delayed, h2)[:n] * 10 ** (4 / 20)
        echo[k:] = echo2[k:]
    lvl, _ = active_speech_level(echo[: int(path_change_s * rate)] if path_change_s else echo, rate)
    echo *= 10 ** ((echo_level_db - lvl) / 20)
    near = np.zeros(n)
    if double_talk:
        k = int(near_start_s * rate)
        near[k:] = _talker(near_idx, n - k, rate, near_level_db)
    noise = _noise(n, rate, noise_level_db, rng)
    mic = echo + near + noise
    peak = np.max(np.abs(mic))
    if peak > 0.95:
        s = 0.95 / peak
        mic, echo, near, noise, far = mic * s, echo * s, near * s, noise * s, far * s
    meta = dict(delay_ms=delay_ms, room=room_name, t60_s=t60_s if room_name.startswith("sim") else None,
                clip_db=clip_db, double_talk=double_talk, near_start_s=near_start_s if double_talk else None,
                path_change_s=path_change_s, far_level_db=far_level_db, echo_level_db=echo_level_db,
                near_level_db=near_level_db, noise_level_db=noise_level_db, seed=seed,
                far_talker=far_idx, near_talker=near_idx if double_talk else None)
    return EchoScenario(mic=mic, far=far, near=near, echo=echo, noise=noise, rate=rate, meta=meta)


def device_recording(rate: int = 16000, kind: str = "farend_singletalk") -> tuple[np.ndarray, np.ndarray]:
    """(mic, far) of a real device recording in the corpus ``aec/`` folder (same length)."""
    mics = [p for p in corpus.files("aec_mic") if kind in p.name]
    fars = [p for p in corpus.files("aec_far") if kind in p.name]
    if not mics or not fars:
        raise FileNotFoundError(f"no {kind} recording in the corpus aec/ folder")
    mic, far = corpus.load(mics[0], rate), corpus.load(fars[0], rate)
    n = min(mic.size, far.size)
    return mic[:n], far[:n]
