"""Quality benchmark: one table per stage, from every ``bench/quality_<stage>.py`` present.

Each such module exposes ``run(quick=False) -> list[dict]`` (one dict per
scenario/method row; numeric cells such as ``erle_db``, ``si_sdr_db``,
``pesq_wb``, ``stoi``, ``dnsmos_ovrl``, ``aecmos_echo``, ``plcmos``) and may
set ``COLUMNS`` (keys or ``(key, header)`` pairs) and ``TITLE``. The FEC
benchmark modules (``bench/fec_*.py``) are run the same way when they expose
``run``; a module with only ``main(argv)`` (``--quick`` passed through) has
its printed markdown captured instead. This script writes, under
``results/``: ``quality_<stage>.md`` and ``.json`` per module, ``quality.md``
with every table, and, when matplotlib is installed and the rows carry a
loss (a ``loss``, ``loss_pct`` or ``loss_rate`` field, or "NN %" in their
``condition``), ``quality_<stage>_vs_loss.png``.

    python -m bench.quality [--quick] [--only plc ns] [--out results] [--jobs N]

The modules run side by side in fresh processes, one per core up to two
(``--jobs 1``: one after the other in this process); the scores do not depend
on timing, and the few timings a module prints (fec_codes' throughput) are
marked as taken on a shared machine.

Model-based metrics come from the optional extra (``pip install 'audio3a[eval]'``);
a module that cannot compute one leaves the cell empty.
"""
import argparse
import concurrent.futures
import contextlib
import importlib
import inspect
import io
import json
import multiprocessing
import os
import sys
import time
import traceback
from pathlib import Path

from audio3a.evaluate import available

from .report import header, markdown_table, plot_quality_vs_loss, results_dir, write_json, write_text

BENCH_DIR = Path(__file__).resolve().parent
PATTERNS = ("quality_*.py", "fec_*.py")


def discover(only=None) -> dict:
    """{stage name: module name} of the quality modules present, in a stable order."""
    found = {}
    for pattern in PATTERNS:
        for p in sorted(BENCH_DIR.glob(pattern)):
            stage = p.stem[len("quality_"):] if p.stem.startswith("quality_") else p.stem
            if only and stage not in only and p.stem not in only:
                continue
            found[stage] = f"bench.{p.stem}"
    return found


def run_module(module_name: str, quick: bool) -> dict:
    """Import and run one quality module; errors are caught and reported, not raised."""
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module(module_name)
        fn = getattr(mod, "run", None)
        if not callable(fn):
            if callable(getattr(mod, "main", None)):
                return _run_main(mod, module_name, quick, t0)
            return {"module": module_name, "skipped": "no run() or main() function", "rows": [], "seconds": 0.0}
        params = inspect.signature(fn).parameters
        rows = fn(quick=quick) if "quick" in params else fn()
        rows = list(rows or [])
        doc = (mod.__doc__ or "").strip().splitlines()
        return {"module": module_name, "rows": rows, "seconds": time.perf_counter() - t0,
                "title": getattr(mod, "TITLE", doc[0] if doc else module_name),
                "columns": getattr(mod, "COLUMNS", None)}
    except Exception as exc:  # one broken helper must not sink the suite
        return {"module": module_name, "rows": [], "seconds": time.perf_counter() - t0,
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6)}


