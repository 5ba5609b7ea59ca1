"""Repair packets: wire format (version 1), block encoder and stateful block decoder.

What is protected
-----------------
Whole media packets as bytes (the serialized RTP packet, header and payload),
so a recovered packet is bit-exact: marker, payload type, timestamp, sequence
number, CSRCs and length come back with the payload, as with RFC 5109 / RFC
8627 header and length recovery. Each media packet ``p`` of a block becomes a
protected symbol of the block's symbol length ``L``::

    symbol = len(p) (16 bits, big-endian) || p || zero padding to L bytes

with ``L = 2 + max len(p)``. The length travels inside the code (2 bytes per
repair packet, whatever ``k``) instead of as a list of ``k`` lengths in every
repair header; the zero padding doubles as an integrity check of what the
decoder recovers.

Blocks
------
A block covers ``k`` media packets with sequence numbers
``base + j d (mod 2^16)``, ``j = 0..k-1`` (``d`` = interleave depth) and has
``m`` repair packets. ``d = 1``: ``k`` consecutive packets. ``d > 1``: a group
of ``k d`` consecutive packets is split into ``d`` blocks with bases
``base0 + i``; their repair packets are sent after the group, index-major
(repair 0 of every block, then repair 1, ...), so each block's packets are
every ``d``-th packet of the stream. Scheme ``xor`` has ``m = 1``; scheme
``rs`` is the Cauchy Reed–Solomon code of ``fec.rs``.

Repair payload, version 1 (network byte order, 14-byte header)::

    offset size field
    0      1    version (high 4 bits) = 1 | scheme (low 4 bits): 0 xor, 1 rs
    1      1    k          media packets in the block, 1..255
    2      1    m          repair packets in the block, 1..255, k + m <= 255 (xor: m = 1)
    3      1    index      this repair packet's index, 0..m-1
    4      2    base       sequence number of the block's first media packet
    6      1    interleave d, 1..255, (k - 1) d < 2^15 (the block spans under half the sequence space)
    7      1    reserved, must be 0
    8      2    L          symbol length = 2 + longest protected packet, >= 2
    10     4    CRC-32     (IEEE, zlib.crc32) of bytes 0..9 and the repair symbol
    14     L    repair symbol

Every field is checked by ``RepairHeader.parse``; anything else raises
``fec.packet.PacketError`` with one of ``REPAIR_REASONS``. ``FecDecoder``
never raises on what arrives: it drops and counts.
"""
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .packet import PacketError
from .rs import ReedSolomon
from .xor import XorParity

__all__ = ["RepairHeader", "FecEncoder", "FecDecoder", "FecDecoderStats", "protect", "unprotect",
           "REPAIR_VERSION", "HEADER_LEN", "SCHEMES", "REPAIR_REASONS"]

REPAIR_VERSION = 1
HEADER_LEN = 14
SCHEMES = ("xor", "rs")
SEQ_MOD = 1 << 16
MAX_SPAN = 1 << 15

# rejection reasons (PacketError.reason) of a repair payload
R_TRUNCATED = "repair_truncated"      # shorter than the header, or than header + L
R_LENGTH = "repair_length"            # L < 2, or bytes after the header != L
R_CHECKSUM = "repair_checksum"        # CRC-32 mismatch (corrupt in transit)
R_VERSION = "repair_version"          # version != 1
R_SCHEME = "repair_scheme"            # scheme not xor (0) / rs (1)
R_K = "repair_k"                      # k == 0
R_M = "repair_m"                      # m == 0, k + m > 255, or xor with m != 1
R_INDEX = "repair_index"              # index >= m
R_INTERLEAVE = "repair_interleave"    # d == 0, or (k - 1) d >= 2^15
R_RESERVED = "repair_reserved"        # reserved byte not 0
R_NOT_BYTES = "not_bytes"             # not bytes / bytearray / memoryview
# rejections by FecDecoder beyond parsing
R_TOO_LONG = "repair_too_long"        # L above the decoder's max_symbol_len (memory bound)
R_INCONSISTENT = "repair_inconsistent"  # disagrees with the open block of the same base
REPAIR_REASONS = (R_TRUNCATED, R_LENGTH, R_CHECKSUM, R_VERSION, R_SCHEME, R_K, R_M, R_INDEX,
                  R_INTERLEAVE, R_RESERVED, R_NOT_BYTES, R_TOO_LONG, R_INCONSISTENT)

