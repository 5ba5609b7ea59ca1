"""Weak-network path end to end: FEC + jitter buffer + concealment quality, and the controllers.

Three parts (issue 8 targets):

1. **Target table.** Corpus speech (16 kHz, 20 ms frames, L16) through
   ``audio3a.simulate`` on seeded loss masks: Bernoulli 20 %, Gilbert-Elliott
   20 % / mean burst 4, GE 30 % / burst 4 (no jitter, 40 ms base delay).
   Schemes within <= 60 % overhead and <= 60 ms added delay, plus ``auto``
   (controller capped at 60 % overhead, 60 ms budget). PLCMOS v2 and PESQ-WB of the
   concealed output (``audio3a.evaluate``), means over the files. Added delay
   is the mean playout delay minus that of ``none`` on the same file and seed.
2. **Jitter buffer.** Seeded delay profiles (``fec.channel.DelayModel``):
   *moderate* (p95 ~92 ms, ~15 % of packets overtaken) and *spiky* (stalls:
   p99.5 ~330 ms), 10 minutes of 20 ms packets each. The adaptive buffer at
   several quantiles gives (mean playout delay, late loss) points; the fixed
   playout delay curve is ``late(D) = P(delay > D)`` (continuous, the ideal
   fixed buffer). For each point: the fixed delay that reaches the same late
   loss, interpolated.
3. **Controller vs fixed.** For stationary conditions, the full path with
   ``fec=auto`` against every fixed scheme of the controller's candidate set
   (same masks): residual loss after FEC and overhead; "best fixed" is the
   cheapest scheme whose residual is under 1 % (or the lowest residual when
   none is). Then a change of condition mid-stream: seconds until the
   controller settles on its final choice for the new condition.

    .venv/bin/python -m bench.quality_fec [--quick]
"""
import sys
import time

import numpy as np

from audio3a.simulate import simulate
from bench.scenarios import corpus
from fec.adapt import ControllerConfig, RateController, candidates
from fec.channel import Bernoulli, DelayModel, GilbertElliott, arrival_times
from fec.jitter import ACCELERATE, JitterBuffer, JitterConfig
from fec.sender import SenderConfig, red_ratio

RATE = 16000
FRAME_MS = 20
CONDITIONS = (
    ("Bernoulli 20 %", 0.20, None, 3.55),
    ("GE 20 %, burst 4", 0.20, 4.0, 3.3),
    ("GE 30 %, burst 4", 0.30, 4.0, 3.0),
)
# the peers' block code, the cheapest and the strongest RED layouts, and the controller; xor:4,
# red:1, red:@2 and the interleaved rs:2+1x2 were measured too in earlier runs and were never the
# best fixed scheme at these loss rates (the best were red:@1,3, red:@3, red:2 and rs:4+2; rs:2+1x2
# scored 0.08-0.56 PLCMOS under red:@3 at the same 60 ms); leaving them out keeps the suite in budget
SCHEMES = ("none", "rs:4+2", "red:@3", "red:2", "red:@1,3", "auto")
QUICK_SCHEMES = ("none", "rs:4+2", "red:@3", "red:@1,3", "auto")
MAX_OVERHEAD = 0.6
BUDGET_MS = 60.0

PROFILES = {
    "moderate": DelayModel(base_ms=50.0, jitter_ms=12.0, jitter="lognormal", tail_index=0.8,
                           reorder_rate=0.05, reorder_ms=30.0),
    "spiky": DelayModel(base_ms=40.0, jitter_ms=8.0, spike_rate_hz=0.08, spike_ms=350.0),
}
QUANTILES = (0.9, 0.95, 0.97, 0.98, 0.99)
TICK_PHASE_S = 0.0107      # the receiver's first playout tick (its clock is not the sender's)


def _scores(ref, out):
    from audio3a import evaluate
    have = evaluate.available()
    res = {}
    if have.get("plcmos"):
        res["plcmos"] = evaluate.plcmos(out, RATE)
    if have.get("pesq_wb"):
        res["pesq_wb"] = evaluate.pesq_wb(ref, out, RATE)
    return res


