"""Exact residual loss of an ideal (MDS) systematic erasure code on Bernoulli and Gilbert channels.

A systematic MDS code sends each block of ``k`` media packets followed by ``m``
repair packets; any ``k`` of the ``n = k + m`` recover the whole block. A block
with at most ``m`` losses therefore loses nothing; a block with more keeps its
received media packets and loses the missing ones. The residual loss is

    R = E[ J * 1{J + Q > m} ] / k,

``J`` the media packets lost in a block and ``Q`` the repair packets lost,
i.e. lost media packets per media packet sent. Reed–Solomon is MDS, so a
correct decoder matches ``R`` up to sampling noise; it is the bound the codes
bench compares against.

Bernoulli: ``J ~ Bin(k, p)`` and ``Q ~ Bin(m, p)`` independent, so

    R = sum_j j C(k,j) p^j (1-p)^(k-j) P(Bin(m,p) > m - j) / k.

Gilbert–Elliott (``fec.channel.GilbertElliott``): the block's packets are
consecutive packets of the stationary two-state chain (media first, then
repair). A forward recursion over (channel state, media lost, repair lost)
gives the joint law of ``(J, Q)`` exactly. With interleave depth ``d`` the
block's packets are every ``d``-th packet of the stream, so the chain steps
with ``P^d`` between them.
"""
from math import comb

import numpy as np

from ._jit import kernel
from .channel import ge_transitions

__all__ = ["mds_residual_loss_bernoulli", "mds_residual_loss_ge", "mds_residual_loss_markov",
           "block_failure_probability_ge"]


def _check_code(k, m):
    if isinstance(k, bool) or isinstance(m, bool) or int(k) != k or int(m) != m or k < 1 or m < 0:
        raise ValueError(f"need integers k >= 1 media and m >= 0 repair packets, got k={k!r}, m={m!r}")
    return int(k), int(m)


def mds_residual_loss_bernoulli(k, m, p):
    """Lost media packets per media packet for an MDS (k + m) code under independent loss ``p``."""
    k, m = _check_code(k, m)
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a loss probability in [0, 1], got {p!r}")
    q = 1.0 - p
    repair_tail = [sum(comb(m, r) * p ** r * q ** (m - r) for r in range(t + 1, m + 1))
                   for t in range(m + 1)]              # P(Q > t), t = 0..m
    total = 0.0
    for j in range(1, k + 1):
        p_j = comb(k, j) * p ** j * q ** (k - j)
        fail = 1.0 if j > m else repair_tail[m - j]
        total += j * p_j * fail
    return total / k


@kernel
def joint_media_repair(k, m, step, loss_prob, start, f, g):
    """Joint law ``f[s, j, q]`` (last packet's state ``s``, media lost ``j``, repair lost ``q``) of
    one block of ``k`` media then ``m`` repair packets on a two-state hidden Markov loss channel.

    ``step[s, s']`` is the state step between consecutive block packets, ``loss_prob[s]`` the
    loss probability in state ``s``, ``start`` the state distribution of the first packet;
    ``f`` and ``g`` are scratch of at least ``(2, k + 1, m + 1)``, the law is written in ``f``.
    Forward recursion: a packet is lost with ``loss_prob[s]`` (media count for the first ``k``),
    then the state steps with ``step``.
    """
    for s in range(2):
        for j in range(k + 1):
            for q in range(m + 1):
                f[s, j, q] = 0.0
        f[s, 0, 0] = start[s]
    for i in range(k + m):
        for s in range(2):
            h = loss_prob[s]
            for j in range(k + 1):
                for q in range(m + 1):
                    if i < k:
                        lost = f[s, j - 1, q] if j > 0 else 0.0
                    else:
                        lost = f[s, j, q - 1] if q > 0 else 0.0
                    g[s, j, q] = f[s, j, q] * (1.0 - h) + lost * h
        if i + 1 < k + m:
            for j in range(k + 1):
                for q in range(m + 1):
                    f[0, j, q] = g[0, j, q] * step[0, 0] + g[1, j, q] * step[1, 0]
                    f[1, j, q] = g[0, j, q] * step[0, 1] + g[1, j, q] * step[1, 1]
        else:
            for s in range(2):
                for j in range(k + 1):
                    for q in range(m + 1):
                        f[s, j, q] = g[s, j, q]


@kernel
def mds_residual(k, m, step, loss_prob, start, f, g):
    """``R = E[J 1{J + Q > m}] / k`` from ``joint_media_repair`` (same arguments)."""
    joint_media_repair(k, m, step, loss_prob, start, f, g)
    total = 0.0
    for j in range(k + 1):
        for q in range(m + 1):
            if j + q > m:
                total += j * (f[0, j, q] + f[1, j, q])
    return total / k


def _stationary(P):
    a, b = P[0, 1], P[1, 0]
    return np.array([0.5, 0.5]) if a + b == 0 else np.array([b, a]) / (a + b)


def _scratch(k, m):
    return np.empty((2, k + 1, m + 1)), np.empty((2, k + 1, m + 1))


def mds_residual_loss_markov(k, m, transition, loss_prob, interleave=1):
    """MDS residual loss on a two-state hidden Markov loss channel, started stationary.

    ``transition`` is the per-packet 2x2 state matrix, ``loss_prob`` the loss
    probability in each state (Gilbert: ``(0, 1)``; Gilbert–Elliott in general).
    """
    k, m = _check_code(k, m)
    if isinstance(interleave, bool) or int(interleave) != interleave or interleave < 1:
        raise ValueError(f"interleave must be an integer >= 1, got {interleave!r}")
    P = np.asarray(transition, dtype=np.float64)
    h = np.asarray(loss_prob, dtype=np.float64)
    if P.shape != (2, 2) or h.shape != (2,) or not np.allclose(P.sum(axis=1), 1.0):
        raise ValueError("transition must be a 2x2 row-stochastic matrix and loss_prob two probabilities")
    step = np.linalg.matrix_power(P, int(interleave))
    return float(mds_residual(k, m, step, h, _stationary(P), *_scratch(k, m)))


def _gilbert(loss_rate, mean_burst):
    p_gb, p_bg = ge_transitions(loss_rate, mean_burst)
    return np.array([[1.0 - p_gb, p_gb], [p_bg, 1.0 - p_bg]]), np.array([0.0, 1.0])


def mds_residual_loss_ge(k, m, loss_rate, mean_burst, interleave=1):
    """MDS residual loss on ``fec.channel.GilbertElliott(loss_rate, mean_burst)``.

    ``interleave = d``: the block's packets are every ``d``-th packet of the stream.
    """
    P, h = _gilbert(loss_rate, mean_burst)
    return mds_residual_loss_markov(k, m, P, h, interleave)


def block_failure_probability_ge(k, m, loss_rate, mean_burst, interleave=1):
    """P(more than ``m`` of the ``k + m`` packets of a block are lost) on the Gilbert channel."""
    k, m = _check_code(k, m)
    P, h = _gilbert(loss_rate, mean_burst)
    f, g = _scratch(k, m)
    joint_media_repair(k, m, np.linalg.matrix_power(P, int(interleave)), h, _stationary(P), f, g)
    f = f.sum(axis=0)
    j = np.arange(k + 1)[:, None]
    q = np.arange(m + 1)[None, :]
    return float(f[(j + q) > m].sum())
