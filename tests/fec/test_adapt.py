"""Loss reports (wire format, hostile bytes), residual-loss models, and the FEC rate controller."""
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.adapt import (ControllerConfig, FeedbackError, LossCounter, LossReport, RateController, Scheme,
                       added_latency_ms, candidates, overhead, parse_scheme, residual_loss)
from fec.bounds import mds_residual_loss_bernoulli, mds_residual_loss_ge
from fec.channel import bernoulli_loss, gilbert_elliott_loss, loss_runs


def sample_report():
    return LossReport(ssrc=0xCAFEBABE, interval_ms=1000, expected=50, lost=11, residual=2, late=1,
                      runs=(3, 2, 0, 1))


# ----------------------------------------------------------------------------- feedback message

def test_report_round_trip_and_size():
    r = sample_report()
    data = r.pack()
    assert len(data) == 32 + 4 * 4
    assert data[0] == 1 and data[1] == 1
    assert LossReport.parse(data) == r
    assert r.loss_rate == pytest.approx(0.22) and r.mean_burst == pytest.approx(11 / 6)


def test_every_single_byte_change_and_truncation_is_rejected():
    data = sample_report().pack()
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(FeedbackError):
                LossReport.parse(bytes(bad))
    for n in range(len(data)):
        with pytest.raises(FeedbackError):
            LossReport.parse(data[:n])
    with pytest.raises(FeedbackError):
        LossReport.parse(data + b"\x00")


def _with_crc(body):
    return body + struct.pack("!I", zlib.crc32(body))


def test_inconsistent_counts_are_rejected_even_with_a_valid_crc():
    head = struct.Struct("!BBHIHBBIIII")
    # lost > expected
    body = head.pack(1, 1, 36, 1, 1000, 1, 0, 10, 11, 0, 0) + struct.pack("!I", 0)
    with pytest.raises(FeedbackError, match="exceed"):
        LossReport.parse(_with_crc(body))
    # the run histogram claims more lost packets than lost
    body = head.pack(1, 1, 36, 1, 1000, 1, 0, 10, 2, 0, 0) + struct.pack("!I", 3)
    with pytest.raises(FeedbackError, match="runs"):
        LossReport.parse(_with_crc(body))
    # unknown version, type, reserved byte, bins out of range
    for fields in ((2, 1, 36, 1, 1000, 1, 0, 10, 1, 0, 0), (1, 9, 36, 1, 1000, 1, 0, 10, 1, 0, 0),
                   (1, 1, 36, 1, 1000, 1, 7, 10, 1, 0, 0), (1, 1, 32, 1, 1000, 0, 0, 10, 1, 0, 0)):
        body = head.pack(*fields) + (struct.pack("!I", 1) if fields[5] else b"")
        with pytest.raises(FeedbackError):
            LossReport.parse(_with_crc(body))
    with pytest.raises(FeedbackError):
        LossReport.parse("not bytes")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_feedback_error(data):
    try:
        LossReport.parse(data)
    except FeedbackError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 43), st.integers(0, 255))
def test_mutated_reports_with_recomputed_crc_are_parsed_consistently_or_rejected(pos, value):
    data = bytearray(sample_report().pack()[:-4])
    data[pos] = value
    try:
        r = LossReport.parse(_with_crc(bytes(data)))
    except FeedbackError:
        return
    assert max(r.lost, r.residual, r.late) <= r.expected and r.run_packets_min <= r.lost


def test_loss_counter_reports_the_channel_runs():
    mask = gilbert_elliott_loss(5000, 0.2, 3.0, seed=3)
    counter = LossCounter(bins=16, guard=0)
    reps = []
    for i in range(5000):
        if not mask[i]:
            counter.arrived(i)
        if i % 500 == 499 and not mask[i]:
            reps.append(counter.report(1, 1000))
    reps.append(counter.report(1, 1000))
    expected = sum(r.expected for r in reps)
    lost = sum(r.lost for r in reps)
    first = min(i for i in range(5000) if not mask[i])
    last = max(i for i in range(5000) if not mask[i])
    assert expected == last + 1 - first
    assert lost == int(mask[first:last + 1].sum())
    runs = loss_runs(mask[first:last + 1])
    hist = np.sum([r.runs for r in reps], axis=0)
    assert abs(hist.sum() - runs.size) <= len(reps)
    assert hist[0] == pytest.approx(np.sum(runs == 1), abs=len(reps))


