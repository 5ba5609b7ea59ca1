"""Learned per-band gain: a small MLP from the band features (``features``) to 29 band gains.

    h1 = relu(W1 f + b1),  h2 = relu(W2 h1 + b2),  g = sigmoid(W3 h2 + b3)

with f the 7 B features of ``features`` (the feature standardisation is
folded into W1, b1). It is trained (``bench/train_ns.py``) to the ideal
band amplitude ratio g_b = min(1, sqrt(E_clean,b / E_noisy,b)) on corpus
mixtures, like the band gains of RNNoise (J.-M. Valin, "A hybrid DSP/deep
learning approach to real-time full-band speech enhancement", MMSP 2018),
without its recurrent layers: the context comes from IMCRA's noise estimate,
the decision-directed SNR and the two past frames in the features.

At run time (``cap_gain``) the band gains are held to fall by at most a
factor RELEASE per frame, floored at the level's G_min, interpolated to the
bins (``bands``) and cap the DSP route's final per-bin gain (OM-LSA with the
pause floor and release of ``suppressor.ns_gain``): G = min(G_dsp, G_learned).
The bands alone cannot cut between harmonics (even the ideal band gain
reaches only 7.6 dB SNR gain on speech in pink noise at 5 dB, against
>= 10 dB required of the stage), and the DSP gain alone leaves more noise
under speech and in non-stationary noise than the model.
Weights: ``weights/ns_mlp.npz`` (float32, 19 101 parameters).
"""
from pathlib import Path

import numpy as np

from .._jit import kernel
from .bands import N_BANDS, interp_bands
from .features import N_FEATURES, N_HIST, N_WORK, BandFeatures, band_features

WEIGHTS = Path(__file__).with_name("weights") / "ns_mlp.npz"
LAYERS = ("w1", "b1", "w2", "b2", "w3", "b3")
RELEASE = 0.8  # a learned band gain may fall by at most this factor per frame (chosen on a tuning set)


def load_weights(path=WEIGHTS) -> dict:
    """The MLP's float32 arrays (C-contiguous), checked against the feature and band layout."""
    with np.load(path) as z:
        w = {k: np.ascontiguousarray(z[k], np.float32) for k in LAYERS}
    if w["w1"].shape[1] != N_FEATURES or w["w3"].shape[0] != N_BANDS:
        raise ValueError(f"{path}: weights for {w['w1'].shape[1]} features / {w['w3'].shape[0]} bands, "
                         f"the features have {N_FEATURES} / {N_BANDS}")
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


def pack_layers(weights: dict) -> np.ndarray:
    """The MLP as one float32 array [H1, H2, w1, b1, w2, b2, w3, b3] (row-major; ``layer_views``)."""
    sizes = np.array([weights["w1"].shape[0], weights["w2"].shape[0]], np.float32)
    return np.concatenate([sizes] + [weights[name].ravel() for name in LAYERS])


@kernel
def layer_views(layers):
    """(w1, b1, w2, b2, w3, b3) of ``pack_layers``' array."""
    n1 = int(layers[0])
    n2 = int(layers[1])
    o = 2
    w1 = layers[o:o + n1 * N_FEATURES].reshape((n1, N_FEATURES))
    o += n1 * N_FEATURES
    b1 = layers[o:o + n1]
    o += n1
    w2 = layers[o:o + n2 * n1].reshape((n2, n1))
    o += n2 * n1
    b2 = layers[o:o + n2]
    o += n2
    w3 = layers[o:o + N_BANDS * n2].reshape((N_BANDS, n2))
    o += N_BANDS * n2
    return w1, b1, w2, b2, w3, layers[o:o + N_BANDS]


def net_sizes(n_bins: int, layers: np.ndarray) -> tuple:
    """Lengths of ``net_views``' float64 and float32 state arrays for ``n_bins`` bins and ``layers``."""
    n1, n2 = int(layers[0]), int(layers[1])
    return 2 + 2 * n_bins + (1 + N_WORK + N_HIST) * N_BANDS, N_FEATURES + n1 + n2 + 2 * N_BANDS


