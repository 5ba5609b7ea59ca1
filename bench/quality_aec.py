"""Echo cancellation quality on seeded echo scenarios and the real device recording.

Scenarios (``bench.scenarios.echo``, 16 kHz): far speech at -20 dBFS active
level, echo at -26 dBFS, kitchen noise at -70 dBFS RMS.

* far-end single talk (ST) through a simulated room (T60 0.3 s) at bulk delays
  0/40/330/600/950 ms, one with loudspeaker soft clipping, one through the
  measured corpus room response (T60 ~0.7 s), and the real device recording
  ``aec/farend_singletalk_*``;
* double talk (DT): near-end talker at -26 dBFS from 3 s on;
* echo-path change at 5 s.

Measures: ERLE = 10 log10(sum mic^2 / sum out^2) from 3 s to the end (after
convergence; ST only); ERLE over the 2 s after the path change; AECMOS echo
(ST, "st" model) on the whole 10 s file (the first seconds, before the filter
has converged, dominate it) and from 3 s on ("converged"); AECMOS degradation
(DT, "dt" model) via ``audio3a.evaluate``;
PESQ-WB of the DT output against the clean near end from 0.5 s after the
near end starts. The peer (WebRTC AEC3 from pywebrtc-audio 0.2.0, default
config, stream delay 0) runs on the same frames interleaved with audio3a in
one loop, so the per-frame times are side by side (noisy on a shared machine:
compare the ratio). Its output is aligned by cross-correlation for PESQ.

    .venv/bin/python -m bench.quality_aec            # all scenarios (~5 s on a 2-vCPU Xeon VM)
    .venv/bin/python -m bench.quality_aec --quick    # fewer delays, ~4 s
"""
import argparse
import importlib.util
import time

import numpy as np

from audio3a import evaluate as ev
from audio3a.aec import EchoCanceller
from audio3a.metrics import erle_db
from bench.scenarios.echo import device_recording, echo_scenario

RATE = 16000
SECONDS = 10.0
SETTLE_S = 3.0
TARGETS = {
    "erle_st_mean": ">= 30", "erle_measured": ">= 20", "erle_device": ">= 20",
    "aecmos_echo": ">= 4.3", "aecmos_echo_converged": ">= 4.3", "aecmos_dt_degradation": ">= 3.5", "pesq_dt": ">= 2.0",
    "erle_after_change": ">= 20", "erle_600_minus_40": ">= -3", "erle_950_minus_40": ">= -3",
    "latency_ms": "<= 4", "frame_us_p50": "< WebRTC", "frame_us_p99": "< WebRTC",
}


def _webrtc():
    if importlib.util.find_spec("pywebrtc_audio") is None:
        return None
    from pywebrtc_audio import EchoCanceller as W

    return W


def run_pair(mic, far, with_peer=True):
    """Run audio3a (and WebRTC AEC3) frame by frame; outputs aligned to mic, per-frame times (s)."""
    aec = EchoCanceller(RATE)
    n = aec.frame_len
    frames = mic.size // n
    mic32 = np.clip(mic, -1, 1 - 2 ** -15).astype(np.float32)
    far32 = np.clip(far, -1, 1 - 2 ** -15).astype(np.float32)
    W = _webrtc() if with_peer else None
    peer = W(RATE) if W is not None else None
    out = np.zeros(frames * n)
    pout = np.zeros(frames * n)
    t_a, t_p = np.zeros(frames), np.zeros(frames)
    for i in range(frames):
        s = slice(i * n, (i + 1) * n)
        t0 = time.perf_counter()
        aec.process_render(far32[s])
        out[s] = aec.process(mic32[s])
        t1 = time.perf_counter()
        if peer is not None:
            pout[s] = peer.process(mic32[s], far32[s])
        t2 = time.perf_counter()
        t_a[i], t_p[i] = t1 - t0, t2 - t1
    d = int(round(aec.latency_ms * RATE / 1000))
    out = np.concatenate([out[d:], np.zeros(d)])
    m = mic[: frames * n]
    if peer is None:
        pout = None
    return m, out, pout, t_a, t_p


def _align(ref, y, max_ms=40):
    d = ev.estimate_delay(ref, y, int(max_ms * RATE / 1000))
    return np.concatenate([y[d:], np.zeros(d)])


def _try(fn, *a, **k):
    try:
        return fn(*a, **k)
    except ImportError:
        return float("nan")