def test_loss_counter_counts_each_run_once_across_report_boundaries():
    # reports closed every 50 packets with the reorder guard: runs often straddle a boundary;
    # each must be counted once (deleting one biased the mean burst up: 1.08 on Bernoulli 5 %)
    mask = bernoulli_loss(6000, 0.05, seed=77)
    mask[:1] = False
    counter = LossCounter()
    reps = []
    for i in range(6000):
        if not mask[i]:
            counter.arrived(i)
        if i % 50 == 49:
            reps.append(counter.report(1, 1000))
    end = sum(r.expected for r in reps)
    runs = loss_runs(mask[:end])
    assert sum(r.lost for r in reps) == int(mask[:end].sum())
    assert sum(sum(r.runs) for r in reps) == runs.size
    lost = sum(r.lost for r in reps)
    assert lost / sum(sum(r.runs) for r in reps) == pytest.approx(mask[:end].sum() / runs.size)


# ----------------------------------------------------------------------------- schemes and models

def test_scheme_text_round_trip_and_errors():
    for text in ("none", "xor:4", "xor:2x2", "rs:4+2", "rs:8+4x2", "red:2", "red:@1,3", "red:@3"):
        assert str(parse_scheme(text)) == text
    assert parse_scheme("red:2").distances == (1, 2)
    assert parse_scheme("xor:4") == Scheme("xor", 4, 1)
    for bad in ("rs:4", "xor:0", "rs:200+100", "red:@3,1", "fancy:3", "red:0"):
        with pytest.raises(ValueError, match="scheme|FEC"):
            parse_scheme(bad)


def test_residual_models_match_the_exact_bounds_and_closed_forms():
    p = 0.2
    assert residual_loss(Scheme(), p) == pytest.approx(p)
    assert residual_loss(parse_scheme("rs:4+2"), p) == pytest.approx(mds_residual_loss_bernoulli(4, 2, p), rel=1e-6)
    assert residual_loss(parse_scheme("xor:4x2"), 0.2, 4.0) == pytest.approx(
        mds_residual_loss_ge(4, 1, 0.2, 4.0, 2))
    # one copy one frame later on independent losses: both packets lost
    assert residual_loss(parse_scheme("red:1"), p) == pytest.approx(p * p, rel=1e-6)


def test_red_residual_matches_monte_carlo_on_gilbert_elliott():
    mask = gilbert_elliott_loss(400_000, 0.2, 4.0, seed=5)
    for text in ("red:@3", "red:@1,3", "red:2"):
        s = parse_scheme(text)
        lost = mask.copy()
        for d in s.distances:
            carrier = np.zeros_like(mask)
            carrier[:-d] = mask[d:]
            lost &= carrier
        assert lost[:-5].mean() == pytest.approx(residual_loss(s, 0.2, 4.0), abs=0.004)


def test_latency_and_overhead():
    assert added_latency_ms(parse_scheme("rs:4+2"), 20) == 60
    assert added_latency_ms(parse_scheme("xor:2x2"), 20) == 60
    assert added_latency_ms(parse_scheme("red:@1,3"), 20) == 60
    assert overhead(parse_scheme("rs:4+2")) == 0.5
    assert overhead(parse_scheme("red:2"), red_ratio=0.5) == 1.0
    cands = candidates(20, 60, max_overhead=0.6)
    assert all(added_latency_ms(s, 20) <= 60 and overhead(s) <= 0.6 for s in cands)
    assert parse_scheme("rs:4+2") in cands and parse_scheme("red:@3") in cands


# ----------------------------------------------------------------------------- controller

def brute_force(ctrl, loss, burst):
    cfg = ctrl.config
    ok = [s for s in ctrl._cands if residual_loss(s, loss, burst) <= cfg.target]
    return min(overhead(s, cfg.red_ratio) for s in ok) if ok else None


@pytest.mark.parametrize("loss,burst,expect", [
    (0.0, 1.0, "none"),
    (0.005, 1.0, "none"),
    (0.02, 1.02, "xor:4"),
    (0.10, 1.11, None),
])
def test_controller_picks_the_cheapest_adequate_scheme(loss, burst, expect):
    ctrl = RateController(ControllerConfig())
    best = ctrl.best(loss, burst)
    assert residual_loss(best, loss, burst) <= ctrl.config.target
    assert overhead(best, ctrl.config.red_ratio) == pytest.approx(brute_force(ctrl, loss, burst))
    if expect:
        assert str(best) == expect


