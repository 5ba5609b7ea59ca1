import numpy as np
import pytest

from audio3a.fft import irfft, make_plan, rfft

POW2 = [4, 8, 64, 256, 512, 1024, 2048]
MIXED = [6, 10, 30, 60, 120, 240, 320, 480, 640, 960, 1920]  # n = 2 M, M = 2^a 3^b 5^c, not a power of two


@pytest.mark.parametrize("n", POW2 + MIXED)
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


@pytest.mark.parametrize("n", [512, 320, 960])
def test_irfft_matches_numpy(n):
    """irfft of an arbitrary spectrum (imaginary parts of bins 0 and n/2 ignored, as numpy does)."""
    rng = np.random.default_rng(n + 1)
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spec[0] = spec[0].real
    spec[-1] = spec[-1].real
    y = np.zeros(n)
    irfft(make_plan(n), spec, y)
    ref = np.fft.irfft(spec, n)
    assert np.max(np.abs(y - ref)) < 1e-13 * np.max(np.abs(spec))


@pytest.mark.parametrize("n", [512, 320])
def test_float32_buffers_work(n):
    plan = make_plan(n)
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    spec = np.zeros(n // 2 + 1, np.complex128)
    rfft(plan, x, spec)
    y = np.zeros(n, np.float32)
    irfft(plan, spec, y)
    assert np.max(np.abs(y - x)) < 1e-6


@pytest.mark.parametrize("n", [0, 3, 5, 14, 42, 1022])
def test_bad_sizes_rejected(n):
    """Odd n and n = 2 M with a prime factor > 5 in M have no plan."""
    with pytest.raises(ValueError, match="FFT size must be"):
        make_plan(n)


@pytest.mark.parametrize("n", [512, 320])
def test_complex64_spectra_work(n):
    """The AEC keeps its spectra in complex64: rfft writes and irfft reads them."""
    plan = make_plan(n)
    x = np.random.default_rng(1).standard_normal(n)
    spec = np.zeros(n // 2 + 1, np.complex64)
    rfft(plan, x, spec)
    ref = np.fft.rfft(x)
    assert np.max(np.abs(spec - ref)) < 1e-5 * np.max(np.abs(ref))
    back = np.zeros(n)
    irfft(plan, spec, back)
    assert np.max(np.abs(back - np.fft.irfft(spec.astype(np.complex128)))) < 1e-12


@pytest.mark.parametrize("n", [512, 320])
def test_repeated_calls_are_independent(n):
    """The plan's work buffer carries nothing from one call to the next."""
    rng = np.random.default_rng(2)
    plan = make_plan(n)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    spec_a = np.zeros(n // 2 + 1, np.complex128)
    spec_b = np.zeros(n // 2 + 1, np.complex128)
    rfft(plan, a, spec_a)
    rfft(plan, b, spec_b)
    again = np.zeros(n // 2 + 1, np.complex128)
    rfft(plan, a, again)
    assert np.array_equal(again, spec_a)
