"""The asyncio UDP server: sessions by source address, a 10 ms processing tick, stats lines.

Datagrams are checked in order of cost: size (``max_datagram_bytes``, raised
to what the stream's own packets need: a 20 ms L16 frame at 48 kHz is 1920
bytes, and with RED copies or a repair packet up to twice that), the
sender's token bucket (``guard.RateGuard``), kind (``wire.classify``), then
for RTP the fixed header and SSRC. Media from an unknown address opens a
session (up to ``max_sessions``; its SSRC must not belong to another
session); afterwards only that SSRC's media, and one repair SSRC, are
accepted from the address. Every drop is counted by reason in ``drops``;
a session only ever sees its own address's traffic, so one participant's
garbage cannot disturb another's stream.

The tick runs every 10 ms on the event loop's clock. A session's 20 ms
packet period spans two ticks: at its first half it plays out 20 ms
(receiver, concealer), at its second the 20 ms of mix is packed and sent
(with the redundancy: an APC4 copy for RED, repair packets for a block
code); on every tick its 10 ms half goes through its pipeline, and the
N-minus-one mix is formed and becomes each session's echo reference (sum
minus own, into preallocated arrays). Half of the sessions (``phase`` 1,
given at join so the two halves stay balanced) start their period a tick
later than the others, so each tick does half of the sessions' per-packet
work instead of every session's on alternate ticks (at 16 sessions on
RED, 16 APC4 encodes of ~0.13 ms each, all in the odd ticks before). With
``workers`` > 1 the per-session work (playout and 3A) is split over that
many threads (the kernels release the GIL), each thread getting its share of
the sessions that play out this tick; the mix and the sends stay on the loop.
The gain is bounded: at 16 sessions ~60 % of the tick's CPU is in kernels,
the rest Python holding the GIL (so two threads at best take ~30 % off the
tick), and only while a second core is free: the load generator and other
jobs on a 2-core machine take it, and then the handoffs make the tick longer.
A datagram is checked for size and against its sender's token bucket when it
arrives (its arrival time kept for the jitter buffer). The rest of its handling
(RTP parse, FEC, decoding, the jitter buffer: ~50 us a datagram, ~0.8 ms a tick
at 16 sessions) is done at once while the next deadline is more than
``IDLE_MARGIN_MS`` away, and otherwise waits for the start of the next tick (as
do the datagrams read from the socket then), so a burst of packets from many
clients costs tick work, not the lateness of a tick due in the middle of the
burst, and the tick itself only handles what came in since its slack ran out.
Work that is not the tick's is kept out of it: the sessions' recordings are
written to disk in the slack after the tick (``SessionRecorder.flush``),
Python's garbage collector runs in the idle time before the next deadline
(``IdleTimeGc``), spare sessions are built only when that idle time exceeds a
build, the sessions' stats records are written a few per tick, the sessions'
loss reports are spread over the report interval, and the clients' loss
reports (a rate controller update each, 0.1-0.3 ms) are handled in the slack,
``FEEDBACK_PER_TICK`` a tick when there is none. A session whose processing
raises is closed (``session_errors``); the others go on. Tick lateness
(wake-up time minus the deadline) and work time (the tick's own processing)
are tracked; a tick that falls more than ``max_behind_ms`` behind is skipped (counted in
``dropped_frames``, one per session). A session that has been silent for
``idle_timeout_s`` is closed; one that said BYE is closed when its last
frame has been played (or after ``drain_timeout_s``). On shutdown every
session plays out what it has buffered and its recording is closed.
"""
import asyncio
import gc
import select
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fec.packet import PacketError, RtpPacket

from .guard import DropCounter, RateGuard
from .mixer import mix_minus_into
from .recorder import SessionRecorder
from .pool import SessionPool
from .session import SessionConfig
from .wire import FEEDBACK, MALFORMED, RTP, classify, parse_rtcp

__all__ = ["ServerConfig", "Server", "run_server", "lateness_summary"]

