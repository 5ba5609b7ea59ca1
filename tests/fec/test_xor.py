"""XOR parity: single-loss recovery, interleaving, bursts."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.xor import XorParity, encode_interleaved, interleave_members, xor_parity


def random_data(rng, k, n):
    return [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for _ in range(k)]


def test_parity_definition():
    assert xor_parity([b"\x0f\xf0", b"\xff\x00", b"\x01\x01"]) == b"\xf1\xf1"
    with pytest.raises(ValueError):
        xor_parity([b"ab", b"a"])


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_every_single_loss_recovers(k):
    rng = np.random.default_rng(k)
    code = XorParity(k)
    data = random_data(rng, k, 29)
    sym = data + code.encode(data)
    for lost in range(k + 1):
        kept = [i for i in range(k + 1) if i != lost]
        got = code.decode([sym[i] for i in kept], kept)
        assert got == ({lost: data[lost]} if lost < k else {})


@pytest.mark.parametrize("d", [1, 2])
def test_interleaved_group_recovers_every_pattern_of_one_loss_per_parity(d):
    """XOR k=4 with depth d: every pattern losing at most one packet of each parity's set is repaired."""
    k = 4
    rng = np.random.default_rng(10 + d)
    group = random_data(rng, k * d, 16)
    parities = encode_interleaved(group, k, d)
    members = interleave_members(k, d)
    code = XorParity(k)
    count = 0
    for choice in itertools.product(range(k + 2), repeat=d):   # per parity set: lose member c (k = parity, k+1 = none)
        rec = list(group)
        for i, c in enumerate(choice):
            if c < k:
                rec[members[i, c]] = None
        for i in range(d):
            sym = [rec[p] for p in members[i]] + [None if choice[i] == k else parities[i]]
            kept = [j for j in range(k + 1) if sym[j] is not None][:k]
            for j, b in code.decode([sym[j] for j in kept], kept).items():
                rec[members[i, j]] = b
        assert rec == group
        count += 1
    assert count == (k + 2) ** d


def test_interleave_repairs_a_burst_of_depth_packets():
    k, d = 4, 3
    rng = np.random.default_rng(20)
    group = random_data(rng, k * d, 10)
    par = encode_interleaved(group, k, d)
    members = interleave_members(k, d)
    for start in range(k * d - d + 1):
        lost = set(range(start, start + d))                    # burst of d consecutive packets
        for i in range(d):
            hit = [j for j in range(k) if members[i, j] in lost]
            assert len(hit) <= 1
            if hit:
                others = [group[p] for p in members[i] if p not in lost]
                assert xor_parity(others + [par[i]]) == group[members[i, hit[0]]]


def test_batch_matches_per_block():
    rng = np.random.default_rng(21)
    arr = rng.integers(0, 256, (5, 4, 12), dtype=np.uint8)
    code = XorParity(4)
    par = code.encode_batch(arr)
    assert (par[:, 0] == np.bitwise_xor.reduce(arr, axis=1)).all()
    idx = (0, 4, 2, 3)
    missing, out = code.decode_batch(np.concatenate([arr, par], 1)[:, list(idx)], idx)
    assert missing == (1,) and (out[:, 0] == arr[:, 1]).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10), st.integers(1, 40), st.randoms(use_true_random=False))
def test_random(k, n, rnd):
    code = XorParity(k)
    data = [bytes(rnd.getrandbits(8) for _ in range(n)) for _ in range(k)]
    sym = data + code.encode(data)
    kept = rnd.sample(range(k + 1), k)
    got = code.decode([sym[i] for i in kept], kept)
    assert all(got[j] == data[j] for j in got)
