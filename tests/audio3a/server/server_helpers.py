"""Helpers: a server and clients on one event loop over 127.0.0.1, bounded in time."""
import asyncio
from pathlib import Path

import numpy as np
from audio3a.io import read_audio
from audio3a.server.client import ClientConfig, ClientSession
from audio3a.server.server import Server, ServerConfig

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def speech(seconds, offset_s=0.0, rate=16000):
    data, info = read_audio(str(SAMPLES / "clean_speech_16k.wav"))
    x = data.astype(np.float32) / 32768.0
    i = int(offset_s * rate)
    return np.resize(x[i:], int(seconds * rate)).astype(np.float32)


async def with_server(config, body, timeout_s=20.0):
    """Start a server on a free port, run ``body(server)``, stop the server; returns body's result."""
    server = Server(config)
    await server.start()
    stop = asyncio.Event()
    task = asyncio.ensure_future(server.run(stop))
    try:
        return await asyncio.wait_for(body(server), timeout_s)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10.0)


def client(server, signal, record=None, **kw):
    """A ClientSession aimed at ``server``."""
    host, port = server.address
    return ClientSession(signal, ClientConfig(host=host, port=port, **kw), record=record)


class SimClock:
    """The event loop's clock for a server ticked by hand: ``now`` is set by the test."""

    def __init__(self):
        self.now = 0.0

    def time(self):
        return self.now


class Sink:
    """A transport that keeps every datagram the server sends, as (address, bytes)."""

    def __init__(self):
        self.sent = []

    def sendto(self, data, addr=None):
        self.sent.append((addr, data))


def offline_server(config, prebuilt):
    """A Server with no sockets, on a simulated clock (``server._loop.now``), ``prebuilt`` sessions ready."""
    server = Server(config)
    server._loop = SimClock()
    server.transport = Sink()
    server.pool.fill(prebuilt)
    return server
