"""Adaptive FEC: receiver loss reports, residual-loss models of the candidate schemes, and a
controller that picks the cheapest scheme meeting a residual-loss target within a latency budget.

Feedback message (``LossReport``), in the spirit of an RTCP receiver report
(RFC 3550 6.4.2) extended with the loss-run histogram of RTCP XR (RFC 3611
4.1), all fields big-endian::

    offset size  field
         0    1  version (= 1)
         1    1  type (= 1: loss report)
         2    2  total length in bytes (= 32 + 4 * bins)
         4    4  SSRC of the media stream reported on
         8    2  interval covered, ms
        10    1  bins (1..32): loss runs of length 1 .. bins-1, and >= bins
        11    1  reserved (= 0)
        12    4  media packets expected in the interval
        16    4  media packets lost before FEC
        20    4  media frames still missing after FEC (residual)
        24    4  media packets that arrived too late to play
        28  4*b  number of loss runs of each length (last bin: that length or more)
      28+4b   4  CRC-32 (zlib) of all bytes before it

``LossReport.parse`` checks every field (version, type, length, reserved,
bins, counts: ``lost, residual, late <= expected``, the runs account for at
most ``lost`` packets) and the CRC, and raises only ``FeedbackError``.

Channel estimate. From the sums of expected packets, lost packets and loss
runs over the reports of the last ``memory_s`` (40 s) the controller fits the
simple Gilbert model of ``fec.channel``: loss rate ``L = lost / expected``,
mean burst ``b = lost / runs`` (at least 1; ``LossCounter`` counts each run
once, in the report where it starts, so ``b`` is unbiased). A change point
restarts the sums at the change: each split of the reports within the last
``short_s`` is tested (loss rate after vs before, in standard deviations of
the pooled rate, inflated for the Gilbert chain's memory), and the reports
before the most significant split are forgotten when it exceeds
``change_z`` (3) for a worse channel or ``change_z_down`` (2.0) for a better
one (over at least ``change_min_packets``, 150 = 3 s; a jump beyond ``change_z_fast``
counts from one report). So the estimate is averaged on a stationary channel
and follows a change in 2-4 reports in either direction: a bad channel that
turns good no longer holds the estimate pessimistic for the ``short_s`` of old
bursts a fixed cut kept (12 s to re-adapt before, ~4 s now).

Residual loss of each candidate on that channel (lost media frames per frame):

* ``none``: ``L``;
* ``xor:k`` and ``rs:k+m`` with interleave ``d``: exact MDS bound of
  ``fec.bounds.mds_residual_loss_ge`` (XOR parity over k packets is the MDS
  code with m = 1);
* ``red`` with copies of frame ``t`` carried in packets ``t + d_1 < ... <
  t + d_n`` (RFC 2198): the frame is lost only when its own packet and every
  carrier are lost; on the Gilbert chain (lost = Bad state) that is
  ``pi_B * prod_i (P^(d_i - d_{i-1}))_BB`` with ``d_0 = 0``, exact.

Added latency (what the playout delay must add so a repair can be used),
``T`` the frame duration: block code ``(k d - 1) T`` (the repair follows the
last media packet of the interleaved window), RED ``d_n T``. Overhead is in
payload bytes per media byte: ``m / k`` for a block code (plus its repair
header), ``n * red_ratio`` for RED, ``red_ratio`` being the size of a
redundant copy relative to the primary (``fec.sender.red_ratio``: 0.29 for
the default APC4 copy of a 20 ms L16 frame at 16 kHz, the default here;
0.5 for a G.711 copy). The controller picks, among candidates within the latency budget and
the overhead cap, the cheapest whose predicted residual is under the target
(ties: lower latency); if none is, the one with the lowest residual.
Hysteresis: a scheme whose prediction exceeds ``up_margin * target`` (1.25:
the estimate's own noise on 40 s of reports is about that much, and a smaller
band flapped between xor:4 and 33-50 % schemes on Bernoulli 5 %) is replaced
at once; a cheaper one replaces the current one when it is adequate (under
``down_margin * target``) at an upper confidence bound of the loss rate
(``down_z`` = 1.64 deviations, the binomial variance inflated by the Gilbert
chain's memory) for ``hold_reports`` reports in a row: a few quiet seconds of a
bursty channel, or of the data after a change point, then cannot drop the
redundancy (a fixed 1.5 pseudo-losses did not stop that on GE 10 %/b2). Before any report the scheme is the best
one for a prior channel (``prior_loss``, ``prior_burst``: 10 %, bursts of 2),
so a call starts protected.
"""
import math
import operator
import struct
import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from ._jit import kernel
from .bounds import mds_residual, mds_residual_loss_ge
from .channel import ge_transitions

