"""Receiver: datagrams in any order with arrival times -> one playout decision per frame tick.

``Receiver.receive(data, arrival_s)`` takes whatever arrives (media, RFC 2198
redundancy, FEC repair, garbage); it never raises on bad bytes: a datagram
that fails a check is dropped and counted by reason (``drops``). Media
frames are decoded and filed in the adaptive ``JitterBuffer``; every media
and repair datagram also goes to the FEC decoder (late ones too: a late
packet can still complete a block), and what it rebuilds is filed as
``recovered``. Redundant copies fill frames that are missing.

``Receiver.tick(now_s)`` is called once per frame period and returns a
``Playout``: the frame to play (float32, or ``None`` when nothing arrived in
time: the caller conceals), its status (``received``, ``recovered``,
``lost``, ``dtx``, ``expand``, ``idle``) and the jitter buffer's time-scale
request (``action`` with ``extra`` on ``accelerate``; see ``fec.jitter``).
Late packets are counted in ``stats.late``. Setting ``receiver.log = []``
records every frame filed as ``(timestamp, arrival_s, recovered, result)``
(for simulations; it grows without bound, so it is off by default).

The playout target adds the wait FEC needs (``extra_delay_ms``): for a
block code the span of its interleaved window, ``(k d - 1)`` frames, read
from the repair headers; for RED the largest timestamp offset; the largest
such wait seen within the last ``fec_idle_s`` (zero when none was); ``fec_delay_ms``
is the value to start with (known from signalling, so the first frames
are not played before the first repair could arrive).

Source changes: packets from another SSRC are ignored until ``probation``
of them arrive with consecutive sequence numbers (RFC 3550 A.1); then the
receiver resets to the new source.

``report()`` closes a statistics interval and returns the bytes of a
``fec.adapt.LossReport`` for the sender's rate controller.
"""
import math
from dataclasses import dataclass, field
from typing import NamedTuple

from .adapt import LossCounter
from .jitter import JitterBuffer, JitterConfig, NORMAL
from .packet import PacketError, RtpPacket, SequenceUnwrapper, TimestampUnwrapper
from .payload import FORMATS
from .adpcm import DVI4
from .apc import APC4
from .shaped import PCMU_SHAPED

REDUNDANT_FORMATS = {**FORMATS, PCMU_SHAPED.name: PCMU_SHAPED, DVI4.name: DVI4, APC4.name: APC4}
from .red import parse_red
from .repair import FecDecoder, RepairHeader

__all__ = ["ReceiverConfig", "Receiver", "ReceiverStats", "Playout"]


@dataclass(frozen=True)
class ReceiverConfig:
    """Must match the sender's stream settings (see ``fec.sender.SenderConfig``)."""

    sample_rate: int = 16000
    frame_ms: float = 20.0
    payload: str = "L16"
    red_payload: str = "APC4"
    payload_type: int = 96
    red_payload_type: int = 97
    redundant_payload_type: int = 98
    repair_payload_type: int = 99
    jitter: JitterConfig = None
    probation: int = 2
    fec_idle_s: float = 2.0
    use_fec_delay: bool = True
    fec_delay_ms: float = 0.0

    def __post_init__(self):
        if self.payload not in FORMATS or self.red_payload not in REDUNDANT_FORMATS:
            raise ValueError(f"payload must be one of {sorted(FORMATS)} and red_payload one of "
                             f"{sorted(REDUNDANT_FORMATS)}")
        samples = self.sample_rate * self.frame_ms / 1000.0
        if self.sample_rate <= 0 or samples != int(samples) or samples < 1:
            raise ValueError(f"frame_ms={self.frame_ms} must be a whole number of samples at {self.sample_rate} Hz")
        if self.jitter is None:
            object.__setattr__(self, "jitter", JitterConfig(frame_ms=self.frame_ms))
        elif self.jitter.frame_ms != self.frame_ms:
            raise ValueError(f"jitter.frame_ms={self.jitter.frame_ms} differs from frame_ms={self.frame_ms}")

    @property
    def frame_len(self):
        return int(self.sample_rate * self.frame_ms / 1000.0)


@dataclass(frozen=True)
class ReceiverStats:
    """Counters since the start (media packets unless named otherwise)."""

    datagrams: int = 0
    media: int = 0
    repair: int = 0
    duplicates: int = 0
    late: int = 0
    recovered_fec: int = 0
    recovered_red: int = 0
    recovered_late: int = 0
    source_changes: int = 0
    drops: dict = field(default_factory=dict)
    ticks: dict = field(default_factory=dict)
    target_delay_ms: float = 0.0
    extra_delay_ms: float = 0.0


