"""APC4 encoder buffers: kept per thread and frame length, so a frame allocates nothing in the kernel."""
import threading

import numpy as np
from numba import njit
from numba.core.runtime import _nrt_python, rtsys

from fec import apc
from fec.apc import APC4, Apc4


@njit
def _touch(a, b, c, d, e):
    a[0] = b[0] = c[0] = d[0] = e[0] = 0


def _allocations(fn, *args):
    """NRT allocations of ``fn(*args)`` (a call wraps each array argument: one each)."""
    was = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        fn(*args)
        before = rtsys.get_allocation_stats().alloc
        for _ in range(5):
            fn(*args)
        return (rtsys.get_allocation_stats().alloc - before) / 5
    finally:
        if not was:
            _nrt_python.memsys_disable_stats()


def test_encode_kernel_allocates_nothing_but_its_arguments_wrappers():
    for n in (320, 960):
        x = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
        data, recon = np.empty(APC4.payload_len(n), np.uint8), np.empty(n, np.float32)
        win, f64 = np.empty(n), np.empty(apc._scratch_len(n))
        apc._sine_window(win)
        assert _allocations(apc._encode_block, x, win, 0.8, data, recon, f64) == \
            _allocations(_touch, x, win, data, recon, f64)


def test_encoders_on_threads_give_the_bytes_of_one_thread():
    rng = np.random.default_rng(7)
    frames = [(0.2 * rng.standard_normal(320)).astype(np.float32) for _ in range(40)]
    expected = [APC4.encode(f) for f in frames]
    out = [[None] * len(frames) for _ in range(4)]

    def work(j):
        for i, f in enumerate(frames):
            out[j][i] = APC4.encode(f)

    threads = [threading.Thread(target=work, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o == expected for o in out)
    buf = np.empty(APC4.payload_len(320), np.uint8)
    assert APC4.encode(frames[3], buf) is buf and buf.tobytes() == expected[3]
    data, recon = Apc4().encode_reconstructed(frames[5])
    assert data == expected[5] and np.array_equal(APC4.decode(data), recon)
