"""Run the noise suppressor over whole signals, with shadow filtering for SNR measurement."""
import numpy as np

from audio3a.ns import NoiseSuppressor, NsConfig
from audio3a.ns.stft import Stft


def run(x, rate=16000, config=NsConfig(), ns=None):
    """Process ``x`` frame by frame; return (output aligned to x, stage, stats per frame)."""
    ns = ns or NoiseSuppressor(rate, config)
    n = ns.frame_len
    d = round(ns.latency_ms * rate / 1000)
    xp = np.concatenate([np.asarray(x, np.float64), np.zeros(d + n)])
    frames = xp.size // n
    out = np.zeros(frames * n)
    stats = []
    for i in range(frames):
        out[i * n:(i + 1) * n] = ns.process(xp[i * n:(i + 1) * n].astype(np.float32))
        stats.append(ns.stats)
    return out[d:d + len(x)], ns, stats


def shadow(mix, config=NsConfig()):
    """Apply the gains computed on ``mix.noisy`` to ``mix.clean`` and ``mix.noise`` separately.

    Returns (output, processed clean, processed noise), all aligned to the input.
    """
    rate = mix.rate
    ns = NoiseSuppressor(rate, config)
    n = ns.frame_len
    d = round(ns.latency_ms * rate / 1000)
    pad = lambda x: np.concatenate([x, np.zeros(d + n)])  # noqa: E731
    sig = {"y": pad(mix.noisy), "s": pad(mix.clean), "n": pad(mix.noise)}
    out = {k: np.zeros(v.size) for k, v in sig.items()}
    shadows = {"s": Stft(n), "n": Stft(n)}
    buf = np.zeros(n)
    for i in range(sig["y"].size // n):
        sl = slice(i * n, (i + 1) * n)
        out["y"][sl] = ns.process(sig["y"][sl].astype(np.float32))
        for key, st in shadows.items():
            spec = st.analysis(sig[key][sl])
            spec *= ns.gain
            out[key][sl] = st.synthesis(spec, buf)
    m = len(mix.noisy)
    return out["y"][d:d + m], out["s"][d:d + m], out["n"][d:d + m]
