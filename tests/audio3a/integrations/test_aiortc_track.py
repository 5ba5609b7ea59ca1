"""Two aiortc peers on 127.0.0.1: the receiving side wraps the remote track in ProcessedAudioTrack."""
import asyncio
import fractions
import time

import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")
av = pytest.importorskip("av")

from aiortc import RTCConfiguration, RTCPeerConnection           # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from audio3a.io import read_audio, resample                      # noqa: E402
from audio3a.integrations.aiortc import ProcessedAudioTrack      # noqa: E402
from audio3a.pipeline import warmup                              # noqa: E402

RATE = 48000
FRAME = 960                      # 20 ms
LEAD_S = 1.0                     # noise and tone only, then speech


def _input(seconds=3.0):
    data, info = read_audio("samples/clean_speech_16k.wav")
    speech = resample(data.astype(np.float32) / 32768.0, info.sample_rate, RATE)
    n = int(seconds * RATE)
    x = np.zeros(n, np.float32)
    lead = int(LEAD_S * RATE)
    x[lead:] = speech[:n - lead] * 1.5
    t = np.arange(n) / RATE
    rng = np.random.default_rng(0)
    x += 0.02 * np.sin(2 * np.pi * 1000 * t) + 0.02 * rng.standard_normal(n)
    return np.clip(x * 32768, -32768, 32767).astype(np.int16)


class ArrayTrack(MediaStreamTrack):
    """Sends an int16 array as 20 ms mono frames, paced in real time."""

    kind = "audio"

    def __init__(self, x):
        super().__init__()
        self.x, self.i, self.t0 = x, 0, None

    async def recv(self):
        if (self.i + 1) * FRAME > self.x.size:
            self.stop()
            raise MediaStreamError
        if self.t0 is None:
            self.t0 = time.monotonic()
        wait = self.t0 + self.i * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        f = av.AudioFrame.from_ndarray(self.x[self.i * FRAME:(self.i + 1) * FRAME].reshape(1, -1),
                                       format="s16", layout="mono")
        f.sample_rate, f.pts, f.time_base = RATE, self.i * FRAME, fractions.Fraction(1, RATE)
        self.i += 1
        return f


def _db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-9)


def test_remote_noisy_tone_and_speech_comes_out_suppressed(monkeypatch):
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    x = _input()
    warmup((RATE,))  # compile (or load) the kernels first: the timeouts below are for the network, not Numba

    async def run():
        cfg = RTCConfiguration(iceServers=[])          # no STUN: host candidates on 127.0.0.1 only
        sender, receiver = RTCPeerConnection(cfg), RTCPeerConnection(cfg)
        sender.addTrack(ArrayTrack(x))
        got = asyncio.get_running_loop().create_future()
        receiver.on("track", lambda track: got.set_result(track))
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        remote = await asyncio.wait_for(got, 10)
        raw_track = ProcessedAudioTrack(remote)
        out = []
        try:
            while sum(len(o) for o in out) < x.size - 10 * FRAME:
                f = await asyncio.wait_for(raw_track.recv(), 5)
                assert f.sample_rate == RATE and f.samples == FRAME and f.format.name == "s16"
                out.append(f.to_ndarray().reshape(-1))
        finally:
            await sender.close()
            await receiver.close()
        return np.concatenate(out)

    y = asyncio.run(asyncio.wait_for(run(), 30)).astype(np.float32)
    xi = x.astype(np.float32)
    noise = slice(int(0.5 * RATE), int(0.95 * RATE))   # after the suppressor has learnt the noise
    speech = slice(int(1.3 * RATE), int(2.7 * RATE))
    snr_in = _db(xi[speech]) - _db(xi[noise])
    snr_out = _db(y[speech]) - _db(y[noise])
    print(f"noise+tone {_db(xi[noise]):.1f} -> {_db(y[noise]):.1f} dB; SNR {snr_in:.1f} -> {snr_out:.1f} dB")
    assert _db(y[noise]) < _db(xi[noise]) - 10           # the noise and the tone are suppressed
    assert snr_out > snr_in + 10                         # and the speech is not
