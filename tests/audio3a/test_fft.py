import numpy as np
import pytest

from audio3a.fft import irfft, make_plan, rfft


@pytest.mark.parametrize("n", [4, 8, 64, 256, 512, 1024, 2048])
def test_rfft_matches_numpy_and_inverts(n):
    rng = np.random.default_rng(n)
    plan = make_plan(n)
    x = rng.standard_normal(n)
    spec = np.zeros(n // 2 + 1, np.complex128)
    rfft(plan, x, spec)
    assert np.max(np.abs(spec - np.fft.rfft(x))) < 1e-11 * n
    back = np.zeros(n)
    irfft(plan, spec, back)
    assert np.max(np.abs(back - x)) < 1e-12


def test_float32_buffers_work():
    plan = make_plan(512)
    x = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    spec = np.zeros(257, np.complex128)
    rfft(plan, x, spec)
    y = np.zeros(512, np.float32)
    irfft(plan, spec, y)
    assert np.max(np.abs(y - x)) < 1e-6


@pytest.mark.parametrize("n", [0, 3, 6, 100])
def test_bad_sizes_rejected(n):
    with pytest.raises(ValueError, match="power of two"):
        make_plan(n)


def test_complex64_spectra_work():
    """The AEC keeps its spectra in complex64: rfft writes and irfft reads them."""
    n = 512
    plan = make_plan(n)
    x = np.random.default_rng(1).standard_normal(n)
    spec = np.zeros(n // 2 + 1, np.complex64)
    rfft(plan, x, spec)
    ref = np.fft.rfft(x)
    assert np.max(np.abs(spec - ref)) < 1e-5 * np.max(np.abs(ref))
    back = np.zeros(n)
    irfft(plan, spec, back)
    assert np.max(np.abs(back - np.fft.irfft(spec.astype(np.complex128)))) < 1e-12
