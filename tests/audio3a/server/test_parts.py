"""The server's parts offline: wire format, guard, mixer, recorder, a session's media timeline."""
import json
import os
import struct

import numpy as np
import pytest
import soundfile as sf

from audio3a.server.guard import RateGuard
from audio3a.server.mixer import mix_minus
from audio3a.server.recorder import SessionRecorder, WavTrack, sha256_file
from audio3a.server.session import Session, SessionConfig
from audio3a.server.wire import FEEDBACK, MALFORMED, RTCP, RTP, classify, pack_bye, pack_sr, parse_rtcp
from fec.adapt import LossReport
from fec.packet import RtpPacket
from fec.sender import Sender, SenderConfig


def test_classify_and_rtcp_round_trip():
    assert classify(RtpPacket(96, 1, 2, 3, b"\0\0").pack()) == RTP
    assert classify(LossReport(1, 1000, 0, 0, 0, 0, (0,)).pack()) == FEEDBACK
    assert classify(pack_bye(5)) == RTCP and classify(pack_sr(5, 1, 2)) == RTCP
    assert classify(b"") == MALFORMED and classify(b"\x00\x01") == MALFORMED and classify(b"\x80") == MALFORMED
    sr, bye = parse_rtcp(pack_sr(0xABCD, 123456, 77, 9) + pack_bye(0xABCD))
    assert (sr.ssrc, sr.rtp_ts, sr.frames, sr.octets) == (0xABCD, 123456, 77, 9) and bye == [0xABCD]
    for bad in (b"\x81\xcb\x00\x05\x00\x00\x00\x01", pack_sr(1, 2, 3)[:20], b"\x81\xcb"):
        with pytest.raises(ValueError):
            parse_rtcp(bad)


def test_rate_guard_bucket_and_bounded_table():
    g = RateGuard(rate_pps=100, burst=10, max_addresses=3)
    assert sum(g.allow("a", 0.0) for _ in range(50)) == 10
    assert g.allow("a", 0.05)                          # 5 tokens back after 50 ms
    for i in range(10):
        g.allow(("spoofed", i), 0.1)
    assert len(g) == 3


def test_mix_minus_excludes_self_and_limits():
    f = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], np.float32)
    m = mix_minus(f)
    assert np.allclose(m[:, 0], [0.5, 0.4, 0.3])
    assert np.all(mix_minus(np.full((3, 8), 0.9, np.float32)) < 1.0)
    assert np.all(mix_minus(np.ones((1, 4), np.float32)) == 0.0)


def test_wav_track_is_valid_after_every_write(tmp_path):
    t = WavTrack(tmp_path / "x.wav", 16000)
    total = 0
    for n in (320, 1, 999, 320):
        t.write(np.full(n, 0.25, np.float32))
        total += n
        data, rate = sf.read(str(t.path), dtype="int16")    # read while open, as after a crash
        assert rate == 16000 and data.size == total and data[-1] == 8192
    t.close()


