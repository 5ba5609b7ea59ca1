"""Erasure codes bench: residual loss vs the exact MDS bound, interleaving, throughput vs zfec.

    python -m bench.fec_codes [--quick] [--seed N]

Prints markdown tables:

(a) residual loss (lost media packets per media packet after FEC) by Monte
    Carlo over the ``fec.channel`` loss models, against the exact MDS bound
    of ``fec.bounds``. The codes really run: each block is random bytes,
    encoded with the batched encoder, the loss mask applied to the
    transmitted order (media then repair), every block with >= k symbols
    decoded with the real decoder (grouped by erasure pattern), and a packet
    counts as recovered only if its bytes are bit-exact. XOR(k) is the
    ``m = 1`` MDS code, so its bound is ``mds(k, 1)``.
(b) interleaving at equal overhead on Gilbert–Elliott burst 4: residual loss
    and the added delay it costs (``k d - 1`` packets: a lost first packet of
    a group waits for the repairs sent after the group's last packet).
(c) single-thread throughput against zfec (media packets per second),
    measured side by side in this process, per block (bytes in/out, as
    zfec's API), per block on preallocated arrays, and batched.

Plus a cross-check that ``FecEncoder`` -> ``FecDecoder`` (real RTP packets,
stateful, arrivals one by one) gives the same residual loss as the batched
path on the same loss mask.
"""
import argparse
import sys
import time

import numpy as np

from fec.bounds import mds_residual_loss_bernoulli, mds_residual_loss_ge
from fec.channel import bernoulli_loss, gilbert_elliott_loss, trace_loss
from fec.packet import RtpPacket
from fec.repair import FecDecoder, FecEncoder
from fec.rs import ReedSolomon
from fec.xor import XorParity

from .scenarios.corpus import trace_path

TRACE = trace_path()
PACKET_MS = 20
SYMBOL_LEN = 8          # bytes per symbol in the Monte-Carlo (residual loss does not depend on it)

CONDITIONS = ([("Bernoulli", p, None) for p in (0.05, 0.10, 0.20, 0.30)]
              + [("GE", p, b) for p in (0.10, 0.20, 0.30) for b in (1, 2, 4)])
SCHEMES = [("xor", 2, 1), ("xor", 4, 1), ("xor", 8, 1),
           ("rs", 2, 2), ("rs", 4, 2), ("rs", 8, 2), ("rs", 8, 4), ("rs", 16, 4)]


def scheme_name(scheme, k, m, d=1):
    base = f"XOR({k})" if scheme == "xor" else f"RS({k}+{m})"
    return base + (f" d={d}" if d > 1 else "")


def make_code(scheme, k, m):
    return XorParity(k) if scheme == "xor" else ReedSolomon(k, m)


def loss_mask(cond, n, seed):
    kind, p, b = cond
    if kind == "Bernoulli":
        return bernoulli_loss(n, p, seed)
    if kind == "GE":
        return gilbert_elliott_loss(n, p, b, seed)
    return trace_loss(TRACE, n, seed)


def bound(cond, k, m, d=1):
    kind, p, b = cond
    if kind == "Bernoulli":
        return mds_residual_loss_bernoulli(k, m, p)
    if kind == "GE":
        return mds_residual_loss_ge(k, m, p, b, interleave=d)
    return float("nan")


def simulate(code, d, mask, data, repairs):
    """Residual loss and its standard error for one loss mask over ``groups`` groups of ``d`` blocks.

    Stream order per group: media ``k d`` (block ``i`` = positions ``i::d``),
    then repairs index-major; so block ``i``'s ``t``-th packet is at group
    position ``i + t d``. Returns (residual, stderr, packets lost beyond what
    an ideal MDS decoder would lose on this very mask (0 for a correct MDS
    code), packets recovered).
    """
    k, m = code.k, code.m
    n = k + m
    lost = mask.reshape(-1, n, d).transpose(0, 2, 1).reshape(-1, n)      # (blocks, k + m)
    blocks = lost.shape[0]
    n_recv = n - lost.sum(axis=1)
    media_lost = lost[:, :k].sum(axis=1)
    todo = np.flatnonzero((media_lost > 0) & (n_recv >= k))
    recovered = np.zeros(blocks, dtype=np.int64)
    if todo.size:
        keys = (~lost[todo]).astype(np.int64) @ (np.int64(1) << np.arange(n, dtype=np.int64))
        uniq, inverse = np.unique(keys, return_inverse=True)
        by_key = np.argsort(inverse, kind="stable")
        bounds_ = np.searchsorted(inverse[by_key], np.arange(uniq.size + 1))
        for u, key in enumerate(uniq.tolist()):
            rows = todo[by_key[bounds_[u]:bounds_[u + 1]]]
            idx = [i for i in range(n) if key >> i & 1][:k]                 # first k received
            got = np.concatenate([data[rows][:, [i for i in idx if i < k]],
                                  repairs[rows][:, [i - k for i in idx if i >= k]]], axis=1)
            missing, out = code.decode_batch(got, tuple(idx))
            exact = (out == data[rows][:, list(missing)]).all(axis=2)       # (rows, e) bit-exact
            recovered[rows] = exact.sum(axis=1)
    ideal = np.where(n_recv >= k, 0, media_lost)                           # what any MDS decoder leaves
    residual_per_block = (media_lost - recovered) / k
    res = residual_per_block.mean()
    se = residual_per_block.std(ddof=1) / np.sqrt(blocks)
    return res, se, int((media_lost - recovered - ideal).sum()), int(recovered.sum())


