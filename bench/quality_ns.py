"""Noise suppression quality on seeded noisy mixtures: DNSMOS, PESQ-WB, STOI.

Mixtures (``bench.scenarios.noisy``) of corpus speech with corpus noise and
synthetic noises at -5/0/5/10/20 dB SNR, 16 kHz, 10 s each. Every system's
output is aligned to the clean reference (known latency for audio3a, the
cross-correlation lag for the peers) and scored with ``audio3a.evaluate``;
figures are means over all mixtures (equal count per SNR, so also the mean
over SNRs).

Systems: the noisy input, audio3a NS at its default level ("high") with the
DSP gain alone and capped by the learned band gain (``NsConfig.method``), with ``--deep``
also at "very-high", and, when installed, the peers WebRTC NS (pywebrtc-audio,
level 2 = "high", 18 dB), Speex (speexdsp-ns, default settings) and RNNoise
(pyrnnoise, run at 48 kHz on the resampled mixture).

Sizes: the suite's run scores 40 mixtures, every noise kind at every SNR with
the four benchmark talkers taking the kinds in turn (each scored system costs
~1.2 s of DNSMOS + PESQ + STOI per mixture: the 160 of ``--deep`` take ~30 min
of CPU, over the whole suite's 10-minute budget); ``--deep`` crosses every
talker with every kind; ``--quick`` 2 talkers x 2 kinds, the default only, no peers.

    .venv/bin/python -m bench.quality_ns            # 8 noises x 5 SNRs, talkers in turn (40)
    .venv/bin/python -m bench.quality_ns --deep     # 4 talkers x 8 noises x 5 SNRs (160)
    .venv/bin/python -m bench.quality_ns --quick    # 2 talkers x 2 noises x 5 SNRs, ~1 min
"""
import argparse
import importlib.util
import time

import numpy as np

from audio3a import evaluate as ev
from audio3a.ns import NoiseSuppressor, NsConfig
from audio3a.ns.suppressor import DEFAULT_METHOD, METHODS
from bench.scenarios.noisy import NOISE_KINDS, SNRS_DB, mixtures

RATE = 16000
METRICS = ("ovrl", "sig", "bak", "pesq_wb", "stoi")


def enhance_audio3a(x: np.ndarray, rate: int, config: NsConfig = NsConfig()) -> np.ndarray:
    """Run the stage frame by frame; return the output advanced by its latency (aligned to x)."""
    ns = NoiseSuppressor(rate, config)
    n = ns.frame_len
    delay = int(round(ns.latency_ms * rate / 1000))
    xp = np.concatenate([x, np.zeros(delay + n)]).astype(np.float32)
    frames = xp.size // n
    out = np.empty(frames * n, np.float32)
    for i in range(frames):
        out[i * n:(i + 1) * n] = ns._process(xp[i * n:(i + 1) * n])
    return out[delay:delay + x.size].astype(np.float64)


def _framewise(x, n, fn):
    frames = x.size // n
    out = np.zeros(x.size)
    for i in range(frames):
        out[i * n:(i + 1) * n] = fn(x[i * n:(i + 1) * n])
    return out


