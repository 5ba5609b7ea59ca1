"""Test client and load generator: stream a file to the server in real time, record what comes back.

Each ``ClientSession`` has its own UDP socket, ``Sender`` (FEC chosen by a
``RateController`` from the server's loss reports) and ``Receiver`` +
``Concealer``; every 20 ms it sends the next frame and plays out one frame,
which it records (``record``: a ``WavTrack``, valid on disk at all times).
A seeded channel model (``fec.channel`` loss: Bernoulli, or Gilbert-Elliott
with ``burst``; normal delay jitter around ``delay_ms``) is applied to the
RTP packets in both directions; control messages (loss reports, RTCP SR and
BYE) get the base delay only. An RTCP SR goes out before the first packet
and every second, and SR + BYE after the last frame, so the server can
record exactly the samples sent. ``run_clients`` runs ``sessions`` of them
at once on one event loop (the load generator).
"""
import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass, replace

import numpy as np

from fec.adapt import ControllerConfig, FeedbackError, LossReport, RateController
from fec.channel import Bernoulli, DelayModel, GilbertElliott
from fec.jitter import ACCELERATE, CrossfadeStretcher, EXPAND, IDLE
from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig

from ..plc import Concealer, PlcConfig
from .recorder import WavTrack
from .warm import warm_packet_path
from .wire import FEEDBACK, RTP, classify, pack_bye, pack_sr

__all__ = ["ClientConfig", "ClientSession", "run_clients", "main", "parse_hostport"]

_WRAP = 1 << 32


@dataclass(frozen=True)
class ClientConfig:
    """One client's stream, channel and timing settings."""

    host: str = "127.0.0.1"
    port: int = 0
    sample_rate: int = 16000
    frame_ms: int = 20
    payload: str = "L16"
    loss: float = 0.0
    burst: float | None = None
    jitter_ms: float = 0.0
    delay_ms: float = 20.0
    seed: int = 0
    drain_s: float = 1.0
    report_interval_s: float = 1.0
    target_loss: float = 0.01
    fec_budget_ms: float = 60.0
    start_offset_s: float = 0.0

    @property
    def frame_len(self) -> int:
        return self.sample_rate * self.frame_ms // 1000


