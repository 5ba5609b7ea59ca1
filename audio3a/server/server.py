"""The asyncio UDP server: sessions by source address, a 10 ms processing tick, stats lines.

Datagrams are checked in order of cost: size (``max_datagram_bytes``), the
sender's token bucket (``guard.RateGuard``), kind (``wire.classify``), then
for RTP the fixed header and SSRC. Media from an unknown address opens a
session (up to ``max_sessions``; its SSRC must not belong to another
session); afterwards only that SSRC's media, and one repair SSRC, are
accepted from the address. Every drop is counted by reason in ``drops``;
a session only ever sees its own address's traffic, so one participant's
garbage cannot disturb another's stream.

The tick runs every 10 ms on the event loop's clock: on even ticks every
session plays out 20 ms (receiver, concealer), on every tick each session's
10 ms half goes through its pipeline, the N-minus-one mix is formed and
becomes each session's echo reference, and on odd ticks the 20 ms of mix is
packed and sent. With ``workers`` > 1 the per-session work (playout and
3A) is split over that many threads (the kernels release the GIL); the mix
and the sends stay on the loop. A session whose processing raises is closed
(``session_errors``); the others go on. Tick lateness (wake-up time minus the deadline) and work
time (the tick's own processing) are tracked;
a tick that falls more than ``max_behind_ms`` behind is skipped (counted in
``dropped_frames``, one per session). A session that has been silent for
``idle_timeout_s`` is closed; one that said BYE is closed when its last
frame has been played (or after ``drain_timeout_s``). On shutdown every
session plays out what it has buffered and its recording is closed.
"""
import asyncio
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fec.packet import PacketError, RtpPacket

from .guard import DropCounter, RateGuard
from .mixer import mix_minus
from .recorder import SessionRecorder
from .pool import SessionPool
from .session import SessionConfig
from .wire import FEEDBACK, MALFORMED, RTP, classify, parse_rtcp

__all__ = ["ServerConfig", "Server", "run_server", "lateness_summary"]

TICK_MS = 10


@dataclass(frozen=True)
class ServerConfig:
    """Listening address, limits and recording; ``session`` holds the stream settings."""

    host: str = "127.0.0.1"
    port: int = 0
    session: SessionConfig = field(default_factory=SessionConfig)
    max_sessions: int = 32
    idle_timeout_s: float = 5.0
    max_datagram_bytes: int = 1500
    rate_pps: float = 250.0
    burst: float = 100.0
    max_addresses: int = 4096
    stats_interval_s: float = 1.0
    record_dir: str | None = None
    record_format: str = "wav"
    max_behind_ms: float = 200.0
    prebuilt_sessions: int = 16
    socket_buffer_bytes: int = 1 << 20
    workers: int = 1
    max_datagrams_per_tick: int = 4096
    lateness_window: int = 60000

    def __post_init__(self):
        if self.max_sessions < 1 or self.idle_timeout_s <= 0 or self.max_datagram_bytes < 12:
            raise ValueError("max_sessions >= 1, idle_timeout_s > 0 and max_datagram_bytes >= 12 are required")


