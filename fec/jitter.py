"""Adaptive jitter buffer: packets in any order, one playout decision per frame tick.

Delay model. A packet with (extended) RTP timestamp ``ts`` arriving at ``t``
has the relative delay ``t - ts / rate``; the sender and receiver clocks are
not synchronised, so only differences matter. The buffer tracks the base
``b``, the minimum relative delay over a sliding window (``base_window_s``,
a ring of block minima, so memory is bounded; when ``b`` moves the
histogram is shifted with it, so the target stays put in absolute terms),
and files every arrival's excess delay ``d = t - ts / rate - b`` (ms) in a
forgetting histogram::

    h <- f h,   h[bin(d)] += (1 - f)          (per packet, forgetting factor f)

done lazily (the increment grows by ``1 / f`` per packet and the histogram
is rescaled when it gets large, so an update is O(1)). At the start ``f`` is
``(n + 1) / (n + 2)`` after ``n`` packets (equal weights: a running
histogram, the ``initial_delay_ms`` prior counted as ``prior_packets``
samples) until that reaches ``forget``, so the first seconds converge fast.
The target playout delay is the ``quantile`` of ``h`` (95-99 %) plus
``extra_delay_ms`` (set by the receiver to the wait FEC recovery needs),
clamped to ``[min_delay_ms, max_delay_ms]``: the estimator of WebRTC NetEQ's
delay manager and of Ramjee et al., "Adaptive playout mechanisms for
packetized audio applications in wide-area networks" (INFOCOM 1994), with a
histogram quantile instead of mean + 4 deviations.

Playout. ``play_ts`` is the timestamp due at the next tick; it advances by
one frame per tick. At tick time ``now`` the current delay is
``D = now - play_ts / rate - b`` and each tick is one of

* ``normal``: play the packet at ``play_ts`` (status ``received`` or
  ``recovered``), or report it missing: ``lost``, or ``dtx`` when the next
  packet in sequence order is already here with a later timestamp (the
  sender sent nothing for this frame: RFC 3551 discontinuous transmission);
* ``expand`` when ``D`` is below the target (by more than ``hysteresis``
  frames): nothing new is played (``play_ts`` stays) and the delay grows by
  one frame; the caller fills the tick (concealer, or stretching);
* ``accelerate`` when ``D`` is above the target by more than
  ``1 + hysteresis`` frames: play ``play_ts`` and hand over the next frame
  too (``Tick.extra``); the caller compresses the two into one frame, so the
  delay falls by one frame without a gap. A missing frame while above
  target is jumped over (towards the next packet) instead of concealed;
* stall (reported as ``expand``): the frame is missing, the buffer is empty
  and nothing has arrived for ``stall_gap_ms``: the link has stalled (a
  delay spike), so the playout point is held instead of declaring frames
  lost; packets that come back are played, and the excess delay is then
  shed by accelerating (whatever is still missing is jumped over).

The delay so stays in ``[target, target + frame]`` (ticks come once per
frame: whole-frame steps). Adjustments are at least ``adjust_interval``
ticks apart (every tick when more than ``fast_adjust_frames`` off target).
Packets whose timestamp is already past (``ts < play_ts``) are ``late``:
counted, and the receiver still feeds them to FEC recovery. Duplicates are
dropped. Timestamps far outside the buffer (``capacity_frames``) are dropped
and counted; ``resync_after`` of them in a row mean the source jumped, and
the buffer restarts on them.

Time-stretch interface. The buffer never touches audio: it asks for a
change of one frame (``Tick.action``) and the caller applies it with any
object that has ``expand(frame_len) -> frame | None`` (``None``: use the
concealer) and ``compress(frame, extra) -> frame`` (two frames into one).
``CrossfadeStretcher`` is the plain fallback (raised-cosine cross-fade of
the two frames); ``audio3a.simulate`` uses the WSOLA ``TimeStretcher`` of
``audio3a.plc.wsola`` instead (each of the two frames compressed to half a
frame).
"""
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ._jit import kernel

__all__ = ["JitterConfig", "JitterBuffer", "JitterStats", "Tick", "CrossfadeStretcher",
           "RECEIVED", "RECOVERED", "LOST", "LATE", "DTX", "EXPAND", "IDLE", "STATUSES",
           "NORMAL", "ACCELERATE", "ACTIONS"]

