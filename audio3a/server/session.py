"""One participant: packets in, concealed and processed audio to the mix, the mix back out as packets.

Per 20 ms packet period (two 10 ms ticks of the server)::

    datagrams -> Receiver (FEC, jitter buffer) -> Concealer -> rx recording
              -> Pipeline.process (capture), 10 ms at a time -> mixer
    mixer (everyone else) -> the next Pipeline.process's render frame (the echo reference) -> tx recording
              -> Sender (FEC chosen by a RateController from the client's loss reports)

``playout(now_s)`` runs the receive side once per packet period and returns
20 ms of audio (a jitter-buffer expand is concealed, an accelerate squeezes
two frames into one by cross-fade); ``capture(k)`` processes its 10 ms half
``k``; ``send(mix)`` packs 20 ms of mix. The rx recording follows the media
timeline, not the playout: one frame per RTP timestamp, concealed where
nothing arrived, so its length is the client's. Concealed frames after the
last real one are held back (bounded by ``max_pending_frames``) until a real
frame or the sender's end report (RTCP SR + BYE) confirms them, so a client
that dies leaves a recording that ends with its last packet.
"""
import random
from dataclasses import dataclass, field

import numpy as np

from fec.adapt import ControllerConfig, FeedbackError, LossReport, RateController
from fec.jitter import ACCELERATE, CrossfadeStretcher, EXPAND, IDLE, JitterConfig
from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig

from ..pipeline import Pipeline
from ..plc import Concealer, PlcConfig
from .wire import parse_rtcp

__all__ = ["SessionConfig", "Session"]

_WRAP = 1 << 32


