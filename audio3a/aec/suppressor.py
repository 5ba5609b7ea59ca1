"""Residual echo suppressor: per-bin gain on the linear-filter error, applied as a short FIR.

Residual echo power per bin k is predicted from the linear echo estimate
Y_hat and the render/capture coherence. The error and echo-estimate spectra E, Y_hat
are those of the last N samples (the FIR's input history; Y_hat = mic - error) under a
periodic Hann window shifted towards the recent samples (``hann_spectrum``, three taps
on the rectangular spectra the stage has anyway): on the B-sample block spectra the gains were coarser and noisier,
and even an oracle Wiener gain reached only PESQ 2.14 in double talk against 2.33
with (unshifted) Hann-windowed spectra (bench DT scenarios).

    S_yy,k = max(|Y_hat_k|^2, r S_yy,k)          (echo envelope with reverberant release r)
    R_k    = eta S_yy,k + nl (1 - t/2) <S_yy>_k  +  coh_k S_dd,k rho c v_k  +  w c S_xx,k^peak

(c = sum_n w_n^2 / N = 3/8 puts the N-sample mic and far spectra on the windowed footing)

* ``eta``: the filter's leakage (residual / echo estimate, ``filter.leakage_update``);
* ``nl`` (default -12 dB): loudspeaker nonlinearity and late reverberation the
  linear filter cannot model; <S_yy>_k spreads it over +-1 bin (+-50 Hz, the bins
  of N = 2B at both rates; +-2 bins there: bench DT PESQ 2.01 vs 2.03) like clipping
  harmonics. The double-talk weight t (below) lowers it by 3 dB, to -15 dB: the
  near end keeps its level under it (near-end gain -2.8 dB in
  ``test_double_talk_keeps_near_end``; -2.4 dB with it faded out fully, -3.2 dB
  kept whole), while less residual leaks under the talker than with the full fade
  (DT PESQ-WB 1.94 vs 1.92, AECMOS degradation 3.24 vs 3.19, bench DT seeds 10-13;
  seeds 14-17 2.32 vs 2.29, 3.06 vs 3.04). Raising it in double talk instead
  helped more (4 nl: 1.98 / 3.32) but cost the near end 4.2 dB;
* coh_k S_dd,k: the part of the mic linearly predictable from the delay-aligned
  far end, coh = |S_xd|^2 / (S_xx S_dd) (the coherence of WebRTC's AEC2
  suppressor), times rho = 10^(-ERLE/10), the residual ratio of the linear filter
  measured in far-end single talk: before the filter has converged this term
  carries the suppression. It counts only to the extent v_k that there is
  evidence of an echo path in the bin: v_k = max(S_yy,k / (c S_dd,k), e_k), the
  share of the mic the linear filter itself models, or e_k, the long-term
  (~0.33 s) coherence above the level independent signals show (``echo_path_evidence``).
  On 3 averages (smoothing 0.5) coh is ~1/3 for a mic that never hears the far end (a
  headset, a conference participant whose reference is the others' mix), and rho stays
  ~1 there since no ERLE is ever measured: without v_k this term alone cut such a near
  end by 3.7 dB;
* w c S_xx^peak, the initial phase: until the linear filter has shown some
  ERLE in far-end single talk (``AecConfig.init_erle_db``) the echo is assumed
  as loud as the far end's recent peak power (per bin, decaying 10 dB/s, so the
  unknown bulk delay is covered), like the conservative initial state of WebRTC
  AEC3; w falls from 1 to 0 as that ERLE grows, or at the latest over
  ``AecConfig.init_phase_s`` of far-end activity the mic does not follow (no echo
  path), and then stays 0 (a latch); the floor is init_extra_db w^2 lower meanwhile
  (35 dB by default, so the first echo, before the bulk delay is found, does not come
  through; w^2 rather than w because a filter slow to converge keeps w ~0.2 into double
  talk, where a depth linear in w cuts the near talker).

Gain: power subtraction with an overdrive that grows with the echo share of
the bin, r = R_k / S_ee,k:  G_k = 1 - (1 + (beta - 1) min(1, r)) r, so bins
dominated by echo are cut hard while bins dominated by the near end lose
little (a ramp reaching full overdrive at r = 1/3 cut mixed near-end/echo bins
in double talk: AECMOS degradation 3.32 vs 3.35, PESQ 1.88 vs 1.91 with the ramp
to r = 1, both with the unshifted window); instant attack, smoothed release. Its floor is G_min (``suppression_db``,
-20 dB by default: deeper floors gate the near end in double talk for little
gain, since comfort noise fills the removed bins anyway) in far-end single
talk and -12 dB in double talk, with the double-talk weight
t = clip((rho_frame / rho - 4) / 12, 0, 1), rho_frame = sum S_ee / sum S_yy: an error
far above the residual the filter leaves in single talk means a near-end talker,
who is then never gated. Weaker near-end talkers (6-15 dB under the echo) barely
move t, so the floor also follows the echo share of the mic, sum_k coh_k S_dd,k /
sum_k S_dd,k (near 1 for echo alone; ~0.6 in such double talk, ~0.75 in the far-end
single talk of the simulated rooms, bench medians): it is no deeper than -15 dB
unless the share is >= 0.9 (-15 dB at 0.75 or less, linear in dB between; the
initial phase counts the mic as echo to the extent w, so it is unchanged). In the
initial phase t is mostly 1 (S_yy still far below the echo), so t counts there only
as t (1 - w), both for the floor (else the -12 dB double-talk floor let the first
echo through) and for the comfort noise, scaled by 1 - t (1 - w): in double talk the
near end brings its own background (fading the noise in the initial phase cost AECMOS
echo 4.34 -> 4.22).
With the far end silent R = 0 and G = 1.

Low delay: instead of overlap-add (a window's worth of delay) G becomes a
linear-phase FIR of 2D + 1 taps: the zero-phase response irfft(G) windowed by a
Hann window, computed directly in the frequency domain (``gain_fir_direct``),
applied to the error by overlap-save; the suppressor adds exactly D samples of
delay (3.5 ms by default). The block is filtered with the previous and the
current FIR and crossfaded linearly, so gain changes cause no jumps at block
edges. With G = 1 the FIR is a unit impulse: the signal passes unchanged, only
delayed.
"""
import numpy as np