def parse_hostport(text: str):
    """``HOST:PORT`` -> ``(host, port)``."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--server {text!r} must be HOST:PORT, e.g. 127.0.0.1:5004")
    return host, int(port)


class _Channel:
    """Seeded loss (``loss``/``burst``) and delay (``delay_ms`` + normal ``jitter_ms``) for one direction."""

    BLOCK = 4096

    def __init__(self, loss, burst, delay_ms, jitter_ms, seed):
        if loss <= 0:
            self.model = None
        elif burst is None:
            self.model = Bernoulli(loss)
        else:
            self.model = GilbertElliott(loss, max(float(burst), loss / (1.0 - loss), 1.0))
        self.delay = DelayModel(base_ms=delay_ms, jitter_ms=jitter_ms)
        self._seeds = np.random.SeedSequence(seed)
        self._mask = np.zeros(0, bool)
        self._delays = np.zeros(0)
        self._i = 0
        self.sent = self.lost = 0

    def _refill(self):
        s_loss, s_delay = self._seeds.spawn(2)
        n = self.BLOCK
        self._mask = self.model.mask(n, s_loss) if self.model is not None else np.zeros(n, bool)
        self._delays = self.delay.sample_ms(np.zeros(n), s_delay) / 1000.0
        self._i = 0

    def draw(self):
        """``None`` when this packet is lost, else its delay in seconds."""
        if self._i >= self._mask.size:
            self._refill()
        i = self._i
        self._i += 1
        self.sent += 1
        if self._mask[i]:
            self.lost += 1
            return None
        return float(self._delays[i])


class ClientSession(asyncio.DatagramProtocol):
    """One participant streaming ``signal`` (float32 at ``config.sample_rate``); see the module docstring."""

    def __init__(self, signal, config: ClientConfig, record=None, name: str = "client"):
        c = config
        self.config, self.name = c, name
        x = np.asarray(signal, np.float32).reshape(-1)
        self.n_frames = -(-x.size // c.frame_len)
        self.signal = np.zeros(self.n_frames * c.frame_len, np.float32)
        self.signal[:x.size] = x
        rng = random.SystemRandom()          # identifiers are random (RFC 3550 8.1); the channel is seeded
        self.ssrc = rng.getrandbits(32)
        self.first_ts = rng.getrandbits(32)
        self.controller = RateController(ControllerConfig(target=c.target_loss, budget_ms=c.fec_budget_ms,
                                                          frame_ms=c.frame_ms))
        self.sender = Sender(SenderConfig(sample_rate=c.sample_rate, frame_ms=c.frame_ms, payload=c.payload,
                                          fec=str(self.controller.scheme), ssrc=self.ssrc,
                                          repair_ssrc=rng.getrandbits(32), first_sequence=rng.getrandbits(16),
                                          first_timestamp=self.first_ts))
        self.receiver = Receiver(ReceiverConfig(sample_rate=c.sample_rate, frame_ms=c.frame_ms, payload=c.payload))
        self.concealer = Concealer(c.sample_rate, PlcConfig(frame_ms=c.frame_ms))
        self.stretcher = CrossfadeStretcher(c.frame_len)
        self.up = _Channel(c.loss, c.burst, c.delay_ms, c.jitter_ms, [c.seed, 1])
        self.down = _Channel(c.loss, c.burst, c.delay_ms, c.jitter_ms, [c.seed, 2])
        self.record_path = record
        self.track = None
        self.transport = None
        self.received_samples = 0
        self.media_on_wire = 0           # media packets actually handed to the socket
        self._media_pts = (self.sender.config.payload_type, self.sender.config.red_payload_type)
        self.counts = dict(datagrams_in=0, feedback_in=0, unknown_in=0, scheme_changes=0)
        self._loop = None

    # ------------------------------------------------------------------ network
    def datagram_received(self, data, addr):
        self.counts["datagrams_in"] += 1
        kind = classify(data)
        if kind == RTP:
            d = self.down.draw()
            if d is not None:
                self._loop.call_later(d, self._deliver, data)
        elif kind == FEEDBACK:
            self._loop.call_later(self.config.delay_ms / 1000.0, self._feedback, data)
        else:
            self.counts["unknown_in"] += 1

    def error_received(self, exc):
        self.counts["unknown_in"] += 1

    def _deliver(self, data):
        self.receiver.receive(data, self._loop.time())

    def _feedback(self, data):
        try:
            report = LossReport.parse(data)
        except FeedbackError:
            self.counts["unknown_in"] += 1
            return
        self.counts["feedback_in"] += 1
        scheme = self.controller.update(report, self._loop.time())
        if scheme != self.sender.scheme:
            self.counts["scheme_changes"] += 1
            for d in self.sender.set_scheme(scheme):
                self._send_rtp(d)

    def _send_rtp(self, data):
        d = self.up.draw()
        if d is not None and self.transport is not None:
            self._loop.call_later(d, self._sendto, data)

    def _send_control(self, data):
        self._loop.call_later(self.config.delay_ms / 1000.0, self._sendto, data)

    def _sendto(self, data):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data)
            if classify(data) == RTP and (data[1] & 0x7F) in self._media_pts:
                self.media_on_wire += 1

    def _sr(self, frames_sent):
        ts = (self.first_ts + frames_sent * self.config.frame_len) % _WRAP
        return pack_sr(self.ssrc, ts, frames_sent, ntp_s=self._loop.time())

    # ------------------------------------------------------------------ playout
    def _play(self, now):
        pl = self.receiver.tick(now)
        c = self.concealer
        if pl.status == IDLE:
            y = np.zeros(self.config.frame_len, np.float32)
        elif pl.action == EXPAND or pl.status == EXPAND:
            y = np.array(c.process(None), np.float32)
        elif pl.action == ACCELERATE:
            a = np.array(c.process(pl.frame), np.float32)
            b = np.array(c.process(pl.extra), np.float32)
            y = np.array(self.stretcher.compress(a, b), np.float32)
        else:
            y = np.array(c.process(pl.frame), np.float32)
        self.received_samples += y.size
        if self.track is not None:
            self.track.write(y)

    async def run(self, extra_s: float | None = None) -> dict:
        """Stream the whole signal in real time, then drain; returns this session's results."""
        c = self.config
        self._loop = loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, remote_addr=(c.host, c.port))
        if self.record_path is not None:
            self.track = WavTrack(self.record_path, c.sample_rate)
        try:
            if c.start_offset_s > 0:
                await asyncio.sleep(c.start_offset_s)
            period = c.frame_ms / 1000.0
            t0 = loop.time()
            self._send_control(self._sr(0))
            drain_ticks = int(round((c.drain_s if extra_s is None else extra_s) / period))
            next_report = t0 + c.report_interval_s
            fl = c.frame_len
            for i in range(self.n_frames + drain_ticks):
                wait = t0 + i * period - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                now = loop.time()
                if i < self.n_frames:
                    for d in self.sender.send(self.signal[i * fl:(i + 1) * fl]):
                        self._send_rtp(d)
                    if i == self.n_frames - 1:
                        self._send_control(self._sr(self.n_frames) + pack_bye(self.ssrc))
                self._play(now)
                if now >= next_report:
                    interval_ms = int(round(c.report_interval_s * 1000))
                    self._send_control(self.receiver.report(interval_ms))
                    if i < self.n_frames - 1:
                        self._send_control(self._sr(i + 1))
                    next_report += c.report_interval_s
            await asyncio.sleep(2 * c.delay_ms / 1000.0 + 0.01)
        finally:
            if self.track is not None:
                self.track.close()
            self.transport.close()
        return self.result()

    def result(self) -> dict:
        rs = self.receiver.stats
        ss = self.sender.stats
        return {"type": "client", "name": self.name, "ssrc": f"{self.ssrc:08x}",
                "sent_frames": self.n_frames, "sent_samples": self.n_frames * self.config.frame_len,
                "received_samples": self.received_samples, "media_sent": ss.media_packets,
                "repair_sent": ss.repair_packets, "media_on_wire": self.media_on_wire, "uplink_lost": self.up.lost, "downlink_lost": self.down.lost,
                "rx_media": rs.media, "rx_late": rs.late, "rx_recovered": rs.recovered_fec + rs.recovered_red,
                "rx_ticks": rs.ticks, "fec": str(self.sender.scheme), **self.counts,
                "record": str(self.record_path) if self.record_path else None}