TICK_MS = 10
FEEDBACK_PER_TICK = 2         # loss reports handled per tick (~0.1-0.3 ms each: a rate controller's update)
IDLE_MARGIN_MS = 2.0          # arrivals and loss reports are handled at once until this close to the next tick


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
    gc_in_idle_time: bool = True
    helper_share: float = 0.0         # share of the sessions whose 3A runs in a helper process (shard.py)
    stats_port: int | None = None     # local HTTP stats endpoint (http_stats.py) on host:stats_port; 0 = free port

    def __post_init__(self):
        if self.max_sessions < 1 or self.idle_timeout_s <= 0 or self.max_datagram_bytes < 12:
            raise ValueError("max_sessions >= 1, idle_timeout_s > 0 and max_datagram_bytes >= 12 are required")
        if not 0.0 <= self.helper_share <= 1.0:          # also refuses NaN
            raise ValueError(f"helper_share is a share of the sessions in [0, 1], got {self.helper_share!r}")
        if self.stats_port is not None and not 0 <= self.stats_port <= 65535:
            raise ValueError(f"stats_port must be a TCP port in [0, 65535] (0: a free one), got {self.stats_port!r}")


class IdleTimeGc:
    """Python's cyclic garbage collector, run in the tick's idle time instead of wherever it strikes.

    Left alone, the collector runs when allocations cross its thresholds, which with many
    sessions is in the middle of a tick: a generation-1 pass costs 1-3 ms and a full one tens of
    ms (measured offline at 16 sessions), straight into every session's lateness. While a server
    runs, the objects built at start (kernels, sessions, tables) are frozen (``gc.freeze``: never
    scanned again), automatic collection is off, and ``idle(slack_ms)`` runs the generation that
    the collector's own counters say is due, when the time left before the next deadline allows
    it; a server that has no slack for long still collects (``force_factor`` times the threshold),
    so memory stays bounded. The process-wide state is restored when the last server stops.
    """

    _users = 0
    _was_enabled = True
    force_factor = 50

    def __enter__(self):
        cls = IdleTimeGc
        if cls._users == 0:
            cls._was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()
            gc.disable()
        cls._users += 1
        self.collections = [0, 0, 0]
        return self

    def __exit__(self, *exc):
        cls = IdleTimeGc
        cls._users -= 1
        if cls._users == 0:
            gc.unfreeze()
            if cls._was_enabled:
                gc.enable()
        return False

    def idle(self, slack_ms: float) -> None:
        t0, t1, t2 = gc.get_threshold()
        c0, c1, c2 = gc.get_count()
        gen = -1
        if c2 >= t2 and c1 >= t1 and slack_ms > 6.0:
            gen = 2
        elif c1 >= t1 and slack_ms > 3.0:
            gen = 1
        elif c0 >= t0 and slack_ms > 1.0:
            gen = 0
        elif c0 >= self.force_factor * t0:
            gen = 0
        if gen >= 0:
            gc.collect(gen)
            self.collections[gen] += 1