__all__ = ["FeedbackError", "LossReport", "LossCounter", "Scheme", "parse_scheme", "residual_loss",
           "added_latency_ms", "overhead", "candidates", "ControllerConfig", "RateController",
           "FEEDBACK_VERSION", "KINDS"]

FEEDBACK_VERSION = 1
REPORT_TYPE = 1
MAX_BINS = 32
_HEAD = struct.Struct("!BBHIHBBIIII")
_CRC = struct.Struct("!I")
KINDS = ("none", "xor", "rs", "red")


class FeedbackError(ValueError):
    """A feedback message that cannot be parsed or built."""


# ----------------------------------------------------------------------------- feedback message

def _u(name, value, bits):
    if type(value) is int and 0 <= value < (1 << bits):          # the common case (parsed fields), fast
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < (1 << bits):
        raise FeedbackError(f"{name} must be an integer in [0, {(1 << bits) - 1}], got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LossReport:
    """Receiver statistics over one interval (see the module docstring for the wire format)."""

    ssrc: int
    interval_ms: int
    expected: int
    lost: int
    residual: int
    late: int
    runs: tuple = (0,)

    def __post_init__(self):
        counts = (self.expected, self.lost, self.residual, self.late)
        runs = tuple(self.runs)
        # the common case (plain ints in range) in a few C-level calls; else field by field
        if not (type(self.ssrc) is int and 0 <= self.ssrc < 1 << 32 and type(self.interval_ms) is int
                and 0 <= self.interval_ms < 1 << 16 and runs and set(map(type, counts + runs)) == {int}
                and min(min(counts), min(runs)) >= 0 and max(max(counts), max(runs)) < 1 << 32):
            _u("ssrc", self.ssrc, 32)
            _u("interval_ms", self.interval_ms, 16)
            for name in ("expected", "lost", "residual", "late"):
                _u(name, getattr(self, name), 32)
            if not 1 <= len(runs) <= MAX_BINS:
                raise FeedbackError(f"runs must have 1..{MAX_BINS} bins, got {len(runs)}")
            for r in runs:
                _u("run count", r, 32)
            runs = tuple(int(r) for r in runs)
        elif len(runs) > MAX_BINS:
            raise FeedbackError(f"runs must have 1..{MAX_BINS} bins, got {len(runs)}")
        object.__setattr__(self, "runs", runs)
        if max(self.lost, self.residual, self.late) > self.expected:
            raise FeedbackError(f"lost/residual/late ({self.lost}/{self.residual}/{self.late}) "
                                f"exceed the {self.expected} packets expected")
        if self.run_packets_min > self.lost:
            raise FeedbackError(f"the loss runs account for at least {self.run_packets_min} packets "
                                f"but only {self.lost} were lost")

    @property
    def run_packets_min(self):
        """Lost packets the run histogram accounts for (the last bin counted at its lower edge)."""
        return sum(map(operator.mul, range(1, len(self.runs) + 1), self.runs))

    @property
    def loss_rate(self):
        return self.lost / self.expected if self.expected else 0.0

    @property
    def mean_burst(self):
        n = sum(self.runs)
        return self.lost / n if n else 1.0

    def pack(self):
        bins = len(self.runs)
        head = _HEAD.pack(FEEDBACK_VERSION, REPORT_TYPE, 32 + 4 * bins, self.ssrc, self.interval_ms, bins, 0,
                          self.expected, self.lost, self.residual, self.late)
        body = head + struct.pack(f"!{bins}I", *self.runs)
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def parse(cls, data):
        """Parse and check a loss report; raises only ``FeedbackError``."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise FeedbackError(f"expected bytes, got {type(data).__name__}")
        if len(data) < _HEAD.size + 4 + 4:
            raise FeedbackError(f"{len(data)} bytes is shorter than the smallest loss report (36)")
        (version, kind, length, ssrc, interval_ms, bins, reserved,
         expected, lost, residual, late) = _HEAD.unpack_from(data, 0)
        if version != FEEDBACK_VERSION:
            raise FeedbackError(f"feedback version {version}, only {FEEDBACK_VERSION} is understood")
        if kind != REPORT_TYPE:
            raise FeedbackError(f"feedback type {kind} is not a loss report ({REPORT_TYPE})")
        if not 1 <= bins <= MAX_BINS:
            raise FeedbackError(f"run histogram of {bins} bins, expected 1..{MAX_BINS}")
        if reserved != 0:
            raise FeedbackError("reserved byte is not zero")
        if length != 32 + 4 * bins or len(data) != length:
            raise FeedbackError(f"length field {length}, actual {len(data)} bytes, "
                                f"{32 + 4 * bins} expected for {bins} bins")
        (crc,) = _CRC.unpack_from(data, length - 4)
        if crc != zlib.crc32(data[:length - 4]):
            raise FeedbackError("CRC-32 mismatch: the report is corrupt")
        runs = struct.unpack_from(f"!{bins}I", data, _HEAD.size)
        try:
            return cls(ssrc, interval_ms, expected, lost, residual, late, runs)
        except FeedbackError as exc:
            raise FeedbackError(f"inconsistent report: {exc}") from None


class LossCounter:
    """Receiver-side loss bookkeeping for ``LossReport``: which media sequence numbers arrived.

    ``arrived(seq)`` with extended sequence numbers; ``report(...)`` closes an
    interval at ``highest - guard`` (so packets reordered by up to ``guard``
    are still counted as arrived) and returns the ``LossReport``. Memory is a
    fixed ring of ``window`` flags.
    """

    def __init__(self, bins=16, guard=8, window=8192):
        if not 1 <= bins <= MAX_BINS:
            raise ValueError(f"bins must be 1..{MAX_BINS}")
        self.bins, self.guard, self.window = int(bins), int(guard), int(window)
        self._seen = np.zeros(self.window, bool)
        self._runs = np.zeros(self.bins, np.int64)
        self.reset()

    def reset(self):
        self._seen[:] = False
        self._start = None
        self._highest = None
        self._run = 0

    def arrived(self, seq):
        seq = int(seq)
        if self._start is None:
            self._start = seq
            self._highest = seq
        if seq < self._start:
            return
        if seq - self._start >= self.window - 1:
            # far ahead (a jump): close what we have by restarting the interval here
            self._seen[:] = False
            self._start = seq
            self._highest = seq
            self._run = 0
        self._seen[seq % self.window] = True
        self._highest = max(self._highest, seq)

    def report(self, ssrc, interval_ms, residual=0, late=0):
        """Loss statistics of ``[start, highest - guard]``; starts the next interval there."""
        runs = [0] * self.bins
        if self._start is None:
            return LossReport(ssrc, min(int(interval_ms), 65535), 0, 0, 0, 0, tuple(runs))
        end = self._highest - self.guard + 1
        expected = max(0, end - self._start)
        runs = self._runs
        runs[:] = 0
        lost, run = _tally_interval(self._seen, self._start, expected, self._run > 0, runs)
        if expected:
            self._run = run
        self._start = max(self._start, end)
        residual = min(int(residual), expected)
        late = min(int(late), expected)
        return LossReport(ssrc, min(int(interval_ms), 65535), expected, lost, residual, late, tuple(runs.tolist()))


@kernel
def _tally_interval(seen, start, expected, cont, runs):
    """Close the interval of ``expected`` sequence numbers from ``start`` in the ring ``seen``
    (flags cleared on the way): returns ``(lost, the length of the loss run open at its end)``
    and adds each run that starts inside it to ``runs`` (bin ``min(length, bins) - 1``; a run
    open at the start, ``cont``, was counted in the previous interval)."""
    window = seen.shape[0]
    bins = runs.shape[0]
    lost = 0
    run = 0
    for j in range(expected):
        i = (start + j) % window
        if seen[i]:
            if run and not cont:
                runs[min(run, bins) - 1] += 1
            run = 0
            cont = False
            seen[i] = False
        else:
            run += 1
            lost += 1
    if run and not cont:
        runs[min(run, bins) - 1] += 1
    return lost, run


# ----------------------------------------------------------------------------- schemes

@dataclass(frozen=True)
class Scheme:
    """One redundancy scheme.

    ``kind``: ``none``, ``xor`` (k media + 1 parity), ``rs`` (k + m), ``red``
    (copies of each frame carried ``distances`` frames later).
    """

    kind: str = "none"
    k: int = 0
    m: int = 0
    interleave: int = 1
    distances: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"scheme kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind in ("xor", "rs"):
            if not (1 <= self.k and 1 <= self.m and self.k + self.m <= 255 and 1 <= self.interleave <= 64):
                raise ValueError(f"block code needs k >= 1, m >= 1, k + m <= 255, 1 <= interleave <= 64, "
                                 f"got k={self.k}, m={self.m}, interleave={self.interleave}")
            if self.kind == "xor" and self.m != 1:
                raise ValueError("xor parity has exactly one repair packet per group (m = 1)")
        if self.kind == "red":
            d = tuple(int(x) for x in self.distances)
            if not d or list(d) != sorted(set(d)) or d[0] < 1 or d[-1] > 15:
                raise ValueError(f"red distances must be increasing integers in 1..15, got {self.distances!r}")
            object.__setattr__(self, "distances", d)
        # the controller looks schemes up in dicts several times a report: hash the fields once
        object.__setattr__(self, "_hash", hash((self.kind, self.k, self.m, self.interleave, self.distances)))

    def __hash__(self):
        return self._hash

    def __str__(self):
        il = f"x{self.interleave}" if self.interleave > 1 else ""
        if self.kind == "none":
            return "none"
        if self.kind == "xor":
            return f"xor:{self.k}{il}"
        if self.kind == "rs":
            return f"rs:{self.k}+{self.m}{il}"
        d = self.distances
        if d == tuple(range(1, len(d) + 1)):
            return f"red:{len(d)}"
        return "red:@" + ",".join(str(x) for x in d)


def parse_scheme(text):
    """``none``, ``xor:K[xD]``, ``rs:K+M[xD]``, ``red:N`` (copies at 1..N) or ``red:@D1,D2,...``."""
    text = str(text).strip().lower()
    try:
        if text == "none":
            return Scheme()
        kind, _, arg = text.partition(":")
        interleave = 1
        if kind in ("xor", "rs") and "x" in arg:
            arg, _, il = arg.partition("x")
            interleave = int(il)
        if kind == "xor":
            return Scheme("xor", int(arg), 1, interleave)
        if kind == "rs":
            k, _, m = arg.partition("+")
            return Scheme("rs", int(k), int(m), interleave)
        if kind == "red":
            if arg.startswith("@"):
                return Scheme("red", distances=tuple(int(x) for x in arg[1:].split(",")))
            return Scheme("red", distances=tuple(range(1, int(arg) + 1)))
    except ValueError as exc:
        raise ValueError(f"bad FEC scheme {text!r}: {exc}; use none, xor:4, xor:4x2, rs:4+2, "
                         f"rs:4+2x2, red:2 or red:@1,3") from None
    raise ValueError(f"bad FEC scheme {text!r}: use none, xor:4, xor:4x2, rs:4+2, rs:4+2x2, red:2 or red:@1,3")


def _gilbert(loss_rate, mean_burst):
    loss_rate = min(max(float(loss_rate), 0.0), 0.999)
    lo = loss_rate / (1.0 - loss_rate)
    mean_burst = max(float(mean_burst), 1.0, lo)
    return loss_rate, mean_burst


def residual_loss(scheme, loss_rate, mean_burst=None):
    """Predicted lost frames per frame for ``scheme`` on a Gilbert channel (``mean_burst`` None: Bernoulli)."""
    if mean_burst is None:
        mean_burst = 1.0 / max(1.0 - float(loss_rate), 1e-3)
    L, b = _gilbert(loss_rate, mean_burst)
    if L == 0.0:
        return 0.0
    if scheme.kind == "none":
        return L
    if scheme.kind in ("xor", "rs"):
        return mds_residual_loss_ge(scheme.k, scheme.m, L, b, scheme.interleave)
    p_gb, p_bg = ge_transitions(L, b)
    return _red_residual(L, p_gb, p_bg, scheme.distances)


def _red_residual(loss_rate, p_gb, p_bg, distances, stay=None):
    """RED: ``pi_B * prod_i (P^(d_i - d_{i-1}))_BB`` (module docstring); ``stay`` caches the
    ``(P^n)_BB`` of one channel across schemes."""
    stay = {} if stay is None else stay
    out, prev = loss_rate, 0
    for d in distances:
        n = d - prev
        if n not in stay:
            P = np.array([[1.0 - p_gb, p_gb], [p_bg, 1.0 - p_bg]])
            stay[n] = np.linalg.matrix_power(P, n)[1, 1]
        out *= stay[n]
        prev = d
    return float(out)


@kernel
def _residuals_kernel(kind, k, m, interleave, p_gb, p_bg, loss_rate, out):
    """``residual_loss`` of the block codes (kind 1) and ``none`` (kind 0) on the Gilbert chain
    ``(p_gb, p_bg)`` (``fec.bounds.mds_residual``, loss probability 0 in the Good state and 1 in
    the Bad one), all in one call; kind 2 (RED) is left to the caller."""
    kmax = 1
    mmax = 1
    for c in range(kind.size):
        kmax = max(kmax, k[c])
        mmax = max(mmax, m[c])
    f = np.empty((2, kmax + 1, mmax + 1))
    g = np.empty((2, kmax + 1, mmax + 1))
    loss_prob = np.array([0.0, 1.0])
    start = np.array([0.5, 0.5])
    if p_gb + p_bg > 0.0:
        start[0], start[1] = p_bg / (p_gb + p_bg), p_gb / (p_gb + p_bg)
    one = np.array([[1.0 - p_gb, p_gb], [p_bg, 1.0 - p_bg]])
    step = np.empty((2, 2))
    for c in range(kind.size):
        if kind[c] == 0:
            out[c] = loss_rate
            continue
        if kind[c] != 1:
            out[c] = 0.0
            continue
        step[:] = one                              # P^interleave
        for _ in range(interleave[c] - 1):
            s00 = step[0, 0] * one[0, 0] + step[0, 1] * one[1, 0]
            s01 = step[0, 0] * one[0, 1] + step[0, 1] * one[1, 1]
            s10 = step[1, 0] * one[0, 0] + step[1, 1] * one[1, 0]
            s11 = step[1, 0] * one[0, 1] + step[1, 1] * one[1, 1]
            step[0, 0], step[0, 1], step[1, 0], step[1, 1] = s00, s01, s10, s11
        out[c] = mds_residual(k[c], m[c], step, loss_prob, start, f, g)


class _ResidualTable:
    """``residual_loss`` of a fixed list of schemes, all at once (one kernel call per channel)."""

    def __init__(self, schemes):
        n = len(schemes)
        self.red = [(i, s.distances) for i, s in enumerate(schemes) if s.kind == "red"]
        self.index = {s: i for i, s in enumerate(schemes)}
        self.kind = np.zeros(n, np.int64)
        self.k = np.zeros(n, np.int64)
        self.m = np.zeros(n, np.int64)
        self.interleave = np.ones(n, np.int64)
        for i, s in enumerate(schemes):
            if s.kind in ("xor", "rs"):
                self.kind[i], self.k[i], self.m[i], self.interleave[i] = 1, s.k, s.m, s.interleave
            elif s.kind == "red":
                self.kind[i] = 2
        self._out = np.empty(n)
        self._key = None
        self._values = None

    def __call__(self, loss_rate, mean_burst):
        """List of residuals (floats) in the schemes' order; the last channel's is cached."""
        if mean_burst is None:                      # Bernoulli, as in ``residual_loss``
            mean_burst = 1.0 / max(1.0 - float(loss_rate), 1e-3)
        key = (float(loss_rate), float(mean_burst))
        if key != self._key:
            L, b = _gilbert(loss_rate, mean_burst)
            if L == 0.0:
                values = [0.0] * len(self._out)
            else:
                p_gb, p_bg = ge_transitions(L, b)
                _residuals_kernel(self.kind, self.k, self.m, self.interleave, p_gb, p_bg, L,
                                  self._out)
                values = self._out.tolist()
                stay = {}
                for i, dist in self.red:
                    values[i] = _red_residual(L, p_gb, p_bg, dist, stay)
            self._key, self._values = key, values
        return self._values

    def residual(self, scheme, loss_rate, mean_burst):
        i = self.index.get(scheme)
        if i is None:
            return residual_loss(scheme, loss_rate, mean_burst)
        return self(loss_rate, mean_burst)[i]


def added_latency_ms(scheme, frame_ms):
    """Extra playout delay needed to use the repair (see the module docstring)."""
    if scheme.kind in ("xor", "rs"):
        return (scheme.k * scheme.interleave - 1) * frame_ms
    if scheme.kind == "red":
        return scheme.distances[-1] * frame_ms
    return 0.0


def overhead(scheme, red_ratio=0.5, repair_header_ratio=0.0):
    """Redundant payload bytes per media payload byte."""
    if scheme.kind in ("xor", "rs"):
        return scheme.m / scheme.k * (1.0 + repair_header_ratio)
    if scheme.kind == "red":
        return len(scheme.distances) * red_ratio
    return 0.0


def candidates(frame_ms, budget_ms, max_overhead=1.0, red_ratio=0.5, max_k=16):
    """Every scheme within the latency budget and overhead cap (block codes, XOR, RED)."""
    out = [Scheme()]
    for d in range(1, 5):
        for k in range(1, max_k + 1):
            if (k * d - 1) * frame_ms > budget_ms + 1e-9:
                break
            for m in range(1, k + 1):
                s = Scheme("xor", k, 1, d) if m == 1 else Scheme("rs", k, m, d)
                if overhead(s, red_ratio) <= max_overhead + 1e-9:
                    out.append(s)
    max_d = int(budget_ms // frame_ms + 1e-9)
    for n in (1, 2, 3):
        if n * red_ratio > max_overhead + 1e-9:
            break
        for dist in _combinations(range(1, min(max_d, 15) + 1), n):
            out.append(Scheme("red", distances=dist))
    return out


def _combinations(values, n):
    from itertools import combinations
    return list(combinations(values, n))


# ----------------------------------------------------------------------------- controller

@dataclass(frozen=True)
class ControllerConfig:
    """Rate-control settings (residual-loss target as a fraction, times in ms / s)."""

    target: float = 0.01
    budget_ms: float = 60.0
    frame_ms: float = 20.0
    max_overhead: float = 1.0
    red_ratio: float = 0.2914
    memory_s: float = 40.0
    short_s: float = 4.0
    change_z: float = 3.0
    change_z_down: float = 2.0
    change_z_fast: float = 5.0
    change_min_packets: int = 150
    up_margin: float = 1.25
    down_margin: float = 1.0
    hold_reports: int = 1
    down_z: float = 1.64
    allow: tuple = KINDS
    initial: str = "prior"
    prior_loss: float = 0.1
    prior_burst: float = 2.0

    def __post_init__(self):
        if not 0.0 < self.target < 1.0:
            raise ValueError(f"target residual loss must lie in (0, 1), e.g. 0.01, got {self.target!r}")
        if self.budget_ms < 0 or self.frame_ms <= 0 or self.max_overhead < 0 or not 0 < self.short_s <= self.memory_s:
            raise ValueError("budget_ms, max_overhead must be >= 0; frame_ms > 0 and 0 < short_s <= memory_s")
        if not set(self.allow) <= set(KINDS):
            raise ValueError(f"allow must be a subset of {KINDS}")


class RateController:
    """Chooses the FEC scheme from a stream of ``LossReport`` s (sender side)."""

    def __init__(self, config=ControllerConfig()):
        self.config = config
        c = config
        self._cands = [s for s in candidates(c.frame_ms, c.budget_ms, c.max_overhead, c.red_ratio)
                       if s.kind in c.allow or s.kind == "none"]
        self._cost = {s: (overhead(s, c.red_ratio), added_latency_ms(s, c.frame_ms), _cpu_rank(s))
                      for s in self._cands}
        self._table = _ResidualTable(self._cands)      # residual_loss of every candidate, one kernel call
        self.reset()

    def reset(self):
        c = self.config
        self.scheme = self.best(c.prior_loss, c.prior_burst) if c.initial == "prior" else parse_scheme(c.initial)
        self._reports = deque()          # (interval_s, expected, lost, runs) since the last change point
        self._pending = None
        self._agree = 0
        self.history = []

    def _sums(self, seconds):
        e = lo = ru = t = 0.0
        for dt, ex, ls, rn in reversed(self._reports):
            if t >= seconds:
                break
            t += dt
            e, lo, ru = e + ex, lo + ls, ru + rn
        return e, lo, ru

    @property
    def estimate(self):
        """Current channel estimate ``(loss_rate, mean_burst)`` since the last change point."""
        e, lo, ru = self._sums(self.config.memory_s)
        if e <= 0:
            return 0.0, 1.0
        return lo / e, max(lo / ru if ru > 0 else 1.0, 1.0)

    def _change_point(self):
        """Drop the history before a change of the loss rate: for every split of the reports
        within the last ``short_s`` the loss rate after it is compared with the one before
        (binomial variance inflated by ``(1 + lambda) / (1 - lambda)``, ``lambda = 1 - p - r``
        the Gilbert chain's memory); when it differs by more than ``change_z`` standard
        deviations (``change_z_down`` for a drop of the loss rate) the reports before the most
        significant split are forgotten. So the estimate is averaged over ``memory_s`` on a
        stationary channel and follows a change within a few reports, and it forgets at the
        change itself: keeping a fixed ``short_s`` instead kept seconds of the old channel's
        bursts, and after a bad channel turned good the estimate stayed pessimistic for ~10 s."""
        c = self.config
        reps = self._reports
        if len(reps) < 2:
            return
        e_all = sum(r[1] for r in reps)
        l_all = sum(r[2] for r in reps)
        r_all = sum(r[3] for r in reps)
        burst = max(l_all / r_all if r_all else 1.0, 1.0)
        r = 1.0 / burst
        t = e_new = l_new = 0.0
        best = None
        for k in range(1, len(reps)):
            dt, ex, ls, _ = reps[-k]
            t += dt
            if t > c.short_s + 1e-9:
                break
            e_new += ex
            l_new += ls
            e_old, l_old = e_all - e_new, l_all - l_new
            if e_old < 50 or e_new < 20:
                continue
            p_old = l_old / e_old
            p_new = l_new / e_new
            # variance under "no change": the pooled loss rate (the old part alone may be a few
            # seconds with one loss after a recent change point, and would make noise significant)
            q = min(l_all / e_all, 0.99)
            lam = min(max(1.0 - r - q * r / (1.0 - q), 0.0), 0.95)
            var = max(q * (1 - q), 1.0 / e_all) * (1 + lam) / (1 - lam) * (1 / e_new + 1 / e_old)
            z = (p_new - p_old) / math.sqrt(var)
            if e_new < c.change_min_packets:
                excess = abs(z) - c.change_z_fast       # a report or two: only a jump counts
            else:
                excess = (z - c.change_z) if z > 0 else (-z - c.change_z_down)
            if excess > 0 and (best is None or excess > best[0]):
                best = (excess, k)
        if best is not None:
            for _ in range(len(reps) - best[1]):
                reps.popleft()
            return True
        return False

    def _upper_loss(self, burst):
        """One-sided upper confidence bound (``down_z`` deviations) of the loss rate since the
        last change point: binomial variance inflated by the Gilbert chain's memory
        ``(1 + lambda) / (1 - lambda)``, at least one loss's worth (``1 / e``) of variance."""
        e, lo, _ = self._sums(self.config.memory_s)
        if e <= 0:
            return self.config.prior_loss
        p = lo / e
        r = 1.0 / burst
        lam = min(max(1.0 - r - p * r / max(1.0 - p, 1e-9), 0.0), 0.95)
        var = max(p * (1.0 - p), 1.0 / e) * (1.0 + lam) / (1.0 - lam) / e
        return min(p + self.config.down_z * math.sqrt(var), 1.0)

    def best(self, loss_rate, mean_burst):
        """Cheapest candidate meeting the target on this channel, else the lowest residual one."""
        target = self.config.target
        scored = list(zip(self._table(loss_rate, mean_burst), self._cands))
        ok = [(self._cost[s], r, s) for r, s in scored if r <= target]
        if ok:
            return min(ok, key=lambda t: (t[0], t[1]))[2]
        return min(scored, key=lambda t: (round(t[0], 6), self._cost[t[1]]))[1]

    def update(self, report, now_s=None):
        """Fold one ``LossReport`` (or its bytes) in; returns the scheme to use from now on."""
        if isinstance(report, (bytes, bytearray, memoryview)):
            report = LossReport.parse(report)
        c = self.config
        self._reports.append((max(report.interval_ms, 1) / 1000.0, report.expected, report.lost,
                              sum(report.runs)))
        t = sum(r[0] for r in self._reports)
        while len(self._reports) > 1 and t - self._reports[0][0] >= c.memory_s:
            t -= self._reports.popleft()[0]
        self._change_point()
        loss, burst = self.estimate
        best = self.best(loss, burst)
        current = self.scheme
        res = self._table.residual
        r_cur = res(current, loss, burst)
        if best != current:
            r_best = res(best, loss, burst)
            cost_cur = self._cost.get(current, (math.inf,))
            down = None
            if self._cost[best] < cost_cur:
                # less protection only if still adequate at an upper confidence bound of the
                # loss rate (a few quiet seconds of a bursty channel easily show little loss)
                loss_dn = self._upper_loss(burst)
                cand = self.best(loss_dn, burst)
                if (self._cost[cand] < cost_cur
                        and res(cand, loss_dn, burst) <= c.down_margin * c.target):
                    down = cand
            if r_cur > c.up_margin * c.target and r_best < r_cur:
                self._switch(best)                   # failing the target: change at once
            elif down is not None:
                # reports in a row that each found a cheaper adequate scheme (not necessarily the
                # same one: on a fresh estimate the cheapest adequate one wanders) -> the latest
                self._agree += 1
                self._pending = down
                if self._agree >= c.hold_reports:
                    self._switch(down)
            else:
                # the dead band: a scheme predicted within ``up_margin`` of the target is kept
                self._pending, self._agree = None, 0
        else:
            self._pending, self._agree = None, 0
        self.history.append((now_s, loss, burst, str(self.scheme)))
        if len(self.history) > 1000:
            del self.history[:500]
        return self.scheme

    def _switch(self, scheme):
        self.scheme = scheme
        self._pending, self._agree = None, 0


def _cpu_rank(s):
    return {"none": 0, "red": 1, "xor": 2, "rs": 3}[s.kind]