def run(quick: bool = False) -> list[dict]:
    """One row per metric: audio3a, WebRTC AEC3 (when installed), target, met."""
    delays = (40.0, 600.0, 950.0) if quick else (0.0, 40.0, 330.0, 600.0, 950.0)
    seeds = (0,) if quick else (0, 1)
    a3 = {"st": [], "mos": [], "mos_conv": []}
    pr = {"st": [], "mos": [], "mos_conv": []}
    by_delay_a, by_delay_p = {}, {}
    times_a, times_p = [], []
    k0 = int(SETTLE_S * RATE)
    have_peer = _webrtc() is not None

    def st_case(mic, far, key=None):
        m, out, pout, ta, tp = run_pair(mic, far)
        times_a.append(ta)
        times_p.append(tp)
        ea = erle_db(m[k0:], out[k0:])
        ep = erle_db(m[k0:], pout[k0:]) if pout is not None else float("nan")
        ma = _try(lambda: ev.aecmos(m, far[: m.size], out, RATE, "st")["echo"])
        mp = _try(lambda: ev.aecmos(m, far[: m.size], pout, RATE, "st")["echo"]) if have_peer else float("nan")
        # the same from 3 s on (after convergence)
        f = far[: m.size]
        a3["mos_conv"].append(_try(lambda: ev.aecmos(m[k0:], f[k0:], out[k0:], RATE, "st")["echo"]))
        pr["mos_conv"].append(_try(lambda: ev.aecmos(m[k0:], f[k0:], pout[k0:], RATE, "st")["echo"])
                              if have_peer else float("nan"))
        return ea, ep, ma, mp

    for seed in seeds:
        for dms in delays:
            s = echo_scenario(SECONDS, RATE, delay_ms=dms, seed=seed)
            ea, ep, ma, mp = st_case(s.mic, s.far)
            a3["st"].append(ea), pr["st"].append(ep), a3["mos"].append(ma), pr["mos"].append(mp)
            by_delay_a.setdefault(dms, []).append(ea)
            by_delay_p.setdefault(dms, []).append(ep)
    s = echo_scenario(SECONDS, RATE, delay_ms=40.0, clip_db=6.0, seed=3)
    ea, ep, ma, mp = st_case(s.mic, s.far)
    a3["st"].append(ea), pr["st"].append(ep), a3["mos"].append(ma), pr["mos"].append(mp)
    s = echo_scenario(SECONDS, RATE, delay_ms=40.0, room="measured", seed=4)
    meas = st_case(s.mic, s.far)
    a3["st"].append(meas[0]), pr["st"].append(meas[1]), a3["mos"].append(meas[2]), pr["mos"].append(meas[3])
    mic, far = device_recording(RATE)
    dev = st_case(mic, far)
    a3["mos"].append(dev[2]), pr["mos"].append(dev[3])

    # double talk
    dt_a, dt_p, pq_a, pq_p = [], [], [], []
    for seed in seeds:
        s = echo_scenario(SECONDS, RATE, delay_ms=330.0, double_talk=True, near_start_s=3.0, seed=10 + seed)
        m, out, pout, ta, tp = run_pair(s.mic, s.far)
        k = int(3.5 * RATE)
        dt_a.append(_try(lambda: ev.aecmos(m, s.far[: m.size], out, RATE, "dt")["degradation"]))
        pq_a.append(_try(ev.pesq_wb, s.near[k:m.size], out[k:], RATE))
        if pout is not None:
            pal = _align(m, pout)
            dt_p.append(_try(lambda: ev.aecmos(m, s.far[: m.size], pout, RATE, "dt")["degradation"]))
            pq_p.append(_try(ev.pesq_wb, s.near[k:m.size], pal[k:], RATE))

    # echo-path change
    ch_a, ch_p = [], []
    for seed in seeds:
        s = echo_scenario(SECONDS, RATE, delay_ms=40.0, path_change_s=5.0, seed=20 + seed)
        m, out, pout, ta, tp = run_pair(s.mic, s.far)
        a, b = 5 * RATE, 7 * RATE
        ch_a.append(erle_db(m[a:b], out[a:b]))
        if pout is not None:
            ch_p.append(erle_db(m[a:b], pout[a:b]))

    ta = np.concatenate(times_a) * 1e6
    tp = np.concatenate(times_p) * 1e6
    mean = lambda v: float(np.nanmean(v)) if len(v) else float("nan")  # noqa: E731
    lat = EchoCanceller(RATE).latency_ms
    values = {
        "erle_st_mean": (mean(a3["st"]), mean(pr["st"])),
        "erle_measured": (meas[0], meas[1]),
        "erle_device": (dev[0], dev[1]),
        "aecmos_echo": (mean(a3["mos"]), mean(pr["mos"])),
        "aecmos_echo_converged": (mean(a3["mos_conv"]), mean(pr["mos_conv"])),
        "aecmos_dt_degradation": (mean(dt_a), mean(dt_p)),
        "pesq_dt": (mean(pq_a), mean(pq_p)),
        "erle_after_change": (mean(ch_a), mean(ch_p)),
        "erle_600_minus_40": (mean(by_delay_a[600.0]) - mean(by_delay_a[40.0]),
                              mean(by_delay_p[600.0]) - mean(by_delay_p[40.0])),
        "erle_950_minus_40": (mean(by_delay_a[950.0]) - mean(by_delay_a[40.0]),
                              mean(by_delay_p[950.0]) - mean(by_delay_p[40.0])),
        "latency_ms": (lat, float("nan")),
        "frame_us_p50": (float(np.percentile(ta, 50)), float(np.percentile(tp, 50)) if have_peer else float("nan")),
        "frame_us_p99": (float(np.percentile(ta, 99)), float(np.percentile(tp, 99)) if have_peer else float("nan")),
    }
    rows = []
    for name, (a, p) in values.items():
        t = TARGETS[name]
        if t.startswith("<"):
            met = a < p if name.startswith("frame") else a <= float(t.split()[1])
        else:
            met = a >= float(t.split()[1])
        rows.append(dict(metric=name, audio3a=a, webrtc_aec3=p, target=t, met=bool(met)))
    return rows


def markdown(rows) -> str:
    lines = ["| metric | audio3a | WebRTC AEC3 | target | met |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['metric']} | {r['audio3a']:.2f} | {r['webrtc_aec3']:.2f} | {r['target']} | "
                     f"{'yes' if r['met'] else 'no'} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    t = time.time()
    print(markdown(run(quick=args.quick)))
    print(f"\n({time.time() - t:.0f} s; per-frame times measured interleaved in one process on a shared machine)")


if __name__ == "__main__":
    main()
