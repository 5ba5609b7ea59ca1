"""Systematic Cauchy Reed–Solomon: MDS property, every erasure pattern, batch = per-block."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.gf256 import invert
from fec.rs import ReedSolomon, cauchy_matrix
from fec.xor import XorParity


def random_data(rng, k, n):
    return [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for _ in range(k)]


@pytest.mark.parametrize("k,m", [(4, 2), (5, 3), (2, 2), (3, 1)])
def test_every_erasure_pattern_up_to_m_recovers(k, m):
    rng = np.random.default_rng(k * 10 + m)
    rs = ReedSolomon(k, m)
    data = random_data(rng, k, 37)
    symbols = data + rs.encode(data)
    patterns = 0
    for lost in range(m + 1):
        for erased in itertools.combinations(range(k + m), lost):
            kept = [i for i in range(k + m) if i not in erased][:k]
            got = rs.decode([symbols[i] for i in kept], kept)
            assert set(got) == {j for j in range(k) if j not in kept}
            assert all(got[j] == data[j] for j in got)
            patterns += 1
    assert patterns == sum(len(list(itertools.combinations(range(k + m), e))) for e in range(m + 1))


def test_generator_is_mds_for_a_wide_code():
    """Every square submatrix of C nonsingular <=> every k rows of [I; C] invertible (sampled for 16+4)."""
    c = cauchy_matrix(16, 4)
    assert (c[0] == 1).all() and (c[:, 0] == 1).all()
    rng = np.random.default_rng(3)
    for _ in range(200):
        size = int(rng.integers(1, 5))
        rows = rng.choice(4, size, replace=False)
        cols = rng.choice(16, size, replace=False)
        invert(c[np.ix_(rows, cols)])                      # raises GfSingularError if singular


def test_repair_zero_is_xor_parity():
    rng = np.random.default_rng(4)
    data = random_data(rng, 6, 50)
    assert ReedSolomon(6, 3).encode(data)[0] == XorParity(6).encode(data)[0]


def test_received_order_does_not_matter_and_extra_order_is_cached():
    rng = np.random.default_rng(5)
    rs = ReedSolomon(8, 4)
    data = random_data(rng, 8, 20)
    sym = data + rs.encode(data)
    idx = [11, 3, 9, 5, 4, 10, 6, 7]
    got = rs.decode([sym[i] for i in idx], idx)
    assert got == {0: data[0], 1: data[1], 2: data[2]}
    assert rs.decode_matrix(idx) is rs.decode_matrix(tuple(idx))


def test_largest_code_round_trip():
    rng = np.random.default_rng(6)
    rs = ReedSolomon(200, 55)
    data = random_data(rng, 200, 8)
    sym = data + rs.encode(data)
    kept = list(range(55, 255))                             # first 55 data symbols lost
    got = rs.decode([sym[i] for i in kept], kept)
    assert [got[j] for j in range(55)] == data[:55]


def test_batch_matches_per_block():
    rng = np.random.default_rng(7)
    rs = ReedSolomon(4, 2)
    arr = rng.integers(0, 256, (9, 4, 33), dtype=np.uint8)
    rep = rs.encode_batch(arr)
    for b in range(9):
        assert [r for r in rs.encode([row.tobytes() for row in arr[b]])] == [row.tobytes() for row in rep[b]]
    full = np.concatenate([arr, rep], axis=1)
    idx = (4, 1, 5, 3)
    missing, out = rs.decode_batch(full[:, list(idx)], idx)
    assert missing == (0, 2)
    assert (out[:, 0] == arr[:, 0]).all() and (out[:, 1] == arr[:, 2]).all()


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        ReedSolomon(250, 6)
    with pytest.raises(ValueError):
        ReedSolomon(0, 2)
    rs = ReedSolomon(4, 2)
    assert rs.encode([b""] * 4) == [b"", b""]
    with pytest.raises(ValueError, match="same length"):
        rs.encode([b"ab", b"abc", b"ab", b"ab"])
    with pytest.raises(ValueError):
        rs.encode([b"ab"] * 3)
    with pytest.raises(ValueError, match="twice"):
        rs.decode([b"a"] * 4, [0, 0, 1, 2])
    with pytest.raises(ValueError):
        rs.decode([b"a"] * 4, [0, 1, 2, 6])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 64), st.randoms(use_true_random=False))
def test_random_codes_and_patterns(k, m, n, rnd):
    rs = ReedSolomon(k, m)
    data = [bytes(rnd.getrandbits(8) for _ in range(n)) for _ in range(k)]
    sym = data + rs.encode(data)
    kept = rnd.sample(range(k + m), k)
    got = rs.decode([sym[i] for i in kept], kept)
    assert all(got[j] == data[j] for j in got) and set(got) | set(kept) >= set(range(k))


def test_threads_share_one_code_object():
    """The bytes API keeps its scratch per thread: concurrent calls on one object stay correct."""
    from concurrent.futures import ThreadPoolExecutor
    rs = ReedSolomon(8, 4)

    def work(seed):
        rng = np.random.default_rng(seed)
        ok = True
        for _ in range(200):
            data = random_data(rng, 8, int(rng.integers(1, 5)) * 40)
            rep = rs.encode(data)
            idx = [8, 9, 10, 11, 4, 5, 6, 7]
            got = rs.decode(rep + data[4:], idx)
            ok &= [got[j] for j in range(4)] == data[:4]
        return ok

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(8)))
