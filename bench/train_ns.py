"""Train the learned noise-suppression gain (``audio3a/ns/model.py``) on corpus mixtures.

Data: speech of corpus talkers 4..10 only (``TRAIN_TALKERS``; the benchmark
``bench.quality_ns`` and the unit tests use talkers 0..3), cut into random
1.5-4 s pieces with random pauses and set to a random active level
(-40..-16 dBFS), plus noise at a random SNR in -5..25 dB (10 % of mixtures
at 40 dB): the benchmark's generators (white, pink, brown, hum, clicks, the
two corpus noise recordings) with other seeds, babble of 3-6 *training*
talkers, noise of random spectral slope, a second noise added to a quarter
of the mixtures and a slow level modulation to a fifth. The two noise
recordings are the only ones in the corpus, so unlike the speech they are
not disjoint from the benchmark's.

Features and targets come from ``audio3a.ns.training.extract`` (the stage's
own kernels); target g_b = min(1, sqrt(E_clean,b / E_noisy,b)). The MLP is
trained in numpy (hand-written backprop, Adam) on the loss
mean((sqrt(g_hat) - sqrt(g))^2), seeded: the same command gives the same
weights on the same numpy/BLAS.

    PYTHONPATH=. .venv/bin/python -m bench.train_ns            # ~5 min, one core; writes the weights
    PYTHONPATH=. .venv/bin/python -m bench.train_ns --out /tmp/w.npz --mixtures 100 --epochs 3
"""
import argparse
import os
import time

# one BLAS thread: the matrices are small, and threads fight on a shared 2-core machine
# (10-40x slower steps measured at load 6); must be set before numpy is imported
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
from functools import lru_cache

import numpy as np

from audio3a.metrics import active_speech_level, rms_db
from audio3a.ns.bands import N_BANDS
from audio3a.ns.features import N_FEATURES
from audio3a.ns.training import extract
from audio3a.ns.model import WEIGHTS
from bench.scenarios import corpus
from bench.scenarios.noisy import _colored, noise

RATE = 16000
TRAIN_TALKERS = (4, 5, 6, 7, 8, 9, 10)
KINDS = ("dishes", "room", "white", "pink", "brown", "babble", "hum", "clicks", "slope")
SEED = 2026


@lru_cache(maxsize=None)
def _talker(talker: int) -> np.ndarray:
    """One talker's file scaled to an active speech level of 0 dBFS."""
    s = corpus.speech(talker, RATE)
    return s / (10 ** (active_speech_level(s, RATE)[0] / 20))


def _speech(rng, talker: int, n: int) -> np.ndarray:
    """Random pieces of one talker's file (active level 0 dBFS) with random pauses, ``n`` samples."""
    src = _talker(talker)
    out = np.zeros(n)
    pos = int(rng.uniform(0.0, 0.6) * RATE)
    while pos < n:
        length = int(rng.uniform(1.5, 4.0) * RATE)
        start = int(rng.integers(0, max(1, src.size - length)))
        piece = src[start:start + length]
        end = min(n, pos + piece.size)
        out[pos:end] = piece[: end - pos]
        pos = end + int(rng.uniform(0.05, 0.8) * RATE)
    return out


def _babble(rng, exclude: int, n: int) -> np.ndarray:
    pool = [t for t in TRAIN_TALKERS if t != exclude]
    out = np.zeros(n)
    for t in rng.choice(pool, size=int(rng.integers(3, 7)), replace=False):
        s = _talker(int(t))
        s = np.tile(s, int(np.ceil(n / s.size)) + 1)
        start = int(rng.integers(0, s.size - n))
        out += s[start:start + n]
    return out


def _noise(rng, kind: str, n: int, talker: int) -> np.ndarray:
    seed = int(rng.integers(10_000, 1_000_000))  # the benchmark uses seeds < 10 000
    if kind == "babble":
        x = _babble(rng, talker, n)
    elif kind == "slope":
        x = _colored(n, rng, rng.uniform(-0.5, 2.5), RATE)
    else:
        x = noise(kind, n, RATE, seed=seed)
    return x / (np.std(x) + 1e-20)


def make_mixture(rng, seconds: float = 8.0):
    """(noisy, clean) float64 of one random training mixture."""
    n = int(seconds * RATE)
    talker = int(rng.choice(TRAIN_TALKERS))
    speech_db = rng.uniform(-40.0, -16.0)
    clean = _speech(rng, talker, n) * 10 ** (speech_db / 20)
    nz = _noise(rng, str(rng.choice(KINDS)), n, talker)
    if rng.random() < 0.25:
        nz = nz + 10 ** (rng.uniform(-10.0, 5.0) / 20) * _noise(rng, str(rng.choice(KINDS)), n, talker)
    if rng.random() < 0.2:
        t = np.arange(n) / RATE
        nz = nz * (1.0 + 0.7 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 6.3)))
    snr = 40.0 if rng.random() < 0.1 else rng.uniform(-5.0, 25.0)
    nz *= 10 ** ((speech_db - snr - rms_db(nz)) / 20)
    noisy = clean + nz
    peak = np.max(np.abs(noisy))
    if peak > 0.95:
        noisy, clean = noisy * 0.95 / peak, clean * 0.95 / peak
    return noisy, clean


