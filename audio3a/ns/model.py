"""Learned per-band gain: a small MLP from the front-end features to 29 band gains.

    h1 = relu(W1 f + b1),  h2 = relu(W2 h1 + b2),  g = sigmoid(W3 h2 + b3)

with f the 7 B features of ``features`` (the feature standardisation is
folded into W1, b1). It is trained (``bench/train_ns.py``) to the ideal
band amplitude ratio g_b = min(1, sqrt(E_clean,b / E_noisy,b)) on corpus
mixtures, like the band gains of RNNoise (J.-M. Valin, "A hybrid DSP/deep
learning approach to real-time full-band speech enhancement", MMSP 2018),
without its recurrent layers: the context comes from IMCRA's noise estimate,
the decision-directed SNR and the two past frames in the features.

At run time (``hybrid_frame``) the band gains are floored at the level's
G_min, interpolated to the bins (``bands``) and combined with the DSP's
per-bin OM-LSA gain as G = min(G_dsp, G_learned): the bands alone cannot
cut between harmonics (even the ideal band gain reaches only 7.6 dB SNR gain
on speech in pink noise at 5 dB, against >= 10 dB required of the stage),
and the DSP gain alone leaves more noise under speech than the model.
Weights: ``weights/ns_mlp.npz`` (float32, 19 101 parameters).
"""
from pathlib import Path

import numpy as np

from .._jit import kernel
from .bands import N_BANDS, interp_bands
from . import noise_psd as imcra
from .features import N_FEATURES, front_end
from .gain import decision_directed, omlsa_gain, smooth_gain
from .noise_psd import speech_presence_prob
from .presence import presence_likelihood
from .stft import stft_synthesis

WEIGHTS = Path(__file__).with_name("weights") / "ns_mlp.npz"
LAYERS = ("w1", "b1", "w2", "b2", "w3", "b3")


def load_weights(path=WEIGHTS) -> dict:
    """The MLP's float32 arrays (C-contiguous), checked against the feature and band layout."""
    with np.load(path) as z:
        w = {k: np.ascontiguousarray(z[k], np.float32) for k in LAYERS}
    if w["w1"].shape[1] != N_FEATURES or w["w3"].shape[0] != N_BANDS:
        raise ValueError(f"{path}: weights for {w['w1'].shape[1]} features / {w['w3'].shape[0]} bands, "
                         f"the front end has {N_FEATURES} / {N_BANDS}")
    if w["w2"].shape[1] != w["w1"].shape[0] or w["w3"].shape[1] != w["w2"].shape[0]:
        raise ValueError(f"{path}: layer sizes do not chain")
    return w


@kernel(fastmath=True)
def _dense_relu(x, w, b, out):
    for j in range(w.shape[0]):
        acc = np.float32(0.0)
        for i in range(x.shape[0]):
            acc += w[j, i] * x[i]
        acc += b[j]
        out[j] = acc if acc > 0.0 else np.float32(0.0)


@kernel(fastmath=True)
def mlp_gains(feat, w1, b1, w2, b2, w3, b3, h1, h2, gains):
    """Band gains in (0, 1) of one feature vector (float32 throughout)."""
    _dense_relu(feat, w1, b1, h1)
    _dense_relu(h1, w2, b2, h2)
    for j in range(w3.shape[0]):
        acc = np.float32(0.0)
        for i in range(h2.shape[0]):
            acc += w3[j, i] * h2[i]
        acc += b3[j]
        gains[j] = 1.0 / (1.0 + np.exp(-acc))


@kernel
def hybrid_frame(x, y, plan, window, history, overlap, frame, spec, power, state, ring, counters, scratch,
                 gamma, xi, v, q, p, xi_min, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist,
                 feat, w1, b1, w2, b2, w3, b3, h1, h2, g_band, g_prev, gain_min, release,
                 d_gamma, d_xi, d_v, d_q, d_p, gain_h1, gain_prev, zeta, frame_state, presence, d_params,
                 gain_dsp, gain):
    """Suppress noise in one hop ``x`` into ``y`` (delayed by one hop): G = min(G_dsp, G_learned) per bin.

    G_learned: the MLP's band gains, held to fall by at most ``release`` per frame
    (g_b = max(g_b, release g_b(l-1)), as RNNoise smooths its gains), floored at
    ``gain_min`` and interpolated to the bins. G_dsp: the OM-LSA gain.

    The OM-LSA part (``gain``, ``presence``) runs on the front end's periodogram,
    IMCRA noise PSD and speech absence probability with its own decision-directed
    SNR; ``d_params`` is (alpha_time, band_lo, band_hi, global_half). ``scratch`` (IMCRA's work
    rows) is free again after the front end and serves the OM-LSA part too.
    """
    front_end(x, plan, window, history, frame, spec, power, state, ring, counters, scratch,
              gamma, xi, v, q, p, xi_min, band_lo, band_frac, band_norm, n_pool, power_norm,
              work, hist, feat)
    noise = state[imcra.NOISE]
    decision_directed(power, noise, gain_h1, d_gamma, xi_min, d_gamma, d_xi, d_v)
    presence_likelihood(d_xi, zeta, frame_state, int(d_params[3]), int(d_params[1]), int(d_params[2]),
                        scratch, presence)
    for k in range(power.shape[0]):
        d_q[k] = 1.0 - (1.0 - q[k]) * presence[k]
    speech_presence_prob(d_q, d_xi, d_v, d_p)
    omlsa_gain(d_xi, d_v, d_p, gain_min, gain_h1, gain_dsp)
    smooth_gain(gain_dsp, d_p, gain_prev, d_params[0], scratch[0])
    mlp_gains(feat, w1, b1, w2, b2, w3, b3, h1, h2, g_band)
    for b in range(g_band.shape[0]):
        g = g_band[b]
        held = release * g_prev[b]
        if g < held:
            g = held
        if g < gain_min:
            g = gain_min
        g_band[b] = g
        g_prev[b] = g
    interp_bands(g_band, band_lo, band_frac, gain)
    for k in range(spec.shape[0]):
        g = gain[k] if gain[k] < gain_dsp[k] else gain_dsp[k]
        gain[k] = g
        spec[k] = spec[k] * g
    stft_synthesis(plan, window, spec, frame, overlap, y)
