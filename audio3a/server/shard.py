"""3A pipelines of some sessions in a helper process: the second core, without the GIL.

About half of a session's tick is Python holding the GIL, so threads do
not add a core (measured: no gain at 16 sessions on 2 cores). A process has
its own GIL. ``PipelineShard`` forks one helper that owns one ``Pipeline``
per slot; per tick the server writes each offloaded session's 10 ms mic
half and its render reference into shared memory, sends the list of slots
(one small pipe message), processes its own sessions meanwhile, and reads
the processed halves back when the helper answers. Everything else of a
session (receiver, concealment, recording, mixing, sending, stats) stays in
the server process, so the recordings are untouched by this. Offline at 16
sessions (``bench.serve_load --offline``) a share of 0.5 cut the server
thread's CPU per session-tick by about a quarter (1.0: by half); the tick
now needs both processes on a CPU, so on a machine loaded by other jobs it
is later than with one process. Off by default (``helper_share = 0``).

The helper runs its garbage collector right after answering (the server's
next request is ~10 ms away), never while a tick waits for it.
A slot handed to a new session is reset (``Pipeline.reset``) by the helper
before its first frame. A pipeline that raises in the helper is reported
back and that session is closed as an error; a helper that dies or does not
answer within ``timeout_s`` is given up: the server carries on with the
sessions' own (in-process) pipelines.
"""
import gc
import multiprocessing as mp
import signal
from multiprocessing import shared_memory

import numpy as np

__all__ = ["PipelineShard"]


def _views(buf, slots, n):
    a = np.ndarray((3, slots, n), np.float32, buf)
    return a[0], a[1], a[2]


def _helper(conn, shm_name, sample_rate, pipeline_config, slots, n):
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the server decides when to stop
    from ..pipeline import Pipeline
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        mic, render, out = _views(shm.buf, slots, n)
        pipes = [Pipeline(sample_rate, **pipeline_config) for _ in range(slots)]
        gc.collect()
        gc.freeze()                  # as the server does: the collector runs after an answer, not during one
        gc.disable()
        conn.send("ready")
        while True:
            msg = conn.recv()
            if msg is None:
                break
            resets, todo = msg
            for s in resets:
                pipes[s].reset()
            failed = []
            for s in todo:
                try:
                    out[s] = pipes[s].process(mic[s], render[s])
                except Exception:                # noqa: BLE001 - reported; the server closes that session
                    out[s] = 0.0
                    failed.append(s)
                    pipes[s] = Pipeline(sample_rate, **pipeline_config)
            conn.send(failed)
            t0, t1, _ = gc.get_threshold()
            c0, c1, _ = gc.get_count()
            if c1 >= t1:
                gc.collect(1)
            elif c0 >= t0:
                gc.collect(0)
        del mic, render, out
    finally:
        shm.close()
        conn.close()


class PipelineShard:
    """A helper process with ``slots`` pipelines; see the module docstring."""

    def __init__(self, session_config, slots: int, timeout_s: float = 1.0):
        self.slots = int(slots)
        self.timeout_s = float(timeout_s)
        n = session_config.tick_len
        self._shm = shared_memory.SharedMemory(create=True, size=3 * self.slots * n * 4)
        self.mic, self.render, self.out = _views(self._shm.buf, self.slots, n)
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_helper, name="audio3a-3a-helper", daemon=True,
                                 args=(child, self._shm.name, session_config.sample_rate,
                                       dict(session_config.pipeline), self.slots, n))
        self._proc.start()
        child.close()
        self._free = list(range(self.slots - 1, -1, -1))
        self._resets = []
        self.alive = False
        self.failures = 0
        if self._conn.poll(60.0) and self._conn.recv() == "ready":
            self.alive = True
        else:
            self.close()

    @property
    def in_use(self) -> int:
        return self.slots - len(self._free)

    def acquire(self):
        """A free slot (reset before its first frame), or None."""
        if not self.alive or not self._free:
            return None
        s = self._free.pop()
        self._resets.append(s)
        return s

    def release(self, slot) -> None:
        if slot is not None and slot not in self._free:
            self._free.append(slot)

    def submit(self, slots) -> None:
        """Start the helper on ``slots`` (their ``mic`` / ``render`` rows written)."""
        resets, self._resets = self._resets, []
        self._conn.send((resets, list(slots)))

    def collect(self):
        """Wait for the helper; returns the slots whose pipeline raised. Raises ``RuntimeError``
        (and gives the helper up) if it does not answer in time."""
        if self._conn.poll(self.timeout_s):
            try:
                return self._conn.recv()
            except (EOFError, OSError):
                pass
        self.failures += 1
        self.close()
        raise RuntimeError("3A helper process did not answer")

    def close(self) -> None:
        if self._proc is None:
            return
        self.alive = False
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._proc.join(2.0)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2.0)
        self._proc = None
        self._conn.close()
        del self.mic, self.render, self.out
        self._shm.close()
        self._shm.unlink()
