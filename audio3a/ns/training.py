"""Training data of the learned band gain: features and band energies, computed by the stage's own kernels.

``extract`` runs the DSP route's gain step (``suppressor.ns_gain``) over a
noisy signal and takes, per frame, the features of ``features`` exactly as
``model.cap_gain`` computes them at run time (the route's estimates do not
depend on the learned gain), with the band energies of the clean signal
and of the noisy periodogram the gain is applied to (click-restored).
"""
import numpy as np

from .._jit import kernel
from . import noise_psd as imcra
from .bands import N_BANDS, pool_bands
from .features import N_FEATURES, W_E, BandFeatures, band_features
from .stft import stft_analysis
from .suppressor import B_P, B_POWER, B_XI, P_POWER_NORM, NoiseSuppressor, NsConfig, mem_views, ns_gain


@kernel
def _extract(noisy, clean, hop, mem, net, history_c, frame_c, spec_c, power_c, band_c, feats, targets):
    band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat = net
    plan, window, _, _, _, _, bins, state, _, _, _, _ = mem_views(mem, hop)
    nb = band_norm.shape[0]
    for i in range(feats.shape[0]):
        ns_gain(noisy[i * hop:(i + 1) * hop], mem)
        band_features(bins[B_POWER], state[imcra.NOISE], bins[B_XI], bins[B_P], band_lo, band_frac, band_norm,
                      n_pool, power_norm, work, hist, feat)
        for j in range(feat.shape[0]):
            feats[i, j] = feat[j]
        stft_analysis(plan, window, history_c, clean[i * hop:(i + 1) * hop], frame_c, spec_c)
        for k in range(spec_c.shape[0]):
            c = spec_c[k]
            power_c[k] = c.real * c.real + c.imag * c.imag
        pool_bands(power_c, band_lo, band_frac, n_pool, band_c)
        for b in range(nb):
            targets[i, b] = band_c[b]          # clean band energy
            targets[i, nb + b] = work[W_E, b]  # noisy band energy


def extract(noisy: np.ndarray, clean: np.ndarray, sample_rate: int = 16000, level: str = "high"):
    """Features (frames, 7 B) float32 of ``noisy`` and band energies (frames, 2 B) of clean | noisy."""
    ns = NoiseSuppressor(sample_rate, NsConfig(level, "dsp"))
    bf = BandFeatures(sample_rate, ns.stft.n_fft, ns.params[P_POWER_NORM])
    hop = ns.frame_len
    n_frames = min(noisy.size, clean.size) // hop
    feats = np.zeros((n_frames, N_FEATURES), np.float32)
    targets = np.zeros((n_frames, 2 * N_BANDS))
    s = ns.stft
    _extract(np.ascontiguousarray(noisy, np.float32), np.ascontiguousarray(clean, np.float32), hop, ns.mem,
             bf.args(), np.zeros_like(s.history), np.zeros_like(s.frame), np.zeros_like(s.spec),
             np.zeros(s.n_bins), np.zeros(N_BANDS), feats, targets)
    return feats, targets
