"""``audio3a bench``: per-frame latency, concurrency and cold start on this machine.

Latency. Every stage of the capture chain (discovered from
``audio3a.registry``, so a stage gets its row as soon as it is registered),
the packet-loss concealer when ``audio3a.plc`` exists, and the full
``Pipeline`` process the same 10 ms frames of speech at 16 and 48 kHz. The
candidates (and the peers, from ``bench/peers.py``) are timed *interleaved*:
each block of 20 frames goes through every candidate before the next block,
each call bracketed by ``time.perf_counter_ns`` with the garbage collector
off, after a warm-up. Interleaving makes the ratios between rows hold on a
loaded machine: a burst of load hits all rows alike. Reported:
p50, p99, max and mean µs per frame, the real-time factor (mean time / 10 ms)
and how many sessions one core could carry (10 ms / mean). A last row,
``reference (fixed kernel)``, times a fixed jitted workload that is the same
in every version (``reference_work``): on a shared host whose speed changes
between runs (by up to ~1.5x on the 2-core VM this was written on, every row
alike), p50s divided by it compare across runs (``bench`` stability).

Concurrency. N sessions (1, 2, 4, ... 64), each its own ``Pipeline`` on a
``ThreadPoolExecutor`` worker, process their frames as fast as they can;
frames/s in total and per busy core, and the CPU time the workers spent per
frame (``time.thread_time``), whose sessions per core (10 ms / CPU time)
hold on a host where other processes take part of the cores, and how often
a worker slept per frame (voluntary context switches: waits for the GIL). The
kernels release the GIL, so two threads on two idle cores come close to twice
one; a pure-Python control workload (which holds the GIL) is measured the same
way to show what no scaling looks like. Each workload runs once before its
clock starts, so no row times a compilation. A second table answers "how many
sessions can one core carry" the way a media server runs them: N sessions
(1, 16, 100, 200) served in turn by one thread, every session its next frame
per 10 ms tick, CPU µs per frame and sessions per core. One session stays in
the core's caches between its frames; a hundred do not (each holds ~0.9 MB
at 16 kHz), and every frame then pays for fetching its session's state.

Cold start. A fresh interpreter imports audio3a, builds a default
``Pipeline`` and processes one frame; timed with an empty Numba cache
(``NUMBA_CACHE_DIR`` pointed at a new temporary folder, so every kernel
compiles) and again with that cache warm.

Audio: ``--audio PATH`` (a file or a folder of .wav/.flac), else the corpus
($AUDIO3A_CORPUS or ../shared/corpus), else ``samples/``, else synthetic
speech-like sound (a pulse train through moving formants with a syllable
envelope).
"""
import argparse
import gc
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ._jit import kernel
from .frames import SAMPLE_RATES, frame_len_for
from .report import header, machine, markdown_table, write_json, write_text

FRAME_S = 0.01
SESSIONS = (1, 2, 4, 8, 16, 32, 64)
ROUND_ROBIN_SESSIONS = (1, 16, 100, 200)
_REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- audio
def _audio_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in (".wav", ".flac"))


def _corpus_speech() -> list[Path]:
    roots = [os.environ.get("AUDIO3A_CORPUS"), Path.cwd().parent / "shared" / "corpus",
             _REPO.parent / "shared" / "corpus"]
    for root in roots:
        if root and (Path(root) / "speech").is_dir():
            return _audio_files(Path(root) / "speech")
    for root in (Path.cwd() / "samples", _REPO / "samples"):
        if root.is_dir():
            files = [p for p in _audio_files(root) if "speech" in p.name]
            if files:
                return files
    return []


