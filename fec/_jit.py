"""The one decorator every ``fec`` kernel uses (same rules as ``audio3a._jit``; ``fec`` does not import audio3a).

``kernel`` is ``numba.njit`` with ``cache=True`` (compiled code reused across
processes), ``nogil=True`` (threads run kernels in parallel) and
``error_model="numpy"`` (no Python zero-division checks in hot loops).
"""
import numba

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def kernel(fn=None, **overrides):
    """Decorate a jitted kernel: ``@kernel`` or ``@kernel(fastmath=True)``."""
    options = {**_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)