def target_table(quick=False):
    n_files = len(corpus.files("speech"))
    idx = [3, 4, 7] if quick else list(range(n_files))
    idx = [i for i in idx if i < n_files]
    schemes = QUICK_SCHEMES if quick else SCHEMES
    rows = []
    for name, loss, burst, target in CONDITIONS:
        per = {s: [] for s in schemes}
        for i in idx:
            x = corpus.speech(i, RATE).astype(np.float32)
            base_delay = None
            for s in schemes:
                y, rep = simulate(x, RATE, loss=loss, burst=burst, fec=s, seed=1000 + i, jitter_ms=0.0,
                                  max_overhead=MAX_OVERHEAD, budget_ms=BUDGET_MS)
                if s == "none":
                    base_delay = rep["delay_mean_ms"]
                rep.update(_scores(x, y))
                rep["added_ms"] = rep["delay_mean_ms"] - base_delay if base_delay is not None else float("nan")
                per[s].append(rep)
        for s in schemes:
            reps = per[s]
            row = dict(section="targets", condition=name, scheme=s, files=len(reps),
                       loss_before=np.mean([r["loss_before_fec"] for r in reps]),
                       loss_after=np.mean([r["loss_after_fec"] for r in reps]),
                       concealed=np.mean([r["concealed"] for r in reps]),
                       overhead=np.mean([r["overhead"] for r in reps]),
                       added_ms=np.mean([r["added_ms"] for r in reps]),
                       plcmos=np.mean([r.get("plcmos", np.nan) for r in reps]),
                       pesq_wb=np.mean([r.get("pesq_wb", np.nan) for r in reps]),
                       target=target)
            if s == "auto":
                row["chosen"] = ",".join(sorted({r["scheme"] for r in reps}))
            row["met"] = bool(row["plcmos"] >= target and row["overhead"] <= MAX_OVERHEAD + 1e-9
                              and row["added_ms"] <= BUDGET_MS + 1e-6)
            rows.append(row)
    return rows


def _buffer_run(send, arrival, config):
    """Adaptive buffer on first-copy arrival times; returns (mean delay ms, late fraction, stats)."""
    n = send.size
    order = np.argsort(arrival, kind="stable")
    order = order[np.isfinite(arrival[order])]
    jb = JitterBuffer(RATE, config)
    frame_ts = RATE * FRAME_MS // 1000
    k = 0
    delays = []
    t = TICK_PHASE_S
    end = send[-1] + 1.0
    while t < end:
        while k < order.size and arrival[order[k]] <= t:
            i = int(order[k])
            jb.insert(i, i * frame_ts, arrival[i], i)
            k += 1
        tick = jb.tick(t)
        if tick.item is not None:
            delays.append(t - send[tick.item])
            if tick.action == ACCELERATE and tick.extra is not None:
                delays.append(t - send[tick.extra])
        t += FRAME_MS / 1000.0
    st = jb.stats
    return 1000.0 * float(np.mean(delays)), st.late / n, st