def synthetic_speech(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Speech-like test sound: glottal pulses (F0 drifting 90-240 Hz) plus breath noise
    through three formant resonators re-drawn every 120 ms, under a 4 Hz syllable
    envelope with pauses; -20 dBFS RMS, peaks soft-limited below 0.9."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    seg = int(0.12 * sample_rate)
    out = np.zeros(n)
    phase = 0.0
    for start in range(0, n, seg):
        m = min(seg, n - start)
        f0 = rng.uniform(90, 240)
        t = np.arange(m)
        inst = phase + np.cumsum(np.full(m, f0 / sample_rate))
        pulses = (np.diff(np.floor(np.concatenate([[phase], inst]))) > 0).astype(float)
        phase = inst[-1] % 1.0
        src = pulses + 0.05 * rng.standard_normal(m)
        y = src
        for lo, hi in ((300, 900), (900, 2500), (2400, 3500)):
            fc = rng.uniform(lo, hi)
            r = math.exp(-math.pi * 120.0 / sample_rate)
            a = [1.0, -2 * r * math.cos(2 * math.pi * fc / sample_rate), r * r]
            y = lfilter([1.0 - r], a, y)
        y -= y.mean()
        y /= np.sqrt(np.mean(y ** 2)) + 1e-12
        env = np.sin(np.pi * (start + t) / (0.25 * sample_rate)) ** 2
        if rng.random() < 0.2:
            env *= 0.0
        out[start:start + m] = y * env
    out *= 0.1 / (np.sqrt(np.mean(out ** 2)) + 1e-12)
    return np.tanh(out / 0.9) * 0.9


def speech_signal(sample_rate: int, seconds: float, path=None, index: int = 0) -> tuple[np.ndarray, str]:
    """``seconds`` of speech at ``sample_rate`` (files concatenated, looped) and where it came from."""
    import soundfile as sf
    from scipy.signal import resample_poly

    files = _audio_files(Path(path)) if path else _corpus_speech()
    if not files:
        return synthetic_speech(seconds, sample_rate, seed=index), "synthetic speech-like sound"
    need = int(seconds * sample_rate)
    parts, total, i = [], 0, index
    while total < need and i < index + 4 * len(files):
        x, fs = sf.read(str(files[i % len(files)]), dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        if fs != sample_rate:
            g = math.gcd(int(fs), int(sample_rate))
            x = resample_poly(x, sample_rate // g, fs // g)
        parts.append(x)
        total += x.size
        i += 1
    x = np.concatenate(parts)
    while x.size < need:
        x = np.concatenate([x, x])
    x = np.clip(x[:need], -0.999, 0.999)
    where = str(Path(path)) if path else str(files[0].parent)
    return x, where


def frames_of(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n_frames, frame_len) float32 C-contiguous frames of ``x``."""
    fl = frame_len_for(sample_rate)
    n = x.size // fl
    return np.ascontiguousarray(x[: n * fl].reshape(n, fl), dtype=np.float32)


# ---------------------------------------------------------------- candidates
class Candidate:
    """Something timed per frame: ``call(i)`` processes frame i of the prepared signal."""

    def __init__(self, name: str, call, latency_ms=None, kind: str = "audio3a", frames_used=None,
                 compare=None):
        self.name = name
        self.call = call
        self.latency_ms = latency_ms
        self.kind = kind
        self.compare = compare  # for a peer: the audio3a row it is compared with (name or name prefix)
        self.frames_used = frames_used  # optional bool mask: keep only these frames' times


def _echo_scene(sample_rate: int, n_frames: int, path):
    """Near speech, far speech and a mic = near + delayed, filtered far (an echo scene)."""
    fl = frame_len_for(sample_rate)
    seconds = n_frames * fl / sample_rate + 0.1
    near, _ = speech_signal(sample_rate, seconds, path, index=0)
    far, _ = speech_signal(sample_rate, seconds, path, index=1)
    delay = int(0.05 * sample_rate)
    echo = np.concatenate([np.zeros(delay), far[:-delay]])
    h = np.exp(-np.arange(int(0.03 * sample_rate)) / (0.006 * sample_rate))
    echo = np.convolve(echo, h / np.sqrt(np.sum(h ** 2)))[: far.size] * 0.3
    mic = np.clip(0.5 * near + echo, -0.999, 0.999)
    return frames_of(mic, sample_rate)[:n_frames], frames_of(far, sample_rate)[:n_frames]


def registered_stages() -> list[tuple[str, str]]:
    """(slot, "module:Config") of the capture chain, as registered now."""
    from .registry import CAPTURE_CHAIN

    return list(CAPTURE_CHAIN)


def available_stages(sample_rate: int = 16000) -> tuple[dict, dict]:
    """({name: factory() -> stage}, {name: why unavailable}) for the registered stages and PLC."""
    ok, missing = {}, {}
    for slot, spec in registered_stages():
        module, _, cls = spec.partition(":")
        try:
            config = getattr(importlib.import_module(module), cls)
            config().build(sample_rate)
        except Exception as exc:  # a stage being written may not import yet
            missing[slot] = f"{type(exc).__name__}: {exc}"
            continue
        ok[slot] = (lambda c=config: lambda rate: c().build(rate))()
    try:
        from .plc import Concealer  # noqa: F401
        _make_concealer(sample_rate)
        ok["plc"] = _make_concealer
    except Exception as exc:
        missing["plc"] = f"{type(exc).__name__}: {exc}"
    return ok, missing


def _make_concealer(sample_rate: int):
    from .plc import Concealer

    return Concealer(sample_rate)


def _loss_mask(n: int, rate: float = 0.2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < rate


def build_candidates(sample_rate: int, names, mic, far, include_pipeline=True) -> tuple[list, dict]:
    """Candidates for the stages in ``names`` (None = all available) and the full pipeline."""
    from .pipeline import Pipeline
    from .stage import RenderStage

    factories, missing = available_stages(sample_rate)
    wanted = list(factories) if names is None else [n for n in names if n != "pipeline"]
    cands = []
    for name in wanted:
        if name not in factories:
            if name not in missing:
                missing[name] = "no such stage (see audio3a.registry.CAPTURE_CHAIN, or 'plc'/'pipeline')"
            continue
        stage = factories[name](sample_rate)
        if name == "plc":
            # two concealers fed the same frames and loss mask: one timed on the
            # received frames, one on the concealed ones
            lost = _loss_mask(mic.shape[0])
            for label, mask in (("plc (received)", ~lost), ("plc (concealed)", lost)):
                plc = stage if label.endswith("(received)") else factories[name](sample_rate)
                conceal = getattr(plc, "conceal", None) or (lambda s=plc: s.process(None))

                def conceal_call(i, s=plc, lost=lost, conceal=conceal):
                    if lost[i]:
                        conceal()
                    else:
                        s.process(mic[i])

                cands.append(Candidate(label, conceal_call, getattr(plc, "latency_ms", None), frames_used=mask))
            continue
        if isinstance(stage, RenderStage):
            def call(i, s=stage):
                s.process_render(far[i])
                s.process(mic[i])
        else:
            def call(i, s=stage):
                s.process(mic[i])
        cands.append(Candidate(name, call, stage.latency_ms))
    if include_pipeline and (names is None or "pipeline" in names):
        try:
            p = Pipeline(sample_rate)
        except Exception as exc:  # a registered stage that does not build yet
            missing["pipeline"] = f"{type(exc).__name__}: {exc}"
            return cands, missing
        label = "pipeline (" + "+".join(s.name for s in p.stages) + ")"
        if p._render_stages:
            cands.append(Candidate(label, lambda i, p=p: p.process(mic[i], far[i]), p.latency_ms))
        else:
            cands.append(Candidate(label, lambda i, p=p: p.process_capture(mic[i]), p.latency_ms))
    return cands, missing


# ---------------------------------------------------------------- machine-speed reference
@kernel
def reference_work(X, W, Y, x, h, y):
    """A fixed workload shaped like a stage: Y_k = sum_p X_pk W_pk over a (20, 257) complex
    block (the AEC's echo estimate) and y = h * x, a 64-tap FIR over one 160-sample frame."""
    n_part, n_bins = X.shape
    for k in range(n_bins):
        Y[k] = 0.0
    for p in range(n_part):
        for k in range(n_bins):
            Y[k] += X[p, k] * W[p, k]
    for n in range(y.shape[0]):
        acc = 0.0
        for t in range(h.shape[0]):
            acc += h[t] * x[n + t]
        y[n] = acc


def reference_candidate() -> Candidate:
    """The machine-speed reference row: ``reference_work`` on fixed random data, the same at
    every rate and in every version of audio3a. Timed interleaved with the others, its p50
    tracks how fast the machine is running right now: a shared host (another VM on the
    sibling hyperthread, frequency changes) can slow every row alike by tens of percent
    between two runs, and ``normalized`` figures divide that out."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 257)) + 1j * rng.standard_normal((20, 257))
    W = rng.standard_normal((20, 257)) + 1j * rng.standard_normal((20, 257))
    Y = np.zeros(257, np.complex128)
    h = rng.standard_normal(64)
    x = rng.standard_normal(160 + 63)
    y = np.zeros(160)
    return Candidate(REFERENCE, lambda i: reference_work(X, W, Y, x, h, y), kind="reference")


REFERENCE = "reference (fixed kernel)"


# ---------------------------------------------------------------- timing
def time_interleaved(candidates, n_frames: int, warmup: int = 100, block: int = 20) -> dict:
    """Per-frame ns of every candidate, interleaved across candidates in blocks of frames.

    Frames ``[j, j + block)`` go through each candidate in turn (the order
    rotates every block so none always runs first), each call timed with
    ``perf_counter_ns``, gc disabled. Blocks keep each candidate's code and
    state in cache as they would be when it runs alone (one frame at a time
    across a dozen libraries would measure cache misses instead), while load
    changes on a shared machine still hit every candidate within
    milliseconds of each other. Returns {name: int64 array of ns per timed frame}.
    """
    for i in range(min(warmup, n_frames)):
        for c in candidates:
            c.call(i)
    times = {c.name: np.empty(n_frames, np.int64) for c in candidates}
    used = {c.name: (np.ones(n_frames, bool) if c.frames_used is None else np.asarray(c.frames_used[:n_frames]))
            for c in candidates}
    perf = time.perf_counter_ns
    calls = [(c.call, times[c.name]) for c in candidates]
    k = len(calls)
    block = max(1, int(block))
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for b, start in enumerate(range(0, n_frames, block)):
            stop = min(start + block, n_frames)
            r = b % k if k else 0
            for call, out in calls[r:] + calls[:r]:
                for i in range(start, stop):
                    t0 = perf()
                    call(i)
                    out[i] = perf() - t0
    finally:
        if gc_was:
            gc.enable()
    return {name: t[used[name]] for name, t in times.items()}


def summarize(ns: np.ndarray) -> dict:
    """p50/p99/max/mean µs per frame, real-time factor and sessions per core."""
    us = np.asarray(ns, np.float64) / 1000.0
    if us.size == 0:
        return {"frames": 0}
    mean = float(us.mean())
    return {
        "frames": int(us.size),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "mean_us": mean,
        "rtf": mean / (FRAME_S * 1e6),
        "sessions_per_core": (FRAME_S * 1e6) / mean if mean > 0 else float("inf"),
    }


def latency(rates=SAMPLE_RATES, stages=None, n_frames: int = 3000, audio=None, extra=None,
            keep_samples: bool = False) -> dict:
    """Latency rows for ``stages`` (None = all) and the pipeline at each rate.

    ``extra(sample_rate, mic, far) -> list[Candidate]`` adds more candidates
    (the peers) to the same interleaved run.
    """
    rows, missing, samples = [], {}, {}
    for rate in rates:
        mic, far = _echo_scene(rate, n_frames + 100, audio)
        cands, miss = build_candidates(rate, stages, mic, far)
        missing.update(miss)
        if extra is not None:
            cands += extra(rate, mic, far)
        cands.append(reference_candidate())
        ns = time_interleaved(cands, mic.shape[0], warmup=100)
        for c in cands:
            row = {"rate": rate, "name": c.name, "kind": c.kind, **summarize(ns[c.name]),
                   "latency_ms": c.latency_ms}
            if c.compare:
                row["compare"] = c.compare
            rows.append(row)
            if keep_samples:
                samples[f"{c.name} @ {rate // 1000} kHz"] = ns[c.name] / 1000.0
    return {"rows": rows, "missing": missing, "samples_us": samples, "ratios": peer_ratios(rows)}


def peer_ratios(rows) -> list[dict]:
    """audio3a/peer time ratios (p50, p99) for each peer row measured beside its audio3a counterpart.

    A ratio below 1 means audio3a is faster. The counterpart is the audio3a
    row named ``compare``, or starting with ``compare + " ("`` (the pipeline).
    """
    out = []
    for r in rows:
        target = r.get("compare")
        if r.get("kind") != "peer" or not target:
            continue
        mine = [a for a in rows if a.get("kind") == "audio3a" and a["rate"] == r["rate"]
                and (a["name"] == target or a["name"].startswith(target + " ("))]
        if not mine:
            out.append({"rate": r["rate"], "peer": r["name"], "audio3a": f"{target} (not available)",
                        "peer_p50_us": r.get("p50_us"), "peer_p99_us": r.get("p99_us")})
            continue
        a = mine[0]
        out.append({"rate": r["rate"], "peer": r["name"], "audio3a": a["name"],
                    "peer_p50_us": r["p50_us"], "audio3a_p50_us": a["p50_us"], "ratio_p50": a["p50_us"] / r["p50_us"],
                    "peer_p99_us": r["p99_us"], "audio3a_p99_us": a["p99_us"], "ratio_p99": a["p99_us"] / r["p99_us"]})
    return out


# ---------------------------------------------------------------- concurrency
def _python_control(frame: np.ndarray) -> float:
    """A GIL-holding per-frame workload: a pure-Python sum over the frame, 4 passes."""
    acc = 0.0
    for _ in range(4):
        for v in frame.tolist():
            acc += v * v
    return acc


def _sleeps() -> int:
    """Voluntary context switches of the calling thread so far (Linux; 0 elsewhere): the times it
    blocked, which in the concurrency workloads is waiting for the GIL."""
    try:
        with open("/proc/thread-self/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split(":")[1])
    except OSError:
        pass
    return 0


def _per_stage(p):
    """``p`` run stage by stage (one kernel call per stage, as before ``audio3a.chain``): the
    concurrency table's control for the fused chain, on the same frames in the same run."""
    p._render_chain = p._capture_chain = p._process_chain = None
    return p


def concurrency(sample_rate: int = 16000, sessions=SESSIONS, seconds: float = 1.0,
                audio=None, controls: bool = True, round_robin_sessions=ROUND_ROBIN_SESSIONS,
                round_robin_frames: int = 3000) -> dict:
    """Frames/s with N sessions on N threads, each its own Pipeline, for ``seconds`` each; then
    ``round_robin`` (``round_robin_sessions`` served by one thread) as ``result["round_robin"]``.

    Two controls bracket the pipeline: a pure-Python per-frame loop (holds the
    GIL: 2 threads give ~1x) and the HPF's jitted kernel on 1 s blocks (almost
    all time inside a nogil kernel: 2 threads give ~2x on 2 idle cores). The
    pipeline holds the GIL for ~6 µs of its ~50 µs frame (Python and kernel
    dispatch, by perf sampling), too little to hold two threads back; what they
    lose goes to GIL hand-offs: a thread that finds the GIL taken sleeps
    (``sleeps_per_frame``), and waking it on the other core is dear (on the
    2-vCPU VM this was written on, ~20 µs of CPU and ~40 µs of delay per wake-up:
    at 2 threads 0.5 sleeps a frame took CPU per frame from 47 to 58 µs). Hence
    the fused chain (``audio3a.chain``: one GIL release per frame pair instead
    of five); the row "stage by stage" runs the same pipeline one kernel call
    per stage, at 1 and 2 threads, for comparison in the same run.
    """
    from .hpf import HpfConfig, sosfilt_df2t
    from .pipeline import Pipeline

    mic, far = _echo_scene(sample_rate, 500, audio)
    block = np.ascontiguousarray(mic[:100].reshape(-1))
    cores = os.cpu_count() or 1
    rows = []

    def measure(n, make, step, frames_per_step=1):
        step(make(), 0)  # compiled (or loaded from the cache) before the clock starts
        states = [make() for _ in range(n)]
        barrier = threading.Barrier(n + 1)
        deadline = [0.0]

        def work(s):
            barrier.wait()
            end = deadline[0]
            m = mic.shape[0]
            done, i = 0, 0
            clock = time.perf_counter
            sleeps0 = _sleeps()
            cpu0 = time.thread_time()
            while clock() < end:
                step(s, i % m)
                i += 1
                done += frames_per_step
            return done, time.thread_time() - cpu0, _sleeps() - sleeps0

        with ThreadPoolExecutor(max_workers=n) as ex:
            futs = [ex.submit(work, s) for s in states]
            t0 = time.perf_counter()
            deadline[0] = t0 + seconds
            barrier.wait()
            results = [f.result() for f in futs]
            wall = time.perf_counter() - t0
        done = sum(r[0] for r in results)
        cpu_s = sum(r[1] for r in results)
        fps = done / wall
        cpu_us = 1e6 * cpu_s / done if done else float("nan")
        return {"frames": done, "wall_s": wall, "frames_per_s": fps,
                "frames_per_s_per_core": fps / min(n, cores),
                "realtime_sessions": fps * FRAME_S, "cpu_us_per_frame": cpu_us,
                "sessions_per_core_cpu": FRAME_S * 1e6 / cpu_us if cpu_us > 0 else float("nan"),
                "sleeps_per_frame": sum(r[2] for r in results) / done if done else float("nan")}

    probe = Pipeline(sample_rate)
    if probe._render_stages:
        step = lambda p, i: p.process(mic[i], far[i])  # noqa: E731
    else:
        step = lambda p, i: p.process_capture(mic[i])  # noqa: E731
    chain = "+".join(s.name for s in probe.stages)
    workloads = [(f"pipeline ({chain})", sessions, lambda: Pipeline(sample_rate), step, 1)]
    if probe._capture_chain is not None:
        workloads.append((f"pipeline ({chain}), stage by stage", (1, 2), lambda: _per_stage(Pipeline(sample_rate)),
                          step, 1))
    if controls:
        def make_hpf():
            h = HpfConfig().build(sample_rate)
            return h, np.empty_like(block)

        def hpf_block(s, i):
            sosfilt_df2t(s[0].sos, block, s[0].zi, s[1])

        workloads += [
            ("control: pure Python (holds the GIL)", (1, 2), lambda: None,
             lambda s, i: _python_control(mic[i]), 1),
            ("control: HPF kernel on 1 s blocks (nogil)", (1, 2), make_hpf, hpf_block, 100),
        ]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for name, counts, make, st, fps_ in workloads:
            for n in counts:
                rows.append({"workload": name, "threads": n, **measure(n, make, st, fps_)})
    finally:
        if gc_was:
            gc.enable()
    by = {(r["workload"], r["threads"]): r["frames_per_s"] for r in rows}
    speedup = {wl: by[(wl, 2)] / by[(wl, 1)] for wl, *_ in workloads if (wl, 1) in by and (wl, 2) in by}
    return {"rate": sample_rate, "cores": cores, "seconds_each": seconds, "rows": rows,
            "speedup_2_threads": speedup,
            "round_robin": round_robin(sample_rate, round_robin_sessions, round_robin_frames, mic, far)}


def round_robin(sample_rate: int = 16000, sessions=ROUND_ROBIN_SESSIONS, frames: int = 3000,
                mic=None, far=None) -> list[dict]:
    """N sessions, each its own ``Pipeline``, served in turn by the calling thread: per tick every
    session processes its next frame pair (session k starts 37 k frames into the scene, so the
    sessions hold different states), as a media server's 10 ms tick loop does. About ``frames``
    frames per row (at least 3 ticks), after one untimed tick; the CPU time is the thread's
    (``time.thread_time``). ``sessions_per_core_cpu``: 10 ms / CPU time per frame;
    ``vs_one_session``: CPU per frame over that of the first row."""
    from .pipeline import Pipeline

    if mic is None:
        mic, far = _echo_scene(sample_rate, 500, None)
    m = mic.shape[0]
    rows = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for n in sessions:
            pipes = [Pipeline(sample_rate) for _ in range(n)]
            ticks = max(3, -(-frames // n))
            start = [37 * k for k in range(n)]
            for k, p in enumerate(pipes):  # the untimed tick
                p.process(mic[start[k] % m], far[start[k] % m])
            cpu0 = time.thread_time()
            for t in range(1, ticks + 1):
                for k, p in enumerate(pipes):
                    i = (start[k] + t) % m
                    p.process(mic[i], far[i])
            cpu_us = 1e6 * (time.thread_time() - cpu0) / (ticks * n)
            rows.append({"sessions": n, "frames": ticks * n, "cpu_us_per_frame": cpu_us,
                         "sessions_per_core_cpu": FRAME_S * 1e6 / cpu_us,
                         "vs_one_session": cpu_us / rows[0]["cpu_us_per_frame"] if rows else 1.0})
            del pipes
    finally:
        if gc_was:
            gc.enable()
    return rows


# ---------------------------------------------------------------- cold start
_COLD_SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from audio3a.pipeline import Pipeline
t1 = time.perf_counter()
p = Pipeline({rate})
t2 = time.perf_counter()
x = (0.01 * np.random.default_rng(0).standard_normal(p.frame_len)).astype(np.float32)
if p._render_stages:
    y = p.process(x, x)
else:
    y = p.process_capture(x)
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "pipeline_s": t2 - t1, "first_frame_s": t3 - t2,
                  "to_first_frame_s": t3 - t0, "stages": [s.name for s in p.stages]}}))
"""


_FLOOR_MODULE = """
import numba
@numba.njit(cache=True, nogil=True)
def first(x):
    return x[0] + 1.0
"""

_FLOOR_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
sys.path.insert(0, {folder!r})
import numba_floor
t1 = time.perf_counter()
numba_floor.first(np.zeros(4))
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_frame_s": t2 - t1, "to_first_frame_s": t2 - t0}}))
"""


def _run_cold(script: str, env: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"cold-start subprocess failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def cold_start(sample_rate: int = 16000, runs_warm: int = 2, empty: bool = True) -> dict:
    """Time to the first processed frame in a fresh interpreter: with an empty Numba cache (a
    private one) and then warm; ``empty=False``: warm runs only, on the cache
    filled by one untimed run (the package's own; the empty-cache run compiles everything, ~25-40 s).

    The last row is the floor any Numba package pays: a fresh interpreter importing numpy
    and Numba and calling one trivial cached function (warm cache). Numba's own import and
    the first load from its cache (which initialises its compiler and, with scipy
    installed, imports ``scipy.linalg``) take most of audio3a's warm-cache time.
    """
    rows = []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    with tempfile.TemporaryDirectory(prefix="audio3a-numba-") as cache:
        if empty:
            env["NUMBA_CACHE_DIR"] = cache
        # without the empty run, one untimed run first makes sure the package's cache is warm
        for label in ["empty cache" if empty else None] + ["warm cache"] * runs_warm:
            r, wall = _run_cold(_COLD_SCRIPT.format(rate=sample_rate), env)
            if label is None:
                continue
            rows.append({"cache": label, "rate": sample_rate, **{k: v for k, v in r.items() if k != "stages"},
                         "process_wall_s": wall, "stages": "+".join(r["stages"])})
    with tempfile.TemporaryDirectory(prefix="audio3a-floor-") as folder:
        Path(folder, "numba_floor.py").write_text(_FLOOR_MODULE)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(folder, "cache")))
        script = _FLOOR_SCRIPT.format(folder=folder)
        _run_cold(script, env)  # compiles and fills the cache
        for _ in range(runs_warm):
            r, wall = _run_cold(script, env)
            rows.append({"cache": "warm cache", "rate": sample_rate, **r, "process_wall_s": wall,
                         "stages": "numba floor: one trivial cached function"})
    return {"rows": rows}


# ---------------------------------------------------------------- report
LATENCY_COLUMNS = [("rate", "rate Hz"), ("name", "stage"), ("frames", "frames"), ("p50_us", "p50 µs"),
                   ("p99_us", "p99 µs"), ("max_us", "max µs"), ("mean_us", "mean µs"), ("rtf", "RTF"),
                   ("sessions_per_core", "sessions/core"), ("latency_ms", "alg. delay ms")]
RATIO_COLUMNS = [("rate", "rate Hz"), ("audio3a", "audio3a"), ("peer", "peer"),
                 ("audio3a_p50_us", "audio3a p50 µs"), ("peer_p50_us", "peer p50 µs"), ("ratio_p50", "p50 ratio"),
                 ("audio3a_p99_us", "audio3a p99 µs"), ("peer_p99_us", "peer p99 µs"), ("ratio_p99", "p99 ratio")]
CONCURRENCY_COLUMNS = [("workload", "workload"), ("threads", "threads"), ("frames_per_s", "frames/s"),
                       ("frames_per_s_per_core", "frames/s per busy core"),
                       ("realtime_sessions", "real-time sessions"), ("cpu_us_per_frame", "CPU µs/frame"),
                       ("sessions_per_core_cpu", "sessions per core (CPU time)"),
                       ("sleeps_per_frame", "sleeps/frame (GIL waits)"), ("wall_s", "wall s")]
ROUND_ROBIN_COLUMNS = [("sessions", "sessions"), ("frames", "frames"), ("cpu_us_per_frame", "CPU µs/frame"),
                       ("sessions_per_core_cpu", "sessions per core (CPU time)"),
                       ("vs_one_session", "CPU/frame vs 1 session")]
COLD_COLUMNS = [("cache", "Numba cache"), ("import_s", "import s"), ("pipeline_s", "Pipeline() s"),
                ("first_frame_s", "1st frame s"), ("to_first_frame_s", "import→1st frame s"),
                ("process_wall_s", "process wall s"), ("stages", "stages")]


def render(result: dict) -> str:
    """The markdown report of a ``run`` result."""
    out = [header("audio3a benchmark", result.get("machine"))]
    lat = result.get("latency")
    if lat:
        out.append(f"\n### Per-frame latency (10 ms frames, {lat.get('audio', '')}; candidates interleaved)\n\n")
        out.append(markdown_table(lat["rows"], LATENCY_COLUMNS))
        if lat.get("ratios"):
            out.append("\n### audio3a vs peers, measured interleaved (ratio < 1: audio3a faster)\n\n")
            out.append(markdown_table(lat["ratios"], RATIO_COLUMNS))
        if lat.get("missing"):
            out.append("\nNot measured: " + "; ".join(f"{k} ({v})" for k, v in lat["missing"].items()) + "\n")
    con = result.get("concurrency")
    if con:
        out.append(f"\n### Concurrency ({con['rate']} Hz, one Pipeline per thread, {con['cores']} cores)\n\n")
        out.append(markdown_table(con["rows"], CONCURRENCY_COLUMNS))
        sp = ", ".join(f"{k}: {v:.2f}x" for k, v in con["speedup_2_threads"].items())
        out.append(f"\n2 threads vs 1 (GIL released if about 2x on 2 idle cores): {sp}\n")
        if con.get("round_robin"):
            out.append("\n### Sessions on one core (one thread serves N Pipelines in turn, "
                       "one frame each per tick)\n\n")
            out.append(markdown_table(con["round_robin"], ROUND_ROBIN_COLUMNS))
    cold = result.get("cold_start")
    if cold:
        out.append("\n### Cold start (fresh interpreter → first processed frame)\n\n")
        out.append(markdown_table(cold["rows"], COLD_COLUMNS))
    for note in result.get("notes", []):
        out.append(f"\n{note}\n")
    return "".join(out)


def run(rates=SAMPLE_RATES, stages=None, json_path=None, quick: bool = False, audio=None,
        sections=("latency", "concurrency", "cold"), extra=None, markdown_path=None,
        keep_samples: bool = False) -> dict:
    """Run the benchmark sections, print nothing, return (and optionally write) the result.

    ``stages``: names among the registry slots, 'plc' and 'pipeline' (None = all).
    ``quick`` shortens every section (~1/6 of the frames, fewer thread counts).
    ``keep_samples`` adds the per-frame µs arrays (for plots) as
    ``result["latency_samples_us"]``; they are not written to JSON.
    """
    n_frames = 500 if quick else 3000
    result = {"machine": machine(), "quick": quick, "notes": [
        "Timing on a shared machine is noisy: compare rows measured in the same run."]}
    if "latency" in sections:
        lat = latency(rates, stages, n_frames, audio, extra=extra, keep_samples=keep_samples)
        lat["audio"] = speech_signal(rates[0], 0.1, audio)[1]
        result["latency"] = {k: v for k, v in lat.items() if k != "samples_us"}
        if keep_samples:
            result["latency_samples_us"] = lat["samples_us"]
    if "concurrency" in sections:
        result["concurrency"] = concurrency(
            16000 if 16000 in rates else rates[0],
            sessions=(1, 2, 4, 16, 64) if quick else SESSIONS,
            seconds=0.4 if quick else 1.5, audio=audio,
            round_robin_sessions=(1, 16, 100) if quick else ROUND_ROBIN_SESSIONS,
            round_robin_frames=800 if quick else 4000)
    if "cold" in sections:
        # quick: warm cache only (the empty-cache run alone takes longer than the quick budget allows)
        result["cold_start"] = cold_start(16000 if 16000 in rates else rates[0], runs_warm=1 if quick else 2,
                                          empty=not quick)
    if json_path:
        write_json(json_path, {k: v for k, v in result.items() if k != "latency_samples_us"})
    if markdown_path:
        write_text(markdown_path, render(result))
    return result


def _peer_extra():
    """The interleaved peer candidates from ``bench/peers.py`` when running from a checkout."""
    if (_REPO / "bench" / "peers.py").exists() and str(_REPO) not in sys.path:
        sys.path.append(str(_REPO))
    try:
        from bench import peers
    except ImportError:
        return None
    return peers.latency_candidates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="audio3a bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, nargs="+", default=list(SAMPLE_RATES), choices=SAMPLE_RATES,
                    help="sample rates to time (default: 16000 48000)")
    ap.add_argument("--stages", nargs="+", default=None,
                    help="stages to time: registry slots (hpf, aec, ns, agc), plc, pipeline (default: all)")
    ap.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report as markdown")
    ap.add_argument("--quick", action="store_true", help="shorter runs (about 1/6 of the frames)")
    ap.add_argument("--audio", metavar="PATH", help="speech file or folder (default: corpus, samples/, synthetic)")
    ap.add_argument("--only", nargs="+", choices=("latency", "concurrency", "cold"),
                    default=("latency", "concurrency", "cold"), help="sections to run (default: all)")
    ap.add_argument("--no-peers", action="store_true",
                    help="leave out the installed peers (timed beside audio3a when run from a checkout)")
    args = ap.parse_args(argv)
    extra = None if args.no_peers else _peer_extra()
    result = run(tuple(args.rate), args.stages, args.json, args.quick, args.audio, tuple(args.only),
                 extra=extra, markdown_path=args.markdown)
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
