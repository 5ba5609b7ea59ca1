"""Adaptive jitter buffer: ordering, duplicates, late packets, DTX, stalls, delay target, bounds."""
import numpy as np
import pytest

from fec.jitter import (ACCELERATE, DTX, EXPAND, IDLE, LOST, RECEIVED, CrossfadeStretcher, JitterBuffer,
                        JitterConfig)

RATE = 16000
FRAME = 320          # 20 ms
T = 0.02


def run(arrivals, n_ticks, config=JitterConfig(), phase=0.0101):
    """arrivals: list of (arrival_s, seq, ts, item); returns (buffer, ticks, results)."""
    jb = JitterBuffer(RATE, config)
    arrivals = sorted(arrivals, key=lambda a: a[0])
    ticks, results, k = [], [], 0
    for n in range(n_ticks):
        now = n * T + phase
        while k < len(arrivals) and arrivals[k][0] <= now:
            a, seq, ts, item = arrivals[k]
            results.append(jb.insert(seq, ts, a, item))
            k += 1
        ticks.append(jb.tick(now))
    return jb, ticks, results


def played_items(ticks):
    out = []
    for t in ticks:
        if t.item is not None:
            out.append(t.item)
        if t.action == ACCELERATE and t.extra is not None:
            out.append(t.extra)
    return out


def stream(n, delay_s, start=0):
    return [(i * T + delay_s[i], start + i, (start + i) * FRAME, i) for i in range(n)]


def test_constant_delay_plays_every_frame_in_order_once_started():
    n = 200
    jb, ticks, _ = run(stream(n, [0.05] * n), n + 20)
    assert played_items(ticks) == list(range(n))
    started = [t for t in ticks if t.status != IDLE]
    assert all(t.status == RECEIVED for t in started[:n])
    assert jb.stats.late == 0 and jb.stats.duplicates == 0


def test_reordering_within_the_buffer_depth_loses_nothing():
    rng = np.random.default_rng(1)
    n = 500
    delay = 0.04 + rng.uniform(0, 0.045, n)         # up to 45 ms of jitter: packets overtake each other
    arr = stream(n, delay)
    assert any(arr[i + 1][0] < arr[i][0] for i in range(n - 1))
    cfg = JitterConfig(min_delay_ms=60.0)
    jb, ticks, _ = run(arr, n + 30, cfg)
    assert played_items(ticks) == list(range(n))
    assert jb.stats.late == 0


def test_duplicates_are_dropped_and_counted():
    n = 100
    arr = stream(n, [0.05] * n)
    dup = [(a + 0.003, s, ts, item) for a, s, ts, item in arr]
    jb, ticks, results = run(arr + dup, n + 20)
    assert played_items(ticks) == list(range(n))
    assert jb.stats.duplicates == n
    assert results.count("duplicate") == n


def test_late_packet_is_counted_and_reported_late():
    n = 100
    delay = [0.05] * n
    delay[50] = 0.5                                 # arrives long after its playout time
    jb, ticks, results = run(stream(n, delay), n + 30, JitterConfig(max_stall_ms=0.0))
    assert "late" in results
    assert jb.stats.late == 1
    assert 50 not in played_items(ticks)
    assert sum(1 for t in ticks if t.status == LOST) >= 1


def test_stall_holds_playout_so_a_delay_spike_is_not_lost():
    n = 300
    delay = np.full(n, 0.04)
    # a 300 ms stall: packets sent during it all come out when it ends (drain at 1 s/s)
    for i in range(100, 116):
        delay[i] = max(0.04, 0.34 - (i - 100) * T)
    jb, ticks, _ = run(stream(n, list(delay)), n + 60)
    played = played_items(ticks)
    # only what was due before the link had been silent for stall_gap_ms (80 ms) is late
    assert played == [i for i in range(n) if i not in set(range(100, 116)) or i in played]
    assert jb.stats.late <= 4 and len(played) >= n - 4
    assert jb.stats.stalls > 0 and jb.stats.accelerates > 0     # it held, then caught up
    assert ticks[n - 5].delay_ms - ticks[n - 5].target_ms < 40.0     # back at target before the end


def test_dtx_gap_is_reported_as_dtx_not_loss():
    # frames 0..49, then the sender is silent for 25 frames (sequence continues, timestamp jumps)
    arr = [(i * T + 0.05, i, i * FRAME, i) for i in range(50)]
    arr += [(i * T + 0.05, i - 25, i * FRAME, i) for i in range(75, 150)]
    jb, ticks, _ = run(arr, 180, JitterConfig(stall_gap_ms=1000.0, min_delay_ms=100.0))
    # once the first packet after the gap is here (100 ms before it is due), the rest of the
    # gap is known to be silence (its sequence number follows the last one played): DTX
    statuses = [t.status for t in ticks]
    assert statuses.count(DTX) >= 4
    first_back = next(i for i, t in enumerate(ticks) if t.item == 75)
    assert all(s == DTX for s in statuses[first_back - 4:first_back])
    assert played_items(ticks) == list(range(50)) + list(range(75, 150))


def test_quantile_kernel_matches_cumsum_searchsorted():
    from fec.jitter import _quantile_bin
    rng = np.random.default_rng(7)
    cum = np.empty(502)
    for trial in range(300):
        h = rng.exponential(1.0, 502) * (rng.random(502) < rng.uniform(0.01, 1.0))
        h[rng.integers(0, 502)] += 1e3 * rng.random()
        for q in (0.5, 0.95, 0.97, 0.99, 1.0 - 1e-12):
            c = np.cumsum(h)
            assert _quantile_bin(h, cum, q) == int(np.searchsorted(c, q * c[-1]))