@kernel
def net_views(net):
    """The arrays of ``net`` = (band_lo, state64, state32, layers) (``LearnedGain``): band_lo, band_frac,
    band_norm, n_pool, power_norm, work, hist, g_bins (float64); feat, h1, h2, g_band, g_prev (float32);
    w1, b1, w2, b2, w3, b3. Four arrays make the call cheap: each array argument costs its unboxing."""
    band_lo, s64, s32, layers = net
    k = band_lo.shape[0]
    o = 2
    band_frac = s64[o:o + k]
    o += k
    band_norm = s64[o:o + N_BANDS]
    o += N_BANDS
    work = s64[o:o + N_WORK * N_BANDS].reshape((N_WORK, N_BANDS))
    o += N_WORK * N_BANDS
    hist = s64[o:o + N_HIST * N_BANDS].reshape((N_HIST, N_BANDS))
    o += N_HIST * N_BANDS
    g_bins = s64[o:o + k]
    w1, b1, w2, b2, w3, b3 = layer_views(layers)
    n1 = w1.shape[0]
    n2 = w2.shape[0]
    feat = s32[:N_FEATURES]
    o = N_FEATURES
    h1 = s32[o:o + n1]
    o += n1
    h2 = s32[o:o + n2]
    o += n2
    g_band = s32[o:o + N_BANDS]
    g_prev = s32[o + N_BANDS:o + 2 * N_BANDS]
    return (band_lo, band_frac, band_norm, int(s64[0]), s64[1], work, hist, g_bins, feat, h1, h2, g_band, g_prev,
            w1, b1, w2, b2, w3, b3)


@kernel
def cap_gain(power, noise, xi, p, gain_min, net, gain):
    """gain = min(gain, G_learned) per bin, G_learned from the frame's estimates (module docstring).

    ``net`` is ``LearnedGain.args()`` (``net_views``); g_b = max(mlp_b, RELEASE g_b(l-1), gain_min).
    """
    (band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, g_bins, feat, h1, h2, g_band, g_prev,
     w1, b1, w2, b2, w3, b3) = net_views(net)
    band_features(power, noise, xi, p, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat)
    mlp_gains(feat, w1, b1, w2, b2, w3, b3, h1, h2, g_band)
    for b in range(g_band.shape[0]):
        g = max(g_band[b], RELEASE * g_prev[b], gain_min)
        g_band[b] = g
        g_prev[b] = g
    interp_bands(g_band, band_lo, band_frac, g_bins)
    for k in range(gain.shape[0]):
        if g_bins[k] < gain[k]:
            gain[k] = g_bins[k]


class LearnedGain:
    """One stream's learned gain (``cap_gain``) at ``sample_rate`` with FFT size ``n_fft``: its state in one
    float64 and one float32 array, the MLP in ``layers`` (``pack_layers``, shared read-only by streams)."""

    def __init__(self, sample_rate: int, n_fft: int, power_norm: float, layers: np.ndarray):
        bf = BandFeatures(sample_rate, n_fft, power_norm)
        n64, n32 = net_sizes(bf.band_lo.size, layers)
        self.state64 = np.zeros(n64)
        self.state32 = np.zeros(n32, np.float32)
        self._net = (bf.band_lo, self.state64, self.state32, layers)
        (_, band_frac, band_norm, _, _, self._work, self._hist, self.bin_gain, self.feat, _, _, self.band_gain,
         self.band_gain_prev, *_) = net_views(self._net)
        self.state64[:2] = bf.n_pool, bf.power_norm
        band_frac[:] = bf.band_frac
        band_norm[:] = bf.band_norm
        self.reset()

    def reset(self) -> None:
        self._work[...] = 0.0
        self._hist[...] = 0.0
        self.state32[:] = 0.0
        self.band_gain[:] = 1.0
        self.bin_gain[:] = 1.0

    def args(self) -> tuple:
        """``cap_gain``'s ``net``: (band_lo, state64, state32, layers)."""
        return self._net
