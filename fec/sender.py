"""Sender: audio frames -> RTP media packets (+ FEC repair packets or RFC 2198 redundancy).

Per frame (``frame_ms`` of float32 samples at ``sample_rate``, the RTP clock)
``Sender.send(frame)`` returns the datagrams to put on the wire now, in
order:

* one media packet (payload ``L16``, ``PCMU`` or ``PCMA``; sequence +1,
  timestamp + frame samples per frame; marker on the first packet of a
  talkspurt), or, with ``red``, one RFC 2198 packet whose primary block is the
  frame and whose redundant blocks are earlier frames (``distances`` frames
  back, encoded in ``red_payload``: by default APC4 (``fec.apc``: 4-bit
  predictive coding with noise feedback, 29 % of an L16 packet at 20 ms, so
  two copies fit in 60 %; ``PCMU-SHAPED``, ``DVI4``, ``PCMU``, ``PCMA``,
  ``L16`` also work);
* with a block code (``xor:k``, ``rs:k+m``, interleave ``d``), after the last
  media packet of each window of ``k d`` packets, its repair packets
  (``fec.repair`` wire format) protecting the whole serialized media packets.

``set_scheme`` changes the redundancy (from ``fec.adapt.RateController``);
the change takes effect at the next block boundary. DTX (optional): frames
whose level stays below ``dtx_level_db`` for ``dtx_hangover`` frames are not
sent (the timestamp keeps advancing, the sequence number does not).
"""
import struct
from dataclasses import dataclass

import numpy as np

from ._jit import kernel
from .adapt import Scheme, added_latency_ms, parse_scheme
from .packet import RtpPacket
from .payload import FORMATS
from .adpcm import DVI4
from .apc import APC4
from .shaped import PCMU_SHAPED

REDUNDANT_FORMATS = {**FORMATS, PCMU_SHAPED.name: PCMU_SHAPED, DVI4.name: DVI4, APC4.name: APC4}
from .red import MAX_BLOCK_LEN, pack_red

__all__ = ["SenderConfig", "Sender", "SenderStats", "RTP_HEADER_BYTES", "REDUNDANT_FORMATS", "red_ratio"]

RTP_HEADER_BYTES = 12
_RTP_FIXED = struct.Struct("!BBHII")      # RFC 3550 5.1: V=2, no padding/extension/CSRC; M|PT; seq; ts; SSRC


@dataclass(frozen=True)
class SenderConfig:
    """Stream settings; payload types are dynamic (96-127) since the rates are not RFC 3551's."""

    sample_rate: int = 16000
    frame_ms: float = 20.0
    payload: str = "L16"
    fec: str = "none"
    red_payload: str = "APC4"
    ssrc: int = 0x5EED0001
    repair_ssrc: int = 0x5EED0002
    payload_type: int = 96
    red_payload_type: int = 97
    redundant_payload_type: int = 98
    repair_payload_type: int = 99
    first_sequence: int = 0
    first_timestamp: int = 0
    dtx: bool = False
    dtx_level_db: float = -60.0
    dtx_hangover: int = 5

    def __post_init__(self):
        if self.payload not in FORMATS or self.red_payload not in REDUNDANT_FORMATS:
            raise ValueError(f"payload must be one of {sorted(FORMATS)} and red_payload one of "
                             f"{sorted(REDUNDANT_FORMATS)}, got {self.payload!r}, {self.red_payload!r}")
        samples = self.sample_rate * self.frame_ms / 1000.0
        if self.sample_rate <= 0 or samples != int(samples) or samples < 1:
            raise ValueError(f"frame_ms={self.frame_ms} must be a whole number of samples at "
                             f"{self.sample_rate} Hz")
        REDUNDANT_FORMATS[self.red_payload].payload_len(int(samples))   # DVI4: even frames only
        pts = (self.payload_type, self.red_payload_type, self.redundant_payload_type, self.repair_payload_type)
        if len(set(pts)) != 4 or not all(0 <= p < 128 for p in pts) or set(pts) & set(range(72, 77)):
            raise ValueError("payload types must be four distinct values in 0..127 outside 72-76 "
                             "(reserved to avoid RTCP confusion)")
        parse_scheme(self.fec)

    @property
    def frame_len(self):
        return int(self.sample_rate * self.frame_ms / 1000.0)