from .._jit import kernel
from ..fft import irfft, rfft
from .comfort_noise import add_comfort_noise, noise_update

# the gain floor is g_min only when the mic is mostly echo: echo share >= ECHO_SHARE;
# MIXED_FLOOR_DB at echo shares <= MIXED_SHARE, linear in dB between (see the module docstring)
ECHO_SHARE = 0.9
MIXED_SHARE = 0.75
MIXED_FLOOR_DB = -15.0
EVIDENCE_SMOOTHING = 0.03  # long-term coherence of echo_path_evidence (~0.33 s)
SPREAD_BINS = 1  # half width of the nonlinear share's spread: +-1 bin = +-50 Hz (fs / 2B at both rates)


@kernel(fastmath=True)
def suppression_gain(E, Yh, Xal2, D2, eta, nl, beta, g_min, release, echo_decay, residual_ratio,
                     window_scale, See, Syy, Sxx, Sdd, Sxd, G, smooth, Xcur2, Senv, w_init, env_decay,
                     init_extra_db, R, evidence):
    """Per-bin gain G_k (see the module docstring); updates the smoothed spectra in place and
    leaves the residual-echo estimate R_k in ``R`` (for the comfort noise's noise tracking).

    ``E``, ``Yh``: Hann-windowed spectra of the last N samples of the error and of the echo
    estimate (``hann_spectrum``); ``window_scale`` = sum_n w_n^2 / N converts the N-sample
    spectra Sdd, Senv to their footing; ``evidence``: e_k of ``echo_path_evidence``. Returns the echo share of the mic,
    sum_k coh_k S_dd,k / sum_k S_dd,k (near 1 when the mic is far-end echo, low in double
    talk or near-end single talk) and the double-talk weight t.
    """
    n = E.shape[0]
    pred = 0.0
    total = 0.0
    see_sum = 0.0
    syy_sum = 0.0
    for k in range(n):
        e2 = E[k].real * E[k].real + E[k].imag * E[k].imag
        y2 = Yh[k].real * Yh[k].real + Yh[k].imag * Yh[k].imag
        See[k] += smooth * (e2 - See[k])
        dec = echo_decay * Syy[k]
        Syy[k] = y2 if y2 > dec else dec
        Sxx[k] += smooth * (Xal2[k] - Sxx[k])
        Sdd[k] += smooth * (D2[k] - Sdd[k])
        see_sum += See[k]
        syy_sum += Syy[k]
        if Sxx[k] > 1e-30 and Sdd[k] > 1e-30:
            coh = Sxd[k] / (Sxx[k] * Sdd[k])
            pred += (coh if coh < 1.0 else 1.0) * Sdd[k]
            total += Sdd[k]
    share = pred / total if total > 0.0 else 0.0
    # attenuation floor: deep (g_min) in far-end single talk, shallow (-12 dB) in double talk,
    # so the near end is never gated. Double talk = the error is well above the residual the
    # filter leaves in single talk: rho = sum See / sum Syy against residual_ratio.
    rho = see_sum / (syy_sum + 1e-30)
    t = (rho / (residual_ratio + 1e-6) - 4.0) / 12.0
    if t < 0.0:
        t = 0.0
    elif t > 1.0:
        t = 1.0
    g_min_db = 20.0 * np.log10(g_min)
    tf = t * (1.0 - w_init)  # the initial phase (S_yy still far below the echo) is not double talk
    floor = 10.0 ** ((g_min_db * (1.0 - tf) - 12.0 * tf) / 20.0)
    if floor < g_min:
        floor = g_min
    # and no deeper than MIXED_FLOOR_DB unless the mic is mostly echo (echo share, coherence)
    u = (share - MIXED_SHARE) / (ECHO_SHARE - MIXED_SHARE)
    if u < w_init:
        u = w_init  # the initial phase takes the mic for echo
    elif u > 1.0:
        u = 1.0
    floor_share = 10.0 ** ((MIXED_FLOOR_DB * (1.0 - u) + g_min_db * u) / 20.0)
    if floor_share > floor:
        floor = floor_share
    floor *= 10.0 ** (-init_extra_db * w_init * w_init / 20.0)  # deeper while the filter has not converged
    h = SPREAD_BINS
    acc = 0.0  # running sum of Syy over the +-h bins around k
    for j in range(h + 1 if n >= h + 1 else n):
        acc += Syy[j]
    for k in range(n):
        # nonlinear share spread over +-h bins
        lo = k - h if k >= h else 0
        hi = k + h + 1 if k + h + 1 <= n else n
        spread = acc / (hi - lo)
        if k + h + 1 < n:
            acc += Syy[k + h + 1]
        if k >= h:
            acc -= Syy[k - h]
        r = eta * Syy[k] + nl * (1.0 - 0.5 * t) * spread
        # initial phase: the far end's recent peak power, as if the echo path had no loss
        dec = env_decay * Senv[k]
        Senv[k] = Xcur2[k] if Xcur2[k] > dec else dec
        r += w_init * window_scale * Senv[k]
        # linearly predictable echo not yet removed by the filter
        if Sxx[k] > 1e-30 and Sdd[k] > 1e-30:
            coh = Sxd[k] / (Sxx[k] * Sdd[k])
            if coh > 1.0:
                coh = 1.0
            ev = Syy[k] / (window_scale * Sdd[k])  # the filter's own echo estimate as a share of the mic
            if ev < evidence[k]:
                ev = evidence[k]
            if ev > 1.0:
                ev = 1.0
            r += coh * Sdd[k] * window_scale * residual_ratio * ev
        R[k] = r
        # overdrive only where echo dominates: beta_eff runs from 1 (r -> 0) to beta (r >= 1)
        ratio = r / (See[k] + 1e-30)
        b = ratio
        if b > 1.0:
            b = 1.0
        g = 1.0 - (1.0 + (beta - 1.0) * b) * ratio
        if g < floor:
            g = floor
        if g > G[k]:
            g = G[k] + release * (g - G[k])
        G[k] = g
    return share, t