def _run_main(mod, module_name: str, quick: bool, t0: float) -> dict:
    """A module with only ``main(argv)`` that prints its own markdown: capture what it prints."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = mod.main(["--quick"] if quick else [])
    doc = (mod.__doc__ or "").strip().splitlines()
    res = {"module": module_name, "rows": [], "markdown": buf.getvalue(), "seconds": time.perf_counter() - t0,
           "title": getattr(mod, "TITLE", doc[0] if doc else module_name)}
    if code:
        res["error"] = f"main() returned {code}"
        res["traceback"] = buf.getvalue()[-2000:]
    return res


def _previous_seconds(out: Path, quick: bool) -> dict:
    """{stage: seconds} of the last run of the same kind in ``out`` (to start the longest first)."""
    cost = {}
    for p in out.glob("quality_*.json"):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("quick") == quick and isinstance(data.get("seconds"), (int, float)):
            cost[p.stem[len("quality_"):]] = float(data["seconds"])
    return cost


def _run_all(found: dict, quick: bool, jobs: int, verbose: bool, cost: dict | None = None):
    """Yield ``(stage, result)`` in discovery order; with ``jobs`` > 1 the modules run in that many
    fresh processes at once, the longest (by ``cost``, seconds of the last run; unknown ones
    first) first (quality scores do not depend on timing, and each module is single-threaded,
    so on 2 cores two run in about the time of one)."""
    if jobs <= 1 or len(found) <= 1:
        for stage, module in found.items():
            if verbose:
                print(f"[quality] {stage} ({module}) ...", file=sys.stderr, flush=True)
            yield stage, run_module(module, quick)
        return
    ctx = multiprocessing.get_context("spawn")
    order = sorted(found, key=lambda stage: -(cost or {}).get(stage, float("inf")))   # longest first
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        submitted = {stage: pool.submit(run_module, found[stage], quick) for stage in order}
        futures = {stage: submitted[stage] for stage in found}
        if verbose:
            print(f"[quality] {', '.join(found)} on {jobs} processes ...", file=sys.stderr, flush=True)
        for stage, fut in futures.items():
            try:
                res = fut.result()
            except Exception as exc:  # a worker that died (e.g. killed) must not sink the suite
                res = {"module": found[stage], "rows": [], "seconds": 0.0,
                       "error": f"{type(exc).__name__}: {exc}", "traceback": ""}
            if verbose:
                print(f"[quality] {stage}: {res.get('seconds', 0.0):.1f} s", file=sys.stderr, flush=True)
            yield stage, res


def default_jobs() -> int:
    """Quality modules run side by side, one per core, up to two."""
    return max(1, min(2, os.cpu_count() or 1))


def run(quick: bool = False, only=None, out=None, plots: bool = True, verbose: bool = True,
        jobs: int | None = None) -> dict:
    """Run every quality module found (``jobs`` at a time, default one per core up to two);
    write tables/JSON/plots; return {stage: result}."""
    jobs = default_jobs() if jobs is None else jobs
    out = results_dir(out)
    results = {}
    sections = [header("audio3a quality benchmark" + (" (quick)" if quick else ""))]
    have = available()
    sections.append("Model-based metrics available: "
                    + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in have.items()) + "\n")
    found = discover(only)
    for stage, res in _run_all(found, quick, jobs, verbose, _previous_seconds(out, quick)):
        results[stage] = res
        title = res.get("title") or stage
        text = f"\n### {stage}: {title}\n\n"
        if res.get("error"):
            text += f"FAILED after {res['seconds']:.1f} s: {res['error']}\n"
        elif res.get("skipped"):
            text += f"skipped: {res['skipped']}\n"
        elif res.get("markdown") is not None:
            text += res["markdown"].rstrip() + f"\n\n(printed by {res['module']}.main in {res['seconds']:.1f} s)\n"
        else:
            text += markdown_table(res["rows"], res.get("columns"))
            text += f"\n({len(res['rows'])} rows in {res['seconds']:.1f} s)\n"
            if plots:
                png = plot_quality_vs_loss(res["rows"], out / f"quality_{stage}_vs_loss.png", f"{stage}: quality vs loss")
                if png:
                    text += f"\n![{stage} quality vs loss]({png.name})\n"
                    res["plot"] = str(png)
        write_text(out / f"quality_{stage}.md", text.lstrip())
        write_json(out / f"quality_{stage}.json",
                   {k: v for k, v in res.items() if k != "traceback"} | {"quick": quick})
        sections.append(text)
    if not results:
        sections.append("\nNo bench/quality_<stage>.py modules found.\n")
    write_text(out / "quality.md", "".join(sections))
    results["_markdown"] = "".join(sections)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="each module's short version")
    ap.add_argument("--only", nargs="+", help="stages to run (e.g. plc ns aec agc codes)")
    ap.add_argument("--out", help="results folder (default: results/)")
    ap.add_argument("--jobs", type=int, help="modules run at once (default: one per core, up to 2)")
    args = ap.parse_args(argv)
    res = run(args.quick, args.only, args.out, jobs=args.jobs)
    print(res.pop("_markdown"))
    failed = [s for s, r in res.items() if r.get("error")]
    for s in failed:
        print(f"\n--- {s} failed:\n{res[s]['traceback']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
