"""Front end of the learned suppressor: STFT, IMCRA noise PSD and per-band features.

Per 10 ms frame (``front_end``):

1. analysis (``stft``) and the periodogram P_k = |Y_k|^2;
2. IMCRA noise PSD lambda_k (``noise_psd``), whose presence-controlled
   update needs the a-priori SNR. Here that SNR comes from a self-contained
   decision-directed recursion with the Wiener gain of the previous frame,
       xi(l) = a (xi(l-1) / (1 + xi(l-1)))^2 gamma(l-1) + (1 - a) max(gamma(l) - 1, 0),
   so the features never depend on the model's own output (they can be
   computed offline for training exactly as at run time);
3. per band b of ``bands`` (B = 29 triangles, 0-8 kHz), with E_b, N_b the
   pooled periodogram and noise PSD:
       a_b = log10(E_b / N_b)             a-posteriori band SNR (also at l-1, l-2)
       x_b = log10(mean_b xi)             a-priori band SNR
       p_b = mean_b p                     IMCRA speech presence probability
       d_b = log10 E_b - mean_b log10 E_b spectral shape, level free (also at l-1)
   in the order [a, a(l-1), a(l-2), x, p, d, d(l-1)] (7 B values).

Everything is a ratio or a shape, so the features do not depend on the input
level or on the sample rate (the bands are fixed in hertz).
"""
import numpy as np

from .._jit import kernel
from . import noise_psd as imcra
from .bands import N_BANDS, pool_bands
from .gain import decision_directed
from .noise_psd import imcra_smoothing, noise_update, speech_absence_prob, speech_presence_prob
from .stft import stft_analysis

N_FEATURES = 7 * N_BANDS
A_CLIP = (-3.0, 8.0)     # log10 band SNR range kept
X_CLIP = (-3.0, 6.0)
E_FLOOR = 1e-14          # band energy per sample floor for the shape (-140 dB)
EPS = 1e-10

# rows of the (5, B) work array
W_E = 0
W_N = 1
W_XI = 2
W_P = 3
W_LOG = 4
N_WORK = 5
# rows of the (3, B) history array
H_A1 = 0
H_A2 = 1
H_D1 = 2
N_HIST = 3


