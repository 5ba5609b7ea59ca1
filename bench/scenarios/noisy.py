"""Seeded noisy-speech mixtures with their clean reference, for noise suppression.

Speech comes from the corpus (``files("speech")``), one file repeated after
0.3 s gaps up to the mixture length (10 s by default: DNSMOS scores one
9.01 s window of it), set to an active speech
level of -26 dBFS (P.56-style, ``audio3a.metrics.active_speech_level``).
Noise is either a corpus recording (``dishes``, ``room``; looped and started
at a seeded offset) or synthetic:

* ``white``  Gaussian white noise;
* ``pink``   1/f power spectrum (-3 dB/octave), shaped in the frequency domain;
* ``brown``  1/f^2 power (-6 dB/octave) above 20 Hz;
* ``babble`` the sum of six other corpus speakers at equal active level;
* ``hum``    50 Hz mains hum with odd harmonics up to 1 kHz over a faint white floor;
* ``clicks`` short decaying noise bursts (about 12 per second, random polarity and
  level) over a faint white floor.

The noise is scaled so that active speech level minus noise RMS level equals
``snr_db``; a mixture whose peak would exceed 0.95 is scaled down as a whole
(speech and noise alike, so the SNR holds). Everything is float64 at ``rate``; a mixture is reproducible from
(speech index, noise kind, SNR, seed).
"""
from dataclasses import dataclass

import numpy as np

from audio3a.metrics import active_speech_level, rms_db

from . import corpus

SPEECH_LEVEL_DBFS = -26.0
NOISE_KINDS = ("dishes", "room", "white", "pink", "brown", "babble", "hum", "clicks")
CORPUS_NOISE = {"dishes": "noise_doing_the_dishes", "room": "noise_room_one"}
SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 20.0)
PEAK_MAX = 0.95
GAP_S = 0.3


@dataclass(frozen=True)
class Mixture:
    """One noisy utterance: ``noisy = clean + noise`` at ``rate`` Hz."""

    clean: np.ndarray
    noise: np.ndarray
    noisy: np.ndarray
    rate: int
    snr_db: float
    kind: str
    speech_index: int


def _colored(n: int, rng, exponent: float, rate: int, low_hz: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent above ``low_hz``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    shape = np.zeros_like(f)
    ok = f >= low_hz
    shape[ok] = f[ok] ** (-exponent / 2.0)
    x = np.fft.irfft(spec * shape, n)
    return x / (np.std(x) + 1e-20)


def _babble(n: int, rng, rate: int, exclude: int, talkers: int = 6) -> np.ndarray:
    n_speech = len(corpus.files("speech"))
    pool = [i for i in range(n_speech) if i != exclude % n_speech]
    chosen = rng.choice(pool, size=min(talkers, len(pool)), replace=False)
    out = np.zeros(n)
    for i in chosen:
        s = corpus.speech(int(i), rate)
        level, _ = active_speech_level(s, rate)
        s = s * 10 ** ((-26.0 - level) / 20.0)
        reps = int(np.ceil(n / s.size)) + 1
        s = np.tile(s, reps)
        start = int(rng.integers(0, s.size - n))
        out += s[start:start + n]
    return out


def _hum(n: int, rng, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    x = np.zeros(n)
    f0 = 50.0 * (1.0 + 0.002 * rng.standard_normal())
    for h in range(1, 21, 2):
        amp = 1.0 / h * (1.0 + 0.2 * rng.standard_normal())
        x += amp * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    x /= np.std(x)
    return x + 0.03 * rng.standard_normal(n)


def _clicks(n: int, rng, rate: int, per_second: float = 12.0) -> np.ndarray:
    x = 0.1 * rng.standard_normal(n)
    count = rng.poisson(per_second * n / rate)
    decay = np.exp(-np.arange(int(0.008 * rate)) / (0.0015 * rate))
    for pos in rng.integers(0, n, count):
        burst = decay * rng.standard_normal(decay.size) * rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0)
        end = min(n, pos + burst.size)
        x[pos:end] += burst[: end - pos]
    return x


def noise(kind: str, n: int, rate: int = 16000, seed: int = 0, speech_index: int = -1) -> np.ndarray:
    """``n`` samples of noise ``kind`` (unit scale, not level-calibrated)."""
    rng = np.random.default_rng([seed, NOISE_KINDS.index(kind) if kind in NOISE_KINDS else 99])
    if kind in CORPUS_NOISE:
        path = [p for p in corpus.files("noise") if CORPUS_NOISE[kind] in p.name]
        if not path:
            raise ValueError(f"corpus has no noise file for {kind!r}")
        x = corpus.load(path[0], rate)
        x = np.tile(x, int(np.ceil(n / x.size)) + 1)
        start = int(rng.integers(0, x.size - n))
        return x[start:start + n]
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        return _colored(n, rng, 1.0, rate)
    if kind == "brown":
        return _colored(n, rng, 2.0, rate)
    if kind == "babble":
        return _babble(n, rng, rate, speech_index)
    if kind == "hum":
        return _hum(n, rng, rate)
    if kind == "clicks":
        return _clicks(n, rng, rate)
    raise ValueError(f"unknown noise kind {kind!r}: use one of {', '.join(NOISE_KINDS)}")


def mixture(speech_index: int, kind: str, snr_db: float, rate: int = 16000, seed: int = 0,
            seconds: float = 10.0, lead_s: float = 0.0) -> Mixture:
    """Corpus utterance ``speech_index`` (repeated after a 0.3 s gap up to ``seconds``) plus noise ``kind``.

    ``lead_s`` seconds of noise alone precede the speech (included in ``seconds``).
    """
    one = corpus.speech(speech_index, rate)
    n = int(seconds * rate)
    lead = int(lead_s * rate)
    reps = int(np.ceil(n / (one.size + int(GAP_S * rate))))
    clean = np.concatenate([np.zeros(lead)] + [np.concatenate([one, np.zeros(int(GAP_S * rate))])] * reps)[:n]
    level, _ = active_speech_level(clean, rate)
    clean = clean * 10 ** ((SPEECH_LEVEL_DBFS - level) / 20.0)
    nz = noise(kind, clean.size, rate, seed=seed + 1000 * speech_index, speech_index=speech_index)
    target_db = SPEECH_LEVEL_DBFS - snr_db
    nz = nz * 10 ** ((target_db - rms_db(nz)) / 20.0)
    peak = np.max(np.abs(clean + nz))
    if peak > PEAK_MAX:  # keep impulsive noise at low SNR from clipping: scale both, SNR unchanged
        clean = clean * (PEAK_MAX / peak)
        nz = nz * (PEAK_MAX / peak)
    return Mixture(clean=clean, noise=nz, noisy=clean + nz, rate=rate, snr_db=float(snr_db), kind=kind,
                   speech_index=speech_index)


def mixtures(speech_indices=(0, 1, 2, 3), kinds=NOISE_KINDS, snrs_db=SNRS_DB, rate: int = 16000,
             seed: int = 0, seconds: float = 10.0) -> list[Mixture]:
    """Every combination of speech file, noise kind and SNR (seeded)."""
    return [mixture(i, k, s, rate, seed, seconds) for i in speech_indices for k in kinds for s in snrs_db]