@dataclass(frozen=True)
class SessionConfig:
    """Stream and processing settings shared by every session of a server."""

    sample_rate: int = 16000
    frame_ms: int = 20
    payload: str = "L16"
    target_loss: float = 0.01
    fec_budget_ms: float = 60.0
    report_interval_s: float = 1.0
    drain_timeout_s: float = 3.0
    max_pending_frames: int = 500
    # The jitter buffer's floor above the base delay: one server tick. A datagram that arrives while a
    # tick runs is stamped when the loop reads it (up to a tick's work later), and the playout clock is
    # the tick itself, late by up to its p99 lateness: a target a few ms above the base on a quiet
    # loopback link would count that jitter of the server's own as late packets and expands.
    min_jitter_delay_ms: float = 10.0
    pipeline: dict = field(default_factory=dict)     # slot -> config (None = off), as for Pipeline

    @property
    def frame_len(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def tick_len(self) -> int:
        return self.sample_rate // 100


class Session:
    """Per-participant state; see the module docstring. No method blocks or raises on bad bytes."""

    def __init__(self, config: SessionConfig = SessionConfig(), pipeline=None, rng=None):
        """Build every part (a few ms); ``attach`` then gives the session its participant."""
        c = config
        self.config = c
        self.sid, self.addr, self.ssrc, self.recorder = None, None, None, None
        rng = rng or random.Random()
        self.receiver = Receiver(ReceiverConfig(sample_rate=c.sample_rate, frame_ms=c.frame_ms, payload=c.payload,
                                                jitter=JitterConfig(frame_ms=c.frame_ms,
                                                                    min_delay_ms=c.min_jitter_delay_ms)))
        self.controller = RateController(ControllerConfig(target=c.target_loss, budget_ms=c.fec_budget_ms,
                                                          frame_ms=c.frame_ms))
        self.sender = Sender(SenderConfig(sample_rate=c.sample_rate, frame_ms=c.frame_ms, payload=c.payload,
                                          fec=str(self.controller.scheme), ssrc=rng.getrandbits(32),
                                          repair_ssrc=rng.getrandbits(32), first_sequence=rng.getrandbits(16),
                                          first_timestamp=rng.getrandbits(32)))
        self.concealer = Concealer(c.sample_rate, PlcConfig(frame_ms=c.frame_ms))
        self.stretcher = CrossfadeStretcher(c.frame_len)
        self.pipeline = pipeline if pipeline is not None else Pipeline(c.sample_rate, **c.pipeline)
        self.created_s = self.last_heard_s = 0.0
        self.closing = None              # reason, once the session is ending
        self.closing_since_s = None
        self.frame_len, self.tick_len = c.frame_len, c.tick_len
        self.capture_in = np.zeros(self.frame_len, np.float32)      # this period's playout (20 ms)
        self.capture_out = np.zeros(self.frame_len, np.float32)     # processed, to the mix
        self.mix_buffer = np.zeros(self.frame_len, np.float32)      # 20 ms of mix being assembled
        self.render = np.zeros(self.tick_len, np.float32)           # last 10 ms sent back (AEC reference)
        n = self.tick_len
        self.capture_in_halves = (self.capture_in[:n], self.capture_in[n:])     # views of the 10 ms halves
        self.capture_halves = (self.capture_out[:n], self.capture_out[n:])
        self.mix_halves = (self.mix_buffer[:n], self.mix_buffer[n:])
        self.phase = 0                   # the server tick (mod 2) on which this session's packet period starts
        self.half = 0                    # the half of the packet period the current tick processes
        self.repair_ssrc = None
        self.shard_slot = None           # the server's 3A helper process slot, if its 3A runs there
        self._next_report_s = c.report_interval_s
        self._sr_start_raw = None        # stream start from the sender report (raw RTP timestamp)
        self._end_raw = None             # stream end (SR with BYE)
        self._rec_next = None            # next extended timestamp of the rx recording
        self._pending = []               # concealed frames after the last real one, not yet recorded
        self.counts = dict(feedback=0, feedback_bad=0, rtcp=0, rx_frames=0, rx_gap_frames=0,
                           rx_concealed_frames=0, rx_dropped_tail=0, tx_frames=0, expands=0, accelerates=0,
                           scheme_changes=0)

    def attach(self, sid: str, addr, ssrc: int, now_s: float, recorder=None, report_phase: float = 0.0) -> "Session":
        """Give a freshly built session its participant (source address, SSRC) and recorder.

        ``report_phase`` in [0, 1) delays the first loss report by that fraction of the interval:
        the server spreads the sessions' reports over the interval instead of bunching them into
        one tick when many participants join at once."""
        self.sid, self.addr, self.ssrc, self.recorder = sid, addr, ssrc, recorder
        self.created_s = self.last_heard_s = now_s
        self._next_report_s = now_s + self.config.report_interval_s * (1.0 + float(report_phase) % 1.0)
        return self

    # ------------------------------------------------------------------ datagrams in
    def on_rtp(self, data: bytes, now_s: float, packet=None) -> None:
        """A media or repair datagram (``packet``: its parsed ``RtpPacket``, if the caller has it)."""
        self.last_heard_s = now_s
        self.receiver.receive(data, now_s, packet)

    def on_feedback(self, data: bytes, now_s: float) -> list:
        """A loss report from the participant: update the FEC choice; returns datagrams to send now."""
        self.last_heard_s = max(self.last_heard_s, now_s)
        try:
            report = LossReport.parse(data)
        except FeedbackError:
            self.counts["feedback_bad"] += 1
            return []
        self.counts["feedback"] += 1
        scheme = self.controller.update(report, now_s)
        if scheme != self.sender.scheme:
            self.counts["scheme_changes"] += 1
            return self.sender.set_scheme(scheme)
        return []

    def on_rtcp(self, data: bytes, now_s: float) -> bool:
        """Sender report / BYE; False when malformed or not this source's."""
        try:
            sr, bye = parse_rtcp(data)
        except ValueError:
            return False
        if (sr is not None and sr.ssrc != self.ssrc) or any(s != self.ssrc for s in bye):
            return False
        self.last_heard_s = now_s
        self.counts["rtcp"] += 1
        if sr is not None:
            start = (sr.rtp_ts - sr.frames * self.frame_len) % _WRAP
            if self._sr_start_raw is None:
                self._sr_start_raw = start
            if bye:
                self._end_raw = sr.rtp_ts % _WRAP
        if bye:
            self.begin_close("bye", now_s)
        return True

    def begin_close(self, reason: str, now_s: float) -> None:
        if self.closing is None:
            self.closing, self.closing_since_s = reason, now_s

    def _extend(self, raw: int, near_ext: int) -> int:
        """The extended timestamp of a raw 32-bit one, nearest to ``near_ext``."""
        d = (raw - near_ext) % _WRAP
        if d >= _WRAP // 2:
            d -= _WRAP
        return near_ext + d

    @property
    def finished(self) -> bool:
        """Closing and nothing left to play: every frame up to the end report recorded (or timed out)."""
        if self.closing is None:
            return False
        if self.closing != "bye":
            return True
        if self._rec_next is not None and self._end_raw is not None:
            if self._rec_next >= self._extend(self._end_raw, self._rec_next):
                return True
        return len(self.receiver.jitter) == 0 and self._end_raw is None

    # ------------------------------------------------------------------ rx recording (media timeline)
    def _record_media(self, ts, y, real: bool) -> None:
        if ts is None:
            return
        if self._rec_next is None:
            start = ts
            if self._sr_start_raw is not None:
                s = self._extend(self._sr_start_raw, ts)
                if ts - 50 * self.frame_len * 10 <= s <= ts:   # sane: at most 10 s before
                    start = s
            self._rec_next = start
        if ts < self._rec_next:
            return
        gap = (ts - self._rec_next) // self.frame_len
        if gap:
            self.counts["rx_gap_frames"] += gap
            for _ in range(gap):
                self._hold(np.zeros(self.frame_len, np.float32), False)
        self._hold(y if real else np.array(y, np.float32), real)   # a real frame is written now: no copy
        self._rec_next = ts + self.frame_len

    def _hold(self, y, real: bool) -> None:
        if real:
            self._flush_pending()
            self._write_rx(y)
            return
        self._pending.append(y)
        if len(self._pending) > self.config.max_pending_frames:
            self._write_rx(self._pending.pop(0))

    def _flush_pending(self) -> None:
        for p in self._pending:
            self._write_rx(p)
        self._pending.clear()

    def _write_rx(self, y) -> None:
        self.counts["rx_frames"] += 1
        if self.recorder is not None:
            self.recorder.write("rx", y)

    # ------------------------------------------------------------------ playout and processing
    def playout(self, now_s: float) -> np.ndarray:
        """Receive side for one packet period: 20 ms of concealed audio (zeros before the stream starts)."""
        pl = self.receiver.tick(now_s)
        c = self.concealer
        if pl.status == IDLE:
            self.capture_in[:] = 0.0
            return self.capture_in
        if pl.action == EXPAND or pl.status == EXPAND:
            self.counts["expands"] += 1
            self.capture_in[:] = c.process(None)
            return self.capture_in
        real = pl.frame is not None
        y = c.process(pl.frame)
        if real is False:
            self.counts["rx_concealed_frames"] += 1
        self._record_media(pl.timestamp, y, real)
        if pl.action == ACCELERATE:
            self.counts["accelerates"] += 1
            first = np.array(y, np.float32)
            second = c.process(pl.extra)
            if pl.timestamp is not None:
                self._record_media(pl.timestamp + self.frame_len, second, pl.extra is not None)
            self.capture_in[:] = self.stretcher.compress(first, np.array(second, np.float32))
        else:
            self.capture_in[:] = y
        return self.capture_in

    def capture(self, k: int) -> np.ndarray:
        """3A on 10 ms half ``k`` (0, 1) of this period's playout, after the last 10 ms sent as reference."""
        out = self.capture_halves[k]
        out[:] = self.pipeline.process(self.capture_in_halves[k], self.render)
        return out

    def set_render(self, frame) -> None:
        """The 10 ms of mix that will be sent back: the echo reference of the next capture."""
        self.render[:] = frame

    def send(self, mix: np.ndarray, now_s: float) -> list:
        """Pack 20 ms of mix for the participant (+ a loss report when due); returns datagrams."""
        self.counts["tx_frames"] += 1
        if self.recorder is not None:
            self.recorder.write("tx", mix)
        out = self.sender.send(mix)
        if now_s >= self._next_report_s:
            interval_ms = int(round(self.config.report_interval_s * 1000))
            out.append(self.receiver.report(interval_ms))
            self._next_report_s += self.config.report_interval_s
            if self._next_report_s < now_s:
                self._next_report_s = now_s + self.config.report_interval_s
        return out

    # ------------------------------------------------------------------ end
    def drain(self, now_s: float) -> None:
        """Record whatever is still buffered (server shutdown): tick the jitter buffer out, no real time."""
        t = now_s
        step = self.config.frame_ms / 1000.0
        for _ in range(self.receiver.jitter.config.capacity_frames + 10):
            if len(self.receiver.jitter) == 0:
                break
            t += step
            self.playout(t)

    def finish(self) -> dict:
        """Settle the rx tail (recorded up to the end report, else dropped after the last real frame)."""
        if self._pending:
            if self._end_raw is not None and self._rec_next is not None:
                end = self._extend(self._end_raw, self._rec_next)
                keep = len(self._pending) - max(0, (self._rec_next - end) // self.frame_len)
                self.counts["rx_dropped_tail"] += len(self._pending) - max(keep, 0)
                del self._pending[max(keep, 0):]
                self._flush_pending()
            else:
                self.counts["rx_dropped_tail"] += len(self._pending)
                self._pending.clear()
        if self._end_raw is not None and self._rec_next is not None:
            # the end report says frames are missing beyond what played: conceal them into the record
            end = self._extend(self._end_raw, self._rec_next)
            while self._rec_next < end:
                self.counts["rx_concealed_frames"] += 1
                self._write_rx(np.array(self.concealer.process(None), np.float32))
                self._rec_next += self.frame_len
        return self.stats()

    def stats(self) -> dict:
        """Counters for the stats line and the sidecar (JSON-ready)."""
        rs = self.receiver.stats
        ss = self.sender.stats
        ps = self.concealer.stats
        return {
            "session": self.sid, "addr": f"{self.addr[0]}:{self.addr[1]}", "ssrc": f"{self.ssrc:08x}",
            "closing": self.closing,
            "rx": {"datagrams": rs.datagrams, "media": rs.media, "repair": rs.repair, "late": rs.late,
                   "duplicates": rs.duplicates, "recovered_fec": rs.recovered_fec,
                   "recovered_red": rs.recovered_red, "drops": rs.drops, "ticks": rs.ticks,
                   "target_delay_ms": round(rs.target_delay_ms, 1)},
            "plc": {"received_frames": ps.received_frames, "concealed_frames": ps.concealed_frames,
                    "bursts": ps.bursts, "longest_burst": ps.longest_burst},
            "tx": {"frames": ss.frames, "media_packets": ss.media_packets, "repair_packets": ss.repair_packets,
                   "overhead": round(ss.overhead, 3), "fec": str(self.sender.scheme),
                   "loss_estimate": [round(v, 4) for v in self.controller.estimate]},
            "counts": dict(self.counts),
        }
