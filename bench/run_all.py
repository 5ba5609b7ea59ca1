"""The whole benchmark suite: latency (with peers), concurrency, cold start, quality.

    python -m bench [--quick] [--out results] [--skip quality] [--only-quality plc ns]

Writes under ``results/`` (or ``--out``): ``bench.md`` / ``bench.json``
(latency, audio3a/peer ratios, concurrency, cold start), ``latency_16k.png``
and ``latency_48k.png`` (per-frame time distributions, when matplotlib is
installed), the quality tables and plots of ``bench/quality.py``, and
``README.md`` joining everything with the time each part took. Budget: the
full suite in <= 10 minutes on 2 cores, ``--quick`` in <= 2 minutes.
"""
import argparse
import sys
import time

from audio3a import benchmark

from . import peers, quality
from .report import markdown_table, plot_latency, results_dir, write_json, write_text


STABILITY_COLUMNS = [("rate", "rate Hz"), ("name", "stage"), ("p50_run1_us", "p50 run 1 µs"),
                     ("p50_run2_us", "p50 run 2 µs"), ("change_pct", "change %"),
                     ("normalized_change_pct", "change vs reference %")]


def stability(first_rows, quick: bool) -> dict:
    """Re-time everything once more (same candidates, same order) and compare audio3a p50s with the first run.

    ``change_pct`` is the raw change of each p50; ``normalized_change_pct`` the change of its
    ratio to the machine-speed reference row of the same run (``audio3a.benchmark.reference_candidate``),
    which divides out a host that runs every row faster or slower between the two runs.
    """
    rates = tuple(sorted({r["rate"] for r in first_rows if r.get("kind") == "audio3a"}))
    again = benchmark.latency(rates, None, 500 if quick else 3000, extra=peers.latency_candidates)["rows"]
    return compare_runs(first_rows, again)


def compare_runs(first_rows, second_rows) -> dict:
    """The stability rows of two latency runs (see ``stability``)."""
    second = {(r["rate"], r["name"]): r for r in second_rows}
    ref1 = {r["rate"]: r["p50_us"] for r in first_rows if r["name"] == benchmark.REFERENCE}
    ref2 = {r["rate"]: r["p50_us"] for r in second_rows if r["name"] == benchmark.REFERENCE}
    rows = []
    for r in first_rows:
        s = second.get((r["rate"], r["name"]))
        if r.get("kind") not in ("audio3a", "reference") or s is None or not r.get("p50_us"):
            continue
        row = {"rate": r["rate"], "name": r["name"], "p50_run1_us": r["p50_us"], "p50_run2_us": s["p50_us"],
               "change_pct": 100.0 * (s["p50_us"] - r["p50_us"]) / r["p50_us"]}
        if r["rate"] in ref1 and r["rate"] in ref2 and r.get("kind") == "audio3a":
            row["normalized_change_pct"] = 100.0 * ((s["p50_us"] / ref2[r["rate"]])
                                                    / (r["p50_us"] / ref1[r["rate"]]) - 1.0)
        rows.append(row)
    mine = [r for r in rows if r["name"] != benchmark.REFERENCE]
    worst = max((abs(r["change_pct"]) for r in mine), default=float("nan"))
    worst_norm = max((abs(r["normalized_change_pct"]) for r in mine if "normalized_change_pct" in r),
                     default=float("nan"))
    return {"rows": rows, "max_change_pct": worst, "max_normalized_change_pct": worst_norm}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the <= 2 minute version")
    ap.add_argument("--out", help="results folder (default: results/)")
    ap.add_argument("--skip", nargs="+", default=(), choices=("latency", "concurrency", "cold", "quality"),
                    help="parts to leave out")
    ap.add_argument("--only-quality", nargs="+", help="quality modules to run (default: all present)")
    args = ap.parse_args(argv)
    out = results_dir(args.out)
    t_start = time.perf_counter()
    timings = {}

    sections = tuple(s for s in ("latency", "concurrency", "cold") if s not in args.skip)
    t0 = time.perf_counter()
    print(f"[bench] {', '.join(sections)} ...", file=sys.stderr, flush=True)
    res = benchmark.run(quick=args.quick, sections=sections, extra=peers.latency_candidates,
                        json_path=out / "bench.json", keep_samples=True)
    res["notes"].append("Peers: " + "; ".join(f"{k}: {v}" for k, v in peers.status().items()))
    timings["latency/concurrency/cold start"] = time.perf_counter() - t0
    md = benchmark.render(res)
    samples = res.pop("latency_samples_us", {})
    for rate in (16000, 48000):
        tag = f"@ {rate // 1000} kHz"
        sel = {k.replace(f" {tag}", ""): v for k, v in samples.items() if k.endswith(tag)}
        png = plot_latency(sel, out / f"latency_{rate // 1000}k.png", f"per-frame time, {rate // 1000} kHz")
        if png:
            md += f"\n![per-frame time {rate // 1000} kHz]({png.name})\n"
    if "latency" in sections:
        t0 = time.perf_counter()
        stab = stability(res["latency"]["rows"], quick=args.quick)
        res["stability"] = stab
        md += ("\n### Stability: p50 of a second latency run against the first (target <= 10 % on an idle machine)\n\n"
               + markdown_table(stab["rows"], STABILITY_COLUMNS)
               + f"\nLargest p50 change: {stab['max_change_pct']:.1f} % raw, "
                 f"{stab['max_normalized_change_pct']:.1f} % against the machine-speed reference "
                 "(the reference row's own change is how much faster or slower the host ran)\n")
        timings["stability rerun"] = time.perf_counter() - t0
    write_text(out / "bench.md", md)
    write_json(out / "bench.json", res)
    print(md)

    qmd = ""
    if "quality" not in args.skip:
        t0 = time.perf_counter()
        q = quality.run(args.quick, args.only_quality, out)
        qmd = q.pop("_markdown")
        timings["quality"] = time.perf_counter() - t0
        for stage, r in q.items():
            timings[f"  quality {stage}"] = r.get("seconds", 0.0)
        print(qmd)
    total = time.perf_counter() - t_start
    budget = 120 if args.quick else 600
    lines = "\n".join(f"| {k} | {v:.1f} |" for k, v in timings.items())
    summary = (f"\n## Suite time\n\n| part | seconds |\n|---|---:|\n{lines}\n| **total** | **{total:.1f}** |\n\n"
               f"Budget {'(quick) ' if args.quick else ''}{budget} s: {'met' if total <= budget else 'MISSED'}.\n")
    write_text(out / "README.md", md + "\n" + qmd + summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