@kernel(fastmath=True)
def hann_spectrum(X, Xw):
    """Spectrum of the frame under a circularly shifted periodic Hann window, from its
    rectangular spectrum X: w_n = (1 - sin(2 pi n / N)) / 2 (peak at n = 3N/4, zero at N/4),
    so Xw_k = X_k / 2 + i (X_{k-1} - X_{k+1}) / 4, with X_{-1} = conj(X_1), X_{N/2+1} = conj(X_{N/2-1}).

    The shift puts the window's weight on the recent samples: the plain Hann window (peak at
    N/2, zero at the newest sample) reacted late to near-end onsets (near-end gain in double
    talk -3.9 dB against -2.4 dB, ``test_double_talk_keeps_near_end``).
    """
    n = X.shape[0]
    for k in range(n):
        lo = X[k - 1] if k > 0 else X[1].conjugate()
        hi = X[k + 1] if k + 1 < n else X[n - 2].conjugate()
        Xw[k] = 0.5 * X[k] + 0.25j * (lo - hi)


@kernel(fastmath=True)
def cross_power_update(Xal, D, cross, Sxd, smooth):
    """Smoothed render/capture cross spectrum; Sxd = |cross|^2 (for the coherence)."""
    for k in range(Xal.shape[0]):
        c = Xal[k] * D[k].conjugate()
        cross[k] += smooth * (c - cross[k])
        Sxd[k] = cross[k].real * cross[k].real + cross[k].imag * cross[k].imag


