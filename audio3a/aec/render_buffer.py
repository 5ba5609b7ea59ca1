"""Far-end (render) FIFO and the ring of render spectra the echo canceller reads.

Render frames are written as they are played (``push``) and consumed one per
capture frame (``pop``), so frame j of the far end is paired with capture
frame j whatever the call pattern: strict alternation, or bursts of render
calls ahead of capture calls (up to ``max_ahead`` frames are queued; beyond
that the oldest unread frames are dropped and counted). A capture frame that
finds the queue empty is paired with a silent far frame (an underrun,
counted): the far end was not playing.

When frame j is consumed, its spectrum over the last ``n_fft`` render
samples (overlap-save window: frames j, j-1, ... zero-padded on the left
when fewer) is stored at slot j mod capacity together with |X|^2, so the
partitioned filter reads the spectra of frames j - delay - p without
recomputing them. The capacity covers the largest bulk delay plus the
filter length plus the queue.
"""
import numpy as np

from .._jit import kernel
from ..fft import make_plan, rfft


@kernel(fastmath=True)
def window_spectrum(frames, slot, cap, frame_len, window, plan, Xs, X, X2):
    """X = rfft(last len(window) samples ending with frame ``slot``) (computed in ``Xs``, stored
    in X's dtype: complex64 in the ring), X2 = |X|^2; returns the frame's energy."""
    n = window.shape[0]
    pos = n
    s = slot
    while pos > 0:
        take = min(frame_len, pos)
        row = frames[s % cap]
        for i in range(take):
            window[pos - take + i] = row[frame_len - take + i]
        pos -= take
        s -= 1
    rfft(plan, window, Xs)
    for k in range(X.shape[0]):
        v = Xs[k]
        X[k] = v
        X2[k] = v.real * v.real + v.imag * v.imag
    energy = 0.0
    row = frames[slot % cap]
    for i in range(frame_len):
        energy += row[i] * row[i]
    return energy


class RenderBuffer:
    """FIFO of far frames plus a ring of their overlap-save spectra."""

    def __init__(self, frame_len: int, n_fft: int, capacity: int, max_ahead: int):
        self.frame_len = frame_len
        self.n_fft = n_fft
        self.capacity = capacity
        self.max_ahead = max_ahead
        n_bins = n_fft // 2 + 1
        self.frames = np.zeros((capacity, frame_len), np.float64)
        # complex64: the filters stream these rows every frame (memory bound); they
        # accumulate in complex128
        self.spectra = np.zeros((capacity, n_bins), np.complex64)
        self.power = np.zeros((capacity, n_bins), np.float64)
        self.energy = np.zeros(capacity, np.float64)
        self._window = np.zeros(n_fft, np.float64)
        self._X = np.zeros(n_bins, np.complex128)
        self._plan = make_plan(n_fft)
        self.reset()

    def reset(self) -> None:
        self.frames[:] = 0.0
        self.spectra[:] = 0.0
        self.power[:] = 0.0
        self.energy[:] = 0.0
        self.written = 0
        self.read = 0
        self.underruns = 0
        self.overflows = 0

    def push(self, x: np.ndarray) -> None:
        """Queue one far frame (float32 or float64, frame_len samples)."""
        if self.written - self.read >= self.max_ahead:
            self.read += 1
            self.overflows += 1
        slot = self.written % self.capacity
        self.frames[slot] = x
        self.written += 1

    def pop_index(self) -> int:
        """Consume the far frame paired with the current capture frame and return its index,
        without computing its spectrum (the caller runs ``window_spectrum``)."""
        if self.read >= self.written:
            self.frames[self.written % self.capacity] = 0.0
            self.written += 1
            self.underruns += 1
        j = self.read
        self.read += 1
        return j

    def pop(self) -> int:
        """Consume the far frame paired with the current capture frame; return its index."""
        j = self.pop_index()
        slot = j % self.capacity
        self.energy[slot] = window_spectrum(self.frames, j, self.capacity, self.frame_len, self._window,
                                            self._plan, self._X, self.spectra[slot], self.power[slot])
        return j