def encoded_blocks(code, blocks, rng):
    data = rng.integers(0, 256, (blocks, code.k, SYMBOL_LEN), dtype=np.uint8)
    return data, code.encode_batch(data)


def table_residual(n_media, seed, judge=True):
    print(f"\n### (a) Residual loss vs exact MDS bound ({n_media:,} media packets per cell, "
          f"x k/4 for k > 4; MC ± 95 % CI (bound), all in %)\n")
    rng = np.random.default_rng(seed)
    head = "| condition | " + " | ".join(scheme_name(*s) for s in SCHEMES) + " |"
    print(head)
    print("|" + "---|" * (len(SCHEMES) + 1))
    worst = (0.0, "")
    worst_z = 0.0
    beyond_ideal = 0
    codes = {}
    for s in SCHEMES:
        code = make_code(*s)
        blocks = n_media * max(1, code.k // 4) // code.k
        codes[s] = (code, blocks) + encoded_blocks(code, blocks, rng)
    for ci, cond in enumerate(CONDITIONS + ([("trace", None, None)] if TRACE is not None else [])):
        label = (f"Bernoulli {cond[1]:.0%}" if cond[0] == "Bernoulli" else
                 f"GE {cond[1]:.0%} b={cond[2]}" if cond[0] == "GE" else "trace (webrtc_opus_ng_high)")
        cells = []
        for si, s in enumerate(SCHEMES):
            code, blocks, data, repairs = codes[s]
            mask = loss_mask(cond, blocks * (code.k + code.m), seed + 1000 * ci + si)
            res, se, extra, _ = simulate(code, 1, mask, data, repairs)
            beyond_ideal += extra
            b = bound(cond, code.k, code.m)
            if np.isfinite(b):
                diff = abs(res - b)
                worst_z = max(worst_z, diff / se if se > 0 else 0.0)
                if diff > worst[0]:
                    worst = (diff, f"{scheme_name(*s)} at {label}")
                cells.append(f"{100 * res:.2f}±{196 * se:.2f} ({100 * b:.2f})")
            else:
                cells.append(f"{100 * res:.2f}±{196 * se:.2f} (input {100 * mask.mean():.1f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nCell: Monte-Carlo residual ± 95 % CI (exact MDS bound). Trace row: no bound; "
          "the trace's own loss rate in brackets.")
    verdict = ("met" if worst[0] <= 0.005 else "MISSED") if judge else \
        "not judged (--quick: too few packets for a 0.5 pp check)"
    print(f"Largest |MC - bound|: {100 * worst[0]:.3f} pp ({worst[1]}); target <= 0.5 pp: **{verdict}**. "
          f"Largest |MC - bound| / standard error: {worst_z:.1f}.")
    print(f"Media packets lost beyond what an ideal MDS decoder loses on the same masks, all cells: "
          f"**{beyond_ideal}** (every block with >= k symbols decoded bit-exact).")
    return worst[0]


def table_interleave(n_media, seed):
    print(f"\n### (b) Interleaving at equal overhead, Gilbert–Elliott burst 4 ({n_media:,} media packets per cell; "
          f"residual %, MC (bound))\n")
    rows = [("rs", 4, 2, 1), ("rs", 4, 2, 2), ("rs", 4, 2, 4), ("rs", 8, 4, 1), ("rs", 16, 8, 1),
            ("xor", 4, 1, 1), ("xor", 4, 1, 2), ("xor", 4, 1, 3), ("xor", 4, 1, 4), ("xor", 8, 1, 1),
            ("xor", 16, 1, 1)]
    losses = (0.10, 0.20, 0.30)
    print("| scheme | overhead | added delay (packets / ms at 20 ms) | "
          + " | ".join(f"GE {p:.0%} b=4" for p in losses) + " |")
    print("|---|---|---|" + "---|" * len(losses))
    rng = np.random.default_rng(seed + 7)
    worst = 0.0
    for ri, (scheme, k, m, d) in enumerate(rows):
        code = make_code(scheme, k, m)
        groups = max(1, n_media // (k * d))
        data, repairs = encoded_blocks(code, groups * d, rng)
        cells = []
        for li, p in enumerate(losses):
            mask = loss_mask(("GE", p, 4), groups * d * (k + m), seed + 100 * ri + li)
            res, se, _, _ = simulate(code, d, mask, data, repairs)
            b = bound(("GE", p, 4), k, m, d)
            worst = max(worst, abs(res - b))
            cells.append(f"{100 * res:.2f} ({100 * b:.2f})")
        delay = k * d - 1
        print(f"| {scheme_name(scheme, k, m, d)} | {100 * m / k:.0f} % | {delay} / {delay * PACKET_MS} ms | "
              + " | ".join(cells) + " |")
    print(f"\nLargest |MC - bound| in this table: {100 * worst:.3f} pp. Interleaving spreads a burst over "
          "d blocks at unchanged overhead, but the delay grows like a code d times longer; "
          "at equal delay compare RS(4+2) d=2 with RS(8+4), RS(4+2) d=4 with RS(16+8).")


def stateful_check(n_media, seed):
    """FecEncoder -> channel -> FecDecoder on RTP packets vs the batched path on the same mask."""
    print(f"\n### Cross-check: stateful FecEncoder/FecDecoder on RTP packets ({n_media:,} media packets)\n")
    print("| scheme | condition | residual, stateful decoder | residual, batched path, same mask | "
          "recovered bit-exact |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(seed + 11)
    ok = True
    for (scheme, k, m, d), cond in [(("rs", 4, 2, 1), ("GE", 0.2, 4)), (("rs", 8, 4, 2), ("GE", 0.3, 4)),
                                    (("xor", 4, 1, 2), ("Bernoulli", 0.1, None))]:
        groups = n_media // (k * d)
        enc = FecEncoder(scheme, k, m, d)
        dec = FecDecoder()
        stream, sent = [], {}
        for i in range(groups * k * d):
            seq = (40000 + i) & 0xFFFF
            pkt = RtpPacket(96, seq, 960 * i & 0xFFFFFFFF, 0x5EED, rng.bytes(int(rng.integers(20, 200)))).pack()
            sent[seq] = pkt
            stream.append((seq, pkt))
            stream += [(None, r) for r in enc.push(seq, pkt)]
        mask = loss_mask(cond, len(stream), seed + 17)
        got, exact = {}, True
        for (seq, p), lost in zip(stream, mask):
            if lost:
                continue
            out = dec.add_media(seq, p) if seq is not None else dec.add_repair(p)
            if seq is not None:
                got[seq] = p
            for s, q in out:
                exact &= q == sent[s]
                got[s] = q
        residual = 1 - len(got) / len(sent)
        # the same mask through the batched path (media/repair positions are the same layout)
        code = make_code(scheme, k, m)
        data, repairs = encoded_blocks(code, groups * d, rng)
        res_b, _, _, _ = simulate(code, d, mask, data, repairs)
        ok &= exact and abs(residual - res_b) < 1e-12
        print(f"| {scheme_name(scheme, k, m, d)} | {cond[0]} {cond[1]:.0%}"
              f"{'' if cond[2] is None else f' b={cond[2]}'} | {100 * residual:.3f} % | {100 * res_b:.3f} % | "
              f"{'yes' if exact else 'NO'} ({dec.stats.recovered} recovered) |")
    print(f"\nStateful and batched paths agree exactly: **{'yes' if ok else 'NO'}**.")


def _rate(fn, per_call, seconds):
    """Packets per second of ``fn`` (best of 3 short runs)."""
    fn()
    n = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds / 10:
        fn()
        n += 1
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n * per_call / (time.perf_counter() - t))
    return best


def table_throughput(seconds):
    print("\n### (c) Single-thread throughput vs zfec (million media packets per second, "
          "side by side in one process; machine shared, figures noisy)\n")
    try:
        import zfec
        zversion = getattr(zfec, "__version__", "?")
    except ImportError:
        zfec = None
        zversion = "not installed"
    print(f"zfec {zversion}. Decode: the first m data packets lost (m repairs used).\n")
    print("| code | payload | zfec enc | ours enc, bytes/block | ours enc, arrays/block | ours enc, batch 1024 | "
          "zfec dec | ours dec, bytes/block | ours dec, arrays/block | ours dec, batch 1024 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(5)
    results = []
    for k, m in ((4, 2), (8, 4)):
        for L in (80, 320):
            rs = ReedSolomon(k, m)
            data = [rng.bytes(L) for _ in range(k)]
            rep = rs.encode(data)
            idx = tuple(range(k, k + m)) + tuple(range(m, k))
            recv = tuple(rep[:m] + data[m:])
            assert rs.decode(recv, idx) == {j: data[j] for j in range(m)}
            src = np.frombuffer(b"".join(data), np.uint8).reshape(k, L).copy()
            out_e = np.empty((m, L), np.uint8)
            src_d = np.frombuffer(b"".join(recv), np.uint8).reshape(k, L).copy()
            out_d = np.empty((m, L), np.uint8)
            batch = rng.integers(0, 256, (1024, k, L), dtype=np.uint8)
            batch_full = np.concatenate([batch, rs.encode_batch(batch)], axis=1)[:, list(idx)].copy()
            row = {}
            if zfec is not None:
                ze, zd = zfec.Encoder(k, k + m), zfec.Decoder(k, k + m)
                blocknums = list(range(k, k + m))
                zrep = list(ze.encode(data, blocknums))
                zblocks = tuple(zrep[:m] + data[m:])        # zfec wants primary block i at position i
                zidx = tuple(range(k, k + m)) + tuple(range(m, k))
                assert list(zd.decode(zblocks, zidx)) == data
                row["zenc"] = _rate(lambda: ze.encode(data, blocknums), k, seconds)
                row["zdec"] = _rate(lambda: zd.decode(zblocks, zidx), k, seconds)
            row["enc"] = _rate(lambda: rs.encode(data), k, seconds)
            row["enc_arr"] = _rate(lambda: rs.encode_into(src, out_e), k, seconds)
            row["enc_batch"] = _rate(lambda: rs.encode_batch(batch), 1024 * k, seconds)
            row["dec"] = _rate(lambda: rs.decode(recv, idx), k, seconds)
            row["dec_arr"] = _rate(lambda: rs.decode_into(src_d, idx, out_d), k, seconds)
            row["dec_batch"] = _rate(lambda: rs.decode_batch(batch_full, idx), 1024 * k, seconds)
            results.append(((k, m, L), row))

            def f(key):
                return f"{row[key] / 1e6:.2f}" if key in row else "–"
            print(f"| RS({k}+{m}) | {L} B | {f('zenc')} | {f('enc')} | {f('enc_arr')} | {f('enc_batch')} | "
                  f"{f('zdec')} | {f('dec')} | {f('dec_arr')} | {f('dec_batch')} |")
    if zfec is not None:
        print("\nRatio ours / zfec (>= 1 meets the target):\n")
        print("| code | payload | enc bytes/block | enc arrays/block | enc batch | dec bytes/block | "
              "dec arrays/block | dec batch |")
        print("|---|---|---|---|---|---|---|---|")
        for (k, m, L), row in results:
            r = [row[a] / row[z] for z, a in (("zenc", "enc"), ("zenc", "enc_arr"), ("zenc", "enc_batch"),
                                             ("zdec", "dec"), ("zdec", "dec_arr"), ("zdec", "dec_batch"))]
            print(f"| RS({k}+{m}) | {L} B | " + " | ".join(f"{x:.2f}" for x in r) + " |")
        print("\nPer block, a call into a numba kernel costs ~1-2 µs of dispatch and buffer handling that zfec's "
              "C extension does not pay, so the bytes-per-block API trails at 80 B; the kernel itself keeps up "
              "(arrays/block at 320 B), and the batched API, one call for many blocks, is the fast path.")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.fec_codes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer packets and shorter timings (~20 s)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    n_media = 60_000 if args.quick else 1_000_000
    t0 = time.perf_counter()
    print("## Erasure codes (fec.rs, fec.xor, fec.repair)")
    worst = table_residual(n_media, args.seed, judge=not args.quick)
    table_interleave(n_media // 2 if not args.quick else n_media, args.seed)
    stateful_check(6_000 if args.quick else 30_000, args.seed)
    table_throughput(0.1 if args.quick else 0.4)
    print(f"\n(bench time {time.perf_counter() - t0:.0f} s)")
    return 0 if worst <= 0.005 or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