@dataclass(frozen=True)
class SenderStats:
    frames: int = 0
    media_packets: int = 0
    repair_packets: int = 0
    dtx_frames: int = 0
    media_bytes: int = 0
    redundancy_bytes: int = 0
    baseline_bytes: int = 0

    @property
    def overhead(self):
        """Bytes sent for redundancy per byte of the plain media stream (headers included)."""
        return self.redundancy_bytes / self.baseline_bytes if self.baseline_bytes else 0.0


@kernel
def _all_finite(x):
    """No NaN or Inf in ``x`` (without the temporary array of ``np.isfinite(x).all()``)."""
    for v in x:
        if not np.isfinite(v):
            return False
    return True


class Sender:
    """Frames in, datagrams out; see the module docstring."""

    def __init__(self, config=SenderConfig()):
        self.config = config
        self.format = FORMATS[config.payload]
        self.red_format = REDUNDANT_FORMATS[config.red_payload]
        self.frame_len = config.frame_len
        self._payload_buf = np.empty(self.format.payload_len(self.frame_len), np.uint8)
        RtpPacket(config.payload_type, 0, 0, config.ssrc).pack()     # PacketError now for a bad SSRC
        self.reset()

    def reset(self):
        c = self.config
        self._seq = c.first_sequence & 0xFFFF
        self._ts = c.first_timestamp & 0xFFFFFFFF
        self._scheme = parse_scheme(c.fec)
        self._coder = _BlockCoder(self._scheme, c) if self._scheme.kind in ("xor", "rs") else None
        self._last_ts = self._ts
        self._history = []           # (ts, encoded redundant copy) of the last frames, for RED
        self._quiet = 0
        self._talking = False
        self._counts = dict(frames=0, media_packets=0, repair_packets=0, dtx_frames=0, media_bytes=0,
                            redundancy_bytes=0, baseline_bytes=0)

    @property
    def scheme(self):
        return self._scheme

    @property
    def added_latency_ms(self):
        return added_latency_ms(self._scheme, self.config.frame_ms)

    @property
    def red_ratio(self):
        """Bytes one RED copy adds (block + its 4-byte header) per byte of a plain media packet
        (RTP header included): the ``red_ratio`` of ``fec.adapt.ControllerConfig``."""
        return red_ratio(self.config)

    @property
    def stats(self):
        return SenderStats(**self._counts)

    def set_scheme(self, scheme):
        """Switch redundancy (``Scheme`` or its text). A block code changes at its next group;
        leaving a block code sends the open group's repair at once (returned, to be sent now)."""
        scheme = parse_scheme(scheme) if not isinstance(scheme, Scheme) else scheme
        if scheme.kind == "red" and scheme.distances[-1] * self.frame_len > 16383:
            raise ValueError("RED timestamp offsets are 14 bits: the farthest copy must be < 16384 samples back")
        out = []
        if scheme == self._scheme:
            return out
        if scheme.kind in ("xor", "rs"):
            if self._coder is None:
                self._coder = _BlockCoder(scheme, self.config)
            else:
                self._coder.configure(scheme)
        elif self._coder is not None:
            out = self._coder.flush(self._last_ts)
            self._counts["repair_packets"] += len(out)
            self._counts["redundancy_bytes"] += sum(len(r) for r in out)
            self._coder = None
        self._scheme = scheme
        return out

    def send(self, frame):
        """Datagrams (bytes) for one frame of ``frame_len`` float32 samples."""
        c = self.config
        x = np.ascontiguousarray(frame, dtype=np.float32).reshape(-1)
        if x.size != self.frame_len:
            raise ValueError(f"frame has {x.size} samples, expected {self.frame_len} "
                             f"({c.frame_ms} ms at {c.sample_rate} Hz)")
        if not _all_finite(x):
            raise ValueError("frame holds NaN or Inf samples")
        self._counts["frames"] += 1
        ts = self._ts
        self._last_ts = ts
        self._ts = (self._ts + self.frame_len) & 0xFFFFFFFF
        if c.dtx:
            level = 10.0 * np.log10(float(np.mean(x.astype(np.float64) ** 2)) + 1e-20)
            self._quiet = self._quiet + 1 if level < c.dtx_level_db else 0
            if self._quiet > c.dtx_hangover:
                self._talking = False
                self._counts["dtx_frames"] += 1
                self._history.clear()
                return []
        marker = not self._talking
        self._talking = True
        payload = self.format.encode(x, self._payload_buf).tobytes()
        out = []
        scheme = self._scheme
        baseline = RTP_HEADER_BYTES + len(payload)
        if scheme.kind == "red":
            copy = self.red_format.encode(x)
            blocks = []
            for d in reversed(scheme.distances):
                old_ts = (ts - d * self.frame_len) & 0xFFFFFFFF
                for h_ts, h_copy in self._history:
                    if h_ts == old_ts and len(h_copy) <= MAX_BLOCK_LEN:
                        blocks.append((c.redundant_payload_type, d * self.frame_len, h_copy))
            body = pack_red(c.payload_type, payload, blocks)
            media = self._header(c.red_payload_type, ts, marker) + body
            self._history.append((ts, copy))
            if len(self._history) > scheme.distances[-1]:
                del self._history[0]
        else:
            media = self._header(c.payload_type, ts, marker) + payload
            self._history.clear()
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        out.append(media)
        self._counts["media_packets"] += 1
        self._counts["media_bytes"] += len(media)
        self._counts["baseline_bytes"] += baseline
        self._counts["redundancy_bytes"] += len(media) - baseline
        if self._coder is not None:
            repairs = self._coder.add(seq, media, ts)
            for r in repairs:
                self._counts["repair_packets"] += 1
                self._counts["redundancy_bytes"] += len(r)
            out.extend(repairs)
        return out

    def _header(self, payload_type, ts, marker):
        """The 12-byte fixed header of the next media packet (the fields are in range by
        construction: ``RtpPacket.pack``'s checks, ~5 us a packet, are not needed here)."""
        return _RTP_FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, self._seq, ts, self.config.ssrc)


