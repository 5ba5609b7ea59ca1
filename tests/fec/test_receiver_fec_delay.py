"""Receiver: the FEC wait in the playout target follows the repair stream (kept ``fec_idle_s``, then dropped)."""
import numpy as np

from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig

N = 320          # 20 ms at 16 kHz
T = 0.02


def _run(plan_frames, idle_s=1.0):
    """plan_frames: [(scheme, frames)]; every datagram arrives 40 ms after its frame; extra delay per tick."""
    rng = np.random.default_rng(3)
    s = Sender(SenderConfig(fec="none"))
    r = Receiver(ReceiverConfig(fec_idle_s=idle_s))
    extra, frames, i = [], [], 0
    for scheme, n in plan_frames:
        pending = s.set_scheme(scheme)
        for _ in range(n):
            x = (0.1 * rng.standard_normal(N)).astype(np.float32)
            for p in pending + s.send(x):
                r.receive(p, i * T + 0.04)
            pending = []
            pl = r.tick(i * T + 0.05)
            extra.append(r.jitter.extra_delay_ms)
            frames.append(pl.frame)
            i += 1
    return np.array(extra), frames


def test_block_code_wait_is_kept_for_fec_idle_s_then_dropped():
    extra, _ = _run([("rs:4+2x2", 200), ("none", 150)], idle_s=1.0)
    assert np.all(extra[20:200] == (4 * 2 - 1) * 20.0)            # (k d - 1) frames of 20 ms
    drop = 200 + np.flatnonzero(extra[200:] == 0.0)[0]
    assert 200 + 1.0 / T - 5 <= drop <= 200 + 1.0 / T + 5          # one fec_idle_s after the last repair
    assert np.all(extra[drop:] == 0.0)


def test_smaller_wait_takes_over_when_the_larger_one_expires():
    extra, _ = _run([("rs:4+2x2", 150), ("red:@2", 200)], idle_s=1.0)
    assert extra[140] == 140.0
    assert np.all(extra[150 + int(1.0 / T) + 5:] == 40.0)               # RED two frames back: 40 ms


def test_played_frames_are_distinct_arrays():
    _, frames = _run([("rs:4+2", 100)])
    played = [f for f in frames if f is not None]
    assert len(played) > 90
    assert len({id(f) for f in played}) == len(played)
    assert all(f.dtype == np.float32 and f.shape == (N,) for f in played)
