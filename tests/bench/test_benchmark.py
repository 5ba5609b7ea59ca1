"""The latency/concurrency runners return sane numbers (no timing thresholds)."""
import numpy as np
import pytest

from audio3a import benchmark
from audio3a.pipeline import Pipeline
from audio3a.frames import frame_len_for
from audio3a.stage import Stage


class _StubStage(Stage):
    """A stage doing a fixed, allocation-free amount of numpy work."""

    name = "stub"

    def __init__(self, sample_rate=16000):
        super().__init__(sample_rate)
        self._out = np.zeros(self.frame_len, np.float32)

    def _process(self, x):
        np.multiply(x, 0.5, out=self._out)
        return self._out

    def reset(self):
        self._out[:] = 0


def test_summarize_exact_percentiles():
    ns = np.arange(1, 101) * 1000                           # 1..100 µs
    s = benchmark.summarize(ns)
    assert s["frames"] == 100
    assert s["p50_us"] == pytest.approx(50.5)
    assert s["p99_us"] == pytest.approx(99.01)
    assert s["max_us"] == 100.0
    assert s["mean_us"] == pytest.approx(50.5)
    assert s["rtf"] == pytest.approx(50.5 / 10000)
    assert s["sessions_per_core"] == pytest.approx(10000 / 50.5)


def test_latency_runner_on_stub_stage():
    stage = _StubStage()
    frames = benchmark.frames_of(benchmark.synthetic_speech(3.0, 16000), 16000)
    calls = []
    cand = benchmark.Candidate("stub", lambda i: calls.append(i) or stage.process(frames[i]))
    every_other = np.arange(frames.shape[0]) % 2 == 0
    half = benchmark.Candidate("stub-even", lambda i: stage.process(frames[i]), frames_used=every_other)
    ns = benchmark.time_interleaved([cand, half], frames.shape[0], warmup=10)
    assert len(calls) == 10 + frames.shape[0]               # warm-up, then each frame once
    assert ns["stub"].size == frames.shape[0] == 300
    assert ns["stub-even"].size == 150                       # only the frames it was asked to keep
    s = benchmark.summarize(ns["stub"])
    assert 0 < s["p50_us"] <= s["p99_us"] <= s["max_us"]
    assert s["p50_us"] < 10_000                             # a 10 ms frame of this stub is not 10 ms of work
    assert s["rtf"] > 0


def test_synthetic_speech_is_speech_like():
    x = benchmark.synthetic_speech(4.0, 16000)
    assert x.size == 64000 and np.all(np.abs(x) < 1)
    frame_db = 10 * np.log10(np.mean(benchmark.frames_of(x, 16000).astype(float) ** 2, axis=1) + 1e-12)
    assert frame_db.max() - np.median(frame_db) > 6          # syllables and pauses, not stationary noise
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 16000)
    assert spec[(f > 100) & (f < 4000)].sum() > 0.9 * spec.sum()   # energy in the voice band


def test_speech_signal_from_a_path(tmp_path):
    import soundfile as sf

    x = 0.1 * np.sin(np.arange(8000) * 0.05)
    sf.write(tmp_path / "a.wav", x, 8000)
    y, where = benchmark.speech_signal(16000, 2.0, tmp_path)
    assert y.size == 32000 and where == str(tmp_path)       # resampled to 16 kHz, looped to 2 s


def test_build_candidates_and_latency_rows_for_hpf_and_pipeline():
    res = benchmark.latency(rates=(16000, 48000), stages=["hpf", "pipeline", "nope"], n_frames=60)
    names = [(r["rate"], r["name"].split(" ")[0]) for r in res["rows"]]
    assert names == [(16000, "hpf"), (16000, "pipeline"), (16000, "reference"),
                     (48000, "hpf"), (48000, "pipeline"), (48000, "reference")]
    for r in res["rows"]:
        assert r["frames"] == 160                            # n_frames + 100 prepared frames, all timed
        assert 0 < r["p50_us"] <= r["p99_us"] <= r["max_us"]
        if r["kind"] == "reference":
            continue
        expected = 0.0 if r["name"].startswith("hpf") else Pipeline(r["rate"]).latency_ms
        assert r["latency_ms"] == pytest.approx(expected)    # the HPF has no lookahead; the chain sums its stages
    assert "nope" in res["missing"]


def test_registry_stage_that_fails_to_import_is_reported(monkeypatch):
    from audio3a import registry

    monkeypatch.setattr(registry, "CAPTURE_CHAIN",
                        registry.CAPTURE_CHAIN + (("ghost", "audio3a.no_such_module:GhostConfig"),))
    ok, missing = benchmark.available_stages(16000)
    assert "hpf" in ok and "ghost" not in ok
    assert "ModuleNotFoundError" in missing["ghost"]


def test_peer_ratios():
    rows = [{"rate": 16000, "name": "pipeline (hpf+ns)", "kind": "audio3a", "p50_us": 50.0, "p99_us": 80.0},
            {"rate": 16000, "name": "WebRTC APM", "kind": "peer", "compare": "pipeline",
             "p50_us": 100.0, "p99_us": 160.0},
            {"rate": 16000, "name": "Some AEC", "kind": "peer", "compare": "aec", "p50_us": 10.0, "p99_us": 20.0}]
    r = benchmark.peer_ratios(rows)
    assert r[0]["ratio_p50"] == 0.5 and r[0]["ratio_p99"] == 0.5
    assert r[1]["audio3a"] == "aec (not available)" and "ratio_p50" not in r[1]


