"""AGC quality against the issue's targets: level spread, level jumps, clipping, PESQ, pause noise.

Inputs (``bench/scenarios/levels.py``), all at 16 kHz:

* static: each speaker's file at an active speech level of -40, -30, -20 and
  -10 dBFS (the -10 dBFS files are clipped to 16-bit range where a recording
  would be). Output level = ``active_speech_level`` over the second half.
  Spread = max - min of the four output levels of one speaker; the table
  gives the worst speaker.
* jump: three 8 s segments at -35, -18 and -30 dBFS, a different speaker in
  each. Per segment, the output level over its second half; range = max -
  min of those three levels. Two speaker orders; the worst is reported.
* clipped-sample fraction: output samples at or beyond 16-bit full scale
  (|y| >= 32767/32768), over every output; the peak is printed as well.
* PESQ-WB (``pesq`` package): each static output against its clean input
  scaled to the output's active level; mean over files (min in the note).
  The detail also scores against the unclipped source: at -10 dBFS the
  input itself is clipped, which no gain control can undo.
* pause noise: utterances separated by 1.5 s gaps, plus corpus noise (dishes,
  room) at 20 and 10 dB SNR (active speech level minus noise RMS), speech at
  -40, -30 and -20 dBFS. Pause frames: 10 ms frames inside a gap, 0.2 s or
  more from speech, after the first 3 s. Noise floor = median frame power
  (dB) over the pause frames; rise = output floor - input floor, worst case
  reported. A second row gives the rise of the mean pause power, which also
  counts clinks and the gate's closing transitions.

Every installed AGC peer of ``bench/peers.py`` (WebRTC AGC2 through
pywebrtc-audio) runs on the same files and gets its own column; the "met"
column judges audio3a.

    .venv/bin/python -m bench.quality_agc [--quick]
"""
import sys

import numpy as np

from audio3a.agc import AgcConfig
from audio3a.metrics import active_speech_level
from bench.scenarios import levels

RATE = 16000
STATIC_DBFS = (-40.0, -30.0, -20.0, -10.0)
TARGETS = {"spread": 1.0, "jump_range": 3.0, "clipped": 0.0, "pesq": 3.2, "noise_rise": 6.0}


