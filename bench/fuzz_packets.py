"""Fuzz the packet parsers with random and mutated packets; count anything but the documented error.

    .venv/bin/python -m bench.fuzz_packets [--packets 1000000] [--seed 1]

Generators, in equal shares:

* random: uniformly random bytes, length 0..200;
* random-v2: random bytes whose first byte says RTP version 2 (so parsing goes past the version check);
* mutated: a valid packet (random CSRCs, extension, padding, payload) with 1..4 byte-level mutations
  (bit flip, byte set, truncate, insert, duplicate a slice);
* header: a valid packet with its header fields rewritten at random (CC, X, P, extension length,
  pad count), the structure-aware cases;

and, when ``fec.repair`` is there (the FEC side), three more:

* repair-bytes: an RTP packet (PT 127) carrying a real repair payload from ``FecEncoder`` (XOR and RS,
  several k, m, interleave) with byte-level mutations (CRC left stale, so mostly caught by the checksum);
* repair-fields: the same with header fields rewritten at random and the CRC-32 recomputed, so every
  field check behind the checksum is reached (a quarter of repair packets are sent intact, so blocks
  complete and really decode);
* media: the genuine media packets those repairs protect (a fifth of them mutated).

Every datagram goes through ``fec.packet.RtpPacket.parse`` and ``fec.repair.RepairHeader.parse``; the
RTP packets that parse go into one long-lived ``fec.repair.FecDecoder`` (``add_repair`` for PT 127,
``add_media`` otherwise). The parsers may raise only ``fec.packet.PacketError``; the decoder may raise
nothing. Prints counts by outcome, exceptions of other types (must be 0), and memory: peak RSS from
``resource.getrusage`` and current RSS after 100 k packets and at the end (a leak shows as growth).
"""
import argparse
import collections
import importlib
import resource
import sys
import time
import traceback
import zlib

import numpy as np

from fec.packet import PacketError, RtpPacket

REPAIR_PT = 127            # RTP payload type the fuzzer uses for repair packets


def rss_mb():
    """Current resident set size (MB) from /proc, or NaN where that is not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux reports KB


def load_repair():
    """The ``fec.repair`` module if the codes side is there, else None."""
    try:
        repair = importlib.import_module("fec.repair")
    except ImportError:
        return None
    needed = ("RepairHeader", "FecEncoder", "FecDecoder", "HEADER_LEN")
    return repair if all(hasattr(repair, n) for n in needed) else None


def repair_pool(repair, rng, media_pool):
    """Valid repair payloads (and the media they protect) from ``FecEncoder`` under several codes."""
    pool, media = [], []
    codes = [("xor", 2, 1, 1), ("xor", 4, 1, 4), ("rs", 4, 2, 1), ("rs", 8, 4, 1), ("rs", 2, 2, 3),
             ("rs", 16, 4, 2)]
    seq = int(rng.integers(65536))
    for scheme, k, m, d in codes:
        enc = repair.FecEncoder(scheme, k, m, d)
        for _ in range(6 * k * d):
            pkt = RtpPacket.parse(media_pool[int(rng.integers(len(media_pool)))])
            pkt.sequence = seq
            data = pkt.pack()
            media.append((seq, data))
            pool.extend(enc.push(seq, data))
            seq = (seq + 1) & 0xFFFF
    return pool, media


def fix_crc(repair, payload):
    """Recompute the repair payload's CRC-32 so the field checks behind it are reached."""
    head = repair.HEADER_LEN
    if len(payload) < head:
        return payload
    crc = zlib.crc32(payload[head:], zlib.crc32(payload[:10]))
    return payload[:10] + crc.to_bytes(4, "big") + payload[14:]


def rewrite_repair_fields(payload, rng):
    data = bytearray(payload)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, 10))              # version/scheme, k, m, index, base, d, reserved, L
        data[i] = int(rng.integers(256)) if rng.random() < 0.7 else data[i] ^ (1 << int(rng.integers(8)))
    if rng.random() < 0.2:
        del data[int(rng.integers(len(data) + 1)):]
    return bytes(data)