@kernel(fastmath=True)
def echo_path_evidence(Xal, D, Xal2, D2, cross, Sxx, Sdd, evidence, smooth):
    """Per-bin evidence of an echo path from the long-term render/capture coherence.

    gamma_k = |<X D*>|^2 / (<|X|^2> <|D|^2>) under exponential averaging with factor a;
    for independent signals its expectation is gamma_0 = sum w^2 / (sum w)^2 = a / (2 - a)
    (the estimator's bias) and it rarely exceeds ~4 gamma_0, so
    evidence_k = clip((gamma_k - gamma_0) / (3 gamma_0), 0, 1).
    """
    cross_power_update(Xal, D, cross, evidence, smooth)  # evidence <- |<X D*>|^2 until replaced below
    g0 = smooth / (2.0 - smooth)
    for k in range(Xal.shape[0]):
        Sxx[k] += smooth * (Xal2[k] - Sxx[k])
        Sdd[k] += smooth * (D2[k] - Sdd[k])
        den = Sxx[k] * Sdd[k]
        if den > 1e-30:
            coh = evidence[k] / den
            e = (coh - g0) / (3.0 * g0)
            evidence[k] = 0.0 if e < 0.0 else (1.0 if e > 1.0 else e)
        else:
            evidence[k] = 0.0


@kernel(fastmath=True)
def gain_fir_direct(G, kernel_taps, phase, H, Gx):
    """H = spectrum of the windowed linear-phase FIR, computed in the frequency domain.

    Windowing the zero-phase response irfft(G) by w in time is a circular
    convolution of G with W = DFT(w) / N; the Hann window's transform is
    concentrated in a few bins, so the convolution is truncated to
    +-K bins (``kernel_taps``, normalised to sum 1 so that G = 1 gives exactly
    the pure delay), and ``phase`` = e^{-2 pi i k D / N} adds the D-sample delay.
    Equals windowing irfft(G) in time up to the truncated side lobes, without two FFTs.
    ``H`` must be C-contiguous complex128. ``Gx`` (scratch, >= n_bins + 2K) holds G extended by its mirror images at both ends
    (G_{-l} = G_l, G_{N/2+l} = G_{N/2-l}), so the symmetric kernel is a plain dot product.
    """
    nb = G.shape[0]
    n = 2 * (nb - 1)
    K = (kernel_taps.shape[0] - 1) // 2
    for i in range(nb + 2 * K):
        l = i - K
        if l < 0:
            l = -l
        if l >= nb:
            l = n - l
        Gx[i] = G[l]
    # the sums run in the real parts of H (loop over k innermost, so it vectorises), in the
    # same order per bin as a per-bin dot product
    c = kernel_taps[K]
    Hv = H.view(np.float64)
    for k in range(nb):
        Hv[2 * k] = c * Gx[k + K]
    for q in range(1, K + 1):  # the window is even: taps[K - q] = taps[K + q]
        t = kernel_taps[K + q]
        for k in range(nb):
            Hv[2 * k] += t * (Gx[k + K - q] + Gx[k + K + q])
    for k in range(nb):
        H[k] = Hv[2 * k] * phase[k]