RECEIVED = "received"      # the frame's own packet
RECOVERED = "recovered"    # rebuilt by FEC (block code or redundant copy)
LOST = "lost"              # nothing to play for this frame
LATE = "late"              # (used by callers that know afterwards that the packet came too late)
DTX = "dtx"                # the sender sent nothing for this frame (silence)
EXPAND = "expand"          # extra tick inserted to grow the delay
IDLE = "idle"              # before the first packet is due
STATUSES = (RECEIVED, RECOVERED, LOST, LATE, DTX, EXPAND, IDLE)

NORMAL = "normal"
ACCELERATE = "accelerate"
ACTIONS = (NORMAL, EXPAND, ACCELERATE)

_BASE_BLOCKS = 8
_RESCALE_AT = 1e150


@dataclass(frozen=True)
class JitterConfig:
    """Jitter-buffer settings (times in ms; ``frame_ms`` is the packet duration)."""

    frame_ms: float = 20.0
    quantile: float = 0.97
    forget: float = 0.998
    min_delay_ms: float = 0.0
    max_delay_ms: float = 500.0
    initial_delay_ms: float = 0.0
    prior_packets: float = 20.0
    bin_ms: float = 1.0
    base_window_s: float = 60.0
    hysteresis: float = 0.1
    adjust_interval: int = 2
    capacity_frames: int = 100
    resync_after: int = 3
    max_stall_ms: float = 400.0
    stall_gap_ms: float = 80.0
    fast_adjust_frames: float = 4.0

    def __post_init__(self):
        if not self.frame_ms > 0:
            raise ValueError(f"frame_ms must be > 0, got {self.frame_ms!r}")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError(f"quantile must lie in [0.5, 1), e.g. 0.97, got {self.quantile!r}")
        if not 0.9 <= self.forget < 1.0:
            raise ValueError(f"forget is a per-packet factor in [0.9, 1), e.g. 0.998, got {self.forget!r}")
        if not 0 <= self.min_delay_ms <= self.max_delay_ms:
            raise ValueError("need 0 <= min_delay_ms <= max_delay_ms")
        if self.max_delay_ms > 10000:
            raise ValueError(f"max_delay_ms above 10 s is not a jitter buffer, got {self.max_delay_ms!r}")
        if not self.bin_ms > 0 or not self.base_window_s > 0 or self.prior_packets < 0:
            raise ValueError("bin_ms and base_window_s must be > 0 and prior_packets >= 0")
        if self.hysteresis < 0 or self.adjust_interval < 1:
            raise ValueError("hysteresis must be >= 0 and adjust_interval >= 1")
        if self.capacity_frames < 4 or self.resync_after < 1:
            raise ValueError("capacity_frames must be >= 4 and resync_after >= 1")
        if self.capacity_frames * self.frame_ms < self.max_delay_ms + 2 * self.frame_ms:
            raise ValueError(f"capacity_frames={self.capacity_frames} cannot hold max_delay_ms="
                             f"{self.max_delay_ms} of {self.frame_ms} ms frames; raise capacity_frames")


@dataclass(frozen=True)
class JitterStats:
    """Counters since the last reset (packets unless named otherwise)."""

    inserted: int = 0
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    resyncs: int = 0
    ticks: int = 0
    played: int = 0
    lost_ticks: int = 0
    dtx_ticks: int = 0
    expands: int = 0
    stalls: int = 0
    accelerates: int = 0
    skipped: int = 0
    missing: int = 0
    target_delay_ms: float = 0.0
    current_delay_ms: float = 0.0


@dataclass(frozen=True)
class Tick:
    """One playout decision.

    ``item`` is what was inserted for the frame played (``None`` when nothing
    is played); ``extra`` the next frame's item on ``accelerate`` (may be
    ``None`` if it is missing). ``delay_ms`` is the buffer's current delay
    above the base, ``target_ms`` its target.
    """

    status: str
    action: str
    item: object = None
    extra: object = None
    timestamp: int | None = None
    sequence: int | None = None
    delay_ms: float = 0.0
    target_ms: float = 0.0


@kernel
def _quantile_bin(hist, cum, q):
    """First bin ``i`` with ``C[i] >= q C[-1]``, ``C = cum`` the running sum of ``hist`` (summed in
    order: ``np.searchsorted(np.cumsum(hist), q * C[-1])``, found by bisection)."""
    c = 0.0
    for i in range(hist.size):
        c += hist[i]
        cum[i] = c
    level = q * c
    lo, hi = 0, hist.size
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < level:
            lo = mid + 1
        else:
            hi = mid
    return lo


class _Entry:
    __slots__ = ("seq", "ts", "item", "recovered")

    def __init__(self, seq, ts, item, recovered):
        self.seq, self.ts, self.item, self.recovered = seq, ts, item, recovered