class Playout(NamedTuple):
    """One tick's output; ``frame`` is a fresh float32 array or ``None``. A named tuple: built
    once per frame per participant, it costs a tuple, not a frozen dataclass's ``__init__``."""

    frame: object
    status: str
    action: str = NORMAL
    extra: object = None
    timestamp: int | None = None
    delay_ms: float = 0.0
    target_ms: float = 0.0


class Receiver:
    """See the module docstring."""

    def __init__(self, config=ReceiverConfig()):
        self.config = config
        self.format = FORMATS[config.payload]
        self.red_format = REDUNDANT_FORMATS[config.red_payload]
        self.frame_len = config.frame_len
        self.jitter = JitterBuffer(config.sample_rate, config.jitter)
        self.losses = LossCounter()
        self._drops = {}
        self._ticks = {}
        self._counts = dict(datagrams=0, media=0, repair=0, duplicates=0, late=0, recovered_fec=0,
                            recovered_red=0, recovered_late=0, source_changes=0)
        self._interval_residual = 0
        self._interval_late = 0
        self._now_hint = 0.0
        self.log = None
        self._start_source(None)

    # ------------------------------------------------------------------ state
    def _start_source(self, ssrc):
        self.ssrc = ssrc
        self._seq = SequenceUnwrapper()
        self._ts = TimestampUnwrapper()
        self.jitter.reset()
        self.jitter.extra_delay_ms = self.config.fec_delay_ms if self.config.use_fec_delay else 0.0
        self.losses.reset()
        self._decoder = FecDecoder()
        self._fec_spans = {}          # FEC wait (ms) -> when last seen (s); initial value on first packet
        self._fec_oldest_s = math.inf  # min of _fec_spans' times: no wait expires before now - it > idle
        self._candidate = None

    @property
    def stats(self):
        return ReceiverStats(**self._counts, drops=dict(self._drops), ticks=dict(self._ticks),
                             target_delay_ms=self.jitter.target_delay_ms(),
                             extra_delay_ms=self.jitter.extra_delay_ms)

    def _drop(self, reason):
        self._drops[reason] = self._drops.get(reason, 0) + 1

    # ------------------------------------------------------------------ packets in
    def receive(self, data, arrival_s, packet=None):
        """Take one datagram that arrived at ``arrival_s`` (seconds); never raises on bad bytes.
        ``packet``: its ``RtpPacket`` when the caller has parsed it already."""
        self._counts["datagrams"] += 1
        if packet is None:
            try:
                packet = RtpPacket.parse(data)
            except PacketError as exc:
                self._drop(exc.reason)
                return
        c = self.config
        pt = packet.payload_type
        if pt == c.repair_payload_type:
            self._counts["repair"] += 1
            self._repair(data, packet, arrival_s)
            return
        if pt not in (c.payload_type, c.red_payload_type):
            self._drop("payload_type")
            return
        self._now_hint = arrival_s
        if not self._accept_source(packet):
            return
        self._media(data, packet, arrival_s, recovered=False)

    def _accept_source(self, packet):
        """RFC 3550 A.1 style probation before switching to a new SSRC."""
        if self.ssrc is None:
            self._start_source(packet.ssrc)
            if self.config.fec_delay_ms > 0:
                self._note_fec(self.config.fec_delay_ms, self._now_hint)
            return True
        if packet.ssrc == self.ssrc:
            return True
        cand = self._candidate
        if cand is not None and cand[0] == packet.ssrc and packet.sequence == (cand[1] + 1) & 0xFFFF:
            cand = (packet.ssrc, packet.sequence, cand[2] + 1)
        else:
            cand = (packet.ssrc, packet.sequence, 1)
        self._candidate = cand
        if cand[2] >= self.config.probation:
            self._counts["source_changes"] += 1
            self._start_source(packet.ssrc)
            return True
        self._drop("ssrc")
        return False

    def _decode(self, fmt, payload):
        frame = fmt.decode(payload)
        if frame.size != self.frame_len:
            raise PacketError("payload", f"{frame.size} samples, expected {self.frame_len}")
        return frame

    def _media(self, data, packet, arrival_s, recovered):
        c = self.config
        redundant = ()
        try:
            if packet.payload_type == c.red_payload_type:
                primary_pt, primary, redundant = parse_red(packet.payload)
                if primary_pt != c.payload_type:
                    raise PacketError("red", f"primary block payload type {primary_pt}, expected {c.payload_type}")
            else:
                primary = packet.payload
            frame = self._decode(self.format, primary)
        except PacketError as exc:
            self._drop(exc.reason)
            return
        seq = self._seq.unwrap(packet.sequence)
        ts = self._ts.unwrap(packet.timestamp)
        if not recovered:
            self._counts["media"] += 1
            self.losses.arrived(seq)
            self._recovered(self._decoder.add_media(packet.sequence, data), arrival_s)
        self._file(seq, ts, arrival_s, frame, recovered, "recovered_fec")
        if redundant:
            self._note_fec(max(off for _, off, _ in redundant) / c.sample_rate * 1000.0, arrival_s)
        for pt, offset, block in redundant:
            old_ts = ts - offset
            if self.jitter.has(old_ts) or pt != c.redundant_payload_type:
                continue
            try:
                old = self._decode(self.red_format, block)
            except PacketError as exc:
                self._drop(exc.reason)
                continue
            old_seq = seq - int(round(offset / self.jitter.frame_ts))
            self._file(old_seq, old_ts, arrival_s, old, True, "recovered_red")

    def _file(self, seq, ts, arrival_s, frame, recovered, counter):
        result = self.jitter.insert(seq, ts, arrival_s, frame, recovered=recovered)
        if self.log is not None:
            self.log.append((ts, arrival_s, recovered, result))
        if result == "duplicate":
            if not recovered:
                self._counts["duplicates"] += 1
        elif result == "late":
            if recovered:
                self._counts["recovered_late"] += 1
            else:
                self._counts["late"] += 1
                self._interval_late += 1
        elif result == "buffered" and recovered:
            self._counts[counter] += 1
        elif result == "overflow":
            self._drop("overflow")

    # ------------------------------------------------------------------ FEC
    def _note_fec(self, span_ms, arrival_s):
        """Remember a FEC wait; the target uses the largest one seen within ``fec_idle_s``."""
        spans = self._fec_spans
        known = span_ms in spans
        spans[span_ms] = max(arrival_s, spans.get(span_ms, arrival_s))
        if known and arrival_s - self._fec_oldest_s <= self.config.fec_idle_s:
            return           # no new span, none expired: the target stands (the common case)
        self._update_fec_delay(arrival_s)

    def _update_fec_delay(self, now_s):
        spans = self._fec_spans
        idle_s = self.config.fec_idle_s
        for span in [sp for sp, t in spans.items() if now_s - t > idle_s]:
            del spans[span]
        self._fec_oldest_s = min(spans.values(), default=math.inf)
        if self.config.use_fec_delay:
            self.jitter.extra_delay_ms = max(spans, default=0.0)

    def _repair(self, data, packet, arrival_s):
        try:
            header, symbol = RepairHeader.parse(packet.payload)
        except PacketError as exc:
            self._drop(exc.reason)
            return
        self._note_fec((header.k * header.interleave - 1) * self.config.frame_ms, arrival_s)
        self._recovered(self._decoder.add_parsed_repair(header, symbol), arrival_s)

    def _recovered(self, rebuilt, arrival_s):
        for _, raw in rebuilt:
            try:
                packet = RtpPacket.parse(raw)
            except PacketError as exc:
                self._drop(exc.reason)
                continue
            if packet.ssrc != self.ssrc or packet.payload_type not in (self.config.payload_type,
                                                                       self.config.red_payload_type):
                self._drop("recovered_foreign")
                continue
            self._media(raw, packet, arrival_s, recovered=True)

    # ------------------------------------------------------------------ playout
    def tick(self, now_s):
        """The frame for the tick at ``now_s`` (call once per frame period)."""
        if now_s - self._fec_oldest_s > self.config.fec_idle_s:
            # a FEC wait expires (otherwise extra_delay_ms already is the largest one kept)
            self._update_fec_delay(now_s)
        jitter = self.jitter
        before = jitter.missing
        # the buffered frames are the decoders' fresh arrays, handed out once: no copy needed
        status, action, frame, extra, timestamp, _, delay_ms, target_ms = jitter.decide(now_s)
        ticks = self._ticks
        ticks[status] = ticks.get(status, 0) + 1
        self._interval_residual += jitter.missing - before
        return Playout(frame, status, action, extra, timestamp, delay_ms, target_ms)

    def report(self, interval_ms):
        """Bytes of a ``LossReport`` for the interval since the previous call."""
        rep = self.losses.report(self.ssrc or 0, interval_ms, self._interval_residual, self._interval_late)
        self._interval_residual = 0
        self._interval_late = 0
        return rep.pack()