def dataset(count: int, seed: int = SEED):
    """Features (frames, 7 B), target gains (frames, B) and weights (frames, B) of ``count`` mixtures."""
    rng = np.random.default_rng(seed)
    xs, gs, ws = [], [], []
    for _ in range(count):
        noisy, clean = make_mixture(rng)
        f, e = extract(noisy, clean, RATE)
        es, ey = e[:, :N_BANDS], e[:, N_BANDS:]
        ok = ey > 1e-9
        g = np.where(ok, np.sqrt(np.minimum(es / np.maximum(ey, 1e-30), 1.0)), 1.0)
        xs.append(f)
        gs.append(g.astype(np.float32))
        ws.append(ok.astype(np.float32))
    return np.concatenate(xs), np.concatenate(gs), np.concatenate(ws)


class Mlp:
    """relu-relu-sigmoid MLP with Adam, float32."""

    def __init__(self, sizes, rng):
        self.p = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
            self.p[f"w{i}"] = (rng.standard_normal((b, a)) * np.sqrt(2.0 / a)).astype(np.float32)
            self.p[f"b{i}"] = np.zeros(b, np.float32)
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def forward(self, x):
        p = self.p
        z1 = x @ p["w1"].T + p["b1"]
        h1 = np.maximum(z1, 0)
        z2 = h1 @ p["w2"].T + p["b2"]
        h2 = np.maximum(z2, 0)
        g = 1.0 / (1.0 + np.exp(-(h2 @ p["w3"].T + p["b3"])))
        return g, (x, h1, h2)

    def loss_grad(self, x, g_true, w):
        g, (x, h1, h2) = self.forward(x)
        sg = np.sqrt(g)
        diff = sg - np.sqrt(g_true)
        norm = max(float(w.sum()), 1.0)
        loss = float((w * diff * diff).sum() / norm)
        dz3 = (2.0 / norm) * w * diff * 0.5 * sg * (1.0 - g)   # d/dz of (sqrt(sigmoid z) - t)^2
        p = self.p
        grads = {"w3": dz3.T @ h2, "b3": dz3.sum(0)}
        dh2 = dz3 @ p["w3"]
        dz2 = dh2 * (h2 > 0)
        grads["w2"] = dz2.T @ h1
        grads["b2"] = dz2.sum(0)
        dz1 = (dz2 @ p["w2"]) * (h1 > 0)
        grads["w1"] = dz1.T @ x
        grads["b1"] = dz1.sum(0)
        return loss, grads

    def adam(self, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.t += 1
        for k, gk in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * gk
            self.v[k] = b2 * self.v[k] + (1 - b2) * gk * gk
            mh = self.m[k] / (1 - b1 ** self.t)
            vh = self.v[k] / (1 - b2 ** self.t)
            self.p[k] -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)


def train(mixtures: int = 600, epochs: int = 30, hidden=(64, 64), batch: int = 512, lr: float = 2e-3,
          seed: int = SEED, log=print):
    t0 = time.perf_counter()
    x, g, w = dataset(mixtures, seed)
    log(f"data: {x.shape[0]} frames from {mixtures} mixtures in {time.perf_counter() - t0:.0f} s")
    mean = x.mean(0)
    std = x.std(0) + 1e-3
    xn = ((x - mean) / std).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    n_val = xn.shape[0] // 10  # last mixtures: validation
    xt, gt, wt = xn[:-n_val], g[:-n_val], w[:-n_val]
    xv, gv, wv = xn[-n_val:], g[-n_val:], w[-n_val:]
    net = Mlp((N_FEATURES, *hidden, N_BANDS), rng)
    best = (np.inf, None)
    for ep in range(epochs):
        rate = lr * 0.5 * (1 + np.cos(np.pi * ep / epochs))  # cosine decay
        order = rng.permutation(xt.shape[0])
        tl = []
        for i in range(0, order.size, batch):
            idx = order[i:i + batch]
            loss, grads = net.loss_grad(xt[idx], gt[idx], wt[idx])
            net.adam(grads, rate)
            tl.append(loss)
        vl = np.mean([net.loss_grad(xv[i:i + 8192], gv[i:i + 8192], wv[i:i + 8192])[0]
                      for i in range(0, xv.shape[0], 8192)])
        if vl < best[0]:
            best = (vl, {k: v.copy() for k, v in net.p.items()})
        log(f"epoch {ep + 1:2d} lr {rate:.2e} train {np.mean(tl):.5f} val {vl:.5f} "
            f"({time.perf_counter() - t0:.0f} s)")
    p = best[1]
    # fold the standardisation into the first layer: W1 (f - m) / s + b1
    w1 = p["w1"] / std[None, :]
    b1 = p["b1"] - w1 @ mean
    out = {"w1": w1, "b1": b1, "w2": p["w2"], "b2": p["b2"], "w3": p["w3"], "b3": p["b3"]}
    return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}, best[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(WEIGHTS))
    ap.add_argument("--mixtures", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    weights, val = train(args.mixtures, args.epochs, tuple(args.hidden), seed=args.seed)
    np.savez_compressed(args.out, **weights)
    print(f"wrote {args.out}: val loss {val:.5f}, {sum(v.size for v in weights.values())} parameters")


if __name__ == "__main__":
    main()
