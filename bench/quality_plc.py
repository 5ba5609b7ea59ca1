"""Packet-loss concealment quality: PLCMOS (v2) and PESQ-WB on corpus speech.

20 ms packets at 16 kHz, seeded loss masks from ``fec.channel``: Bernoulli
10 % and 20 %, Gilbert-Elliott 20 % with mean burst 4. Methods: zero-fill,
a G.711 Appendix I style repetition baseline (below), and
``audio3a.plc.Concealer``. Scores are means over the speech files.

PLCMOS is ``speechmos.plcmos`` (the v2 ONNX model ships inside the package,
16 kHz input, no download); its rater embeddings are random, so the NumPy
global seed is fixed before each call for reproducible scores. PESQ is the
``pesq`` package in wide-band mode.

    .venv/bin/python -m bench.quality_plc [--quick]
"""
import sys

import numpy as np

from audio3a.plc import Concealer, PlcConfig
from bench.scenarios import corpus
from fec.channel import bernoulli_loss, gilbert_elliott_loss

RATE = 16000
FRAME_MS = 20
CONDITIONS = (
    ("Bernoulli 10 %", lambda n, seed: bernoulli_loss(n, 0.10, seed)),
    ("Bernoulli 20 %", lambda n, seed: bernoulli_loss(n, 0.20, seed)),
    ("GE 20 % burst 4", lambda n, seed: gilbert_elliott_loss(n, 0.20, 4, seed)),
)
TARGETS = {"Bernoulli 10 %": (3.1, 2.4), "Bernoulli 20 %": (2.8, None), "GE 20 % burst 4": (2.9, None)}


def zero_fill(frames, lost):
    out = frames.copy()
    out[lost] = 0.0
    return out


def g711_appendix_i(frames, lost):
    """Short G.711 Appendix I style baseline: pitch-period repetition, 1/2/3 periods, fade, OLA merge.

    Pitch by autocorrelation of the last 20 ms (lags 5-15 ms as in Appendix I);
    the missing frame repeats the last period (two after 10 ms, three after 20 ms)
    with a T/4 triangular overlap-add at each wrap; -20 % per 10 ms after the
    first 10 ms, silence after 60 ms; the first good frame is overlap-added with
    the continued repetition over 4 ms (+4 ms per further 10 ms lost, max 10 ms).
    Zero-delay variant (no history rewrite).
    """
    n_fr, flen = frames.shape
    ms = RATE // 1000
    y = np.zeros(n_fr * flen + 1)
    burst = 0
    state = None

    def synth(n):
        buf, period, pos, t = state["buf"], state["T"], state["pos"], state["t"]
        out = np.empty(n)
        ola = max(period // 4, 1)
        for i in range(n):
            span = period * min(3, 1 + t // (10 * ms))
            if pos >= len(buf):
                pos = len(buf) - span
            v = buf[pos]
            if len(buf) - pos <= ola and span <= len(buf) - ola:  # approaching the wrap: fade in the restart
                w = (ola - (len(buf) - pos)) / ola
                v = (1 - w) * v + w * buf[pos - span]
            g = 1.0 if t < 10 * ms else max(0.0, 1.0 - 0.2 * (t - 10 * ms) / (10 * ms))
            out[i] = g * v
            pos += 1
            t += 1
        state["pos"], state["t"] = pos, t
        return out

    for f in range(n_fr):
        seg = slice(f * flen, (f + 1) * flen)
        end = f * flen
        if lost[f]:
            if burst == 0:
                h = y[max(0, end - 40 * ms):end]
                best_t, best_c = 10 * ms, -1.0
                if len(h) >= 35 * ms:
                    a = h[-20 * ms:]
                    for lag in range(5 * ms, 15 * ms + 1):
                        b = h[-20 * ms - lag:-lag]
                        c = a @ b / np.sqrt((a @ a) * (b @ b) + 1e-20)
                        if c > best_c:
                            best_t, best_c = lag, c
                period = best_t
                buf = y[max(0, end - 3 * period):end].copy()
                if len(buf) < 3 * period:
                    buf = np.concatenate([np.zeros(3 * period - len(buf)), buf])
                state = {"buf": buf, "T": period, "pos": len(buf) - period, "t": 0}
            y[seg] = synth(flen)
            burst += 1
        else:
            x = frames[f]
            if burst:
                m = min(flen, (4 + 4 * (burst * FRAME_MS // 10 - 1)) * ms, 10 * ms)
                s = synth(m)
                w = (np.arange(m) + 0.5) / m
                x = x.copy()
                x[:m] = (1 - w) * s + w * x[:m]
            y[seg] = x
            burst = 0
    return y[:n_fr * flen].reshape(n_fr, flen)


def concealer(frames, lost):
    plc = Concealer(RATE, PlcConfig(frame_ms=FRAME_MS))
    out = np.empty_like(frames)
    for f in range(frames.shape[0]):
        out[f] = plc.process(None if lost[f] else frames[f])
    return out


METHODS = (("zero-fill", zero_fill), ("G.711 App. I style", g711_appendix_i), ("audio3a Concealer", concealer))


def _plcmos():
    from speechmos import plcmos
    model = plcmos.PLCMOS()

    def score(y):
        np.random.seed(0)
        return float(model(np.clip(y, -1.0, 1.0).astype(np.float64))["plcmos"])
    return score


def _pesq(ref, deg):
    from pesq import pesq
    return float(pesq(RATE, ref, deg, "wb"))


def run(quick: bool = False, methods=METHODS) -> list[dict]:
    """One row per (condition, method): mean PLCMOS and PESQ-WB over the corpus speech files."""
    plcmos = _plcmos()
    files = corpus.files("speech")
    if quick:
        files = files[:4]
    flen = RATE * FRAME_MS // 1000
    signals = []
    for path in files:
        x = corpus.load(path, RATE).astype(np.float32)
        n = len(x) // flen
        signals.append(x[: n * flen].reshape(n, flen))
    rows = []
    for ci, (cond, mask_fn) in enumerate(CONDITIONS):
        masks = [mask_fn(s.shape[0], 1000 * ci + i) for i, s in enumerate(signals)]
        for name, fn in methods:
            mos, pq = [], []
            for s, lost in zip(signals, masks):
                y = fn(s, lost).reshape(-1).astype(np.float32)
                mos.append(plcmos(y))
                pq.append(_pesq(s.reshape(-1), y))
            rows.append({"condition": cond, "method": name, "plcmos": float(np.mean(mos)),
                         "pesq_wb": float(np.mean(pq)), "files": len(signals)})
    return rows


def markdown(rows) -> str:
    lines = ["| condition | method | PLCMOS | PESQ-WB | target PLCMOS / PESQ-WB |", "|---|---|---|---|---|"]
    for r in rows:
        tm, tp = TARGETS[r["condition"]]
        target = f">= {tm}" + (f" / >= {tp}" if tp else "") if r["method"] == "audio3a Concealer" else ""
        lines.append(f"| {r['condition']} | {r['method']} | {r['plcmos']:.2f} | {r['pesq_wb']:.2f} | {target} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run(quick="--quick" in sys.argv)))
