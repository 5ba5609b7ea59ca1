"""The delay estimator's kernels: candidate counting, acceptance, and the arg-min on a known lag."""
import numpy as np

from audio3a.aec.delay import (ST_CANDIDATE, ST_COUNT, ST_DELAY, DelayEstimator, accept, far_frame_update,
                               mic_frame_update, observe, proposes)


def _estimator():
    return DelayEstimator(16000, 512, 160, 1000.0, 200)


def test_observe_counts_a_candidate_until_it_holds():
    est = _estimator()
    state, levels = est.state, est.levels
    assert est.delay_frames == -1 and state[ST_CANDIDATE] == -1
    hits = [observe(7, 0.5, state, levels, 3, 0.2) for _ in range(3)]
    assert hits == [False, False, True] and state[ST_COUNT] == 3
    assert est.confidence == 0.5
    assert not observe(9, 0.5, state, levels, 3, 0.2)  # a new arg-min starts over
    assert state[ST_CANDIDATE] == 9 and state[ST_COUNT] == 1


def test_low_confidence_and_accepted_delay_are_not_proposed():
    est = _estimator()
    state, levels = est.state, est.levels
    for _ in range(5):
        observe(4, 0.1, state, levels, 3, 0.2)
    assert not proposes(state, levels, 3, 0.2)
    assert proposes(state, levels, 3, 0.05)
    assert accept(state) == 4 and state[ST_DELAY] == 4 and est.delay_frames == 4
    assert not proposes(state, levels, 3, 0.05)  # already the accepted delay
    est.reset()
    assert est.delay_frames == -1 and est.confidence == 0.0 and state[ST_COUNT] == 0


def test_distances_find_a_known_lag():
    """Mic power spectra that repeat the far ones 12 frames later: the arg-min lag is 12."""
    est = _estimator()
    rng = np.random.default_rng(0)
    cap, lag = est.capacity, 12
    far_power = rng.exponential(1.0, (400, 257)) * rng.exponential(1.0, (400, 1))
    best = conf = None
    for j in range(400):
        s = j % cap
        far_frame_update(far_power[j], float(far_power[j].sum()), s, est.edges, est.means[0], est.far_bits,
                         est.far_active, est.levels)
        mic = far_power[j - lag] if j >= lag else np.full(257, 1e-3)
        updated, best, conf = mic_frame_update(mic, float(mic.sum()), j, cap, est.edges, est.means[1],
                                               est.far_bits, est.far_active, est.levels, est.dist[0],
                                               est.smoothing, est.dist[1])
    assert best == lag
    assert conf > 0.4