def valid_pool(rng, count=2000):
    pool = []
    for _ in range(count):
        ext = None
        if rng.random() < 0.4:
            ext = (int(rng.integers(65536)), rng.bytes(4 * int(rng.integers(0, 5))))
        pkt = RtpPacket(int(rng.integers(128)), int(rng.integers(65536)), int(rng.integers(2**32)),
                        int(rng.integers(2**32)), rng.bytes(int(rng.integers(0, 321))), bool(rng.random() < 0.5),
                        [int(c) for c in rng.integers(0, 2**32, int(rng.integers(0, 4)))], ext,
                        int(rng.integers(0, 12)) if rng.random() < 0.3 else 0)
        pool.append(pkt.pack())
    return pool


def mutate(data, rng):
    data = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if not data:
            data.extend(rng.bytes(int(rng.integers(1, 16))))
            continue
        op = int(rng.integers(5))
        i = int(rng.integers(len(data)))
        if op == 0:
            data[i] ^= 1 << int(rng.integers(8))
        elif op == 1:
            data[i] = int(rng.integers(256))
        elif op == 2:
            del data[i:]
        elif op == 3:
            data[i:i] = rng.bytes(int(rng.integers(1, 9)))
        else:
            j = int(rng.integers(i, len(data) + 1))
            data[j:j] = data[i:j][:64]
    return bytes(data)


def rewrite_header(data, rng):
    data = bytearray(data)
    data[0] = 0x80 | int(rng.integers(64))                        # version 2, random P, X, CC
    if rng.random() < 0.5 and len(data) >= 16:
        at = 12 + 4 * (data[0] & 0x0F)
        if at + 4 <= len(data):
            data[at + 2:at + 4] = int(rng.integers(65536)).to_bytes(2, "big")   # extension length
    if rng.random() < 0.5 and data:
        data[-1] = int(rng.integers(256))                          # pad count
    if rng.random() < 0.3:
        del data[int(rng.integers(len(data) + 1)):]
    return bytes(data)


def generate(kind, rng, pool):
    if kind == "random":
        return rng.bytes(int(rng.integers(0, 201)))
    if kind == "random-v2":
        body = bytearray(rng.bytes(int(rng.integers(1, 201))))
        body[0] = 0x80 | (body[0] & 0x3F)
        return bytes(body)
    base = pool[int(rng.integers(len(pool)))]
    return mutate(base, rng) if kind == "mutated" else rewrite_header(base, rng)


def repair_packet(kind, rng, repair, pool, seq):
    """An RTP packet (PT ``REPAIR_PT``) carrying a mutated repair payload."""
    payload = pool[int(rng.integers(len(pool)))]
    if rng.random() < 0.25:
        pass                                        # intact, so blocks complete and decode
    elif kind == "repair-bytes":
        payload = mutate(payload, rng)              # CRC left as is: mostly rejected by the checksum
    else:
        payload = fix_crc(repair, rewrite_repair_fields(payload, rng))
    return RtpPacket(REPAIR_PT, seq, 0, 0x5EED, payload).pack()


