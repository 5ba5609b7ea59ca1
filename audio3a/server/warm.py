"""Compile (or load from the cache) every kernel a stream can reach before the first real packet.

A kernel compiled mid-stream stalls the event loop for seconds (worse after
a source change invalidates the on-disk cache), which would starve every
session. ``warm_packet_path`` runs throwaway sender -> receiver -> concealer
objects through each kind of FEC scheme the controller can pick (none,
XOR, Reed-Solomon, RFC 2198 redundancy), with losses that the repair
recovers and bursts that it cannot, so FEC decoding, concealment and the
merge back all run once. ``warm_session_path`` adds a session's pipeline
(capture with a far-end reference) and the server-side playout.
"""
import numpy as np

from fec.jitter import CrossfadeStretcher
from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig

from ..plc import Concealer, PlcConfig
from .mixer import mix_minus

__all__ = ["warm_packet_path", "warm_session_path", "WARM_SCHEMES"]

WARM_SCHEMES = ("rs:2+2x2", "rs:3+1", "xor:2", "red:1", "red:@1,3", "none")


def _lost(i: int, j: int) -> bool:
    """Frame 3: media only lost (recoverable); frames 8-11: everything lost (concealed)."""
    return (i == 3 and j == 0) or 8 <= i <= 11


def warm_packet_path(sample_rate: int = 16000, frame_ms: int = 20, payload: str = "L16") -> None:
    frame_len = sample_rate * frame_ms // 1000
    x = (0.05 * np.sin(np.arange(frame_len) * 0.07)).astype(np.float32)
    plc = Concealer(sample_rate, PlcConfig(frame_ms=frame_ms))
    stretch = CrossfadeStretcher(frame_len)
    for scheme in WARM_SCHEMES:
        snd = Sender(SenderConfig(sample_rate=sample_rate, frame_ms=frame_ms, payload=payload, fec=scheme))
        rcv = Receiver(ReceiverConfig(sample_rate=sample_rate, frame_ms=frame_ms, payload=payload))
        for i in range(24):
            t = i * frame_ms / 1000.0
            for j, d in enumerate(snd.send(x * (1 + i % 3))):
                if not _lost(i, j):
                    rcv.receive(d, t + 0.001)
            pl = rcv.tick(t + 0.005)
            y = np.array(plc.process(pl.frame), np.float32)
            stretch.compress(y, y)
        snd.set_scheme("none")
        rcv.report(1000)
    for _ in range(12):                                   # a long burst: fade to comfort noise
        plc.process(None)
    plc.process(x)


def warm_session_path(config) -> None:
    """The packet path, then a session's playout and pipeline (capture after a render frame)."""
    from .session import Session
    warm_packet_path(config.sample_rate, config.frame_ms, config.payload)
    s = Session(config).attach("warm", ("127.0.0.1", 1), 1, 0.0)
    snd = Sender(SenderConfig(sample_rate=config.sample_rate, frame_ms=config.frame_ms, payload=config.payload,
                              ssrc=1, fec="rs:2+2x2"))
    x = (0.05 * np.sin(np.arange(config.frame_len) * 0.07)).astype(np.float32)
    for i in range(24):
        t = i * config.frame_ms / 1000.0
        for j, d in enumerate(snd.send(x)):
            if not _lost(i, j):
                s.on_rtp(d, t + 0.001)
        s.playout(t + 0.005)
        s.set_render(x[:config.tick_len])
        s.capture(0)
        s.capture(1)
        s.send(x, t)
    mix_minus(np.stack([x[:config.tick_len]] * 2))