def jitter_curves(quick=False):
    n = 6000 if quick else 30000
    send = np.arange(n) * FRAME_MS / 1000.0
    rows = []
    for name, model in PROFILES.items():
        arrival = arrival_times(send, None, model, seed=11)
        d = (arrival - send) * 1000.0
        fixed_d = np.linspace(0.0, float(np.percentile(d, 99.95)), 2000)
        fixed_late = np.array([np.mean(d > D) for D in fixed_d])
        grid_d = 1000.0 * TICK_PHASE_S + FRAME_MS * np.arange(int(fixed_d[-1] // FRAME_MS) + 2)
        grid_late = np.array([np.mean(d > D) for D in grid_d])
        p = np.percentile(d, [50, 95, 99, 99.5])
        reordered = float(np.mean(arrival[1:] < np.maximum.accumulate(arrival)[:-1]))
        for D in (60, 80, 100, 120, 150, 200, 250, 300, 350):
            rows.append(dict(section="jitter", profile=name, buffer=f"fixed {D} ms", quantile=None,
                             delay_mean_ms=float(D), late=float(np.mean(d > D)), p50=p[0], p95=p[1], p99=p[2],
                             p995=p[3], reordered=reordered))
        for q in QUANTILES:
            mean_ms, late, st = _buffer_run(send, arrival, JitterConfig(frame_ms=FRAME_MS, quantile=q))
            # smallest fixed delay with late loss no higher than the adaptive buffer's
            ok = np.flatnonzero(fixed_late <= late)
            same_late_fixed = float(fixed_d[ok[0]]) if ok.size else float("nan")
            ok = np.flatnonzero(grid_late <= late)
            same_late_grid = float(grid_d[ok[0]]) if ok.size else float("nan")
            rows.append(dict(section="jitter", profile=name, buffer=f"adaptive q={q}", quantile=q,
                             delay_mean_ms=mean_ms, late=late, fixed_same_late_ms=same_late_fixed,
                             fixed_grid_same_late_ms=same_late_grid,
                             expands=st.expands + st.stalls, accelerates=st.accelerates,
                             p50=p[0], p95=p[1], p99=p[2], p995=p[3], reordered=reordered))
    return rows


STATIONARY = (("Bernoulli 2 %", 0.02, None), ("Bernoulli 5 %", 0.05, None), ("Bernoulli 10 %", 0.10, None),
              ("GE 10 %, burst 2", 0.10, 2.0), ("Bernoulli 20 %", 0.20, None), ("GE 20 %, burst 4", 0.20, 4.0))


def _mask(loss, burst, n, seed):
    model = Bernoulli(loss) if burst is None else GilbertElliott(loss, burst)
    return model.mask(n, seed)


def controller_vs_fixed(quick=False):
    seconds = 40 if quick else 120
    x = np.concatenate([corpus.speech(i, RATE) for i in range(len(corpus.files("speech")))]).astype(np.float32)
    x = np.resize(x, seconds * RATE)
    ratio = red_ratio(SenderConfig(sample_rate=RATE, frame_ms=FRAME_MS))       # the RED copies' real size
    cfg = ControllerConfig(max_overhead=MAX_OVERHEAD, budget_ms=BUDGET_MS, red_ratio=ratio)
    cands = [s for s in candidates(FRAME_MS, BUDGET_MS, MAX_OVERHEAD, red_ratio=ratio)]
    conds = STATIONARY[1::2] if quick else STATIONARY
    rows = []
    for name, loss, burst in conds:
        mask = _mask(loss, burst, seconds * 50 * 8, seed=77)
        fixed = []
        for s in cands:
            _, rep = simulate(x, RATE, fec=str(s), loss_mask=mask, plc=False, seed=3)
            fixed.append((str(s), rep["loss_after_fec"] + rep["late_loss"], rep["overhead"]))
        _, rep = simulate(x, RATE, fec="auto", loss_mask=mask, plc=False, seed=3, max_overhead=MAX_OVERHEAD,
                          budget_ms=BUDGET_MS)
        auto = (rep["scheme"], rep["loss_after_fec"] + rep["late_loss"], rep["overhead"])
        ok = [f for f in fixed if f[1] <= cfg.target]
        best = min(ok, key=lambda f: (f[2], f[1])) if ok else min(fixed, key=lambda f: (f[1], f[2]))
        if ok:
            rel = (auto[2] - best[2]) / max(best[2], 1e-9) if best[2] > 0 else (0.0 if auto[2] < 0.01 else np.inf)
            metric = "overhead"
            within = auto[1] <= cfg.target * 1.1 and (auto[2] <= best[2] * 1.1 + 0.01)
        else:
            rel = (auto[1] - best[1]) / best[1]
            metric = "residual"
            within = auto[1] <= best[1] * 1.1
        rows.append(dict(section="controller", condition=name, auto_scheme=auto[0], auto_residual=auto[1],
                         auto_overhead=auto[2], best_fixed=best[0], best_residual=best[1], best_overhead=best[2],
                         metric=metric, relative=rel, within_10pct=bool(within),
                         switches=len(rep["schemes"]) - 1))
    # re-adaptation after a change of condition at half time
    half = seconds / 2.0
    for (a_name, la, ba), (b_name, lb, bb) in ((STATIONARY[0], STATIONARY[5]), (STATIONARY[5], STATIONARY[0])):
        _, rep = simulate(x, RATE, fec="auto", loss_schedule=[(0.0, la, ba), (half, lb, bb)], plc=False, seed=3,
                          max_overhead=MAX_OVERHEAD, budget_ms=BUDGET_MS)
        final = rep["schemes"][-1][1]
        ctrl = RateController(cfg)
        adequate = ctrl.best(lb, bb)
        first_ok = next((t for t, s in rep["schemes"] if t >= half and s == str(adequate)), None)
        # the scheme in force 5 s after the change
        at5 = [s for t, s in rep["schemes"] if t <= half + 5.0][-1]
        rows.append(dict(section="readapt", change=f"{a_name} -> {b_name}", change_at_s=half,
                         final_scheme=final, model_best=str(adequate), at_5s=at5,
                         settle_s=None if first_ok is None else first_ok - half, schemes=rep["schemes"]))
    return rows


def run(quick=False):
    t0 = time.time()
    rows = target_table(quick) + jitter_curves(quick) + controller_vs_fixed(quick)
    rows.append(dict(section="meta", seconds=time.time() - t0, quick=quick))
    return rows


def _fmt(v, pct=False, nd=2):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{100 * v:.1f} %" if pct else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def markdown(rows):
    out = ["### FEC + concealment, corpus speech, 20 ms frames (targets at <= 60 % overhead, <= 60 ms added)", "",
           "| condition | scheme | loss before | after FEC | concealed | overhead | added delay | PESQ-WB | PLCMOS "
           "| target | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] != "targets":
            continue
        scheme = r["scheme"] + (f" ({r['chosen']})" if "chosen" in r else "")
        out.append(f"| {r['condition']} | {scheme} | {_fmt(r['loss_before'], True)} | {_fmt(r['loss_after'], True)} "
                   f"| {_fmt(r['concealed'], True)} | {_fmt(r['overhead'], True)} | {r['added_ms']:.0f} ms "
                   f"| {_fmt(r['pesq_wb'])} | {_fmt(r['plcmos'])} | >= {r['target']} | "
                   f"{'yes' if r['met'] else 'no'} |")
    out += ["", "### Jitter buffer: late loss vs mean playout delay (10 min of 20 ms packets per profile)", "",
            "| profile | buffer | mean delay | late loss | fixed delay with the same late loss (continuous) "
            "| the same on the receiver's ticks |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "jitter":
            same = r.get("fixed_same_late_ms")
            grid = r.get("fixed_grid_same_late_ms")
            out.append(f"| {r['profile']} (p95 {r['p95']:.0f}, p99.5 {r['p995']:.0f} ms, "
                       f"{100 * r['reordered']:.0f} % overtaken) | {r['buffer']} | {r['delay_mean_ms']:.1f} ms "
                       f"| {100 * r['late']:.2f} % | {'' if same is None else f'{same:.1f} ms'} "
                       f"| {'' if grid is None else f'{grid:.1f} ms'} |")
    out += ["", "### Controller vs best fixed scheme (same masks, 60 % / 60 ms caps, residual = after FEC + late)", "",
            "| condition | auto (final) | residual | overhead | best fixed | residual | overhead | compared on "
            "| relative | within 10 % |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "controller":
            out.append(f"| {r['condition']} | {r['auto_scheme']} ({r['switches']} switches) "
                       f"| {_fmt(r['auto_residual'], True)} | {_fmt(r['auto_overhead'], True)} | {r['best_fixed']} "
                       f"| {_fmt(r['best_residual'], True)} | {_fmt(r['best_overhead'], True)} | {r['metric']} "
                       f"| {_fmt(r['relative'], True)} | {'yes' if r['within_10pct'] else 'no'} |")
    out += ["", "| change of condition | at | best for the new channel (model) | in force 5 s later | reached after "
            "| final |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "readapt":
            settle = "-" if r["settle_s"] is None else f"{r['settle_s']:.1f} s"
            out.append(f"| {r['change']} | {r['change_at_s']:.0f} s | {r['model_best']} | {r['at_5s']} | {settle} "
                       f"| {r['final_scheme']} |")
    meta = [r for r in rows if r["section"] == "meta"]
    if meta:
        out += ["", f"(run took {meta[0]['seconds']:.0f} s, quick={meta[0]['quick']}; timings on a shared machine)"]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(run(quick="--quick" in sys.argv[1:])))