@pytest.mark.parametrize("red_ratio,expect", [(0.5, "red:@3"), (0.2914, "red:@1,3")])
def test_controller_minimises_residual_when_nothing_meets_the_target(red_ratio, expect):
    ctrl = RateController(ControllerConfig(max_overhead=0.6, red_ratio=red_ratio))
    best = ctrl.best(0.2, 4.0)
    r = residual_loss(best, 0.2, 4.0)
    assert r > ctrl.config.target
    assert all(residual_loss(s, 0.2, 4.0) >= r - 1e-12 for s in ctrl._cands)
    # RED beats every block code on bursts within 60 ms; with APC4 copies (29 %) two fit in 60 %
    assert str(best) == expect
    assert overhead(best, red_ratio) <= 0.6


def feed(ctrl, mask, seconds, start=0, per_s=50):
    """One LossReport per second from the loss mask; returns the scheme after each."""
    out = []
    counter = LossCounter(guard=0)
    for s in range(seconds):
        lo = start + s * per_s
        for i in range(lo, lo + per_s):
            if not mask[i]:
                counter.arrived(i)
        counter.arrived(lo + per_s)          # close the interval on a received packet
        out.append(ctrl.update(counter.report(1, 1000).pack()))
    return out


def test_controller_settles_and_re_adapts_within_5_s_after_a_change():
    ctrl = RateController(ControllerConfig())
    n = 50 * 80
    calm = bernoulli_loss(n, 0.02, seed=7)
    bad = gilbert_elliott_loss(n, 0.15, 2.0, seed=8)
    mask = np.concatenate([calm[:50 * 20], bad[:50 * 20], calm[50 * 20:50 * 40]])
    schemes = feed(ctrl, mask, 59)
    bad_best = ctrl.best(0.15, 2.0)
    calm_best = ctrl.best(0.02, 1.02)
    # after the change to the bad channel, within 5 reports the scheme is adequate for it
    assert residual_loss(schemes[24], 0.15, 2.0) <= 1.5 * residual_loss(bad_best, 0.15, 2.0)
    assert overhead(schemes[24]) > 0.0
    # back on the calm channel: within 5 s at most half the redundancy, within 11 s the cheapest
    # (10 s with a 1.6-sigma / 2 s "better channel" change test, which on a stationary GE 10 %/b2
    # channel took quiet stretches for a change and dropped the redundancy: 1.33 % residual
    # instead of 1.08 % in bench.quality_fec; the last step, red:1 -> xor:4, now comes 1 s later)
    assert overhead(schemes[44]) <= 0.5 * overhead(schemes[39])
    assert all(s == calm_best for s in schemes[50:59])
    # no flapping on a stationary channel: few switches during the calm stretches
    changes = sum(1 for a, b in zip(schemes[5:19], schemes[6:20]) if a != b)
    assert changes <= 2


def test_controller_forgets_a_bursty_channel_within_5_s_once_it_turns_calm():
    ctrl = RateController(ControllerConfig(max_overhead=0.6))
    n = 50 * 60
    bad = gilbert_elliott_loss(n, 0.2, 4.0, seed=21)
    calm = bernoulli_loss(n, 0.02, seed=22)
    mask = np.concatenate([bad[:50 * 30], calm[:50 * 30]])
    schemes = feed(ctrl, mask, 60)
    calm_best = ctrl.best(0.02, 1.02)
    assert schemes[29] != calm_best and overhead(schemes[29], ctrl.config.red_ratio) > 0.5
    # the report of second 30 + k covers k + 1 s of the calm channel (here its first 5 s lose
    # nothing): within 5 reports no more redundancy than the calm channel needs
    r = ctrl.config.red_ratio
    assert all(overhead(sc, r) <= overhead(calm_best, r) for sc in schemes[34:40])
    assert schemes[59] == calm_best
    assert ctrl.estimate[0] < 0.05 and ctrl.estimate[1] < 1.5
    changes = sum(1 for a, b in zip(schemes[40:59], schemes[41:60]) if a != b)
    assert changes <= 2


def test_controller_rejects_hostile_feedback():
    ctrl = RateController()
    start = ctrl.scheme
    assert start == ctrl.best(0.1, 2.0) and start.kind != "none"     # a call starts protected
    with pytest.raises(FeedbackError):
        ctrl.update(b"\x01\x01garbage")
    assert ctrl.scheme == start