def run(n_packets, seed, with_repair=True):
    rng = np.random.default_rng(seed)
    pool = valid_pool(rng)
    repair = load_repair() if with_repair else None
    kinds = ["random", "random-v2", "mutated", "header"]
    if repair is not None:
        r_pool, r_media = repair_pool(repair, rng, pool)
        decoder = repair.FecDecoder()
        kinds += ["repair-bytes", "repair-fields", "media"]
    outcomes = collections.Counter()
    repair_counts = collections.Counter()
    bad = collections.Counter()
    examples = {}

    def unexpected(where, exc, blob):
        bad[(where, type(exc).__name__)] += 1
        examples.setdefault((where, type(exc).__name__), (bytes(blob).hex(), traceback.format_exc()))

    rss_first = None
    start = time.perf_counter()
    for i in range(n_packets):
        kind = kinds[i % len(kinds)]
        if kind in ("repair-bytes", "repair-fields"):
            data = repair_packet(kind, rng, repair, r_pool, i & 0xFFFF)
        elif kind == "media":                       # genuine media (some mutated) so blocks can decode
            seq, data = r_media[int(rng.integers(len(r_media)))]
            if rng.random() < 0.2:
                data = mutate(data, rng)
        else:
            data = generate(kind, rng, pool)
        try:
            pkt = RtpPacket.parse(data)
            outcomes[(kind, "ok")] += 1
        except PacketError as exc:
            pkt = None
            outcomes[(kind, exc.reason)] += 1
        except Exception as exc:                     # noqa: BLE001 - counting is the point
            pkt = None
            unexpected("RtpPacket.parse", exc, data)
        if repair is None:
            pass
        else:
            try:                                      # the header parser on the raw datagram too
                repair.RepairHeader.parse(data)
                repair_counts[("RepairHeader.parse(raw)", "ok")] += 1
            except PacketError as exc:
                repair_counts[("RepairHeader.parse(raw)", exc.reason)] += 1
            except Exception as exc:                 # noqa: BLE001
                unexpected("RepairHeader.parse", exc, data)
            if pkt is not None:
                try:
                    if pkt.payload_type == REPAIR_PT:
                        got = decoder.add_repair(pkt.payload)
                        repair_counts[("FecDecoder.add_repair", "called")] += 1
                    else:
                        got = decoder.add_media(pkt.sequence, data)
                        repair_counts[("FecDecoder.add_media", "called")] += 1
                    repair_counts[("FecDecoder", "packets recovered")] += len(got)
                except Exception as exc:             # noqa: BLE001 - the decoder must never raise
                    unexpected("FecDecoder", exc, data)
        if i == 100_000:
            rss_first = rss_mb()
    elapsed = time.perf_counter() - start
    if repair is not None:
        st = decoder.stats
        for reason, count in sorted(st.repair_rejected.items()):
            repair_counts[("FecDecoder rejected", reason)] = count
        for name in ("repair_accepted", "recovered", "recovery_corrupt", "unrecoverable", "blocks_open"):
            repair_counts[("FecDecoder stats", name)] = getattr(st, name)
    return dict(n=n_packets, elapsed=elapsed, outcomes=outcomes, bad=bad, examples=examples,
                repair=repair, repair_counts=repair_counts, rss_first=rss_first, rss_last=rss_mb(),
                peak=peak_rss_mb())


def report(r):
    print(f"packets fuzzed: {r['n']:,} in {r['elapsed']:.1f} s ({r['n'] / r['elapsed'] / 1e3:.0f} k/s, "
          "generation included; machine shared, timing indicative only)")
    print("\nRtpPacket.parse outcomes")
    print(f"{'generator':<14} {'outcome':<11} {'count':>9}")
    for (kind, outcome), count in sorted(r["outcomes"].items()):
        print(f"{kind:<14} {outcome:<11} {count:>9,}")
    if r["repair"] is None:
        print("\nfec.repair not available (or --no-repair): repair parser and FecDecoder not fuzzed")
    else:
        print("\nfec.repair: RepairHeader.parse on every datagram; FecDecoder.add_repair on RTP payloads "
              f"with PT {REPAIR_PT}, add_media on the others")
        print(f"{'where':<25} {'outcome':<20} {'count':>9}")
        for (source, outcome), count in sorted(r["repair_counts"].items()):
            print(f"{source:<25} {str(outcome)[:20]:<20} {count:>9,}")
    total_bad = sum(r["bad"].values())
    print(f"\nexceptions other than the documented one: {total_bad}")
    for key, count in r["bad"].items():
        print(f"  {key}: {count}  e.g. {r['examples'][key][0][:80]}")
        print("    " + r["examples"][key][1].strip().splitlines()[-1])
    print(f"RSS after 100 k packets: {r['rss_first']:.1f} MB, at the end: {r['rss_last']:.1f} MB, "
          f"peak (getrusage): {r['peak']:.1f} MB")
    return total_bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-repair", action="store_true", help="fuzz the RTP parser only")
    args = ap.parse_args(argv)
    if args.packets <= 100_000:
        ap.error("--packets must exceed 100000 (the first RSS checkpoint)")
    return 1 if report(run(args.packets, args.seed, not args.no_repair)) else 0


if __name__ == "__main__":
    sys.exit(main())