class JitterBuffer:
    """Adaptive jitter buffer over extended (unwrapped) sequence numbers and timestamps.

    ``insert(seq, ts, arrival_s, item)`` files a packet; ``tick(now_s)`` returns
    the ``Tick`` for the frame due now. ``sample_rate`` converts timestamps.
    """

    def __init__(self, sample_rate, config=JitterConfig()):
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (RTP clock rate), got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.config = config
        self.frame_ts = int(round(config.frame_ms * sample_rate / 1000.0))
        if self.frame_ts < 1:
            raise ValueError("frame_ms is shorter than one RTP clock tick")
        self._nbins = int(np.ceil(config.max_delay_ms / config.bin_ms)) + 2
        self._hist = np.zeros(self._nbins)
        self._cum = np.zeros(self._nbins)          # running sum of _hist (quantile scratch)
        self.extra_delay_ms = 0.0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self):
        """Forget everything (new SSRC): packets, delay history, playout position, counters."""
        cfg = self.config
        self._packets = {}
        self._play_ts = None
        self._started = False
        self._last_seq = None
        self._played = set()
        self._played_order = deque()
        self._hist[:] = 0.0
        self._quantile_cache_ms = None
        self._weight = 1.0
        self._total = 0.0
        self._n_delays = 0
        if cfg.prior_packets > 0:
            self._add_delay(cfg.initial_delay_ms, cfg.prior_packets * (1.0 - cfg.forget))
        self._base_blocks = [math.inf] * _BASE_BLOCKS
        self._base_block_id = None
        self._base = None
        self._since_adjust = cfg.adjust_interval
        self._far = 0
        self._far_entries = []
        self._last_arrival = None
        self._counts = dict(inserted=0, duplicates=0, late=0, overflow=0, resyncs=0, ticks=0, stalls=0,
                            played=0, lost_ticks=0, dtx_ticks=0, expands=0, accelerates=0, skipped=0,
                            missing=0)
        self._delay_ms = 0.0

    @property
    def stats(self):
        return JitterStats(**self._counts, target_delay_ms=self.target_delay_ms(),
                           current_delay_ms=self._delay_ms)

    @property
    def play_ts(self):
        """Timestamp due at the next tick (``None`` before the first packet)."""
        return self._play_ts

    @property
    def missing(self):
        """Frames never played because nothing was there in time (lost, late or skipped over)."""
        return self._counts["missing"]

    def has(self, ts):
        """True when timestamp ``ts`` needs no copy: buffered, already played, or already past."""
        ts = int(ts)
        return ts in self._packets or ts in self._played or (
            self._started and self._play_ts is not None and ts < self._play_ts)

    def __len__(self):
        return len(self._packets)

    # ------------------------------------------------------------------ delay statistics
    def _add_delay(self, delay_ms, mass=None):
        cfg = self.config
        i = int(min(max(delay_ms, 0.0) / cfg.bin_ms, self._nbins - 1))
        if mass is None:
            # equal weights (a running histogram, the prior counted as prior_packets samples)
            # until there are 1 / (1 - forget) samples, exponential forgetting after that
            n = self._n_delays + cfg.prior_packets
            f = min(cfg.forget, (n + 1.0) / (n + 2.0))
            self._n_delays += 1
            self._weight /= f
            mass = self._weight * (1.0 - f)
        else:
            mass = mass * self._weight
        self._hist[i] += mass
        self._total += mass
        self._quantile_cache_ms = None
        if self._weight > _RESCALE_AT:
            self._hist /= self._weight
            self._total /= self._weight
            self._weight = 1.0

    def quantile_ms(self, q=None):
        """Delay (ms above the base) below which a fraction ``q`` of the weighted history lies
        (the configured quantile is kept until the histogram changes)."""
        if q is None:
            if self._quantile_cache_ms is None:
                self._quantile_cache_ms = self._quantile_ms(self.config.quantile)
            return self._quantile_cache_ms
        return self._quantile_ms(q)

    def _quantile_ms(self, q):
        if self._total <= 0:
            return 0.0
        i = _quantile_bin(self._hist, self._cum, q)
        return (min(i, self._nbins - 1) + 1) * self.config.bin_ms

    def target_delay_ms(self):
        """Target playout delay above the base: quantile + FEC wait, clamped to [min, max]."""
        cfg = self.config
        return float(min(max(self.quantile_ms() + self.extra_delay_ms, cfg.min_delay_ms), cfg.max_delay_ms))

    def _update_base(self, rel_s, arrival_s):
        block_s = self.config.base_window_s / _BASE_BLOCKS
        block = math.floor(arrival_s / block_s)
        blocks = self._base_blocks              # minima of the last _BASE_BLOCKS blocks, newest first
        if self._base_block_id is None:
            self._base_block_id = block
        if block > self._base_block_id:
            steps = min(block - self._base_block_id, _BASE_BLOCKS)
            blocks[:] = [math.inf] * steps + blocks[:_BASE_BLOCKS - steps]
            self._base_block_id = block
        if block >= self._base_block_id - _BASE_BLOCKS + 1 and block <= self._base_block_id:
            j = self._base_block_id - block
            if rel_s < blocks[j]:
                blocks[j] = rel_s
        base = min(blocks)
        if base == math.inf:
            base = rel_s
        if self._base is not None and base != self._base:
            self._shift_hist((self._base - base) * 1000.0)
        self._base = base

    def _shift_hist(self, shift_ms):
        """Re-reference the histogram to a new base: delays grow by ``shift_ms`` (may be < 0)."""
        k = int(round(shift_ms / self.config.bin_ms))
        if k == 0:
            return
        self._quantile_cache_ms = None
        h = self._hist
        if k > 0:
            top = h[-k - 1:].sum() if k < h.size else h.sum()
            h[k:] = h[:-k].copy() if k < h.size else 0.0
            h[:min(k, h.size)] = 0.0
            h[-1] = top if k < h.size else h[-1]
            if k >= h.size:
                h[-1] = top
        else:
            k = -k
            bottom = h[:k + 1].sum() if k < h.size else h.sum()
            h[:-k] = h[k:].copy() if k < h.size else 0.0
            h[max(h.size - k, 0):] = 0.0
            h[0] = bottom

    # ------------------------------------------------------------------ packets in
    def insert(self, seq, ts, arrival_s, item, recovered=False):
        """File one packet; returns ``"buffered"``, ``"duplicate"``, ``"late"`` or ``"overflow"``.

        ``seq`` and ``ts`` are extended (unwrapped) integers. Recovered packets
        (``recovered=True``) do not feed the delay statistics.
        """
        cfg = self.config
        seq, ts, arrival_s = int(seq), int(ts), float(arrival_s)
        if not math.isfinite(arrival_s):
            raise ValueError("arrival_s must be a finite time in seconds")
        if ts in self._packets or ts in self._played:
            self._counts["duplicates"] += 1
            return "duplicate"
        if self._play_ts is not None:
            ahead = ts - self._play_ts
            span = cfg.capacity_frames * self.frame_ts
            if ahead >= span or ahead < -span:
                return self._far_packet(seq, ts, arrival_s, item, recovered)
            if ahead < 0 and self._started:
                self._far = 0
                self._counts["late"] += 1
                if not recovered:
                    self._note_delay(ts, arrival_s)
                return "late"
            if len(self._packets) >= cfg.capacity_frames:
                self._counts["overflow"] += 1
                return "overflow"
        self._far = 0
        self._far_entries.clear()
        if not recovered:
            self._note_delay(ts, arrival_s)
        if self._play_ts is None or (not self._started and ts < self._play_ts):
            self._play_ts = ts
        self._packets[ts] = _Entry(seq, ts, item, recovered)
        self._counts["inserted"] += 1
        return "buffered"

    def _note_delay(self, ts, arrival_s):
        self._last_arrival = arrival_s if self._last_arrival is None else max(self._last_arrival, arrival_s)
        rel = arrival_s - ts / self.sample_rate
        self._update_base(rel, arrival_s)
        self._add_delay((rel - self._base) * 1000.0)

    def _far_packet(self, seq, ts, arrival_s, item, recovered):
        """A timestamp outside the buffer: drop it, unless several in a row say the source jumped."""
        self._counts["overflow"] += 1
        self._far += 1
        self._far_entries.append((seq, ts, arrival_s, item, recovered))
        if self._far < self.config.resync_after:
            return "overflow"
        entries = self._far_entries[-self.config.resync_after:]
        counts = self._counts
        self.reset()
        self._counts.update(counts)
        self._counts["resyncs"] += 1
        self._counts["overflow"] -= len(entries)
        for e in entries:
            self.insert(*e)
        return "buffered"

    # ------------------------------------------------------------------ playout
    def _take(self, ts):
        entry = self._packets.pop(ts, None)
        if entry is not None:
            self._last_seq = entry.seq
            self._played.add(ts)
            self._played_order.append(ts)
            if len(self._played_order) > 2 * self.config.capacity_frames:
                self._played.discard(self._played_order.popleft())
        return entry

    def _missing_status(self):
        """DTX when the next packet in sequence order is here with a later timestamp, else lost."""
        if self._last_seq is None or not self._packets:
            return LOST
        nxt = min(self._packets)
        if self._packets[nxt].seq == self._last_seq + 1:
            return DTX
        return LOST

    def tick(self, now_s):
        """The playout decision for the frame tick at ``now_s`` (call once per frame period)."""
        return Tick(*self.decide(now_s))

    def decide(self, now_s):
        """``tick`` as a plain tuple in ``Tick``'s field order (no object per call for the receiver)."""
        cfg = self.config
        frame = cfg.frame_ms
        self._counts["ticks"] += 1
        target = self.target_delay_ms()
        if self._play_ts is None:
            return IDLE, NORMAL, None, None, None, None, 0.0, target
        delay = (now_s - self._play_ts / self.sample_rate - self._base) * 1000.0
        self._delay_ms = delay
        if not self._started:
            if delay < target - cfg.hysteresis * frame:
                return IDLE, NORMAL, None, None, None, None, delay, target
            self._started = True
        if delay > cfg.max_delay_ms + 2 * frame:
            # far behind (a stall much longer than the maximum delay): drop frames back to the target
            jump = int((delay - target) / frame)
            for _ in range(jump):
                if self._take(self._play_ts) is not None:
                    self._counts["skipped"] += 1
                else:
                    self._counts["missing"] += 1
                self._play_ts += self.frame_ts
            delay -= jump * frame
        error = delay - target
        low = -cfg.hysteresis * frame              # expand below this: keep the delay >= target
        high = (1.0 + cfg.hysteresis) * frame       # accelerate above this (a whole frame fits)
        self._since_adjust += 1
        interval = cfg.adjust_interval if abs(error) < cfg.fast_adjust_frames * frame else 0
        can_adjust = self._since_adjust > interval
        if can_adjust and error < low:
            self._since_adjust = 0
            self._counts["expands"] += 1
            return EXPAND, EXPAND, None, None, None, None, delay, target
        entry = self._take(self._play_ts)
        if entry is None:
            if not self._packets:
                silent_ms = (now_s - self._last_arrival) * 1000.0 if self._last_arrival is not None else 0.0
                if error < cfg.max_stall_ms and silent_ms >= cfg.stall_gap_ms:
                    # nothing here at all: the link is stalled (delay spike) or the packet lost;
                    # hold the playout point so late packets still play; a later packet ends it
                    self._counts["stalls"] += 1
                    return EXPAND, EXPAND, None, None, None, None, delay, target
            elif error > high:
                # above target and this frame is missing: jump over missing frames (lost, or
                # a DTX gap) towards the next packet instead of concealing them one by one
                nxt = min(self._packets)
                gap = (nxt - self._play_ts) // self.frame_ts
                jump = min(gap, max(1, int(error / frame + 0.5)))
                self._counts["missing"] += jump
                self._play_ts += jump * self.frame_ts
                delay -= jump * frame
                if jump == gap:
                    entry = self._take(self._play_ts)
        ts = self._play_ts
        self._play_ts += self.frame_ts
        if entry is None:
            status = self._missing_status()
            self._counts["dtx_ticks" if status == DTX else "lost_ticks"] += 1
            if status == LOST:
                self._counts["missing"] += 1
            return status, NORMAL, None, None, ts, None, delay, target
        self._counts["played"] += 1
        status = RECOVERED if entry.recovered else RECEIVED
        if can_adjust and error > high and self._play_ts in self._packets:
            nxt = self._take(self._play_ts)
            self._play_ts += self.frame_ts
            self._since_adjust = 0
            self._counts["accelerates"] += 1
            self._counts["played"] += 1
            return status, ACCELERATE, entry.item, nxt.item, ts, entry.seq, delay, target
        return status, NORMAL, entry.item, None, ts, entry.seq, delay, target


class CrossfadeStretcher:
    """Fallback time-scale changes for ``Tick.action``: no expansion (the concealer fills), and
    compression of two frames into one by a raised-cosine cross-fade from the first frame's
    start into the second frame's end, so the output continues where the second frame ends."""

    def __init__(self, frame_len):
        self.frame_len = int(frame_len)
        n = self.frame_len
        self._w = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        self._out = np.zeros(n, np.float32)

    def expand(self, frame_len):
        return None

    def compress(self, frame, extra):
        if extra is None:
            return frame
        np.multiply(frame, 1.0 - self._w, out=self._out)
        self._out += self._w * extra
        return self._out
