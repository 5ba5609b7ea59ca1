"""RTP payload for redundant audio data (RFC 2198): pack and strict parse of the block list.

A RED payload carries earlier frames again, in front of the current
(primary) one. Header, one per block, then the blocks' data in the same
order::

    redundant block:  |1| block PT (7) | timestamp offset (14) | block length (10) |   4 bytes
    primary block:    |0| block PT (7) |                                              1 byte

The timestamp offset is subtracted from the RTP timestamp of the packet to
get the redundant frame's timestamp; the primary block's length is whatever
remains. ``parse_red`` raises only ``PacketError`` (reason ``red``) for any
inconsistency: no primary header, offsets of 0 or repeated, a block running
past the payload, more blocks than ``MAX_BLOCKS``.
"""
from .packet import PacketError

__all__ = ["pack_red", "parse_red", "RED_REASON", "MAX_BLOCKS", "MAX_OFFSET", "MAX_BLOCK_LEN"]

RED_REASON = "red"
MAX_BLOCKS = 16
MAX_OFFSET = (1 << 14) - 1
MAX_BLOCK_LEN = (1 << 10) - 1


def pack_red(primary_pt, primary, redundant=()):
    """RED payload bytes: ``redundant`` is a sequence of ``(pt, ts_offset, data)``, oldest first."""
    redundant = list(redundant)
    if len(redundant) + 1 > MAX_BLOCKS:
        raise PacketError(RED_REASON, f"at most {MAX_BLOCKS - 1} redundant blocks, got {len(redundant)}")
    head = bytearray()
    for pt, offset, data in redundant:
        if not 0 <= pt < 128 or not 0 < offset <= MAX_OFFSET or len(data) > MAX_BLOCK_LEN:
            raise PacketError(RED_REASON, f"redundant block needs pt < 128, 0 < offset <= {MAX_OFFSET} and "
                                          f"<= {MAX_BLOCK_LEN} bytes, got pt={pt}, offset={offset}, "
                                          f"{len(data)} bytes")
        word = (1 << 31) | (pt << 24) | (offset << 10) | len(data)
        head += word.to_bytes(4, "big")
    if not 0 <= primary_pt < 128:
        raise PacketError(RED_REASON, f"primary pt must be < 128, got {primary_pt}")
    head.append(primary_pt)
    return bytes(head) + b"".join(bytes(d) for _, _, d in redundant) + bytes(primary)


def parse_red(payload):
    """``(primary_pt, primary_data, [(pt, ts_offset, data), ...])`` from a RED payload."""
    payload = bytes(payload)
    size = len(payload)
    pos = 0
    blocks = []
    while True:
        if pos >= size:
            raise PacketError(RED_REASON, "RED header list runs past the payload (no primary block)")
        first = payload[pos]
        if not first & 0x80:
            primary_pt = first & 0x7F
            pos += 1
            break
        if pos + 4 > size:
            raise PacketError(RED_REASON, "truncated RED block header")
        if len(blocks) + 1 >= MAX_BLOCKS:
            raise PacketError(RED_REASON, f"more than {MAX_BLOCKS} RED blocks")
        word = int.from_bytes(payload[pos:pos + 4], "big")
        offset = (word >> 10) & MAX_OFFSET
        if offset == 0:
            raise PacketError(RED_REASON, "redundant block with timestamp offset 0")
        blocks.append(((word >> 24) & 0x7F, offset, word & MAX_BLOCK_LEN))
        pos += 4
    offsets = [b[1] for b in blocks]
    if len(set(offsets)) != len(offsets):
        raise PacketError(RED_REASON, "repeated RED timestamp offset")
    redundant = []
    for pt, offset, length in blocks:
        if pos + length > size:
            raise PacketError(RED_REASON, f"RED block of {length} bytes runs past the payload")
        redundant.append((pt, offset, payload[pos:pos + length]))
        pos += length
    return primary_pt, payload[pos:], redundant