def enhance_webrtc(x, rate, level=2):
    import pywebrtc_audio

    ns = pywebrtc_audio.NoiseSuppressor(rate, 1, level)
    return _framewise(x, rate // 100, lambda f: ns.process(f.astype(np.float32)))


def enhance_speex(x, rate):
    import speexdsp_ns

    n = rate // 100
    ns = speexdsp_ns.NoiseSuppression.create(n, rate)

    def one(f):
        pcm = np.clip(np.round(f * 32768), -32768, 32767).astype(np.int16).tobytes()
        return np.frombuffer(ns.process(pcm), np.int16) / 32768.0

    return _framewise(x, n, one)


def enhance_rnnoise(x, rate):
    from pyrnnoise import rnnoise

    x48 = ev.resample(x, rate, 48000)
    state = rnnoise.create()
    try:
        y48 = _framewise(x48, rnnoise.FRAME_SIZE,
                         lambda f: rnnoise.process_mono_frame(
                             state, np.clip(np.round(f * 32767), -32768, 32767).astype(np.int16))[0] / 32767.0)
    finally:
        rnnoise.destroy(state)
    return ev.resample(y48, 48000, rate)[: x.size]


def _align(ref, y, max_delay):
    d = ev.estimate_delay(ref, y, max_delay)
    return np.concatenate([y[d:], np.zeros(d)])


def systems(peers: bool, quick: bool = False, deep: bool = False) -> dict:
    out = {}
    for method in (DEFAULT_METHOD,) if quick else METHODS:        # quick: the default method only
        out[f"audio3a ns (high, {method})"] = lambda x, r, m=method: enhance_audio3a(x, r, NsConfig("high", m))
        if deep:
            out[f"audio3a ns (very-high, {method})"] = (
                lambda x, r, m=method: enhance_audio3a(x, r, NsConfig("very-high", m)))
    if peers:
        if importlib.util.find_spec("pywebrtc_audio"):
            out["webrtc ns (high)"] = enhance_webrtc
        if importlib.util.find_spec("speexdsp_ns"):
            out["speex"] = enhance_speex
        if importlib.util.find_spec("pyrnnoise"):
            out["rnnoise (48 kHz)"] = enhance_rnnoise
    return out


def score(clean, y, rate) -> dict:
    mos = ev.dnsmos(y, rate)
    return {"ovrl": mos["ovrl"], "sig": mos["sig"], "bak": mos["bak"],
            "pesq_wb": ev.pesq_wb(clean, y, rate), "stoi": ev.stoi(clean, y, rate)}


def run(quick: bool = False, peers: bool | None = None, kinds=None, talkers=None, deep: bool = False) -> list[dict]:
    """Mean scores per system, per SNR and overall ("snr_db": "mean"); one dict per (system, SNR).

    Mixtures (module docstring): every talker with every kind when ``quick`` or ``deep``,
    else the kinds taken by the talkers in turn."""
    if peers is None:
        peers = not quick
    if talkers is None:
        talkers = (0, 1) if quick else (0, 1, 2, 3)
    if kinds is None:
        kinds = ("dishes", "babble") if quick else NOISE_KINDS
    if quick or deep:
        mixes = mixtures(talkers, kinds, SNRS_DB, RATE)
    else:
        mixes = [m for i, kind in enumerate(kinds)
                 for m in mixtures((talkers[i % len(talkers)],), (kind,), SNRS_DB, RATE)]
    table = {"noisy input": lambda x, r: x, **systems(peers, quick, deep)}
    rows = []
    for name, fn in table.items():
        per = []
        t0 = time.perf_counter()
        for m in mixes:
            y = fn(m.noisy, RATE)
            if name.startswith(("webrtc", "speex", "rnnoise")):
                y = _align(m.clean, y, RATE // 20)
            per.append({"snr_db": m.snr_db, "kind": m.kind, **score(m.clean, y, RATE)})
        for snr in (*SNRS_DB, "mean"):
            sel = [p for p in per if snr == "mean" or p["snr_db"] == snr]
            rows.append({"system": name, "snr_db": snr, "n": len(sel),
                         **{k: float(np.nanmean([p[k] for p in sel])) for k in METRICS}})
        rows[-1]["seconds"] = time.perf_counter() - t0
        rows[-1]["by_kind"] = {k: {mk: float(np.nanmean([p[mk] for p in per if p["kind"] == k])) for mk in METRICS}
                               for k in kinds}
    return rows


def markdown(rows) -> str:
    lines = ["| system | DNSMOS OVRL | SIG | BAK | PESQ-WB | STOI |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["snr_db"] == "mean":
            lines.append(f"| {r['system']} | {r['ovrl']:.2f} | {r['sig']:.2f} | {r['bak']:.2f} | "
                         f"{r['pesq_wb']:.2f} | {r['stoi']:.3f} |")
    lines += ["", "OVRL per SNR:", "", "| system | " + " | ".join(f"{s:+.0f} dB" for s in SNRS_DB) + " |",
              "|---|" + "---|" * len(SNRS_DB)]
    for name in dict.fromkeys(r["system"] for r in rows):
        vals = [r["ovrl"] for r in rows if r["system"] == name and r["snr_db"] != "mean"]
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer mixtures, no peers (~1 min)")
    ap.add_argument("--deep", action="store_true", help="every talker with every noise (160 mixtures, ~30 min)")
    ap.add_argument("--peers", action="store_true", help="also run the installed peers in quick mode")
    ap.add_argument("--by-kind", action="store_true", help="also print OVRL/BAK per noise kind")
    args = ap.parse_args()
    rows = run(quick=args.quick, peers=True if args.peers else None, deep=args.deep)
    print(markdown(rows))
    if args.by_kind:
        for r in rows:
            if "by_kind" in r:
                print(r["system"], {k: (round(v["ovrl"], 2), round(v["bak"], 2)) for k, v in r["by_kind"].items()})


if __name__ == "__main__":
    main()
