"""RTP packets (RFC 3550 section 5.1): pack, strict parse, and sequence/timestamp unwrapping.

Fixed header, network byte order::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers  (CC x)     |
    | extension profile (16)        | extension length (16, words)  |  if X
    |                 extension data (length x 4 bytes)             |  if X
    |                 payload ...           | padding | pad count   |  if P

``RtpPacket.parse`` accepts only what this layout allows and raises
``PacketError`` (a ``ValueError``) for anything else; nothing else can escape
from it, whatever the bytes. Every ``PacketError`` carries a short ``reason``
code (one of ``REASONS``) so a receiver can count its drops by cause.

``SequenceUnwrapper`` and ``TimestampUnwrapper`` extend the 16-bit sequence
number and 32-bit timestamp to unbounded (64-bit in practice) counters: each
new value is read as the one nearest to the highest value seen so far
(modulo ``2**16`` or ``2**32``), the rule behind RFC 3550 appendix A.1's
cycle counting. A late packet from before a wrap therefore maps below the
wrap, not a whole cycle ahead; a forward jump of less than half the range is
kept as a jump.
"""
import struct

__all__ = ["PacketError", "RtpPacket", "SequenceUnwrapper", "TimestampUnwrapper",
           "REASONS", "RTP_VERSION", "RTP_HEADER_LEN"]

RTP_VERSION = 2
RTP_HEADER_LEN = 12

TRUNCATED = "truncated"          # shorter than the 12-byte fixed header
VERSION = "version"              # version field is not 2
CSRC = "csrc"                    # CSRC count runs past the end of the packet
EXTENSION = "extension"          # extension header or its data runs past the end
PADDING = "padding"              # pad count 0, or padding longer than what follows the header
NOT_BYTES = "not_bytes"          # input is not bytes, bytearray or memoryview
FIELD = "field"                  # a field out of range when packing
PAYLOAD = "payload"              # payload not a whole number of samples for its format (fec.payload)
REASONS = (TRUNCATED, VERSION, CSRC, EXTENSION, PADDING, NOT_BYTES, FIELD, PAYLOAD)

_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")
_WORD = struct.Struct("!I")


class PacketError(ValueError):
    """A packet that cannot be parsed or built; ``reason`` is one of ``fec.packet.REASONS``."""

    def __init__(self, reason, message):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def _as_bytes(data):
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray):
        return bytes(data)
    if isinstance(data, memoryview):
        try:
            return data.tobytes()
        except ValueError:                      # released view
            raise PacketError(NOT_BYTES, "memoryview is released") from None
    raise PacketError(NOT_BYTES, f"expected bytes, bytearray or memoryview, got {type(data).__name__}")


def _check_uint(name, value, bits):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise PacketError(FIELD, f"{name} must be an integer in [0, {(1 << bits) - 1}], got {value!r}")