def test_quantile_is_recomputed_after_every_change_of_the_histogram():
    jb = JitterBuffer(RATE, JitterConfig(prior_packets=0))
    for n in range(200):
        jb.insert(n, n * FRAME, n * T + 0.001 * (n % 37), None)
        c = np.cumsum(jb._hist)
        i = int(np.searchsorted(c, jb.config.quantile * c[-1]))
        assert jb.quantile_ms() == (min(i, jb._nbins - 1) + 1) * jb.config.bin_ms


def test_target_is_the_high_quantile_of_the_delay_histogram():
    rng = np.random.default_rng(2)
    n = 3000
    delay = 0.03 + rng.uniform(0.0, 0.1, n)         # excess delay uniform on 0..100 ms
    cfg = JitterConfig(quantile=0.95, forget=0.999, max_delay_ms=500.0)
    jb, ticks, _ = run(stream(n, list(delay)), n + 20, cfg)
    assert jb.quantile_ms() == pytest.approx(95.0, abs=6.0)
    assert jb.target_delay_ms() == pytest.approx(95.0, abs=6.0)
    # the playout delay follows the target within a frame
    d = np.array([t.delay_ms for t in ticks[n // 2:n]])
    assert np.all(np.abs(d - 95.0) < 35.0)
    late = jb.stats.late / n
    assert late < 0.08


def test_target_is_clamped_and_adds_the_fec_wait():
    jb = JitterBuffer(RATE, JitterConfig(min_delay_ms=30.0, max_delay_ms=200.0, prior_packets=0))
    assert jb.target_delay_ms() == 30.0
    jb.extra_delay_ms = 1000.0
    assert jb.target_delay_ms() == 200.0


def test_delay_drop_is_followed_by_accelerate_with_the_next_frame_handed_over():
    n = 3000
    delay = [0.25] * 100 + [0.05] * (n - 100)       # the path gets 200 ms faster
    jb, ticks, _ = run(stream(n, delay), n + 40)
    acc = [t for t in ticks if t.action == ACCELERATE]
    assert acc and all(t.extra is None or t.extra == t.item + 1 for t in acc)
    assert played_items(ticks) == sorted(set(played_items(ticks)))      # never out of order
    # the old, slow samples are forgotten (forget = 0.998 per packet): the delay comes down
    assert ticks[200].delay_ms > 150.0 and ticks[n - 10].delay_ms < 40.0


def test_memory_is_bounded_and_far_packets_resync():
    cfg = JitterConfig(capacity_frames=50, max_delay_ms=500.0)
    jb = JitterBuffer(RATE, cfg)
    jb.insert(0, 0, 0.0, 0)
    for i in range(1, 5000):                         # a flood far ahead of the playout point
        jb.insert(i, i * FRAME, 0.001, i)
        assert len(jb) <= cfg.capacity_frames
    assert jb.stats.overflow + jb.stats.resyncs > 0
    # a timestamp jump (source restart without SSRC change): three in a row resynchronise
    jb2 = JitterBuffer(RATE, cfg)
    for i in range(10):
        jb2.insert(i, i * FRAME, i * T, i)
        jb2.tick(i * T + 0.5)
    for j in range(3):
        jb2.insert(10 + j, 10 ** 9 + j * FRAME, 0.2 + j * T, 100 + j)
    assert jb2.stats.resyncs == 1 and len(jb2) == 3


def test_start_waits_for_the_target_and_a_raised_target_is_reached_by_expanding():
    jb = JitterBuffer(RATE, JitterConfig(min_delay_ms=100.0, prior_packets=0))
    for i in range(100):
        jb.insert(i, i * FRAME, i * T, i)
    assert jb.tick(0.05).status == IDLE              # first packet only 50 ms old
    n = 300
    jb2 = JitterBuffer(RATE, JitterConfig())
    arr = stream(n, [0.04] * n)
    k, ticks = 0, []
    for m in range(n):
        now = m * T + 0.0101
        while k < n and arr[k][0] <= now:
            jb2.insert(*arr[k][1:3], arr[k][0], arr[k][3])
            k += 1
        if m == 100:
            jb2.extra_delay_ms = 100.0              # e.g. FEC switched on: wait 100 ms more
        ticks.append(jb2.tick(now))
    expands = [t for t in ticks[100:] if t.status == EXPAND]
    assert 4 <= len(expands) <= 5                    # 20 ms frames inserted up to the hysteresis band
    band = (0.5 + jb2.config.hysteresis) * 20.0
    assert abs(ticks[-1].delay_ms - ticks[-1].target_ms) <= band
    assert played_items(ticks) == list(range(len(played_items(ticks))))


def test_config_rejects_nonsense():
    with pytest.raises(ValueError, match="quantile"):
        JitterConfig(quantile=1.5)
    with pytest.raises(ValueError, match="capacity_frames"):
        JitterConfig(capacity_frames=10, max_delay_ms=500)
    with pytest.raises(ValueError, match="sample_rate"):
        JitterBuffer(0)


def test_crossfade_stretcher_compress_lands_on_the_second_frame_end():
    s = CrossfadeStretcher(320)
    a = np.ones(320, np.float32)
    b = np.full(320, -1.0, np.float32)
    y = s.compress(a, b)
    assert y[0] == pytest.approx(1.0, abs=1e-3) and y[-1] == pytest.approx(-1.0, abs=1e-3)
    assert np.all(np.diff(y) <= 1e-6)              # monotone cross-fade, no step
    assert s.expand(320) is None
