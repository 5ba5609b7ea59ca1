"""The one decorator every sample kernel uses.

``kernel`` is ``numba.njit`` with the project's real-time rules applied: compiled
code is cached on disk (``cache=True``) so a new process loads it instead of
compiling, and the GIL is released (``nogil=True``) so sessions on threads run
in parallel. ``error_model="numpy"`` drops Python's zero-division checks from
the hot loops.
"""
import numba

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def kernel(fn=None, **overrides):
    """Decorate a jitted kernel: ``@kernel`` or ``@kernel(fastmath=True)``."""
    options = {**_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)