class RtpPacket:
    """One RTP packet. ``pack()`` builds its bytes; ``RtpPacket.parse(data)`` reads them back.

    ``padding`` is the number of padding bytes (0, or 1..255 including the
    count byte); ``extension`` is ``None`` or ``(profile, data)`` with
    ``len(data)`` a multiple of 4. Parsing keeps the extension so a packet
    re-packs to the same bytes (padding bytes are re-sent as zeros).
    """

    __slots__ = ("payload_type", "sequence", "timestamp", "ssrc", "payload",
                 "marker", "csrcs", "extension", "padding")

    def __init__(self, payload_type, sequence, timestamp, ssrc, payload=b"", marker=False,
                 csrcs=(), extension=None, padding=0):
        self.payload_type = payload_type
        self.sequence = sequence
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrcs = tuple(csrcs)
        self.extension = extension
        self.padding = padding

    def __repr__(self):
        return (f"RtpPacket(pt={self.payload_type}, seq={self.sequence}, ts={self.timestamp}, "
                f"ssrc={self.ssrc:#010x}, marker={self.marker}, payload={len(self.payload)} B, "
                f"csrcs={len(self.csrcs)}, extension={self.extension is not None}, padding={self.padding})")

    def __eq__(self, other):
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None

    def pack(self):
        """The packet's bytes (RFC 3550 5.1); ``PacketError(FIELD)`` for out-of-range fields."""
        _check_uint("payload_type", self.payload_type, 7)
        _check_uint("sequence", self.sequence, 16)
        _check_uint("timestamp", self.timestamp, 32)
        _check_uint("ssrc", self.ssrc, 32)
        _check_uint("padding", self.padding, 8)
        if len(self.csrcs) > 15:
            raise PacketError(FIELD, f"at most 15 CSRCs fit the 4-bit count, got {len(self.csrcs)}")
        for c in self.csrcs:
            _check_uint("csrc", c, 32)
        if not isinstance(self.payload, (bytes, bytearray, memoryview)):
            raise PacketError(FIELD, f"payload must be bytes, got {type(self.payload).__name__}")
        parts = []
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | len(self.csrcs)
        if self.extension is not None:
            profile, data = self.extension
            _check_uint("extension profile", profile, 16)
            if len(data) % 4 or len(data) // 4 > 0xFFFF:
                raise PacketError(FIELD, f"extension data must be a multiple of 4 bytes, "
                                         f"at most {4 * 0xFFFF}, got {len(data)}")
            first |= 0x10
        parts.append(_FIXED.pack(first, (0x80 if self.marker else 0) | self.payload_type,
                                 self.sequence, self.timestamp, self.ssrc))
        for c in self.csrcs:
            parts.append(_WORD.pack(c))
        if self.extension is not None:
            parts.append(_EXT.pack(profile, len(data) // 4))
            parts.append(bytes(data))
        parts.append(bytes(self.payload))
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)

    @classmethod
    def parse(cls, data):
        """Parse one RTP packet; raises only ``PacketError`` (with a ``reason``) on bad bytes."""
        data = _as_bytes(data)
        size = len(data)
        if size < RTP_HEADER_LEN:
            raise PacketError(TRUNCATED, f"{size} bytes, the RTP fixed header needs {RTP_HEADER_LEN}")
        first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data, 0)
        if first >> 6 != RTP_VERSION:
            raise PacketError(VERSION, f"RTP version {first >> 6}, only version 2 is supported")
        count = first & 0x0F
        offset = RTP_HEADER_LEN + 4 * count
        if offset > size:
            raise PacketError(CSRC, f"CSRC count {count} needs {offset} bytes, packet has {size}")
        csrcs = struct.unpack_from(f"!{count}I", data, RTP_HEADER_LEN) if count else ()
        extension = None
        if first & 0x10:
            if offset + 4 > size:
                raise PacketError(EXTENSION, f"extension header at byte {offset} runs past the "
                                             f"{size}-byte packet")
            profile, words = _EXT.unpack_from(data, offset)
            offset += 4
            end = offset + 4 * words
            if end > size:
                raise PacketError(EXTENSION, f"extension of {words} words ends at byte {end}, "
                                             f"packet has {size}")
            extension = (profile, data[offset:end])
            offset = end
        end = size
        padding = 0
        if first & 0x20:
            padding = data[size - 1]
            if padding == 0:
                raise PacketError(PADDING, "padding bit set but the pad count is 0")
            if padding > size - offset:
                raise PacketError(PADDING, f"pad count {padding} exceeds the {size - offset} bytes "
                                           f"after the header")
            end = size - padding
        return cls(second & 0x7F, sequence, timestamp, ssrc, data[offset:end], bool(second & 0x80),
                   csrcs, extension, padding)


class _Unwrapper:
    """Extend a ``bits``-bit wrapping counter to an unbounded integer (nearest to the highest seen)."""

    __slots__ = ("_bits", "_mask", "_half", "_highest")

    def __init__(self, bits):
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._half = 1 << (bits - 1)
        self._highest = None

    @property
    def highest(self):
        """Highest extended value returned so far (``None`` before the first)."""
        return self._highest

    def reset(self):
        """Forget the history (new SSRC, or a source restart)."""
        self._highest = None

    def unwrap(self, value):
        """Extended counter for the wrapped ``value``.

        ``value`` maps to the integer congruent to it (mod ``2**bits``) nearest
        to the highest extended value so far; ties go forward. The first value
        maps to itself; earlier (reordered) packets may map below it, to
        negative numbers if they precede a first packet sent just after a wrap.
        """
        if isinstance(value, bool) or not 0 <= value <= self._mask or int(value) != value:
            raise ValueError(f"expected an unsigned {self._bits}-bit value, got {value!r}")
        value = int(value)
        if self._highest is None:
            self._highest = value
            return value
        delta = (value - self._highest) & self._mask
        if delta > self._half:
            delta -= 1 << self._bits
        extended = self._highest + delta
        if delta > 0:
            self._highest = extended
        return extended


class SequenceUnwrapper(_Unwrapper):
    """16-bit RTP sequence numbers to an unbounded counter (reordering across the wrap handled)."""

    __slots__ = ()

    def __init__(self):
        super().__init__(16)


class TimestampUnwrapper(_Unwrapper):
    """32-bit RTP timestamps to an unbounded counter (reordering across the wrap handled)."""

    __slots__ = ()

    def __init__(self):
        super().__init__(32)