def red_ratio(config):
    """``Sender.red_ratio`` for a ``SenderConfig``."""
    n = config.frame_len
    primary = FORMATS[config.payload].payload_len(n)
    return (REDUNDANT_FORMATS[config.red_payload].payload_len(n) + 4) / (RTP_HEADER_BYTES + primary)


class _BlockCoder:
    """``fec.repair.FecEncoder`` plus the RTP framing of its repair payloads (own SSRC and sequence)."""

    def __init__(self, scheme, config):
        from .repair import FecEncoder
        self.config = config
        self.encoder = FecEncoder(scheme.kind, scheme.k, scheme.m, scheme.interleave)
        self._seq = config.first_sequence & 0xFFFF

    def configure(self, scheme):
        self.encoder.configure(scheme.kind, scheme.k, scheme.m, scheme.interleave)

    def _wrap(self, payloads, ts):
        c = self.config
        out = []
        for p in payloads:
            out.append(RtpPacket(c.repair_payload_type, self._seq, ts, c.repair_ssrc, p).pack())
            self._seq = (self._seq + 1) & 0xFFFF
        return out

    def add(self, seq, media, ts):
        return self._wrap(self.encoder.push(seq, media), ts)

    def flush(self, ts):
        return self._wrap(self.encoder.flush(), ts)