@kernel(fastmath=True)
def push_history(hist, block):
    """Shift ``hist`` left by len(block) and append ``block``."""
    n = hist.shape[0]
    b = block.shape[0]
    for i in range(n - b):
        hist[i] = hist[i + b]
    for i in range(b):
        hist[n - b + i] = block[i]


@kernel(fastmath=True)
def suppress_frame(E, Xal, Xal2, D, D2, e_time, eta, nl, beta, g_min, release, echo_decay,
                   residual_ratio, window_scale, smooth, spectra, G, kernel_taps, phase, plan, reals,
                   noise, cn_scale, cn_rise, rng_state, out, Xcur2, w_init, env_decay, init_extra_db):
    """One frame of the suppressor: gains, comfort-noise tracking, FIR filtering, comfort noise.

    ``E``: the error's block spectrum FFT([0 ... 0, e]) (comfort-noise tracking); ``D``: the
    mic spectrum of the last N samples, the same span as the error history.

    ``spectra`` rows: cross, H, spec, H_prev, hist_spec, cn, Ew, Yw, long-term cross (complex); ``reals`` rows:
    See, Syy, Sxx, Sdd, Sxd, noise-smoothed (n_bins), prev_time, far peak envelope (initial phase), hist,
    out_time, mirrored G (n_fft), residual echo R, noise minimum, long-term Sxx, Sdd, echo-path evidence
    (n_bins), packed so the call passes few arguments. Returns the echo share of the mic and the output energy.
    """
    nb = G.shape[0]
    cross = spectra[0]
    H = spectra[1]
    spec = spectra[2]
    See = reals[0, :nb]
    Syy = reals[1, :nb]
    Sxx = reals[2, :nb]
    Sdd = reals[3, :nb]
    Sxd = reals[4, :nb]
    nsm = reals[5, :nb]
    hist = reals[8]
    out_time = reals[9]
    H_prev = spectra[3]
    hist_spec = spectra[4]
    cn = spectra[5]
    Ew = spectra[6]
    Yw = spectra[7]
    prev_time = reals[6]
    push_history(hist, e_time)
    rfft(plan, hist, hist_spec)
    # the gains are estimated on windowed N-sample spectra (finer and steadier than the
    # B-sample block spectra): the error's, and the echo estimate's as mic minus error
    hann_spectrum(hist_spec, Ew)
    for k in range(nb):
        spec[k] = D[k] - hist_spec[k]
    hann_spectrum(spec, Yw)
    cross_power_update(Xal, D, cross, Sxd, smooth)
    echo_path_evidence(Xal, D, Xal2, D2, spectra[8], reals[13, :nb], reals[14, :nb], reals[15, :nb],
                       EVIDENCE_SMOOTHING)
    share, t = suppression_gain(Ew, Yw, Xal2, D2, eta, nl, beta, g_min, release, echo_decay, residual_ratio,
                                window_scale, See, Syy, Sxx, Sdd, Sxd, G, smooth, Xcur2, reals[7, :nb], w_init,
                                env_decay, init_extra_db, reals[11, :nb], reals[15, :nb])
    # R_k on the footing of the B-sample block spectrum E: B / (N window_scale)
    noise_update(E, nsm, reals[12, :nb], noise, cn_rise, reals[11, :nb],
                 out.shape[0] / (hist.shape[0] * window_scale))
    gain_fir_direct(G, kernel_taps, phase, H, reals[10])
    # comfort noise, the same in both branches of the crossfade; faded out in double talk
    # (the near end's own background is there), not in the initial phase
    for k in range(nb):
        cn[k] = 0.0
    add_comfort_noise(cn, noise, G, cn_scale * (1.0 - t * (1.0 - w_init)), rng_state)
    # filter the block with last frame's FIR and this frame's, and crossfade linearly:
    # the time-varying filter then has no jumps at block edges
    for k in range(nb):
        spec[k] = hist_spec[k] * H_prev[k] + cn[k]
    irfft(plan, spec, prev_time)
    for k in range(nb):
        spec[k] = hist_spec[k] * H[k] + cn[k]
        H_prev[k] = H[k]
    irfft(plan, spec, out_time)
    n = out_time.shape[0]
    b = out.shape[0]
    for i in range(b):
        w = (i + 0.5) / b
        v = (1.0 - w) * prev_time[n - b + i] + w * out_time[n - b + i]
        if v > 1.0:
            v = 1.0
        elif v < -1.0:
            v = -1.0
        out[i] = v
    energy = 0.0
    for i in range(out.shape[0]):
        energy += out[i] * out[i]
    return share, energy


