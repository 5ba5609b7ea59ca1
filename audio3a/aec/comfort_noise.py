"""Comfort noise: the background-noise spectrum re-inserted where the suppressor removes echo.

The noise power spectrum of the linear-filter error is tracked per bin by a
minimum follower (after Martin's minimum statistics, simplified): the error
power is smoothed over ~30 ms, the noise estimate drops to it at once and
otherwise rises by ``rise_db_per_s`` (2 dB/s), so speech and echo bursts do
not lift it but a louder background is reached within seconds.

Where the suppressor applies gain G_k < 1, random noise of power (1 - G_k^2) N_k
is added, so the output floor stays at the background
level and the far side never hears the line go dead (gating). Scaling: N_k is
measured on B-sample blocks zero-padded to n_fft, so a random-phase spectrum
with |Z_k|^2 = (n_fft / B) N_k has, after the inverse FFT, the per-sample power
of that background.
"""
import numpy as np

from .._jit import kernel


@kernel(fastmath=True)
def noise_update(E, smoothed, noise, rise):
    """Minimum-following noise PSD of |E|^2 (see the module docstring)."""
    for k in range(E.shape[0]):
        e2 = E[k].real * E[k].real + E[k].imag * E[k].imag
        smoothed[k] += 0.3 * (e2 - smoothed[k])
        if noise[k] <= 0.0 or smoothed[k] < noise[k]:
            noise[k] = smoothed[k]
        else:
            noise[k] *= rise


@kernel(fastmath=True)
def add_comfort_noise(spectrum, noise, gain, scale, rng_state):
    """spectrum_k += sqrt(scale (1 - G_k^2) N_k) z_k, z_k a random complex of unit mean power.

    z_k has independent uniform real and imaginary parts (xorshift64*), scaled to
    variance 1/2 each: cheaper than a uniform phase and just as noise-like.
    """
    s = rng_state[0]
    n = spectrum.shape[0]
    for k in range(1, n - 1):
        g2 = gain[k] * gain[k]
        if g2 >= 1.0:
            continue
        s ^= s >> np.uint64(12)
        s ^= s << np.uint64(25)
        s ^= s >> np.uint64(27)
        r = s * np.uint64(2685821657736338717)
        u1 = float(r >> np.uint64(40)) / 16777216.0 - 0.5
        u2 = float((r >> np.uint64(16)) & np.uint64(0xFFFFFF)) / 16777216.0 - 0.5
        a = np.sqrt(6.0 * scale * (1.0 - g2) * noise[k])
        spectrum[k] += complex(a * u1, a * u2)
    rng_state[0] = s


class ComfortNoise:
    """Noise PSD estimate and generator state; ``suppressor.suppress_frame`` runs the kernels
    (``noise_update`` on the error spectrum, ``add_comfort_noise`` into the output spectrum)."""

    def __init__(self, n_bins: int, frame_len: int, n_fft: int, seed: int = 1):
        self.noise = np.zeros(n_bins, np.float64)
        self._seed = np.uint64(0x9E3779B97F4A7C15 ^ seed)
        self.rng_state = np.array([self._seed], np.uint64)
        self.scale = n_fft / frame_len
        self.rise = 10 ** (0.02 / 10)  # 2 dB/s, one step per 10 ms frame

    def reset(self) -> None:
        self.noise[:] = 0.0
        self.rng_state[0] = self._seed
