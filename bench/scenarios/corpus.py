"""Access to the development corpus (``../shared/corpus``), falling back to ``samples/``.

Set ``AUDIO3A_CORPUS`` to point elsewhere. Every loader returns mono float64
at the requested rate.
"""
import csv
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def corpus_dir() -> Path | None:
    """The corpus folder, or None when neither $AUDIO3A_CORPUS nor ../shared/corpus exists."""
    env = os.environ.get("AUDIO3A_CORPUS")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "corpus", ROOT / "shared" / "corpus"]:
        if (cand / "MANIFEST.csv").exists():
            return cand
    return None


def trace_path(name: str = "webrtc_opus_ng_high_is_lost.txt") -> Path | None:
    """A packet-loss trace of ``../shared/traces`` (beside the corpus), or None when absent."""
    c = corpus_dir()
    for cand in ([c.parent / "traces"] if c is not None else []) + [ROOT.parent / "shared" / "traces"]:
        if (cand / name).exists():
            return cand / name
    return None


@lru_cache(maxsize=None)
def manifest() -> tuple[dict, ...]:
    """Rows of MANIFEST.csv (file, kind, sample_rate, seconds, ...); samples/ rows when no corpus."""
    c = corpus_dir()
    if c is None:
        rows = []
        for p in sorted(SAMPLES.glob("*.wav")):
            kind = "speech" if "speech" in p.name and "noisy" not in p.name else "other"
            rows.append({"file": str(p), "kind": kind})
        return tuple(rows)
    with open(c / "MANIFEST.csv", newline="") as f:
        return tuple({**r, "file": str(c / r["file"])} for r in csv.DictReader(f))


def files(kind: str) -> list[Path]:
    """Paths of one kind: speech, noise, rir, aec_far, aec_mic."""
    return [Path(r["file"]) for r in manifest() if r["kind"] == kind]


@lru_cache(maxsize=64)
def _load_cached(path: str, rate: int) -> np.ndarray:
    x, fs = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if fs != rate:
        g = np.gcd(int(fs), int(rate))
        x = resample_poly(x, rate // g, fs // g)
    x.setflags(write=False)
    return x


def load(path, rate: int = 16000) -> np.ndarray:
    """Read a file as mono float64 at ``rate`` (cached; returns a copy)."""
    return _load_cached(str(path), int(rate)).copy()


def speech(i: int, rate: int = 16000) -> np.ndarray:
    """The i-th speech file (wrapping), mono float64 at ``rate``."""
    fs = files("speech")
    return load(fs[i % len(fs)], rate)
