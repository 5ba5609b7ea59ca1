"""GF(2^8) tables, field axioms, and matrix inversion."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.gf256 import EXP, INV, LOG, MUL, GfSingularError, gf_div, gf_inv, gf_mul, invert, matmul_into, mul_add_row


def slow_mul(a, b):
    """Carry-less multiply then reduce by 0x11D (the definition, no tables)."""
    r = 0
    for i in range(8):
        if b >> i & 1:
            r ^= a << i
    for i in range(15, 7, -1):
        if r >> i & 1:
            r ^= 0x11D << (i - 8)
    return r


def test_exp_log_are_inverse_and_alpha_is_primitive():
    assert sorted(EXP[:255].tolist()) == list(range(1, 256))     # 2 generates the whole group
    assert all(EXP[LOG[a]] == a for a in range(1, 256))
    assert EXP[255] == 1 and EXP[8] == 0x1D                       # alpha^8 = x^4 + x^3 + x^2 + 1


def test_mul_table_matches_definition():
    for a in range(256):
        for b in range(0, 256, 7):
            assert MUL[a, b] == slow_mul(a, b)
    assert (MUL == MUL.T).all()
    assert not MUL.flags.writeable


def test_inverse_and_division():
    for a in range(1, 256):
        assert gf_mul(a, gf_inv(a)) == 1 and INV[a] == gf_inv(a)
        assert gf_div(gf_mul(a, 37), 37) == a
    with pytest.raises(ZeroDivisionError):
        gf_inv(0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_field_axioms(a, b, c):
    assert gf_mul(a, gf_mul(b, c)) == gf_mul(gf_mul(a, b), c)
    assert gf_mul(a, b ^ c) == gf_mul(a, b) ^ gf_mul(a, c)


def test_mul_add_row():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, 300, dtype=np.uint8)
    dst0 = rng.integers(0, 256, 300, dtype=np.uint8)
    for c in (0, 1, 2, 0x8E, 255):
        dst = dst0.copy()
        mul_add_row(dst, src, np.uint8(c))
        assert (dst == (dst0 ^ MUL[c, src])).all()


def test_invert_random_and_singular():
    rng = np.random.default_rng(2)
    for n in (1, 2, 5, 16, 40):
        while True:
            a = rng.integers(0, 256, (n, n), dtype=np.uint8)
            try:
                ai = invert(a)
                break
            except GfSingularError:
                continue
        prod = np.empty((n, n), np.uint8)
        matmul_into(a, ai, prod)
        assert (prod == np.eye(n, dtype=np.uint8)).all()
        matmul_into(ai, a, prod)
        assert (prod == np.eye(n, dtype=np.uint8)).all()
    sing = np.array([[1, 2], [2, 4]], np.uint8)                   # row 2 = 2 * row 1
    with pytest.raises(GfSingularError):
        invert(sing)
    with pytest.raises(ValueError):
        invert(np.zeros((2, 3), np.uint8))
