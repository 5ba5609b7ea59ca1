"""Benchmark output for the scripts in ``bench/``: tables, JSON and plots under ``results/``.

The table/JSON/header helpers live in ``audio3a.report`` (so ``audio3a bench``
works from an installed package); this module re-exports them and adds the
optional matplotlib plots.
"""
import re
from pathlib import Path

import numpy as np

from audio3a.report import (  # noqa: F401  (re-exported)
    cpu_model,
    format_value,
    header,
    machine,
    markdown_table,
    results_dir,
    write_json,
    write_text,
)


def _pyplot():
    """matplotlib.pyplot with a file-only backend, or None when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_latency(samples_us: dict, path, title: str = "per-frame time") -> Path | None:
    """Histogram-like CDF of per-frame times, one curve per label: {label: array of µs}."""
    plt = _pyplot()
    if plt is None or not samples_us:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, t in samples_us.items():
        t = np.sort(np.asarray(t, dtype=np.float64))
        if t.size == 0:
            continue
        ax.plot(t, np.arange(1, t.size + 1) / t.size, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("time per 10 ms frame (µs)")
    ax.set_ylabel("fraction of frames ≤ x")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def loss_of(row: dict):
    """The loss rate a quality row was measured at, or None.

    From a numeric 'loss', 'loss_pct' or 'loss_rate' field, else from a
    percentage in its 'condition' text (e.g. "GE 20 % burst 4" -> 20.0).
    """
    for key in ("loss", "loss_pct", "loss_rate"):
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    m = _PERCENT.search(str(row.get("condition", "")))
    return float(m.group(1)) if m else None


def plot_quality_vs_loss(rows, path, title: str) -> Path | None:
    """One subplot per numeric metric against loss rate, a line per method/condition label.

    Rows without a loss field are skipped; the label is the row's 'method'
    (or 'system', 'scheme', 'name') plus its 'channel'/'model' when present.
    """
    plt = _pyplot()
    rows = [r for r in rows if loss_of(r) is not None]
    if plt is None or not rows:
        return None
    skip = {"loss", "loss_pct", "loss_rate", "seed", "seconds", "n", "files"}
    metrics = []
    for r in rows:
        for k, v in r.items():
            if k not in skip and k not in metrics and isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics.append(k)
    metrics = metrics[:6]
    if not metrics:
        return None

    def label(r):
        parts = [str(r[k]) for k in ("method", "system", "scheme", "name") if k in r][:1]
        parts += [str(r[k]) for k in ("channel", "model", "burst") if k in r]
        if "condition" in r and not any(k in r for k in ("loss", "loss_pct", "loss_rate")):
            rest = " ".join(_PERCENT.sub("", str(r["condition"])).split())
            if rest:
                parts.append(rest)       # "GE burst 4" apart from "Bernoulli"
        return " ".join(parts) or "audio3a"

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        series = {}
        for r in rows:
            v = r.get(m)
            if isinstance(v, (int, float)) and np.isfinite(v):
                series.setdefault(label(r), []).append((loss_of(r), float(v)))
        for lab, pts in series.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=lab)
        ax.set_xlabel("loss")
        ax.set_title(m)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize="x-small")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
