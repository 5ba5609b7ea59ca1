import pytest

import numpy as np

from bench.scenarios.echo import BULK_DELAYS_MS, device_recording, echo_scenario, simulated_rir


def test_mix_is_sum_of_parts_and_seeded():
    a = echo_scenario(2.0, 16000, delay_ms=40.0, double_talk=True, near_start_s=1.0, seed=3)
    b = echo_scenario(2.0, 16000, delay_ms=40.0, double_talk=True, near_start_s=1.0, seed=3)
    np.testing.assert_allclose(a.mic, a.echo + a.near + a.noise)
    np.testing.assert_array_equal(a.mic, b.mic)
    assert not np.any(a.near[:16000]) and np.any(a.near[16000:])


def test_bulk_delay_places_the_echo():
    fir = np.zeros(8)
    fir[0] = 1.0
    for delay_ms in BULK_DELAYS_MS:
        s = echo_scenario(1.5, 16000, delay_ms=delay_ms, room=fir, noise_level_db=-120.0, seed=1)
        d = int(delay_ms * 16)
        # the echo is the far end shifted by the bulk delay (and scaled)
        x, y = s.far[: s.far.size - d], s.echo[d:]
        assert abs(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y))) > 0.999


def test_rir_decay_and_path_change():
    h = simulated_rir(16000, 0.3, seed=0)
    e = np.cumsum(h[::-1] ** 2)[::-1]
    # 60 dB per T60: about 20 dB down after 0.1 s
    assert 14.0 < 10 * np.log10(e[0] / e[int(0.1 * 16000) + 48]) < 26.0
    s = echo_scenario(3.0, 16000, delay_ms=0.0, path_change_s=1.5, seed=2)
    t = echo_scenario(3.0, 16000, delay_ms=0.0, seed=2)
    k = int(1.5 * 16000)

    def corr(a, b):
        return np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b))

    assert corr(s.echo[:k], t.echo[:k]) > 0.999  # same room before the change (levels differ)
    assert abs(corr(s.echo[k + 8000:], t.echo[k + 8000:])) < 0.5  # another room after it


@pytest.mark.corpus
def test_device_recording_pair():
    mic, far = device_recording(16000)
    assert mic.size == far.size > 16000
