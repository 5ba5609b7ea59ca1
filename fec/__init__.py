"""fec: the packet side of audio3a (RTP, payload formats, erasure codes, channels).

Everything here eats and yields bytes or packet objects and knows nothing of
DSP; the receive path hands audio3a a frame, or None for one that never came.
"""
from .channel import Bernoulli, Channel, DelayModel, GilbertElliott, Trace
from .packet import PacketError, RtpPacket, SequenceUnwrapper, TimestampUnwrapper
from .payload import FORMATS, L16, PCMA, PCMU

__all__ = [
    "Bernoulli", "Channel", "DelayModel", "GilbertElliott", "Trace",
    "PacketError", "RtpPacket", "SequenceUnwrapper", "TimestampUnwrapper",
    "FORMATS", "L16", "PCMA", "PCMU",
]
