"""fec: the packet side of audio3a (RTP, payload formats, erasure codes, channels)."""
