"""Speech at set levels, level jumps and paused speech in noise, for gain control.

Levels are active speech levels (``audio3a.metrics.active_speech_level``,
P.56 style) in dBFS. Signals are float64 at ``rate``; anything a 16-bit file
could not hold is clipped to [-1, 32767/32768] and the clipped fraction is
reported, as it would be in a recording that loud.
"""
import numpy as np

from audio3a.metrics import active_speech_level, rms_db

from . import corpus

# speakers with >= 8 s of speech: men and women, four languages, wide- and narrowband
SPEAKERS = ("en_cmuarctic_aew_M", "en_cmuarctic_axb_F", "en_librispeech_1995", "en_jfk_inaugural_M",
            "fr_asterisk_june_F", "it_asterisk_carlo_M")
FULL_SCALE = 32767.0 / 32768.0


def speaker(name: str, rate: int = 16000) -> np.ndarray:
    """The speaker's corpus file without leading and trailing silence.

    Silence is any 10 ms frame more than 50 dB below the loudest (the
    Asterisk prompts begin with 8 s of dither).
    """
    path = [p for p in corpus.files("speech") if name in p.name]
    if not path:
        raise ValueError(f"corpus has no speech file matching {name!r}")
    x = corpus.load(path[0], rate)
    n = rate // 100
    power = np.mean(x[: x.size // n * n].reshape(-1, n) ** 2, axis=1)
    loud = np.flatnonzero(power > power.max() * 1e-5)
    return x[loud[0] * n:(loud[-1] + 1) * n]


def set_level(x: np.ndarray, level_dbfs: float, rate: int = 16000) -> tuple[np.ndarray, float]:
    """``x`` scaled to the active speech level, clipped to 16-bit range; (signal, clipped fraction)."""
    level, _ = active_speech_level(x, rate)
    y = x * 10 ** ((level_dbfs - level) / 20.0)
    clipped = float(np.mean(np.abs(y) > FULL_SCALE))
    return np.clip(y, -1.0, FULL_SCALE), clipped


def jump(levels=(-35.0, -18.0, -30.0), segment_s: float = 8.0, speakers=SPEAKERS[:3],
         rate: int = 16000) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Segments of ``segment_s`` at successive levels, one speaker per segment (wrapping).

    Returns the signal and the (start, stop) sample range of each segment.
    """
    seg = int(segment_s * rate)
    parts, bounds = [], []
    for i, lvl in enumerate(levels):
        s = speaker(speakers[i % len(speakers)], rate)
        s = np.tile(s, int(np.ceil(seg / s.size)))[:seg]
        parts.append(set_level(s, lvl, rate)[0])
        bounds.append((i * seg, (i + 1) * seg))
    return np.concatenate(parts), bounds


def paused(speakers=SPEAKERS[:3], gap_s: float = 1.5, rate: int = 16000,
           utterance_s: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Utterances of ``utterance_s`` separated by ``gap_s`` of digital silence.

    Returns the clean signal and a boolean mask of the gap samples (the pauses).
    """
    n_utt, n_gap = int(utterance_s * rate), int(gap_s * rate)
    parts, mask = [], []
    for name in speakers:
        s = speaker(name, rate)[:n_utt]
        parts += [s, np.zeros(n_gap)]
        mask += [np.zeros(s.size, bool), np.ones(n_gap, bool)]
    return np.concatenate(parts), np.concatenate(mask)


def noise(kind: str, n: int, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """``n`` samples of corpus noise (``dishes`` or ``room``), looped from a seeded offset, unit RMS."""
    name = {"dishes": "noise_doing_the_dishes", "room": "noise_room_one"}[kind]
    x = corpus.load([p for p in corpus.files("noise") if name in p.name][0], rate)
    x = np.tile(x, int(np.ceil(n / x.size)) + 1)
    start = int(np.random.default_rng(seed).integers(0, x.size - n))
    x = x[start:start + n]
    return x / 10 ** (rms_db(x) / 20.0)