def run_agc(x: np.ndarray, config: AgcConfig = AgcConfig(), rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """Process ``x`` frame by frame; returns (output, gain in dB per frame)."""
    agc = config.build(rate)
    n = agc.frame_len
    frames = x[: x.size // n * n].astype(np.float32).reshape(-1, n)
    y = np.empty(frames.shape, np.float64)
    gains = np.empty(frames.shape[0])
    for i, f in enumerate(frames):
        y[i] = agc.process(f)
        gains[i] = agc.stats.gain_db
    return y.reshape(-1), gains


def second_half_level(y: np.ndarray, rate: int = RATE) -> float:
    return active_speech_level(y[y.size // 2:], rate)[0]


def pesq_wb(clean: np.ndarray, out: np.ndarray, rate: int = RATE) -> float:
    from pesq import pesq

    ref = clean[: out.size]
    ref = ref * 10 ** ((active_speech_level(out, rate)[0] - active_speech_level(ref, rate)[0]) / 20.0)
    return float(pesq(rate, ref, out, "wb"))


def _frame_db(x, n=160):
    return 10 * np.log10(np.mean(x[: x.size // n * n].reshape(-1, n) ** 2, axis=1) + 1e-20)


def _clip_count(y):
    return int(np.sum(np.abs(y) >= levels.FULL_SCALE)), y.size, float(np.max(np.abs(y)))


def _agc_method(cfg):
    def process(x):
        return run_agc(x, cfg)[0]
    return process


def methods(config: AgcConfig | None = None) -> dict:
    """{name: whole-signal processor}: audio3a and each AGC peer that is installed."""
    out = {"audio3a": _agc_method(config or AgcConfig())}
    try:
        from bench import peers
    except ImportError:  # pragma: no cover - peers module absent
        return out
    for name, cls in peers.available_adapters(RATE).items():
        if cls.compare == "agc":
            out[cls.name] = (lambda n: lambda x: peers.process(n, x, RATE))(name)
    return out


def evaluate(process, quick: bool = False) -> tuple[dict, list[dict]]:
    """The target metrics of one method ({metric key: value}, notes) and its per-file detail rows."""
    speakers = levels.SPEAKERS[:2] if quick else levels.SPEAKERS
    clip_n = clip_total = 0
    peak = 0.0
    detail = []

    def count(y):
        nonlocal clip_n, clip_total, peak
        c, t, p = _clip_count(y)
        clip_n, clip_total, peak = clip_n + c, clip_total + t, max(peak, p)

    spreads, scores = [], []
    for name in speakers:
        src = levels.speaker(name, RATE)
        outs = []
        for lvl in STATIC_DBFS:
            x, in_clipped = levels.set_level(src, lvl, RATE)
            y = process(x)
            count(y)
            out_level = second_half_level(y)
            score = pesq_wb(x, y) if not quick or lvl in (-40.0, -10.0) else float("nan")
            score_src = pesq_wb(src, y) if score == score else float("nan")
            outs.append(out_level)
            if score == score:
                scores.append(score)
            detail.append({"input": f"{name} @ {lvl:g} dBFS", "out_level_dbfs": out_level,
                           "input_clipped": in_clipped, "pesq_wb": score, "pesq_wb_vs_source": score_src})
        spreads.append(max(outs) - min(outs))

    ranges = []
    orders = [levels.SPEAKERS[:3]] if quick else [levels.SPEAKERS[:3], levels.SPEAKERS[3:6]]
    for spk in orders:
        x, bounds = levels.jump(speakers=spk, rate=RATE)
        y = process(x)
        count(y)
        segs = [active_speech_level(y[(a + b) // 2:b], RATE)[0] for a, b in bounds]
        ranges.append(max(segs) - min(segs))
        detail.append({"input": "jump -35/-18/-30: " + ", ".join(spk), "out_level_dbfs": float(np.mean(segs)),
                       "segment_levels": " / ".join(f"{v:.1f}" for v in segs)})

    floor_rises, power_rises = [], []
    snrs = (20.0,) if quick else (20.0, 10.0)
    clean, gap = levels.paused(rate=RATE)
    n = clean.size // 160 * 160
    # pause samples: in a gap, at least 0.2 s from speech on both sides, after the first 3 s
    edge = int(0.2 * RATE)
    pause = gap.copy()
    for k in range(1, edge + 1):
        pause[k:] &= gap[:-k]
        pause[:-k] &= gap[k:]
    pause = pause[:n] & (np.arange(n) / RATE >= 3.0)
    pause_frames = pause.reshape(-1, 160).all(axis=1)
    for kind in ("dishes", "room"):
        for snr in snrs:
            for lvl in (-40.0, -30.0, -20.0):
                sp, _ = levels.set_level(clean, lvl, RATE)
                nz = levels.noise(kind, sp.size, RATE, seed=1) * 10 ** ((lvl - snr) / 20.0)
                x = np.clip(sp + nz, -1.0, levels.FULL_SCALE)[:n]
                y = process(x)[:n]
                count(y)
                floor_rise = float(np.median(_frame_db(y)[pause_frames]) - np.median(_frame_db(x)[pause_frames]))
                power_rise = 10 * np.log10(np.mean(y[pause] ** 2) / np.mean(x[pause] ** 2))
                floor_rises.append(floor_rise)
                power_rises.append(power_rise)
                detail.append({"input": f"paused speech @ {lvl:g} dBFS + {kind} @ {snr:g} dB SNR",
                               "out_level_dbfs": active_speech_level(y[y.size // 2:], RATE)[0],
                               "pause_floor_rise_db": floor_rise, "pause_power_rise_db": power_rise})

    values = {"spread": max(spreads), "jump_range": max(ranges), "clipped": clip_n / clip_total,
              "pesq": float(np.mean(scores)), "noise_rise": max(floor_rises), "noise_power_rise": max(power_rises)}
    notes = {"spread": f"mean {np.mean(spreads):.2f} over {len(spreads)} speakers",
             "jump_range": " / ".join(f"{r:.2f}" for r in ranges),
             "clipped": f"output peak {20 * np.log10(peak):.2f} dBFS over {clip_total} samples",
             "pesq": f"min {min(scores):.2f} over {len(scores)} files",
             "noise_rise": f"median frame power; {len(floor_rises)} noisy files",
             "noise_power_rise": "mean power: clinks and gate transitions included"}
    return {"values": values, "notes": notes}, detail


METRICS = (
    ("spread", "output level spread across the 4 static inputs, dB (worst speaker)", "<= 1.0"),
    ("jump_range", "output level range on the jump file, dB (worst)", "<= 3.0"),
    ("clipped", "clipped-sample fraction", "0"),
    ("pesq", "PESQ-WB vs level-matched clean (mean)", ">= 3.2"),
    ("noise_rise", "noise floor in pauses raised by, dB (worst)", "<= 6"),
    ("noise_power_rise", "noise power in pauses raised by, dB (worst)", "(<= 6)"),
)
TITLE = "AGC: level spread, level jumps, clipping, PESQ-WB, pause noise (16 kHz)"


def _met(key, v):
    if key == "clipped":
        return v == 0.0
    if key == "pesq":
        return v >= TARGETS["pesq"]
    return v <= TARGETS["noise_rise" if key == "noise_power_rise" else key]


def run(quick: bool = False, config: AgcConfig | None = None, with_detail: bool = False):
    """Targets table: one row per metric, a column per method (audio3a first, then installed peers)."""
    results = {name: evaluate(fn, quick) for name, fn in methods(config).items()}
    rows = []
    for key, label, target in METRICS:
        row = {"metric": label}
        for name, (summary, _) in results.items():
            row[name] = summary["values"][key]
        row["target"] = target
        row["met"] = _met(key, results["audio3a"][0]["values"][key])
        row["note"] = results["audio3a"][0]["notes"][key]
        rows.append(row)
    if with_detail:
        return rows, {name: detail for name, (_, detail) in results.items()}
    return rows


if __name__ == "__main__":
    from bench.report import header, markdown_table

    rows, detail = run(quick="--quick" in sys.argv, with_detail=True)
    print(header("AGC quality (bench/quality_agc.py)"))
    print(markdown_table(rows))
    for name, d in detail.items():
        print(f"\n{name}, per file:\n")
        print(markdown_table(d, ["input", "out_level_dbfs", "input_clipped", "pesq_wb", "pesq_wb_vs_source",
                                 "segment_levels", "pause_floor_rise_db", "pause_power_rise_db"]))
