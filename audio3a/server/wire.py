"""What a datagram is, and the two RTCP messages (RFC 3550 6.4.1 SR, 6.6 BYE) the client sends.

Demultiplexing by the first two bytes (RFC 5761 4): RTP/RTCP version 2 has
``0b10`` in the top bits of byte 0; RTCP packet types 200-204 sit in byte 1
(RTP payload types 72-76, which the streams never use); a ``fec.adapt``
loss report starts with its version byte 1. Anything else is malformed.

The sender report carries the RTP timestamp of the next frame the client
would send and the number of media frames sent so far, so the server knows
where the stream started (``rtp_ts - frames * frame_len``) and, with a BYE,
where it ended: the received-side recording then has exactly the client's
sample count.
"""
import struct
from dataclasses import dataclass

__all__ = ["RTP", "RTCP", "FEEDBACK", "MALFORMED", "classify", "SenderReport", "pack_sr", "pack_bye",
           "parse_rtcp"]

RTP, RTCP, FEEDBACK, MALFORMED = "rtp", "rtcp", "feedback", "malformed"
PT_SR, PT_BYE = 200, 203
_SR = struct.Struct("!BBHIIIIII")       # header, ssrc, ntp msw, ntp lsw, rtp ts, packets, octets
_BYE = struct.Struct("!BBHI")


def classify(data: bytes) -> str:
    """``rtp``, ``rtcp``, ``feedback`` or ``malformed`` from the first bytes only."""
    if len(data) < 2:
        return MALFORMED
    if data[0] >> 6 == 2:
        return RTCP if 200 <= data[1] <= 204 else RTP
    if data[0] == 1:
        return FEEDBACK
    return MALFORMED


@dataclass(frozen=True)
class SenderReport:
    """The fields of an SR the server uses (the NTP time is carried but not needed here)."""

    ssrc: int
    rtp_ts: int
    frames: int
    octets: int = 0


def pack_sr(ssrc: int, rtp_ts: int, frames: int, octets: int = 0, ntp_s: float = 0.0) -> bytes:
    """A sender report without report blocks (28 bytes)."""
    msw = int(ntp_s) & 0xFFFFFFFF
    lsw = int((ntp_s % 1.0) * 2 ** 32) & 0xFFFFFFFF
    return _SR.pack(0x80, PT_SR, 6, ssrc & 0xFFFFFFFF, msw, lsw, rtp_ts & 0xFFFFFFFF,
                    frames & 0xFFFFFFFF, octets & 0xFFFFFFFF)


def pack_bye(ssrc: int) -> bytes:
    """A BYE for one source, no reason text (8 bytes)."""
    return _BYE.pack(0x81, PT_BYE, 1, ssrc & 0xFFFFFFFF)


def parse_rtcp(data: bytes):
    """``(sender_report or None, bye_ssrcs)`` of a compound RTCP datagram; raises ValueError if malformed."""
    sr, bye = None, []
    i = 0
    n = len(data)
    while i < n:
        if n - i < 4:
            raise ValueError("truncated RTCP header")
        b0, pt, length = struct.unpack_from("!BBH", data, i)
        size = 4 * (length + 1)
        if b0 >> 6 != 2 or i + size > n:
            raise ValueError("bad RTCP version or length")
        count = b0 & 0x1F
        if pt == PT_SR:
            if size < _SR.size:
                raise ValueError("short sender report")
            _, _, _, ssrc, _, _, ts, frames, octets = _SR.unpack_from(data, i)
            sr = SenderReport(ssrc, ts, frames, octets)
        elif pt == PT_BYE:
            if size < 4 + 4 * count:
                raise ValueError("short BYE")
            bye.extend(struct.unpack_from(f"!{count}I", data, i + 4))
        i += size
    return sr, bye