def warm_client_path(config: ClientConfig) -> None:
    """Run every kernel the client's stream can reach once (see ``audio3a.server.warm``)."""
    warm_packet_path(config.sample_rate, config.frame_ms, config.payload)


async def _run_all(sessions, extra_s=None):
    return await asyncio.gather(*(s.run(extra_s) for s in sessions))


def run_clients(signal, config: ClientConfig, sessions: int = 1, record=None, stagger_s: float = 0.007):
    """Run ``sessions`` clients at once (seeds ``seed + i``, starts staggered); returns their results."""
    from pathlib import Path
    warm_client_path(config)
    clients = []
    for i in range(int(sessions)):
        path = None
        if record is not None:
            p = Path(record)
            path = p if sessions == 1 else p.with_name(f"{p.stem}-{i:03d}{p.suffix or '.wav'}")
        cfg = replace(config, seed=config.seed + i, start_offset_s=config.start_offset_s + i * stagger_s)
        clients.append(ClientSession(signal, cfg, record=path, name=f"client-{i}"))
    return asyncio.run(_run_all(clients))


def build_parser(parser=None):
    """Arguments of ``audio3a client`` (see ``audio3a.server.options``)."""
    from .options import client_arguments
    return client_arguments(parser or argparse.ArgumentParser(
        prog="audio3a client", description="Stream a file to an audio3a server in real time through a "
                                           "channel model; record what comes back."))


def load_signal(path, rate, duration_s=None):
    """The file as mono float32 at ``rate``, looped or cut to ``duration_s``."""
    from ..io import read_audio, resample
    data, info = read_audio(path)
    if data.ndim > 1:
        data = data.mean(axis=1)
    x = data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data.astype(np.float32)
    x = resample(x, info.sample_rate, rate)
    if duration_s is not None:
        n = int(round(duration_s * rate))
        x = np.resize(x, n) if n > 0 else x[:0]
    return x


def main(argv=None, args=None) -> int:
    """``audio3a client IN --server HOST:PORT [...]``; returns the exit status."""
    from ..simulate import parse_loss
    if args is None:
        args = build_parser().parse_args(argv)
    host, port = parse_hostport(args.server)
    if args.sessions < 1:
        raise ValueError("--sessions must be >= 1")
    x = load_signal(args.input, args.rate, args.duration_s)
    cfg = ClientConfig(host=host, port=port, sample_rate=args.rate, loss=parse_loss(args.loss), burst=args.burst,
                       jitter_ms=args.jitter_ms, delay_ms=args.delay_ms, seed=args.seed, drain_s=args.drain_s)
    results = run_clients(x, cfg, args.sessions, args.record)
    for r in results:
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{r['name']}: sent {r['sent_frames']} frames ({r['sent_samples']} samples), "
                  f"received {r['received_samples']} samples, {r['rx_media']} media packets "
                  f"(uplink lost {r['uplink_lost']}, downlink lost {r['downlink_lost']}), fec {r['fec']}"
                  + (f", wrote {r['record']}" if r["record"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