def lateness_summary(values_ms) -> dict:
    """p50 / p99 / max of tick timing samples (ms): lateness, or work time per tick (one
    ``np.percentile`` call for both ranks: it partially sorts, ~1 ms for a window of 60000 ticks)."""
    v = np.asarray(values_ms, np.float64)
    if v.size == 0:
        return {"ticks": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    p50, p99 = np.percentile(v, [50, 99])
    return {"ticks": int(v.size), "p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3),
            "max_ms": round(float(v.max()), 3)}


class TickTimes:
    """Timing samples of the tick (ms) in preallocated arrays: the current stats interval, and
    a ring of the last ``window`` ticks (the totals). Adding a sample allocates nothing."""

    def __init__(self, window: int, interval: int = 256):
        self.ring = np.zeros(max(1, int(window)))
        self.count = 0
        self.interval = np.zeros(max(1, int(interval)))
        self.interval_count = 0

    def add(self, ms: float) -> None:
        self.ring[self.count % self.ring.size] = ms
        self.count += 1
        if self.interval_count == self.interval.size:        # a long interval: grow (rare)
            self.interval = np.concatenate([self.interval, np.zeros_like(self.interval)])
        self.interval[self.interval_count] = ms
        self.interval_count += 1

    def new_interval(self) -> None:
        self.interval_count = 0

    def interval_summary(self) -> dict:
        return lateness_summary(self.interval[:self.interval_count])

    def total(self) -> np.ndarray:
        """The window's samples (a view, oldest not first: order does not matter to a summary)."""
        return self.ring[:min(self.count, self.ring.size)]


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
        self._gc = None
        self.http = None                  # http_stats.StatsEndpoint when stats_port is set
        self.shard = None                 # shard.PipelineShard when helper_share > 0
        self.helper_failures = 0
        self._stats_rec = None            # server record of a closed interval, sent after its sessions'
        self._stats_queue = deque()
        self._stats_force_at = 0
        self._stalled_until = 0.0
        self._sock = None
        self.transport = None
        self._loop = None
        self._late = TickTimes(config.lateness_window)
        self._work = TickTimes(config.lateness_window)
        self._late_snap = np.zeros_like(self._late.ring)     # the totals of a closed interval, summarised in idle time
        self._work_snap = np.zeros_like(self._work.ring)
        self._snap_len = 0
        self._inbox = []                  # (datagram, address, arrival time) accepted since the last tick
        self._feedback = deque()          # (session, loss report, arrival time) not yet handled
        self._pending_closes = set()
        self._idle_until = -np.inf        # loop time until which arrivals are handled at once (slack before a tick)
        self._tick_n = 0
        self._sc = config.session
        self.pool = SessionPool(config.session, config.max_sessions)
        from fec.payload import FORMATS
        media = FORMATS[config.session.payload].payload_len(config.session.frame_len)
        self._max_datagram = max(config.max_datagram_bytes, 2 * media + 128)   # primary + redundancy + headers
        n = config.session.tick_len
        self._frames = np.zeros((config.max_sessions, n), np.float32)   # the tick's processed halves
        self._mix = np.zeros((config.max_sessions, n), np.float32)      # their N-minus-one mixes
        self._mix_total = np.zeros(n)

    # ------------------------------------------------------------------ life cycle
    def start_helper(self):
        """Fork the 3A helper process (``helper_share`` > 0), after the kernels are warm."""
        if self.config.helper_share > 0 and self.shard is None:
            from .shard import PipelineShard
            slots = max(1, int(round(self.config.helper_share * self.config.max_sessions)))
            self.shard = PipelineShard(self._sc, slots)

    async def start(self):
        """Bind the socket; returns ``(host, port)``."""
        self._loop = asyncio.get_running_loop()
        self.pool.fill(self.config.prebuilt_sessions)
        self.start_helper()
        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.socket_buffer_bytes)
        except OSError:
            pass
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            if self.shard is not None:
                self.shard.close()
                self.shard = None
            raise
        sock.setblocking(False)
        self._sock = sock                         # read directly too: see _drain_socket
        self.transport, _ = await self._loop.create_datagram_endpoint(lambda: self, sock=sock)
        if self.config.stats_port is not None:
            from .http_stats import StatsEndpoint
            self.http = StatsEndpoint(self)
            try:
                await self.http.start(self.config.host, self.config.stats_port)
            except OSError:
                self.transport.close()
                if self.shard is not None:
                    self.shard.close()
                    self.shard = None
                raise
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
        self._gc = IdleTimeGc() if self.config.gc_in_idle_time else None
        if self._gc is not None:
            self._gc.__enter__()
        try:
            while not stop.is_set() and (duration_s is None or loop.time() - t0 < duration_s):
                await self._sleep_until(deadline)
                now = loop.time()
                late = now - deadline
                if late > max_behind:
                    skip = 2 * int(late / (2 * period))          # keep the 20 ms phase
                    self.dropped_frames += skip * len(self.sessions)
                    deadline += skip * period
                    self._tick_n += skip
                    late = now - deadline
                    self._stalled_until = now + 0.1      # the stall was ours: silence is not the clients'
                self._late.add(late * 1000.0)
                self._idle_until = -np.inf
                self._drain_socket()
                self._tick(now)
                work = (loop.time() - now) * 1000.0
                self._work.add(work)
                deadline += period
                if now >= next_stats:
                    self._emit_stats(now)
                    next_stats += self.config.stats_interval_s
                    if next_stats < now:
                        next_stats = now + self.config.stats_interval_s
                self._idle_until = deadline - IDLE_MARGIN_MS / 1000.0
                self._handle_feedback_idle()              # the reports that came in with the tick's datagrams
                self._flush_recordings()
                if self._stats_rec is not None:
                    self._drain_stats(deadline)
                slack_ms = (deadline - loop.time()) * 1000.0
                room = self.config.max_sessions - len(self.sessions)
                if self.pool.wanting(room) and self.pool.refill(slack_ms, room):   # a spare, in idle time
                    slack_ms = (deadline - loop.time()) * 1000.0
                if self._gc is not None:
                    self._gc.idle(slack_ms)
        finally:
            try:
                await self.shutdown()
            finally:
                if self._gc is not None:
                    self._gc.__exit__(None, None, None)
                    self._gc = None

    async def _sleep_until(self, deadline):
        """Wait for the loop's clock to reach ``deadline`` (always yielding, even when behind).

        The event loop's epoll(7) takes whole milliseconds, rounded up: a tick would wake 0-1 ms
        late (0.5 ms on average) on top of the scheduler's latency. So the loop sleeps until a
        millisecond before, and the rest is waited in select(2) on the socket (microseconds),
        reading any datagram that arrives meanwhile (stamped as it comes, queued for the tick)."""
        loop = self._loop
        await asyncio.sleep(max(deadline - loop.time() - 0.001, 0.0))
        sock = self._sock
        if sock is None or sock.fileno() < 0:
            return
        while (rest := deadline - loop.time()) > 0:
            if select.select([sock], [], [], rest)[0]:
                self._drain_socket()

    async def shutdown(self):
        """Play out and close every session, wait for pending closes, close the socket."""
        now = self._loop.time() if self._loop else 0.0
        self._idle_until = -np.inf
        self._handle_inbox()
        self._handle_feedback(everything=True)
        if self._stats_rec is not None:
            self._drain_stats(None)
        for addr in list(self.sessions):
            s = self.sessions.pop(addr)
            self._release_slot(s)
            s.begin_close("shutdown", now)
            s.drain(now)
            self._close_now(s)
        if self._pending_closes:
            await asyncio.gather(*self._pending_closes, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()
        if self.http is not None:
            await self.http.close()
        if self.shard is not None:
            self.shard.close()
            self.shard = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.stats_sink is not None:
            self.stats_sink(self.server_stats(now, final=True))

    # ------------------------------------------------------------------ datagrams
    def datagram_received(self, data, addr):
        """The checks that bound a flood's cost (size, the sender's token bucket) at arrival; the
        datagram itself is handled now when the next tick is more than ``IDLE_MARGIN_MS`` away
        (with a loss report or two), else at the start of the next tick, with its arrival time."""
        self.datagrams += 1
        now = self._loop.time()
        if len(data) > self._max_datagram:
            self.drops("oversize")
            return
        if not self.guard.allow(addr, now):
            self.drops("flood")
            return
        self._inbox.append((data, addr, now))
        if now < self._idle_until:
            self._handle_inbox()
            self._handle_feedback_idle()
        elif len(self._inbox) >= self.config.max_datagrams_per_tick:
            self._handle_inbox()

    def _handle_inbox(self):
        inbox = self._inbox
        for data, addr, now in inbox:
            self._handle(data, addr, now)
        inbox.clear()

    def _handle(self, data, addr, now):
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
            s.on_rtp(data, now, pkt)
        elif kind == FEEDBACK:
            if s is None:
                self.drops("unknown_source")
                return
            s.last_heard_s = now
            self._feedback.append((s, data, now))
        else:  # RTCP
            if s is None:
                s = self._open_from_rtcp(addr, data, now)
                if s is None:
                    return
            if not s.on_rtcp(data, now):
                self.drops("bad_rtcp")

    def _handle_feedback(self, everything=False):
        """The queued loss reports, ``FEEDBACK_PER_TICK`` a tick (more when more than one per
        session waits): every client reports once a second, all in the same 20 ms when they
        started together, and 16 rate-controller updates in one tick cost it ~2-5 ms."""
        q = self._feedback
        budget = len(q) if everything else max(FEEDBACK_PER_TICK, len(q) - self.config.max_sessions)
        for _ in range(min(budget, len(q))):
            self._feedback_one()

    def _handle_feedback_idle(self):
        """Queued loss reports, one at a time while the loop's clock is before ``_idle_until``."""
        while self._feedback and self._loop.time() < self._idle_until:
            self._feedback_one()

    def _feedback_one(self):
        """The oldest queued loss report to its session (unless it closed meanwhile), and the replies."""
        s, data, arrival = self._feedback.popleft()
        if self.sessions.get(s.addr) is s:
            for d in s.on_feedback(data, arrival):
                self.transport.sendto(d, s.addr)

    def _flush_recordings(self):
        """The sessions' queued recording writes (``SessionRecorder.flush``), while the loop's clock is
        before ``_idle_until``, from a start that turns each tick (one left out goes first later)."""
        todo = [s for s in self.sessions.values() if s.recorder is not None and s.recorder.pending]
        if todo:
            k = self._tick_n % len(todo)
            for s in todo[k:] + todo[:k]:
                if self._loop.time() >= self._idle_until:
                    return
                s.recorder.flush()

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
        # golden-ratio phases spread the sessions' loss reports evenly over the report interval
        s = self.pool.take().attach(sid, addr, ssrc, now, recorder,
                                    report_phase=(self.sessions_opened * 0.6180339887) % 1.0)
        s.shard_slot = None
        ones = sum(o.phase for o in self.sessions.values())
        s.phase = 1 if 2 * ones < len(self.sessions) else 0     # half the sessions' packet period a tick later
        if self.shard is not None and self.shard.in_use < self.config.helper_share * (len(self.sessions) + 1):
            s.shard_slot = self.shard.acquire()
        self.sessions[addr] = s
        return s

    # ------------------------------------------------------------------ the tick
    def _tick(self, now):
        self._handle_inbox()
        self._handle_feedback()
        tick = self._tick_n
        self._tick_n += 1
        sessions = list(self.sessions.values())
        if sessions:
            for s in sessions:
                s.half = (tick + s.phase) & 1
            remote, submitted = self._submit_remote(sessions, now) if self.shard is not None else ((), False)
            if remote:
                ids = {id(s) for s in remote}
                local = [s for s in sessions if id(s) not in ids]
            else:
                local = sessions
            self._tick_local(local, now)
            if submitted:
                self._collect_remote(remote, now)
            m = len(sessions)
            frames, mix = self._frames[:m], self._mix[:m]
            for i, s in enumerate(sessions):
                frames[i] = s.capture_halves[s.half]
            mix_minus_into(frames, self._mix_total, mix)
            for i, s in enumerate(sessions):
                s.set_render(mix[i])
                s.mix_halves[s.half][:] = mix[i]
                if s.half == 1:
                    try:
                        out = s.send(s.mix_buffer, now)
                    except Exception:            # noqa: BLE001 - one session's fault ends that session only
                        self._session_failed(s, now)
                        continue
                    for d in out:
                        self.transport.sendto(d, s.addr)
        self._housekeeping(now)

    def _tick_local(self, sessions, now):
        """Playout and 3A of the sessions processed in this process (on ``workers`` threads)."""
        w = self.config.workers
        if w > 1 and len(sessions) >= 2 * w:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor
                self._executor = ThreadPoolExecutor(w - 1, thread_name_prefix="audio3a-tick")
            # dealt in turn from the sessions that play out this tick, then the others: every thread
            # gets its share of the playouts (Python, holding the GIL), not all of one phase's
            order = [s for s in sessions if s.half == 0] + [s for s in sessions if s.half == 1]
            chunks = [order[i::w] for i in range(w)]
            futures = [self._executor.submit(self._steps, c, now) for c in chunks[1:]]
            self._steps(chunks[0], now)
            for f in futures:
                f.result()
        else:
            self._steps(sessions, now)

    def _submit_remote(self, sessions, now):
        """Playout of the helper's sessions, their mic half and render into shared memory, and the
        helper started on them (it works while this process does its own sessions)."""
        shard = self.shard
        if not shard.alive:
            self._drop_helper()
            return (), False
        remote = []
        for s in sessions:
            if s.shard_slot is None:
                continue
            try:
                if s.half == 0:
                    s.playout(now)
            except Exception:                    # noqa: BLE001 - one session's fault ends that session only
                s.capture_halves[s.half][:] = 0.0
                self._session_failed(s, now)
                continue
            shard.mic[s.shard_slot] = s.capture_in_halves[s.half]
            shard.render[s.shard_slot] = s.render
            remote.append(s)
        try:
            shard.submit([s.shard_slot for s in remote])
        except (OSError, ValueError):
            self._drop_helper()
            for s in remote:                         # played out already: only the 3A is left
                s.capture(s.half)
            return remote, False
        return remote, True

    def _collect_remote(self, remote, now):
        try:
            failed = set(self.shard.collect())
        except RuntimeError:
            self._drop_helper()
            for s in remote:                         # this tick from the sessions' own pipelines
                s.capture(s.half)
            return
        out = self.shard.out
        for s in remote:
            if s.shard_slot in failed:
                s.capture_halves[s.half][:] = 0.0
                self._session_failed(s, now)
            else:
                s.capture_halves[s.half][:] = out[s.shard_slot]

    def _drop_helper(self):
        """The helper died or hung: every session goes back to its own pipeline."""
        self.helper_failures += 1
        for s in self.sessions.values():
            s.shard_slot = None
        if self.shard is not None:
            self.shard.close()
        self.shard = None

    def _steps(self, sessions, now):
        """Receive side (at half 0) and 3A for this tick's half of each session (safe on a worker
        thread: the event loop waits for the tick, so nothing else touches these sessions meanwhile)."""
        for s in sessions:
            try:
                if s.half == 0:
                    s.playout(now)
                s.capture(s.half)
            except Exception:                    # noqa: BLE001 - one session's fault ends that session only
                s.capture_halves[s.half][:] = 0.0
                self._session_failed(s, now)

    def _release_slot(self, s):
        if self.shard is not None and getattr(s, "shard_slot", None) is not None:
            self.shard.release(s.shard_slot)
        s.shard_slot = None

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
                self._release_slot(s)
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
    def server_stats(self, now, final=False, totals=True) -> dict:
        """The server record; ``totals=False`` leaves ``tick_total`` / ``work_total`` to the caller."""
        rec = {"type": "server", "t_s": round(now, 3), "final": final, "sessions": len(self.sessions),
                "sessions_opened": self.sessions_opened, "datagrams": self.datagrams,
                "drops": dict(self.drops.counts), "dropped_frames": self.dropped_frames,
                "session_errors": self.errors,
                "addresses": len(self.guard), "spare_sessions": len(self.pool),
                "cold_builds": self.pool.cold_builds,
                "helper_sessions": self.shard.in_use if self.shard is not None else 0,
                "helper_failures": self.helper_failures,
                "gc_collections": list(self._gc.collections) if self._gc is not None else None,
                "tick": self._late.interval_summary(), "tick_total": None,
                "work": self._work.interval_summary(), "work_total": None}
        if totals:
            rec["tick_total"] = lateness_summary(self._late.total())
            rec["work_total"] = lateness_summary(self._work.total())
        return rec

    def _emit_stats(self, now):
        """Close a stats interval: the server record's interval figures now, the sessions' records
        (and sidecar updates, ~0.1 ms each) over the next ticks' idle time (``_drain_stats``), then
        the server record with the window totals (summarised from a copy taken now, ~1 ms each at
        60000 ticks); so neither the stats of many sessions nor a long window makes a tick late."""
        if self._stats_rec is not None:
            self._drain_stats(None)
        self._stats_rec = self.server_stats(now, totals=False)
        n = self._snap_len = self._late.total().size
        self._late_snap[:n] = self._late.total()
        self._work_snap[:n] = self._work.total()
        self._late.new_interval()
        self._work.new_interval()
        self._stats_queue = deque(self.sessions.values())
        self._stats_force_at = self._tick_n + 10

    def _drain_stats(self, slack_until):
        """Emit queued session records, then the server record, while the loop's clock is more
        than 2 ms before ``slack_until`` (None, or 10 ticks after the interval closed: all of them)."""
        if self._stats_rec is None:
            return
        if slack_until is not None and self._tick_n >= self._stats_force_at:
            slack_until = None
        sink = self.stats_sink
        q = self._stats_queue
        while q and (slack_until is None or slack_until - self._loop.time() > 0.002):
            s = q.popleft()
            if self.sessions.get(s.addr) is not s:
                continue                               # closed meanwhile: its closing record says it all
            st = s.stats()
            if s.recorder is not None:
                s.recorder.update(st)
            if sink is not None:
                sink({"type": "session", "t_s": round(self._loop.time(), 3), **st})
        if not q and (slack_until is None or slack_until - self._loop.time() > 0.002):
            rec, self._stats_rec = self._stats_rec, None
            n = self._snap_len
            rec["tick_total"] = lateness_summary(self._late_snap[:n])
            rec["work_total"] = lateness_summary(self._work_snap[:n])
            if sink is not None:
                sink(rec)


def run_server(config: ServerConfig, stats_sink=None, duration_s=None, ready=None) -> dict:
    """Run a server until SIGINT/SIGTERM (or ``duration_s``); ``ready(addr)`` once bound
    (``ready(addr, stats_addr)`` with a stats endpoint). Returns final stats."""
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
            if server.http is not None:
                ready(addr, server.http.address)
            else:
                ready(addr)
        await server.run(stop, duration_s)
        return server.server_stats(loop.time(), final=True)

    return asyncio.run(main())
