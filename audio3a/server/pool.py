"""Sessions built ahead of time, so a participant joining never stalls the processing tick.

Building a session (pipeline, concealer, FEC controller) takes a few
milliseconds, and the first one in a process loads every kernel (most of a
second, and seconds after a source change). ``SessionPool.fill(n)`` builds
``n`` at server start, after ``warm.warm_session_path`` has run every kernel
a stream can reach, so nothing compiles later;
``take()`` hands one out (building it there only when the pool is empty,
counted in ``cold_builds``); ``refill()`` builds one spare, called by the
server when a tick leaves enough slack. At most ``limit`` are kept.
"""
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

    def __len__(self):
        return len(self._ready)

    def fill(self, n: int) -> None:
        if not self._warm:
            warm_session_path(self.config)
            self._warm = True
        self.target = min(int(n), self.limit)
        while len(self._ready) < self.target:
            self._ready.append(Session(self.config))

    def refill(self) -> None:
        if len(self._ready) < self.target:
            self._ready.append(Session(self.config))

    def take(self) -> Session:
        if self._ready:
            return self._ready.pop()
        self.cold_builds += 1
        return Session(self.config)