_HEAD = struct.Struct("!BBBBHBBH")   # bytes 0..9
_CRC = struct.Struct("!I")
_HEAD_CRC = struct.Struct("!BBBBHBBHI")   # bytes 0..13


def _is_uint(v, lo, hi):
    return not isinstance(v, bool) and isinstance(v, (int, np.integer)) and lo <= v <= hi


class RepairHeader(NamedTuple):
    """The header of one repair packet (see the module docstring for the layout).

    A ``NamedTuple`` (immutable, compared by value) so ``parse`` builds it at
    tuple speed: the receive path parses every repair packet.
    """

    scheme: str
    k: int
    m: int
    index: int
    base: int
    interleave: int
    symbol_len: int

    def check(self):
        """``PacketError`` naming the first field out of range."""
        if self.scheme not in SCHEMES:
            raise PacketError(R_SCHEME, f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if not _is_uint(self.k, 1, 255):
            raise PacketError(R_K, f"k must be in 1..255, got {self.k!r}")
        if not _is_uint(self.m, 1, 255) or self.k + self.m > 255:
            raise PacketError(R_M, f"m must be in 1..255 with k + m <= 255, got k={self.k}, m={self.m!r}")
        if self.scheme == "xor" and self.m != 1:
            raise PacketError(R_M, f"xor parity has m = 1, got m={self.m}")
        if not _is_uint(self.index, 0, self.m - 1):
            raise PacketError(R_INDEX, f"index must be in 0..m-1 = 0..{self.m - 1}, got {self.index!r}")
        if not _is_uint(self.base, 0, SEQ_MOD - 1):
            raise PacketError("field", f"base sequence must be in 0..65535, got {self.base!r}")
        if not _is_uint(self.interleave, 1, 255) or (self.k - 1) * self.interleave >= MAX_SPAN:
            raise PacketError(R_INTERLEAVE, f"interleave must be in 1..255 with (k-1)*d < {MAX_SPAN}, "
                                            f"got d={self.interleave!r}, k={self.k}")
        if not _is_uint(self.symbol_len, 2, 0xFFFF):
            raise PacketError(R_LENGTH, f"symbol length must be in 2..65535, got {self.symbol_len!r}")
        return self

    def seqs(self):
        """Sequence numbers of the block's media packets, in block order."""
        return [(self.base + j * self.interleave) & 0xFFFF for j in range(self.k)]

    def pack(self, symbol):
        """Header + ``symbol`` (the repair symbol, ``symbol_len`` bytes) as one payload."""
        self.check()
        if len(symbol) != self.symbol_len:
            raise PacketError(R_LENGTH, f"repair symbol is {len(symbol)} bytes, header says {self.symbol_len}")
        head = _HEAD.pack((REPAIR_VERSION << 4) | SCHEMES.index(self.scheme), self.k, self.m, self.index,
                          self.base, self.interleave, 0, self.symbol_len)
        crc = zlib.crc32(symbol, zlib.crc32(head))
        return b"".join((head, _CRC.pack(crc), bytes(symbol)))

    @classmethod
    def parse(cls, payload):
        """``(header, symbol)`` from a repair payload; ``PacketError`` for anything malformed."""
        if not isinstance(payload, bytes):
            if not isinstance(payload, (bytearray, memoryview)):
                raise PacketError(R_NOT_BYTES, f"expected bytes, got {type(payload).__name__}")
            payload = bytes(payload)
        n = len(payload) - HEADER_LEN
        if n < 0:
            raise PacketError(R_TRUNCATED, f"repair packet is {len(payload)} bytes, the header alone is {HEADER_LEN}")
        vs, k, m, index, base, d, reserved, sym_len, crc = _HEAD_CRC.unpack_from(payload)
        if n != sym_len:
            reason = R_TRUNCATED if n < sym_len else R_LENGTH
            raise PacketError(reason, f"header says a {sym_len}-byte symbol, {n} bytes follow the header")
        symbol = payload[HEADER_LEN:]
        if zlib.crc32(symbol, zlib.crc32(payload[:10])) != crc:
            raise PacketError(R_CHECKSUM, "CRC-32 mismatch: the repair packet was corrupted")
        if vs >> 4 != REPAIR_VERSION:
            raise PacketError(R_VERSION, f"repair format version {vs >> 4} is not supported (only {REPAIR_VERSION})")
        code = vs & 0xF
        if code >= len(SCHEMES):
            raise PacketError(R_SCHEME, f"unknown scheme code {code} (0 xor, 1 rs)")
        if reserved:
            raise PacketError(R_RESERVED, f"reserved byte must be 0, got {reserved}")
        header = tuple.__new__(cls, (SCHEMES[code], k, m, index, base, d, sym_len))
        # the fields are bytes / 16-bit words already: ``check``'s ranges reduce to these
        if not (k and m and k + m <= 255 and (code or m == 1) and index < m and d
                and (k - 1) * d < MAX_SPAN and sym_len >= 2):
            header.check()                     # raises with the reason and message of the first bad field
        return header, symbol


def protect(packets, symbol_len=None):
    """The ``(k, L)`` uint8 symbols of media packets: 2-byte length, packet, zero padding."""
    longest = max(len(p) for p in packets)
    L = longest + 2 if symbol_len is None else int(symbol_len)
    if L - 2 < longest or L > 0xFFFF:
        raise ValueError(f"symbol length {L} cannot hold a {longest}-byte packet (max packet 65533 bytes)")
    out = np.zeros((len(packets), L), dtype=np.uint8)
    for i, p in enumerate(packets):
        n = len(p)
        out[i, 0] = n >> 8
        out[i, 1] = n & 0xFF
        out[i, 2:2 + n] = np.frombuffer(p, dtype=np.uint8)
    return out


def _symbol(packet, L):
    n = len(packet)
    return b"".join((n.to_bytes(2, "big"), packet, bytes(L - 2 - n)))


def unprotect(symbol):
    """The media packet inside a protected symbol, or ``None`` if its length or padding is inconsistent."""
    symbol = bytes(symbol)
    if len(symbol) < 2:
        return None
    n = (symbol[0] << 8) | symbol[1]
    if n > len(symbol) - 2 or symbol.count(0, 2 + n) != len(symbol) - 2 - n:
        return None
    return symbol[2:2 + n]


def _code(scheme, k, m):
    return XorParity(k) if scheme == "xor" else ReedSolomon(k, m)


class FecEncoder:
    """Media packets in, repair payloads out, one block group at a time.

    ``push(seq, packet)`` takes each media packet (its 16-bit RTP sequence
    number and bytes) and returns the repair payloads due after it: none
    until a group of ``k d`` packets completes, then ``m d`` of them.
    ``configure(...)`` changes scheme, k, m and interleave from the next
    group on. A sequence gap (or ``flush()``) closes the open group early:
    each of its blocks is sent with its own smaller ``k``.
    """

    def __init__(self, scheme="rs", k=4, m=2, interleave=1):
        self.scheme, self.k, self.m, self.interleave = "rs", 4, 2, 1
        self._pending = None
        self.configure(scheme, k, m, interleave)
        self._apply()
        self._group = []
        self._base = 0
        self._codes = {}
        self.blocks_sent = 0
        self.repairs_sent = 0

    def configure(self, scheme=None, k=None, m=None, interleave=None):
        """Set the code for the next group (arguments left ``None`` keep their value; xor implies m = 1)."""
        cur = self._pending or (self.scheme, self.k, self.m, self.interleave)
        scheme = cur[0] if scheme is None else scheme
        k = cur[1] if k is None else k
        d = cur[3] if interleave is None else interleave
        if m is None:
            m = 1 if scheme == "xor" else (cur[2] if cur[0] == "rs" else 2)
        try:
            RepairHeader(scheme, k, m, 0, 0, d, 2).check()
        except PacketError as exc:
            raise ValueError(f"bad FEC configuration (scheme={scheme!r}, k={k!r}, m={m!r}, "
                             f"interleave={d!r}): {exc}") from None
        self._pending = (scheme, int(k), int(m), int(d))

    def _apply(self):
        if self._pending is not None:
            self.scheme, self.k, self.m, self.interleave = self._pending
            self._pending = None

    @property
    def group_len(self):
        """Media packets per group (``k d``) of the code in use."""
        return self.k * self.interleave

    def push(self, seq, packet):
        """Add one media packet; returns the repair payloads to send after it (maybe none)."""
        if not _is_uint(seq, 0, 0xFFFF):
            raise ValueError(f"seq must be a 16-bit RTP sequence number, got {seq!r}")
        if not isinstance(packet, (bytes, bytearray, memoryview)):
            raise ValueError(f"packet must be bytes, got {type(packet).__name__}")
        packet = bytes(packet)
        if len(packet) > 0xFFFF - 2:
            raise ValueError(f"a {len(packet)}-byte packet cannot be protected (at most 65533 bytes)")
        out = []
        if self._group and seq != (self._base + len(self._group)) & 0xFFFF:
            out = self.flush()
        if not self._group:
            self._apply()
            self._base = seq
        self._group.append(packet)
        if len(self._group) == self.group_len:
            out += self._emit()
        return out

    def flush(self):
        """Send the repair packets of the open (incomplete) group now."""
        return self._emit() if self._group else []

    def _emit(self):
        group, self._group = self._group, []
        d = self.interleave
        blocks = []
        for i in range(min(d, len(group))):
            members = group[i::d]
            kb = len(members)
            key = (self.scheme, kb, self.m)
            code = self._codes.get(key)
            if code is None:
                if len(self._codes) > 32:
                    self._codes.clear()
                code = self._codes[key] = _code(*key)
            src = protect(members)
            rep = np.empty((self.m, src.shape[1]), dtype=np.uint8)
            code.encode_into(src, rep)
            blocks.append((kb, (self._base + i) & 0xFFFF, rep))
        out = []
        for index in range(self.m):
            for kb, base, rep in blocks:
                h = RepairHeader(self.scheme, kb, self.m, index, base, d, rep.shape[1])
                out.append(h.pack(rep[index].tobytes()))
        self.blocks_sent += len(blocks)
        self.repairs_sent += len(out)
        return out


@dataclass(frozen=True)
class FecDecoderStats:
    """Counters of a ``FecDecoder``.

    ``unrecoverable``: media packets of blocks the decoder knew (at least one
    repair accepted) that were neither received nor recovered when the block
    was closed (evicted or flushed). ``media_duplicates``: media packets
    already held, received twice or recovered before they arrived late.
    ``recovery_corrupt``: decoded packets whose length prefix or zero padding
    was inconsistent (a lying repair or media packet), dropped.
    """

    media_received: int = 0
    media_duplicates: int = 0
    repair_received: int = 0
    repair_accepted: int = 0
    repair_duplicates: int = 0
    repair_rejected: dict = field(default_factory=dict)
    recovered: int = 0
    recovery_corrupt: int = 0
    unrecoverable: int = 0
    blocks_open: int = 0

    @property
    def rejected_total(self):
        return sum(self.repair_rejected.values())


class _Block:
    __slots__ = ("header", "seqs", "data", "repairs", "done")

    def __init__(self, header):
        self.header = header
        self.seqs = header.seqs()
        self.data = [None] * header.k
        self.repairs = {}
        self.done = False


class FecDecoder:
    """Stateful block decoder: media and repair packets in any order, recovered media out.

    ``add_media(seq, packet)`` and ``add_repair(payload)`` each return the
    media packets recovered by that arrival as ``[(seq, bytes), ...]``, as
    soon as a block holds ``k`` of its ``k + m`` packets. Memory is bounded:
    at most ``max_blocks`` blocks (oldest evicted first), ``max_media``
    recent media packets, repair symbols of at most ``max_symbol_len`` bytes.
    Corrupt or inconsistent repair packets are dropped and counted by reason.
    """

    def __init__(self, max_blocks=64, max_media=4096, max_symbol_len=2048, max_codes=16):
        if max_blocks < 1 or max_media < 1 or max_symbol_len < 2:
            raise ValueError("max_blocks, max_media must be >= 1 and max_symbol_len >= 2")
        self.max_blocks = int(max_blocks)
        self.max_media = int(max_media)
        self.max_symbol_len = int(max_symbol_len)
        self.max_codes = int(max_codes)
        self.reset()

    def reset(self):
        """Forget all blocks, media and counters (e.g. on an SSRC change)."""
        self._blocks = OrderedDict()          # base -> _Block
        self._by_seq = {}                      # seq -> list of open blocks covering it
        self._media = OrderedDict()            # seq -> packet bytes (received or recovered)
        self._codes = OrderedDict()
        self._n = dict(media_received=0, media_duplicates=0, repair_received=0, repair_accepted=0,
                       repair_duplicates=0, recovered=0, recovery_corrupt=0, unrecoverable=0)
        self._rejected = {}
        self._newest = None

    @property
    def stats(self):
        return FecDecoderStats(**self._n, repair_rejected=dict(self._rejected), blocks_open=len(self._blocks))

    # ------------------------------------------------------------------ media
    def add_media(self, seq, packet):
        """A received media packet; returns media recovered thanks to it."""
        if type(seq) is not int or not 0 <= seq <= 0xFFFF:
            if not _is_uint(seq, 0, 0xFFFF):
                raise ValueError(f"seq must be a 16-bit RTP sequence number, got {seq!r}")
            seq = int(seq)
        if type(packet) is not bytes:
            if not isinstance(packet, (bytes, bytearray, memoryview)):
                raise ValueError(f"packet must be bytes, got {type(packet).__name__}")
            packet = bytes(packet)
        if seq in self._media:
            self._n["media_duplicates"] += 1
            return []
        self._n["media_received"] += 1
        self._age_out(seq)
        return self._store(seq, packet)

    def _age_out(self, seq):
        """Drop blocks and media more than ``max_media`` sequence numbers behind the newest media packet.

        Keeps an old block or packet from matching a new one with the same
        16-bit number after the sequence wraps (e.g. when repair resumes
        after a long pause, or the stream jumps).
        """
        if self._newest is None or (seq - self._newest) & 0xFFFF < MAX_SPAN:
            self._newest = seq
        newest, horizon = self._newest, self.max_media
        blocks = self._blocks
        while blocks:
            base = next(iter(blocks))
            if not horizon < (newest - base) & 0xFFFF <= MAX_SPAN:
                break
            self._close(blocks.pop(base))
        media = self._media
        while media:
            old = next(iter(media))
            if not horizon < (newest - old) & 0xFFFF <= MAX_SPAN:
                break
            del media[old]

    def _store(self, seq, packet):
        self._media[seq] = packet
        if len(self._media) > self.max_media:
            self._media.popitem(last=False)
        out = []
        for block in tuple(self._by_seq.get(seq, ())):
            if block.done:
                continue
            j = block.seqs.index(seq)
            if block.data[j] is None and len(packet) <= block.header.symbol_len - 2:
                block.data[j] = packet
                out += self._try_decode(block)
        return out

    # ------------------------------------------------------------------ repair
    def _reject(self, reason):
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        return []

    def add_repair(self, payload):
        """A received repair payload; returns the media it recovers. Never raises on bad bytes."""
        try:
            h, symbol = RepairHeader.parse(payload)
        except PacketError as exc:
            self._n["repair_received"] += 1
            return self._reject(exc.reason)
        return self.add_parsed_repair(h, symbol)

    def add_parsed_repair(self, h, symbol):
        """``add_repair`` for a payload already split by ``RepairHeader.parse`` into ``(h, symbol)``."""
        n = self._n
        n["repair_received"] += 1
        if h.symbol_len > self.max_symbol_len:
            return self._reject(R_TOO_LONG)
        block = self._blocks.get(h.base)
        if block is None:
            n["repair_accepted"] += 1
            block = self._open(h)
        else:
            b = block.header
            if b[:3] != h[:3] or b[5:] != h[5:]:       # scheme, k, m; interleave, symbol_len
                return self._reject(R_INCONSISTENT)
            n["repair_accepted"] += 1
        if block.done:
            return []
        if h.index in block.repairs:
            self._n["repair_duplicates"] += 1
            return []
        block.repairs[h.index] = symbol
        return self._try_decode(block)

    def _open(self, h):
        """A new block for header ``h``, holding the media already received.

        A block with every media packet at hand is done at once (its repair
        has nothing to add) and never enters ``_by_seq``: only blocks that
        still wait for a packet are indexed by sequence number.
        """
        blocks = self._blocks
        while len(blocks) >= self.max_blocks:
            _, old = blocks.popitem(last=False)
            self._close(old)
        block = _Block(h)
        blocks[h.base] = block
        media = self._media
        longest = h.symbol_len - 2
        data = block.data
        complete = True
        for j, s in enumerate(block.seqs):
            p = media.get(s)
            if p is not None and len(p) <= longest:
                data[j] = p
            else:
                complete = False
        if complete:
            block.done = True
            block.data = []
            return block
        by_seq = self._by_seq
        for s in block.seqs:
            lst = by_seq.get(s)
            if lst is None:
                by_seq[s] = [block]
            else:
                lst.append(block)
        return block

    def _close(self, block):
        if not block.done:
            self._n["unrecoverable"] += sum(1 for p in block.data if p is None)
            self._finish(block)

    def flush(self):
        """Close every open block (end of stream): counts what stays unrecoverable."""
        while self._blocks:
            _, old = self._blocks.popitem(last=False)
            self._close(old)

    def _get_code(self, h):
        key = (h.scheme, h.k, h.m)
        code = self._codes.get(key)
        if code is None:
            if len(self._codes) >= self.max_codes:
                self._codes.popitem(last=False)
            code = self._codes[key] = _code(*key)
        return code

    def _try_decode(self, block):
        h = block.header
        missing = [j for j, p in enumerate(block.data) if p is None]
        if not missing:
            self._finish(block)
            return []
        if h.k - len(missing) + len(block.repairs) < h.k:
            return []
        L = h.symbol_len
        symbols, indices = [], []
        for j, p in enumerate(block.data):
            if p is not None:
                symbols.append(_symbol(p, L))
                indices.append(j)
        for r in sorted(block.repairs)[:len(missing)]:
            symbols.append(block.repairs[r])
            indices.append(h.k + r)
        got = self._get_code(h).decode(symbols, indices)
        out = []
        recovered = []
        for j in missing:
            p = unprotect(got[j])
            if p is None:
                self._n["recovery_corrupt"] += 1
                continue
            recovered.append((block.seqs[j], p))
            block.data[j] = p
        self._finish(block)
        for seq, p in recovered:
            if seq in self._media:
                continue
            self._n["recovered"] += 1
            out.append((seq, p))
            out += self._store(seq, p)
        return out

    def _finish(self, block):
        """Mark done, let go of the symbols and leave ``_by_seq`` (a done block only answers membership)."""
        block.done = True
        block.repairs = {}
        block.data = []
        by_seq = self._by_seq
        for s in block.seqs:
            lst = by_seq.get(s)
            if lst is not None:
                if block in lst:
                    lst.remove(block)
                if not lst:
                    del by_seq[s]