class EchoSuppressor:
    """State of the residual echo suppressor (smoothed spectra, gains, FIR scratch)."""

    def __init__(self, frame_len: int, n_fft: int, plan, delay_samples: int, nl_db: float,
                 beta: float, min_gain_db: float, echo_decay_db_per_s: float,
                 init_extra_db: float = 35.0, init_env_decay_db_per_s: float = 10.0):
        n_bins = n_fft // 2 + 1
        self.frame_len = frame_len
        self.plan = plan
        self.half = delay_samples
        self.window = np.hanning(2 * delay_samples + 3)[1:-1].astype(np.float64)
        # frequency-domain form of the window (see gain_fir_direct): +-K bins of DFT(w) / N
        wc = np.zeros(n_fft)
        wc[: delay_samples + 1] = self.window[delay_samples:]
        wc[n_fft - delay_samples:] = self.window[:delay_samples]
        Wc = np.fft.fft(wc).real / n_fft
        K = int(np.ceil(2.5 * n_fft / (2 * delay_samples + 1)))
        taps = np.concatenate([Wc[n_fft - K:], Wc[: K + 1]])
        taps = 0.5 * (taps + taps[::-1])  # even (the window is), exactly, for gain_fir_direct
        self.kernel_taps = taps / taps.sum()
        self.phase = np.exp(-2j * np.pi * np.arange(n_bins) * delay_samples / n_fft)
        self.nl = 10 ** (nl_db / 10)
        self.beta = beta
        self.g_min = 10 ** (min_gain_db / 20)
        # per-frame power decay of the echo envelope
        self.echo_decay = 10 ** (-echo_decay_db_per_s * 0.01 / 10)
        self.release = 0.5
        self.window_scale = 0.375  # sum_n w_n^2 / N of the periodic Hann window (hann_spectrum)
        # initial phase (see ``suppression_gain``): far-end peak envelope decaying 10 dB/s,
        # floor lowered by init_extra_db w^2
        self.env_decay = 10 ** (-init_env_decay_db_per_s * 0.01 / 10)
        self.init_extra_db = init_extra_db
        self.smooth = 0.5
        # packed state (see suppress_frame)
        self.spectra = np.zeros((9, n_bins), np.complex128)
        self.reals = np.zeros((16, n_fft), np.float64)
        self.See = self.reals[0, :n_bins]
        self.G = np.ones(n_bins)

    def reset(self) -> None:
        self.spectra[:] = 0.0
        self.spectra[3] = self.phase  # H_prev: the pure delay (G = 1)
        self.reals[:] = 0.0
        self.G[:] = 1.0

    def process(self, E, Xal, Xal2, D, D2, e_time, eta, residual_ratio, cng, out, Xcur2=None,
                w_init=0.0):
        """Suppress one frame of ``e_time`` into ``out``; return (echo share of the mic, sum out^2)."""
        return suppress_frame(E, Xal, Xal2, D, D2, e_time, eta, self.nl, self.beta, self.g_min,
                              self.release, self.echo_decay, residual_ratio, self.window_scale,
                              self.smooth, self.spectra, self.G, self.kernel_taps, self.phase, self.plan,
                              self.reals, cng.noise, cng.scale, cng.rise, cng.rng_state, out,
                              Xal2 if Xcur2 is None else Xcur2, w_init, self.env_decay, self.init_extra_db)
