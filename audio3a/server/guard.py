"""Bounds on what bad traffic can cost: per-address token buckets and drop counters.

``RateGuard`` gives every source address a token bucket (``rate_pps``
datagrams per second, bursts of ``burst``); a datagram without a token is
dropped. The table of addresses is bounded (``max_addresses``): the entry
used least recently is forgotten first, so a sweep of spoofed addresses
costs a fixed amount of memory. ``DropCounter`` counts drops by reason.
"""
from collections import OrderedDict

__all__ = ["RateGuard", "DropCounter"]


class DropCounter:
    """Dropped datagrams by reason."""

    def __init__(self):
        self.counts = {}

    def __call__(self, reason: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class RateGuard:
    """Token bucket per source address, in a bounded LRU table."""

    def __init__(self, rate_pps: float = 250.0, burst: float = 100.0, max_addresses: int = 4096):
        if rate_pps <= 0 or burst < 1 or max_addresses < 1:
            raise ValueError("rate_pps must be > 0, burst >= 1, max_addresses >= 1")
        self.rate_pps = float(rate_pps)
        self.burst = float(burst)
        self.max_addresses = int(max_addresses)
        self._buckets = OrderedDict()        # addr -> [tokens, last_s]

    def __len__(self):
        return len(self._buckets)

    def allow(self, addr, now_s: float) -> bool:
        """Take one token for ``addr``; False when its bucket is empty (a flood)."""
        b = self._buckets.get(addr)
        if b is None:
            if len(self._buckets) >= self.max_addresses:
                self._buckets.popitem(last=False)
            b = [self.burst, now_s]
            self._buckets[addr] = b
        else:
            self._buckets.move_to_end(addr)
            b[0] = min(self.burst, b[0] + (now_s - b[1]) * self.rate_pps)
            b[1] = now_s
        if b[0] < 1.0:
            return False
        b[0] -= 1.0
        return True
