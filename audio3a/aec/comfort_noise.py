"""Comfort noise: the background-noise spectrum re-inserted where the suppressor removes echo.

The noise power spectrum N_k of the linear-filter error is tracked per bin in
the manner of MCRA (Cohen and Berdugo, 2001) on the error power S_k smoothed
over ~30 ms:

* a minimum follower M_k drops to S_k at once and otherwise rises by
  ``rise_db_per_s`` (2 dB/s), but only in bins free of echo (the suppressor's
  residual-echo estimate R_k under M_k), so a louder background is reached
  within seconds while echo never lifts it;
* N_k follows S_k by recursive averaging (0.1 per frame) only where the bin is
  noise alone: echo-free and S_k < delta M_k (delta = 5, MCRA's threshold), and
  is held otherwise. Speech and echo bursts then do not lift it, and in double
  talk (near-end speech over far-end echo) it holds the level measured before.
  N_k never exceeds delta M_k: a start on speech (N_k begins at the first
  frame) or a bin that the echo estimate keeps from updating (a far end
  active from the start with no echo path: the initial phase assumes echo)
  falls with the minimum.
  The plain minimum follower with the rise everywhere drifted 5-12 dB above the
  true noise over 6 s of double talk (the error never falls to the noise there)
  and, as a minimum of a noisy estimate, sat 2-11 dB under it in single talk.

Where the suppressor applies gain G_k < 1, random noise of power (1 - G_k^2) N_k
is added, so the output floor stays at the background
level and the far side never hears the line go dead (gating). Scaling: N_k is
measured on B-sample blocks zero-padded to n_fft, so a random-phase spectrum
with |Z_k|^2 = (n_fft / B) N_k has, after the inverse FFT, the per-sample power
of that background.
"""
import numpy as np

from .._jit import kernel


NOISE_ONLY_RATIO = 5.0  # delta: S_k under delta M_k counts as noise alone
NOISE_SMOOTHING = 0.1  # recursive averaging of N_k in noise-only frames (~0.1 s)


@kernel(fastmath=True)
def noise_update(E, smoothed, floor, noise, rise, echo, echo_scale):
    """Noise PSD N_k (``noise``) of |E|^2 with its minimum follower M_k (``floor``) and the
    smoothed power S_k (``smoothed``), see the module docstring. ``echo``: the suppressor's
    residual-echo estimate R_k, times ``echo_scale`` on the footing of |E|^2."""
    for k in range(E.shape[0]):
        e2 = E[k].real * E[k].real + E[k].imag * E[k].imag
        if smoothed[k] <= 0.0:
            smoothed[k] = e2  # first frame: no smoothing bias to start from
        else:
            smoothed[k] += 0.3 * (e2 - smoothed[k])
        s = smoothed[k]
        echo_free = echo[k] * echo_scale < floor[k]
        if floor[k] <= 0.0 or s < floor[k]:
            floor[k] = s
        elif echo_free:
            floor[k] *= rise
        if noise[k] <= 0.0:
            noise[k] = s
        elif echo_free and s < NOISE_ONLY_RATIO * floor[k]:
            noise[k] += NOISE_SMOOTHING * (s - noise[k])
        if noise[k] > NOISE_ONLY_RATIO * floor[k]:
            # never above what counts as noise alone: a start on speech, or a bin the echo
            # estimate keeps from updating, falls with the minimum
            noise[k] = NOISE_ONLY_RATIO * floor[k]


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