def lateness_summary(values_ms) -> dict:
    """p50 / p99 / max of tick timing samples (ms): lateness, or work time per tick."""
    v = np.asarray(values_ms, np.float64)
    if v.size == 0:
        return {"ticks": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {"ticks": int(v.size), "p50_ms": round(float(np.percentile(v, 50)), 3),
            "p99_ms": round(float(np.percentile(v, 99)), 3), "max_ms": round(float(v.max()), 3)}


class Server(asyncio.DatagramProtocol):
    """See the module docstring. ``stats_sink(dict)`` receives the stats records."""

    def __init__(self, config: ServerConfig = ServerConfig(), stats_sink=None):
        self.config = config
        self.stats_sink = stats_sink
        self.guard = RateGuard(config.rate_pps, config.burst, config.max_addresses)
        self.drops = DropCounter()
        self.sessions = {}                # addr -> Session
        self.closed_sessions = []         # final stats of closed sessions (bounded)
        self.datagrams = 0
        self.dropped_frames = 0
        self.errors = 0
        self.sessions_opened = 0
        self._executor = None
        self._stalled_until = 0.0
        self._sock = None
        self.transport = None
        self._loop = None
        self._lateness = deque(maxlen=config.lateness_window)
        self._interval_lateness = []
        self._work = deque(maxlen=config.lateness_window)
        self._interval_work = []
        self._pending_closes = set()
        self._tick_n = 0
        self._sc = config.session
        self.pool = SessionPool(config.session, config.max_sessions)

    # ------------------------------------------------------------------ life cycle
    async def start(self):
        """Bind the socket; returns ``(host, port)``."""
        self._loop = asyncio.get_running_loop()
        self.pool.fill(self.config.prebuilt_sessions)
        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.socket_buffer_bytes)
        except OSError:
            pass
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock                         # read directly too: see _drain_socket
        self.transport, _ = await self._loop.create_datagram_endpoint(lambda: self, sock=sock)
        return self.address

    @property
    def address(self):
        return self.transport.get_extra_info("sockname")[:2]

    async def run(self, stop: asyncio.Event, duration_s: float | None = None):
        """Tick until ``stop`` is set (or ``duration_s`` passed), then shut down cleanly."""
        if self.transport is None:
            await self.start()
        loop = self._loop
        period = TICK_MS / 1000.0
        t0 = loop.time()
        deadline = t0 + period
        next_stats = t0 + self.config.stats_interval_s
        max_behind = self.config.max_behind_ms / 1000.0
        try:
            while not stop.is_set() and (duration_s is None or loop.time() - t0 < duration_s):
                wait = deadline - loop.time()
                await asyncio.sleep(max(wait, 0.0))           # always yield, even when behind
                now = loop.time()
                late = now - deadline
                if late > max_behind:
                    skip = 2 * int(late / (2 * period))          # keep the 20 ms phase
                    self.dropped_frames += skip * len(self.sessions)
                    deadline += skip * period
                    self._tick_n += skip
                    late = now - deadline
                    self._stalled_until = now + 0.1      # the stall was ours: silence is not the clients'
                self._lateness.append(late * 1000.0)
                self._interval_lateness.append(late * 1000.0)
                self._drain_socket()
                self._tick(now)
                work = (loop.time() - now) * 1000.0
                self._work.append(work)
                self._interval_work.append(work)
                deadline += period
                if deadline - loop.time() > 0.006:
                    self.pool.refill()                       # build a spare session in idle time
                if now >= next_stats:
                    self._emit_stats(now)
                    next_stats += self.config.stats_interval_s
                    if next_stats < now:
                        next_stats = now + self.config.stats_interval_s
        finally:
            await self.shutdown()

    async def shutdown(self):
        """Play out and close every session, wait for pending closes, close the socket."""
        now = self._loop.time() if self._loop else 0.0
        for addr in list(self.sessions):
            s = self.sessions.pop(addr)
            s.begin_close("shutdown", now)
            s.drain(now)
            self._close_now(s)
        if self._pending_closes:
            await asyncio.gather(*self._pending_closes, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.stats_sink is not None:
            self.stats_sink(self.server_stats(now, final=True))

    # ------------------------------------------------------------------ datagrams
    def datagram_received(self, data, addr):
        self.datagrams += 1
        now = self._loop.time()
        if len(data) > self.config.max_datagram_bytes:
            self.drops("oversize")
            return
        if not self.guard.allow(addr, now):
            self.drops("flood")
            return
        kind = classify(data)
        s = self.sessions.get(addr)
        if kind == MALFORMED:
            self.drops("malformed")
            return
        if kind == RTP:
            try:
                pkt = RtpPacket.parse(data)
            except PacketError:
                self.drops("malformed_rtp")
                return
            if s is None:
                s = self._open(addr, pkt.ssrc, pkt.payload_type, now)
                if s is None:
                    return
            if s.closing is not None and s.closing != "bye":
                self.drops("closing")
                return
            if not self._ssrc_ok(s, pkt):
                self.drops("unknown_ssrc")
                return
            s.on_rtp(data, now)
        elif kind == FEEDBACK:
            if s is None:
                self.drops("unknown_source")
                return
            for d in s.on_feedback(data, now):
                self.transport.sendto(d, addr)
        else:  # RTCP
            if s is None:
                s = self._open_from_rtcp(addr, data, now)
                if s is None:
                    return
            if not s.on_rtcp(data, now):
                self.drops("bad_rtcp")

    def _drain_socket(self):
        """Read every datagram already queued (at most ``max_datagrams_per_tick``) before the tick plays out.

        The asyncio transport reads one datagram per loop iteration; a tick that runs late would
        otherwise leave the queue to grow until the socket overflows.
        """
        sock = self._sock
        if sock is None:
            return
        for _ in range(self.config.max_datagrams_per_tick):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drops("socket_error")
                return
            self.datagram_received(data, addr)

    def error_received(self, exc):
        self.drops("socket_error")

    def _ssrc_ok(self, s, pkt) -> bool:
        if pkt.ssrc == s.ssrc:
            return True
        if pkt.payload_type == self._repair_pt:
            if s.repair_ssrc is None:
                s.repair_ssrc = pkt.ssrc
            return pkt.ssrc == s.repair_ssrc
        return False

    _repair_pt = 99            # fec.sender.SenderConfig defaults
    _media_pts = (96, 97)

    def _open(self, addr, ssrc, payload_type, now):
        if payload_type not in self._media_pts:
            self.drops("unknown_source")
            return None
        return self._new_session(addr, ssrc, now)

    def _open_from_rtcp(self, addr, data, now):
        try:
            sr, bye = parse_rtcp(data)
        except ValueError:
            self.drops("bad_rtcp")
            return None
        if sr is None or bye:
            self.drops("unknown_source")
            return None
        return self._new_session(addr, sr.ssrc, now)

    def _new_session(self, addr, ssrc, now):
        if len(self.sessions) >= self.config.max_sessions:
            self.drops("session_limit")
            return None
        if any(s.ssrc == ssrc for s in self.sessions.values()):
            self.drops("ssrc_in_use")
            return None
        self.sessions_opened += 1
        sid = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{self.sessions_opened:05d}-{ssrc:08x}"
        recorder = None
        if self.config.record_dir is not None:
            recorder = SessionRecorder(Path(self.config.record_dir), sid, self._sc.sample_rate,
                                       self.config.record_format,
                                       info={"remote": f"{addr[0]}:{addr[1]}", "ssrc": f"{ssrc:08x}",
                                             "sample_rate": self._sc.sample_rate, "frame_ms": self._sc.frame_ms,
                                             "rx": "audio received from the participant (after FEC, jitter "
                                                   "buffer and concealment, before 3A), on its media timeline",
                                             "tx": "audio sent to the participant (mix of the others)"})
        s = self.pool.take().attach(sid, addr, ssrc, now, recorder)
        self.sessions[addr] = s
        return s

    # ------------------------------------------------------------------ the tick
    def _tick(self, now):
        k = self._tick_n % 2
        self._tick_n += 1
        sessions = list(self.sessions.values())
        if sessions:
            w = self.config.workers
            if w > 1 and len(sessions) >= 2 * w:
                if self._executor is None:
                    from concurrent.futures import ThreadPoolExecutor
                    self._executor = ThreadPoolExecutor(w - 1, thread_name_prefix="audio3a-tick")
                chunks = [sessions[i::w] for i in range(w)]
                futures = [self._executor.submit(self._steps, c, k, now) for c in chunks[1:]]
                self._steps(chunks[0], k, now)
                for f in futures:
                    f.result()
            else:
                self._steps(sessions, k, now)
            n = self._sc.tick_len
            frames = np.stack([s.capture_out[k * n:(k + 1) * n] for s in sessions])
            mix = mix_minus(frames)
            for i, s in enumerate(sessions):
                s.set_render(mix[i])
                s.mix_buffer[k * n:(k + 1) * n] = mix[i]
            if k == 1:
                for s in sessions:
                    try:
                        out = s.send(s.mix_buffer, now)
                    except Exception:            # noqa: BLE001 - one session's fault ends that session only
                        self._session_failed(s, now)
                        continue
                    for d in out:
                        self.transport.sendto(d, s.addr)
        self._housekeeping(now)

    def _steps(self, sessions, k, now):
        """Receive side (even ticks) and 3A for half ``k`` of each session (safe on a worker thread:
        the event loop waits for the tick, so nothing else touches these sessions meanwhile)."""
        n = self._sc.tick_len
        for s in sessions:
            try:
                if k == 0:
                    s.playout(now)
                s.capture(k)
            except Exception:                    # noqa: BLE001 - one session's fault ends that session only
                s.capture_out[k * n:(k + 1) * n] = 0.0
                self._session_failed(s, now)

    def _session_failed(self, s, now):
        self.errors += 1
        s.begin_close("error", now)

    def _housekeeping(self, now):
        c = self.config
        idle_check = now >= self._stalled_until
        for addr, s in list(self.sessions.items()):
            if idle_check and s.closing is None and now - s.last_heard_s > c.idle_timeout_s:
                s.begin_close("idle", now)
            if s.closing is not None and (s.finished or now - s.closing_since_s > self._sc.drain_timeout_s):
                del self.sessions[addr]
                self._close_later(s)

    def _final(self, s):
        stats = s.finish()
        self.closed_sessions.append(stats)
        del self.closed_sessions[:-256]
        if self.stats_sink is not None:
            self.stats_sink({"type": "session_closed", "t_s": round(self._loop.time(), 3), **stats})
        return stats

    def _close_now(self, s):
        stats = self._final(s)
        if s.recorder is not None:
            s.recorder.close(stats, s.closing or "")

    def _close_later(self, s):
        """Settle the session on the loop; hash and close its files on a worker thread."""
        stats = self._final(s)
        if s.recorder is None:
            return
        fut = asyncio.ensure_future(self._loop.run_in_executor(None, s.recorder.close, stats, s.closing or ""))
        self._pending_closes.add(fut)
        fut.add_done_callback(self._pending_closes.discard)

    # ------------------------------------------------------------------ stats
    def server_stats(self, now, final=False) -> dict:
        return {"type": "server", "t_s": round(now, 3), "final": final, "sessions": len(self.sessions),
                "sessions_opened": self.sessions_opened, "datagrams": self.datagrams,
                "drops": dict(self.drops.counts), "dropped_frames": self.dropped_frames,
                "session_errors": self.errors,
                "addresses": len(self.guard), "spare_sessions": len(self.pool),
                "cold_builds": self.pool.cold_builds,
                "tick": lateness_summary(self._interval_lateness),
                "tick_total": lateness_summary(self._lateness),
                "work": lateness_summary(self._interval_work),
                "work_total": lateness_summary(self._work)}

    def _emit_stats(self, now):
        rec = self.server_stats(now)
        self._interval_lateness = []
        self._interval_work = []
        sink = self.stats_sink
        for s in self.sessions.values():
            st = s.stats()
            if s.recorder is not None:
                s.recorder.update(st)
            if sink is not None:
                sink({"type": "session", "t_s": round(now, 3), **st})
        if sink is not None:
            sink(rec)


def run_server(config: ServerConfig, stats_sink=None, duration_s=None, ready=None) -> dict:
    """Run a server until SIGINT/SIGTERM (or ``duration_s``); ``ready(addr)`` once bound. Returns final stats."""
    import signal

    async def main():
        server = Server(config, stats_sink)
        addr = await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        if ready is not None:
            ready(addr)
        await server.run(stop, duration_s)
        return server.server_stats(loop.time(), final=True)

    return asyncio.run(main())
