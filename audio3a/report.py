"""Benchmark output: the machine header, markdown tables and JSON files.

Used by ``audio3a bench`` and by the scripts in ``bench/`` (which re-export
it as ``bench.report``), so an installed audio3a reports the same way as
the repository.
"""
import json
import math
import os
import platform
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict:
    """What a timing depends on: CPU, core count, load, library versions."""
    import numba

    from . import __version__

    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg_1_5_15": load,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "audio3a": __version__,
        "platform": platform.platform(),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def header(title: str, info: dict | None = None) -> str:
    """A markdown heading plus one line naming the machine the figures come from."""
    m = info or machine()
    load = "" if m.get("load_avg_1_5_15") is None else f", load {m['load_avg_1_5_15'][0]:g}"
    return (
        f"## {title}\n\n"
        f"CPU: {m['cpu']} ({m['cores']} cores{load}); Python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}, audio3a {m['audio3a']}; {m['utc']}\n"
    )


def format_value(v) -> str:
    """Compact cell text: 3 significant figures for floats, '–' for NaN/None."""
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        a = abs(v)
        if a >= 100 or v == 0:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows, columns=None) -> str:
    """A GitHub markdown table of ``rows`` (a list of dicts).

    ``columns``: the keys to show, in order, each a key or a ``(key, header)``
    pair; by default every key in order of first appearance whose values are
    scalars (nested dicts/lists go to the JSON, not the table). Missing cells
    print as '–'. Numeric columns are right-aligned.
    """
    rows = list(rows)
    if columns is None:
        keys = []
        for r in rows:
            keys.extend(k for k, v in r.items() if k not in keys and not isinstance(v, (dict, list, tuple)))
        columns = keys
    cols = [(c, c) if isinstance(c, str) else (c[0], c[1]) for c in columns]
    if not cols:
        return ""
    numeric = [
        all(isinstance(r.get(k), (int, float, np.integer, np.floating)) and not isinstance(r.get(k), bool)
            for r in rows if r.get(k) is not None) and any(r.get(k) is not None for r in rows)
        for k, _ in cols
    ]
    lines = ["| " + " | ".join(h for _, h in cols) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(format_value(r.get(k)) for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


def _jsonable(o):
    if is_dataclass(o) and not isinstance(o, type):
        return asdict(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def _finite(o):
    """NaN/inf are not JSON: write them as null / very large numbers' strings."""
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def results_dir(path=None) -> Path:
    """The output folder: ``path``, else $AUDIO3A_RESULTS, else ./results (created)."""
    d = Path(path or os.environ.get("AUDIO3A_RESULTS") or "results")
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_json(path, data) -> Path:
    """Write ``data`` (dicts, lists, numpy scalars/arrays, dataclasses) as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(json.loads(json.dumps(data, default=_jsonable), parse_constant=float)),
                      indent=2, default=_jsonable)
    path.write_text(text + "\n")
    return path


def write_text(path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
