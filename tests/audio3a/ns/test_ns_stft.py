import numpy as np
import pytest

from audio3a.ns.stft import Stft, sqrt_hann


@pytest.mark.parametrize("hop", [160, 480])
def test_window_is_power_complementary(hop):
    w = sqrt_hann(2 * hop)
    assert np.max(np.abs(w[:hop] ** 2 + w[hop:] ** 2 - 1.0)) < 1e-12


@pytest.mark.parametrize("hop, n_fft", [(160, 400), (480, 1024)])
def test_unity_gain_reconstructs_input_delayed_by_one_hop(hop, n_fft):
    st = Stft(hop)
    assert st.n_fft == n_fft
    assert st.latency_samples == hop  # 10 ms at either rate
    x = np.random.default_rng(hop).standard_normal(hop * 50)
    y = np.zeros_like(x)
    buf = np.zeros(hop)
    for i in range(50):
        spec = st.analysis(x[i * hop:(i + 1) * hop])
        y[i * hop:(i + 1) * hop] = st.synthesis(spec, buf)
    d = st.latency_samples
    assert np.max(np.abs(y[d:] - x[:-d])) < 1e-12
    assert np.max(np.abs(y[:d])) < 1e-12


def test_reset_clears_history():
    st = Stft(160)
    buf = np.zeros(160)
    st.synthesis(st.analysis(np.ones(160)), buf)
    st.reset()
    st.synthesis(st.analysis(np.zeros(160)), buf)
    assert np.all(buf == 0.0)