def test_concurrency_rows_and_gil_controls():
    res = benchmark.concurrency(16000, sessions=(1, 2), seconds=0.05, round_robin_sessions=(1, 3),
                                round_robin_frames=12)
    work = {(r["workload"].split(" ")[0], r["threads"]) for r in res["rows"]}
    assert {("pipeline", 1), ("pipeline", 2), ("control:", 1), ("control:", 2)} <= work
    for r in res["rows"]:
        assert r["frames"] > 0 and r["frames_per_s"] > 0
        assert r["frames_per_s_per_core"] <= r["frames_per_s"]
    # the fused pipeline, the same pipeline stage by stage, and the two GIL controls
    assert len(res["speedup_2_threads"]) == 4
    assert any(k.endswith("stage by stage") for k in res["speedup_2_threads"])
    rr = res["round_robin"]
    assert [r["sessions"] for r in rr] == [1, 3]
    assert [r["frames"] for r in rr] == [12, 12]             # 12 ticks of 1 session, 4 ticks of 3
    for r in rr:
        assert r["cpu_us_per_frame"] > 0
        assert r["sessions_per_core_cpu"] == pytest.approx(10_000 / r["cpu_us_per_frame"])
    assert rr[0]["vs_one_session"] == 1.0
    assert rr[1]["vs_one_session"] == pytest.approx(rr[1]["cpu_us_per_frame"] / rr[0]["cpu_us_per_frame"])


def test_round_robin_sessions_process_their_own_frames():
    """Every session of the one-thread workload gets its frames in order: a session's output is
    that of a Pipeline fed the same frames alone."""
    from audio3a.pipeline import Pipeline as P

    seen = []
    real = P.process

    def spy(self, near, far=None):
        seen.append((id(self), near))
        return real(self, near, far)

    P.process = spy
    try:
        rows = benchmark.round_robin(16000, sessions=(2,), frames=6)
    finally:
        P.process = real
    assert rows[0]["frames"] == 6
    per = {}
    for sid, near in seen:
        per.setdefault(sid, []).append(near)
    assert len(per) == 2 and all(len(v) == 4 for v in per.values())   # the untimed tick, then 3
    mic, _ = benchmark._echo_scene(16000, 500, None)
    for k, frames in enumerate(per.values()):
        for t, near in enumerate(frames):
            assert np.array_equal(near, mic[(37 * k + t) % mic.shape[0]])


def test_render_contains_every_section():
    result = {"machine": None, "notes": ["n"],
              "latency": {"rows": [{"rate": 16000, "name": "hpf", "p50_us": 1.0}], "audio": "x",
                          "missing": {"aec": "ImportError"}, "ratios": []},
              "concurrency": {"rate": 16000, "cores": 2, "rows": [{"workload": "w", "threads": 1}],
                              "speedup_2_threads": {"w": 1.9},
                              "round_robin": [{"sessions": 100, "frames": 300, "cpu_us_per_frame": 60.0,
                                               "sessions_per_core_cpu": 166.7, "vs_one_session": 1.3}]},
              "cold_start": {"rows": [{"cache": "warm cache", "to_first_frame_s": 0.5}]}}
    from audio3a.report import machine

    result["machine"] = machine()
    text = benchmark.render(result)
    for part in ("Per-frame latency", "Not measured: aec", "Concurrency", "1.90x", "Sessions on one core",
                 "| 100 | 300 |", "Cold start", "warm cache"):
        assert part in text


def test_main_quick_latency_only(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert benchmark.main(["--rate", "16000", "--stages", "hpf", "--only", "latency", "--quick", "--no-peers",
                           "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 16000 | hpf |" in text
    import json

    data = json.loads(out.read_text())
    assert data["latency"]["rows"][0]["name"] == "hpf"
    assert frame_len_for(16000) == 160


def test_reference_row_computes_its_workload():
    cand = benchmark.reference_candidate()
    assert cand.kind == "reference" and cand.name == benchmark.REFERENCE
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 257)) + 1j * rng.standard_normal((20, 257))
    W = rng.standard_normal((20, 257)) + 1j * rng.standard_normal((20, 257))
    h, x = rng.standard_normal(64), rng.standard_normal(223)
    Y, y = np.zeros(257, complex), np.zeros(160)
    benchmark.reference_work(X, W, Y, x, h, y)
    np.testing.assert_allclose(Y, (X * W).sum(axis=0))
    np.testing.assert_allclose(y, np.correlate(x, h, mode="valid"))


def test_stability_divides_out_the_machine_speed():
    from bench.run_all import compare_runs

    def rows(scale, ns_p50):
        return [{"rate": 16000, "name": benchmark.REFERENCE, "kind": "reference", "p50_us": 10.0 * scale},
                {"rate": 16000, "name": "ns", "kind": "audio3a", "p50_us": ns_p50 * scale},
                {"rate": 16000, "name": "WebRTC NS", "kind": "peer", "p50_us": 5.0 * scale}]

    # the host runs everything 1.5x slower in the second run, and ns itself 2 % slower on top
    out = compare_runs(rows(1.0, 30.0), rows(1.5, 30.6))
    ns = next(r for r in out["rows"] if r["name"] == "ns")
    assert ns["change_pct"] == pytest.approx(53.0)
    assert ns["normalized_change_pct"] == pytest.approx(2.0)
    assert out["max_change_pct"] == pytest.approx(53.0)
    assert out["max_normalized_change_pct"] == pytest.approx(2.0)
    assert [r["name"] for r in out["rows"]] == [benchmark.REFERENCE, "ns"]   # peers are not audio3a's stability
