"""A client that dies leaves a complete recording; bad traffic is dropped and counted; shutdown keeps all."""
import asyncio
import json
import socket
import struct

import numpy as np
import soundfile as sf

from audio3a.server.recorder import sha256_file
from audio3a.server.server import ServerConfig
from fec.packet import RtpPacket

from server_helpers import client, speech, with_server


def _sidecars(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


async def _wait_closed(server, seconds=5.0):
    for _ in range(int(seconds / 0.05)):
        if not server.sessions and not server._pending_closes:
            return
        await asyncio.sleep(0.05)


def test_killed_client_leaves_complete_valid_recording(tmp_path):
    rec = tmp_path / "rec"

    async def body(server):
        c = client(server, speech(3.0), delay_ms=5.0, seed=3)
        task = asyncio.ensure_future(c.run())
        await asyncio.sleep(1.5)
        # mid-stream, the recording on disk is already a valid WAV of what was received so far
        (rx,) = rec.glob("*.rx.wav")
        assert 0 < sf.info(str(rx)).frames <= 1.5 * 16000
        task.cancel()                            # the client dies: no BYE, its socket just goes away
        try:
            await task
        except asyncio.CancelledError:
            pass
        on_wire = c.media_on_wire
        await _wait_closed(server)
        return on_wire

    cfg = ServerConfig(record_dir=str(rec), idle_timeout_s=0.5)
    on_wire = asyncio.run(with_server(cfg, body))
    (doc,) = _sidecars(rec)
    assert doc["status"] == "closed" and doc["close_reason"] == "idle"
    rx = doc["files"]["rx"]
    # every media frame that reached the socket is recorded, nothing invented after the last one
    assert rx["samples"] == on_wire * 320
    assert doc["stats"]["counts"]["rx_dropped_tail"] >= 0
    for name in ("rx", "tx"):
        f = doc["files"][name]
        path = rec / f["path"]
        assert sha256_file(path) == f["sha256"]
        data, rate = sf.read(str(path), dtype="int16")
        assert rate == 16000 and data.size == f["samples"]


def test_server_shutdown_closes_recordings_with_everything_received(tmp_path):
    rec = tmp_path / "rec"
    holder = {}

    async def body(server):
        c = client(server, speech(3.0), delay_ms=5.0, seed=4)
        holder["task"] = asyncio.ensure_future(c.run())
        holder["client"] = c
        await asyncio.sleep(1.2)                 # then the server stops (as on SIGTERM) mid-stream

    asyncio.run(_shutdown_mid_stream(ServerConfig(record_dir=str(rec)), body, holder))
    (doc,) = _sidecars(rec)
    assert doc["status"] == "closed" and doc["close_reason"] == "shutdown"
    received = doc["stats"]["rx"]["media"]
    # everything the server had received is in the recording (the buffered tail played out at stop);
    # at most the packet in flight at that moment did not arrive
    assert doc["files"]["rx"]["samples"] == received * 320
    assert holder["on_wire"] - 1 <= received <= holder["on_wire"]
    assert sha256_file(rec / doc["files"]["rx"]["path"]) == doc["files"]["rx"]["sha256"]


async def _shutdown_mid_stream(config, body, holder):
    await with_server(config, body)              # stops the server: drain + close every session
    holder["on_wire"] = holder["client"].media_on_wire_at_stop = holder["client"].media_on_wire
    holder["task"].cancel()
    try:
        await holder["task"]
    except asyncio.CancelledError:
        pass


def test_bad_traffic_is_dropped_counted_and_harmless(tmp_path):
    async def body(server):
        good = client(server, speech(2.0), delay_ms=5.0, seed=5)
        task = asyncio.ensure_future(good.run())
        await asyncio.sleep(0.3)
        host, port = server.address
        rogue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rogue.bind(("127.0.0.1", 0))
        target = (host, port)
        rng = np.random.default_rng(0)
        for _ in range(20):                                          # random bytes
            rogue.sendto(bytes([0x3F]) + rng.bytes(40), target)
        rogue.sendto(b"\x80", target)                                # one byte
        rogue.sendto(b"\x80\x60" + b"\x00" * 5, target)              # truncated RTP header
        rogue.sendto(b"\x80" * 2000, target)                         # oversize
        rogue.sendto(struct.pack("!BB", 1, 1) + b"\x00" * 40, target)   # feedback from nobody
        bye = struct.pack("!BBHI", 0x81, 203, 1, 0x1234)
        rogue.sendto(bye, target)                                     # BYE from nobody
        # valid RTP opens a session for the rogue; then a foreign SSRC and a flood from it
        for seq in range(3):
            rogue.sendto(RtpPacket(96, seq, seq * 320, 0xBAD0001, b"\x00" * 640).pack(), target)
        await asyncio.sleep(0.05)
        rogue.sendto(RtpPacket(96, 7, 0, 0xBAD0002, b"\x00" * 640).pack(), target)
        for seq in range(400):                   # 10 000 datagrams/s for 40 ms
            rogue.sendto(RtpPacket(96, 100 + seq, seq * 320, 0xBAD0001, b"\x00" * 640).pack(), target)
            if seq % 50 == 49:
                await asyncio.sleep(0.005)
        # a third address is refused: the server is configured for two sessions
        third = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        third.bind(("127.0.0.1", 0))
        third.sendto(RtpPacket(96, 0, 0, 0xBAD0003, b"\x00" * 640).pack(), target)
        await asyncio.sleep(0.2)
        rogue.close()
        third.close()
        result = await task
        good_stats = [s.stats() for s in server.sessions.values() if s.ssrc == int(result["ssrc"], 16)]
        closed = [s for s in server.closed_sessions if s["ssrc"] == result["ssrc"]]
        return result, (good_stats or closed)[0], dict(server.drops.counts)

    cfg = ServerConfig(max_sessions=2, idle_timeout_s=1.0, rate_pps=250.0, burst=100.0)
    result, good, drops = asyncio.run(with_server(cfg, body))
    print(drops)
    assert drops["malformed"] >= 21                 # random bytes + the one-byte datagram
    assert drops["malformed_rtp"] >= 1
    assert drops["oversize"] == 1
    assert drops["unknown_source"] >= 2
    assert drops["unknown_ssrc"] >= 1
    assert drops["flood"] >= 200
    assert drops["session_limit"] >= 1
    # the good participant's stream was not disturbed: nothing of its own was dropped
    assert good["rx"]["drops"] == {} and good["rx"]["media"] == result["media_on_wire"]
    # (the rogue shares the event loop in this test, so its bursts delay the tick by a few ms: allow 2 late)
    assert good["rx"]["late"] <= 2
