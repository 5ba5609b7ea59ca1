"""The whole chain of one configuration in one kernel call: one GIL release per frame.

A ``Pipeline`` frame made of one kernel call per stage (render: AEC; capture:
HPF, AEC, NS, AGC) hands the GIL over five times, with a few µs of Python
between the calls. Two sessions on two threads then keep colliding on the
GIL: the loser sleeps, and waking it on the other core costs ~20-26 µs of CPU
on a VM without halt polling (issue 9: 2 threads ran 1.33-1.41x one). Run as
one nogil call, a frame holds the GIL only for its dispatch.

The stages are composed through the protocol of ``audio3a.stage``: each gives
its ``kernel(x, far_talk, args) -> (y, echo_dominant)`` and ``kernel_args``
(render stages: ``render_kernel(x, args)``, ``render_kernel_args``); the chain
calls them in order, as ``Pipeline``'s per-stage path calls ``_process``::

    echo = False
    for each stage:  y, e = stage.kernel(y, echo, stage.kernel_args); echo = echo or e

so the output is the per-stage path's, bit for bit (the same kernels in the
same order; ``tests/audio3a/test_chain.py``).

Numba cannot take the stage kernels as arguments here: a dispatcher argument
is typed by its identity, which changes with every process, so the on-disk
cache would never hit (checked with numba 0.68: a new cache entry per run).
Instead each configuration gets its own copy of the module-level templates
below, whose globals ``C0`` .. ``C5`` (``R0``, ``R1``) are bound to the stage
kernels (``types.FunctionType`` on the templates' code: no generated source).
Numba keys a cached function by its bytecode and its closure cells; the cell
``_key`` names the configuration (each kernel's module, name and its source
file's size and mtime), so every configuration has its own cache entry,
loaded in a new process like any cached kernel, and an edited stage module
gets a new entry (kernels those modules call from other files are covered as
everywhere in audio3a: delete the ``__pycache__`` folders after editing them).
Absent slots are ``None`` arguments: numba prunes ``if a is not None`` at
compile time, so one configuration is one specialisation.
"""
import inspect
import os
import threading
import types

from ._jit import kernel
from .frames import all_finite

MAX_CAPTURE = 6  # capture stages a chain holds (C0 .. C5); a longer chain runs stage by stage
MAX_RENDER = 2   # render stages (R0, R1)


def _absent(*args):  # pragma: no cover - a pruned slot's global, never called
    raise AssertionError("absent chain slot called")


def _templates(_key):
    """The chain kernels' code; ``chain_kernels`` binds their globals per configuration."""

    def render_chain(x, r0, r1):
        """Far frame ``x`` into every render stage; False, nothing changed, when it holds NaN/Inf."""
        _key  # noqa: B018 - the configuration's cache key (module docstring)
        if not all_finite(x):
            return False
        R0(x, r0)  # noqa: F821 - bound per configuration
        if r1 is not None:
            R1(x, r1)  # noqa: F821
        return True

    def capture_chain(x, out, a0, a1, a2, a3, a4, a5):
        """Mic frame ``x`` through every capture stage into ``out``, each stage's ``far_talk``
        the OR of the earlier ones' ``echo_dominant``; False, nothing changed, on NaN/Inf."""
        _key  # noqa: B018
        if not all_finite(x):
            return False
        y, echo = C0(x, False, a0)  # noqa: F821
        if a1 is not None:
            y, e = C1(y, echo, a1)  # noqa: F821
            echo = echo or e
        if a2 is not None:
            y, e = C2(y, echo, a2)  # noqa: F821
            echo = echo or e
        if a3 is not None:
            y, e = C3(y, echo, a3)  # noqa: F821
            echo = echo or e
        if a4 is not None:
            y, e = C4(y, echo, a4)  # noqa: F821
            echo = echo or e
        if a5 is not None:
            y, e = C5(y, echo, a5)  # noqa: F821
        for i in range(out.shape[0]):
            out[i] = y[i]
        return True

    def process_chain(near, far, out, r0, r1, a0, a1, a2, a3, a4, a5):
        """``render_chain(far)`` then ``capture_chain(near)``: 0, or 1 when ``far`` holds NaN/Inf
        (nothing changed), 2 when ``near`` does (the far frame is queued, as by two calls)."""
        _key  # noqa: B018
        if not RENDER(far, r0, r1):  # noqa: F821
            return 1
        if not CAPTURE(near, out, a0, a1, a2, a3, a4, a5):  # noqa: F821
            return 2
        return 0

    return render_chain, capture_chain, process_chain


_TEMPLATES = _templates(None)
_chains = {}
_lock = threading.Lock()


def _kernel_id(k) -> str:
    fn = k.py_func
    try:
        st = os.stat(inspect.getfile(fn))
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except (OSError, TypeError):
        stamp = "?"
    return f"{fn.__module__}.{fn.__qualname__}@{stamp}"


def _bind(template, key, bound):
    g = dict(globals())
    g.update(bound)
    fn = types.FunctionType(template.__code__, g, template.__name__, None, (types.CellType(key),))
    fn.__qualname__ = template.__qualname__
    fn.__doc__ = template.__doc__
    return kernel(fn)


def chain_kernels(capture, render=()):
    """(render_chain, capture_chain, process_chain) over the given stage kernels, in order (the
    render ones None without render stages); one set per configuration and process."""
    if not 1 <= len(capture) <= MAX_CAPTURE or len(render) > MAX_RENDER:
        raise ValueError(f"a chain holds 1-{MAX_CAPTURE} capture and 0-{MAX_RENDER} render kernels")
    key = (tuple(_kernel_id(k) for k in capture), tuple(_kernel_id(k) for k in render))
    with _lock:
        found = _chains.get(key)
        if found is None:
            t_render, t_capture, t_process = _TEMPLATES
            slots = {f"C{i}": capture[i] if i < len(capture) else _absent for i in range(MAX_CAPTURE)}
            cap = _bind(t_capture, key, slots)
            if render:
                slots = {f"R{i}": render[i] if i < len(render) else _absent for i in range(MAX_RENDER)}
                ren = _bind(t_render, key, slots)
                found = ren, cap, _bind(t_process, key, {"RENDER": ren, "CAPTURE": cap})
            else:
                found = None, cap, None
            _chains[key] = found
    return found


def pad(args, n: int) -> tuple:
    """``args`` followed by ``None`` up to ``n`` slots (the absent stages' arguments)."""
    return tuple(args) + (None,) * (n - len(args))


def entry_point(dispatcher, *args):
    """The compiled function of ``dispatcher`` for exactly these arguments' types, to be called
    without the dispatcher's per-call typing of every argument; the dispatcher itself when no
    such signature is compiled. Call it only with arguments of the same types (``is_native``)."""
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    compiled = dispatcher.overloads.get(sig)
    return dispatcher if compiled is None else compiled.entry_point


def is_native(frame) -> bool:
    """A ready frame (``frames.is_ready_frame``) that is also aligned and writeable: typed as the
    pipeline's own buffers, so ``entry_point``'s function takes it."""
    flags = frame.flags
    return flags.aligned and flags.writeable