def test_session_recorder_sidecar_and_hashes(tmp_path):
    r = SessionRecorder(tmp_path, "s1", 16000, "flac", info={"remote": "127.0.0.1:9"})
    r.write("rx", np.zeros(320, np.float32))
    r.write("tx", np.zeros(640, np.float32))
    r.update({"k": 1}, force=True)
    assert json.loads((tmp_path / "s1.json").read_text())["status"] == "open"
    doc = r.close(reason="bye")
    disk = json.loads((tmp_path / "s1.json").read_text())
    assert disk["status"] == "closed" and disk["close_reason"] == "bye" and disk["stats"] == {"k": 1}
    for name, n in (("rx", 320), ("tx", 640)):
        f = disk["files"][name]
        assert f["samples"] == n == sf.info(str(tmp_path / f["path"])).frames
        assert f["sha256"] == sha256_file(tmp_path / f["path"]) == doc["files"][name]["sha256"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


class _Rec:
    def __init__(self):
        self.n = {"rx": 0, "tx": 0}

    def write(self, track, x):
        self.n[track] += len(x)


@pytest.mark.parametrize("lost", [(), (0, 1), (30, 31, 32), (58, 59)])
def test_session_rx_timeline_has_exactly_the_sent_samples(lost):
    """First, middle or last packets lost: the rx record still has frames x 320 samples, via SR + BYE."""
    frames = 60
    snd = Sender(SenderConfig(ssrc=77, first_timestamp=0xFFFFF000))    # crosses the 32-bit wrap
    rec = _Rec()
    s = Session(SessionConfig()).attach("t", ("127.0.0.1", 1), 77, 0.0, rec)
    s.on_rtcp(pack_sr(77, 0xFFFFF000, 0), 0.0)
    x = np.zeros(320, np.float32)
    t = 0.0
    for i in range(frames + 40):
        t = 0.02 * i
        if i < frames:
            for d in snd.send(x + 0.01 * np.sin(i)):
                if not (i in lost and (d[1] & 0x7F) == 96):
                    s.on_rtp(d, t + 0.005)
            if i == frames - 1:
                s.on_rtcp(pack_sr(77, (0xFFFFF000 + frames * 320) % 2 ** 32, frames) + pack_bye(77), t)
        s.playout(t + 0.01)
        if s.finished:
            break
    s.finish()
    assert rec.n["rx"] == frames * 320


def test_session_without_bye_ends_at_last_real_frame():
    snd = Sender(SenderConfig(ssrc=5))
    rec = _Rec()
    s = Session(SessionConfig()).attach("t", ("127.0.0.1", 1), 5, 0.0, rec)
    for i in range(80):
        t = 0.02 * i
        if i < 40:
            for d in snd.send(np.zeros(320, np.float32)):
                s.on_rtp(d, t + 0.001)
        s.playout(t + 0.01)
    s.begin_close("idle", 2.0)
    s.finish()
    assert rec.n["rx"] == 40 * 320 and s.counts["rx_dropped_tail"] > 0


def test_malformed_rtcp_and_foreign_bye_do_not_touch_the_session():
    s = Session(SessionConfig()).attach("t", ("127.0.0.1", 1), 5, 0.0)
    assert not s.on_rtcp(b"\x80\xc8\x00\x06" + b"\x00" * 3, 0.0)
    assert not s.on_rtcp(pack_bye(6), 0.0)
    assert s.closing is None
    assert s.on_feedback(b"\x01" + b"\x00" * 40, 0.0) == [] and s.counts["feedback_bad"] == 1
    assert struct.unpack("!I", pack_bye(5)[4:])[0] == 5


def test_tick_timing_summaries_are_numpys_percentiles_over_interval_and_window():
    from audio3a.server.server import TickTimes, lateness_summary
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 50, 101, 6000):
        v = rng.exponential(2.0, n)
        s = lateness_summary(v)
        assert s == {"ticks": n, "p50_ms": round(float(np.percentile(v, 50)), 3),
                     "p99_ms": round(float(np.percentile(v, 99)), 3), "max_ms": round(float(v.max()), 3)}
    t = TickTimes(window=5, interval=2)
    for x in range(12):
        t.add(float(x))
    assert sorted(t.total()) == [7.0, 8.0, 9.0, 10.0, 11.0]            # the last 5 ticks
    assert t.interval_summary()["ticks"] == 12                          # the interval grew past its start size
    t.new_interval()
    t.add(3.0)
    assert t.interval_summary() == {"ticks": 1, "p50_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}


def test_half_the_sessions_start_their_packet_period_a_tick_later():
    """The per-packet work (playout, packing, FEC) of 4 sessions: 2 sessions a tick, each every other tick."""
    from audio3a.server.server import ServerConfig
    from server_helpers import offline_server
    server = offline_server(ServerConfig(max_sessions=6, prebuilt_sessions=4, rate_pps=1e6), 4)
    senders = [Sender(SenderConfig(ssrc=0x200 + i)) for i in range(4)]
    addrs = [("127.0.0.1", 31000 + i) for i in range(4)]
    x = np.zeros(320, np.float32)
    per_tick, playouts = [], []
    for t in range(40):
        server._loop.now = t * 0.01
        for i, snd in enumerate(senders):
            if (t + i) % 2 == 0:
                for d in snd.send(x):
                    server.datagram_received(d, addrs[i])
        server.transport.sent.clear()
        before = {a: sum(s.receiver.stats.ticks.values()) for a, s in server.sessions.items()}
        server._tick(server._loop.now + 0.005)
        per_tick.append(sorted(addr for addr, _ in server.transport.sent))
        playouts.append(sum(sum(server.sessions[a].receiver.stats.ticks.values()) - n for a, n in before.items()))
    assert sorted(s.phase for s in server.sessions.values()) == [0, 0, 1, 1]
    for t in range(10, 40):
        assert len(per_tick[t]) == 2 and playouts[t] == 2
        assert not set(per_tick[t]) & set(per_tick[t - 1])          # the other two sessions sent a tick earlier


def test_pool_builds_no_more_spares_than_sessions_can_join():
    from audio3a.server.pool import SessionPool
    pool = SessionPool(SessionConfig(), limit=8)
    pool.fill(1)
    pool.target = 4
    assert pool.wanting(room=8) and not pool.wanting(room=1)
    assert not pool.refill(room=1) and len(pool) == 1
    assert pool.refill(room=2) and len(pool) == 2 and not pool.wanting(room=2)


def test_datagrams_are_handled_in_the_slack_before_a_tick_and_queued_close_to_it():
    """Far from the next tick a datagram (and a loss report) is handled on arrival; within
    ``IDLE_MARGIN_MS`` of it, or while a tick runs, it waits for the tick, in arrival order."""
    from audio3a.server.server import IDLE_MARGIN_MS, ServerConfig
    from server_helpers import offline_server
    server = offline_server(ServerConfig(max_sessions=2, prebuilt_sessions=1, rate_pps=1e6), 1)
    snd = Sender(SenderConfig(ssrc=0x300))
    addr = ("127.0.0.1", 32000)
    x = np.zeros(320, np.float32)
    server._idle_until = server._loop.now + 0.005             # the next tick is 5 ms + the margin away
    server.datagram_received(snd.send(x)[0], addr)
    s = server.sessions[addr]
    assert s.receiver.stats.media == 1 and not server._inbox
    report = LossReport(0, 1000, 50, 0, 0, 0, (0,) * 16).pack()
    server.datagram_received(report, addr)
    assert s.counts["feedback"] == 1 and not server._feedback
    server._loop.now = server._idle_until + 0.0001             # within the margin: queued
    server.datagram_received(snd.send(x)[0], addr)
    server.datagram_received(snd.send(x)[0], addr)
    assert s.receiver.stats.media == 1 and len(server._inbox) == 2
    server._tick(server._loop.now + IDLE_MARGIN_MS / 1000.0)  # the tick handles them first
    assert s.receiver.stats.media == 3 and not server._inbox


def test_session_recorder_writes_on_flush_from_a_copy(tmp_path):
    """``write`` keeps a copy (the server reuses its buffers); the tracks get it at ``flush`` (in the
    server's slack), or at once after ``max_pending`` writes, and ``close`` flushes the rest."""
    r = SessionRecorder(tmp_path, "s2", 16000)
    buf = np.full(320, 0.25, np.float32)
    r.write("rx", buf)
    buf[:] = -0.5                                        # reused by the caller before the flush
    r.write("rx", buf)
    assert r.pending and sf.info(str(r.tracks["rx"].path)).frames == 0
    r.flush()
    data, _ = sf.read(str(r.tracks["rx"].path), dtype="int16")
    assert not r.pending and data.size == 640 and data[0] == 8192 and data[-1] == -16384
    for _ in range(r.max_pending):
        r.write("tx", buf)
    assert not r.pending and r.tracks["tx"].samples == 320 * r.max_pending
    r.write("tx", buf[:100])
    doc = r.close()
    assert doc["files"]["tx"]["samples"] == 320 * r.max_pending + 100 == sf.info(str(r.tracks["tx"].path)).frames


def test_the_tick_wait_ends_at_the_deadline_and_reads_what_arrives():
    """``_sleep_until``: epoll to a millisecond before, then select(2) on the socket to the deadline;
    never early, and a datagram that arrives meanwhile is read (counted) before the tick."""
    import asyncio
    import socket

    from audio3a.server.server import Server, ServerConfig

    async def body():
        server = Server(ServerConfig(prebuilt_sessions=0))
        host, port = await server.start()
        loop = asyncio.get_running_loop()
        for wait_s in (-0.001, 0.0, 0.0004, 0.0015):
            deadline = loop.time() + wait_s
            await server._sleep_until(deadline)
            assert loop.time() >= deadline
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for wait_s in (0.003, 0.012):           # ample time for loopback delivery
                before = server.datagrams
                tx.sendto(RtpPacket(96, 1, 2, 0x400).pack() + bytes(640), (host, port))
                deadline = loop.time() + wait_s
                await server._sleep_until(deadline)
                assert loop.time() >= deadline and server.datagrams == before + 1
        server.transport.close()

    asyncio.run(body())
