"""Sessions built ahead of time, so a participant joining never stalls the processing tick.

Building a session (pipeline, concealer, FEC controller) takes a few
milliseconds, and the first one in a process loads every kernel (most of a
second, and seconds after a source change). ``SessionPool.fill(n)`` builds
``n`` at server start, after ``warm.warm_session_path`` has run every kernel
a stream can reach, so nothing compiles later;
``take()`` hands one out (building it there only when the pool is empty,
counted in ``cold_builds``); ``refill(slack_ms, room)`` builds one spare,
called by the server when a tick leaves enough slack (``build_ms``, the
slowest of the recent builds, tells how much: a build that outlasts the slack
would make the next tick late for every session). At most ``limit`` are kept,
and no more than ``room``, the sessions that could still join: a server with
16 of 20 sessions in use builds 4 spares, not 16 (a build is ~4-5 ms of CPU
taken from the idle time that the clients on the same cores also need).
"""
import time

from .session import Session, SessionConfig
from .warm import warm_session_path

__all__ = ["SessionPool"]


class SessionPool:
    """Ready-built sessions; see the module docstring."""

    def __init__(self, config: SessionConfig, limit: int):
        self.config = config
        self.limit = int(limit)
        self._ready = []
        self._warm = False
        self.cold_builds = 0
        self.target = 0
        self.build_ms = 10.0             # decays towards the recent builds, rises at once on a slow one

    def _build(self) -> Session:
        t = time.perf_counter()
        s = Session(self.config)
        ms = (time.perf_counter() - t) * 1000.0
        self.build_ms = max(ms, 0.8 * self.build_ms + 0.2 * ms)
        return s

    def __len__(self):
        return len(self._ready)

    def fill(self, n: int) -> None:
        if not self._warm:
            warm_session_path(self.config)
            self._warm = True
        self.target = min(int(n), self.limit)
        while len(self._ready) < self.target:
            self._ready.append(self._build())

    def wanting(self, room: int) -> bool:
        """Short of spares, with ``room`` sessions still able to join."""
        return len(self._ready) < min(self.target, room)

    def refill(self, slack_ms: float = float("inf"), room: int | None = None) -> bool:
        """Build one spare if the pool is short (of ``room``, when given, too) and ``slack_ms``
        leaves room for a build; True if built."""
        want = self.target if room is None else min(self.target, room)
        if len(self._ready) < want and slack_ms > 1.5 * self.build_ms:
            self._ready.append(self._build())
            return True
        return False

    def take(self) -> Session:
        if self._ready:
            return self._ready.pop()
        self.cold_builds += 1
        return self._build()