@kernel
def _clip(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@kernel
def band_features(power, noise, xi, p, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat):
    """The 7 B features of one frame into ``feat`` (see the module docstring); advances ``hist``."""
    nb = band_norm.shape[0]
    for r in range(W_P + 1):
        for b in range(nb):
            work[r, b] = 0.0
    for k in range(n_pool):  # pool_bands of the four arrays in one pass
        b = band_lo[k]
        w = band_frac[k]
        u = 1.0 - w
        work[W_E, b] += u * power[k]
        work[W_N, b] += u * noise[k]
        work[W_XI, b] += u * xi[k]
        work[W_P, b] += u * p[k]
        if w > 0.0:
            work[W_E, b + 1] += w * power[k]
            work[W_N, b + 1] += w * noise[k]
            work[W_XI, b + 1] += w * xi[k]
            work[W_P, b + 1] += w * p[k]
    mean_log = 0.0
    for b in range(nb):
        e = work[W_E, b] * power_norm
        lg = np.log10(e + E_FLOOR)
        work[W_LOG, b] = lg
        mean_log += lg
    mean_log /= nb
    for b in range(nb):
        a = _clip(np.log10((work[W_E, b] + EPS) / (work[W_N, b] + EPS)), A_CLIP[0], A_CLIP[1])
        x = _clip(np.log10(work[W_XI, b] * band_norm[b]), X_CLIP[0], X_CLIP[1])
        d = work[W_LOG, b] - mean_log
        feat[b] = a
        feat[nb + b] = hist[H_A1, b]
        feat[2 * nb + b] = hist[H_A2, b]
        feat[3 * nb + b] = x
        feat[4 * nb + b] = work[W_P, b] * band_norm[b]
        feat[5 * nb + b] = d
        feat[6 * nb + b] = hist[H_D1, b]
        hist[H_A2, b] = hist[H_A1, b]
        hist[H_A1, b] = a
        hist[H_D1, b] = d


@kernel
def front_end(x, plan, window, history, frame, spec, power, state, ring, counters, scratch,
              gamma, xi, v, q, p, xi_min, band_lo, band_frac, band_norm, n_pool, power_norm,
              work, hist, feat):
    """Steps 1-3 of the module docstring for one hop ``x``: ``spec`` holds its spectrum after."""
    stft_analysis(plan, window, history, x, frame, spec)
    for k in range(spec.shape[0]):
        c = spec[k]
        power[k] = c.real * c.real + c.imag * c.imag
    imcra_smoothing(power, state, ring, counters, scratch)
    noise = state[imcra.NOISE]
    # the suppressor's decision-directed recursion (in place), with the previous Wiener gain
    wiener = scratch[0]          # free again after imcra_smoothing
    for k in range(xi.shape[0]):
        wiener[k] = xi[k] / (1.0 + xi[k])
    decision_directed(power, noise, wiener, gamma, xi_min, gamma, xi, v)
    speech_absence_prob(power, state, q)
    speech_presence_prob(q, xi, v, p)
    band_features(power, noise, xi, p, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat)
    noise_update(power, p, state, counters)


class FrontEnd:
    """Buffers of one front-end stream (STFT, IMCRA, features) at ``sample_rate``."""

    def __init__(self, sample_rate: int, xi_min: float):
        from .bands import band_map
        from .stft import Stft

        self.stft = Stft(sample_rate // 100)
        k = self.stft.n_bins
        self.power = np.zeros(k)
        self.imcra = imcra.Imcra(k)
        self.gamma = np.zeros(k)
        self.xi = np.zeros(k)
        self.v = np.zeros(k)
        self.q = np.zeros(k)
        self.p = np.zeros(k)
        self.xi_min = float(xi_min)
        self.band_lo, self.band_frac, self.n_pool = band_map(sample_rate, self.stft.n_fft)
        ones = np.ones(k)
        w = np.zeros(N_BANDS)
        pool_bands(ones, self.band_lo, self.band_frac, self.n_pool, w)
        self.band_norm = 1.0 / w
        self.power_norm = 1.0 / (self.stft.n_fft * np.sum(self.stft.window ** 2))
        self.work = np.zeros((N_WORK, N_BANDS))
        self.hist = np.zeros((N_HIST, N_BANDS))
        self.feat = np.zeros(N_FEATURES, np.float32)

    def reset(self) -> None:
        self.stft.reset()
        self.imcra.reset()
        for a in (self.power, self.gamma, self.xi, self.v, self.q, self.p, self.work, self.hist, self.feat):
            a[...] = 0

    def args(self):
        """Arguments of ``front_end`` after the input hop, in order."""
        s = self.stft
        t = self.imcra
        return (s.plan, s.window, s.history, s.frame, s.spec, self.power, t.state, t.ring,
                t.counters, t.scratch, self.gamma, self.xi, self.v, self.q, self.p, self.xi_min,
                self.band_lo, self.band_frac, self.band_norm, self.n_pool, self.power_norm, self.work,
                self.hist, self.feat)


@kernel
def _extract(noisy, clean, hop, plan, window, history, frame, spec, power, state, ring, counters, scratch,
             gamma, xi, v, q, p, xi_min, band_lo, band_frac, band_norm, n_pool, power_norm, work, hist, feat,
             history_c, frame_c, spec_c, power_c, band_c, feats, targets):
    n_frames = feats.shape[0]
    nb = band_norm.shape[0]
    for i in range(n_frames):
        x = noisy[i * hop:(i + 1) * hop]
        front_end(x, plan, window, history, frame, spec, power, state, ring, counters, scratch,
                  gamma, xi, v, q, p, xi_min, band_lo, band_frac, band_norm, n_pool, power_norm,
                  work, hist, feat)
        for j in range(feat.shape[0]):
            feats[i, j] = feat[j]
        stft_analysis(plan, window, history_c, clean[i * hop:(i + 1) * hop], frame_c, spec_c)
        for k in range(spec_c.shape[0]):
            c = spec_c[k]
            power_c[k] = c.real * c.real + c.imag * c.imag
        pool_bands(power_c, band_lo, band_frac, n_pool, band_c)
        for b in range(nb):
            targets[i, b] = band_c[b]        # clean band energy
            targets[i, nb + b] = work[W_E, b]  # noisy band energy


def extract(noisy: np.ndarray, clean: np.ndarray, sample_rate: int = 16000, xi_min: float = 10 ** -2.5):
    """Features (frames, 7 B) float32 of ``noisy`` and band energies (frames, 2 B) of clean | noisy.

    The training script's view of exactly what the stage computes per frame.
    """
    fe = FrontEnd(sample_rate, xi_min)
    hop = fe.stft.hop
    n_frames = min(noisy.size, clean.size) // hop
    feats = np.zeros((n_frames, N_FEATURES), np.float32)
    targets = np.zeros((n_frames, 2 * N_BANDS))
    s = fe.stft
    _extract(np.ascontiguousarray(noisy, np.float32), np.ascontiguousarray(clean, np.float32), hop,
             *fe.args(), np.zeros_like(s.history), np.zeros_like(s.frame), np.zeros_like(s.spec),
             np.zeros_like(fe.power), np.zeros(N_BANDS), feats, targets)
    return feats, targets
