"""Serving at 48 kHz: two clients through the server, each hears the other; recordings are exact."""
import asyncio
import json

import numpy as np
from scipy.signal import resample_poly

from audio3a.server.client import ClientConfig, warm_client_path
from audio3a.server.server import ServerConfig
from audio3a.server.session import SessionConfig

from server_helpers import client, speech, with_server
from test_conference import heard

RATE = 48000


def test_two_clients_at_48_khz(tmp_path):
    seconds = 3.0
    warm_client_path(ClientConfig(sample_rate=RATE))   # nothing compiles inside the real-time loop
    a_in = resample_poly(speech(seconds, 0.0), 3, 1).astype(np.float32)
    b_in = resample_poly(speech(seconds, 4.5), 3, 1).astype(np.float32)

    async def body(server):
        a = client(server, a_in, sample_rate=RATE, loss=0.05, seed=1, record=tmp_path / "a.wav", drain_s=1.0)
        b = client(server, b_in, sample_rate=RATE, loss=0.05, seed=2, record=tmp_path / "b.wav", drain_s=1.0)
        ra, rb = await asyncio.gather(a.run(), b.run())
        for _ in range(100):
            if not server.sessions and not server._pending_closes:
                break
            await asyncio.sleep(0.05)
        return ra, rb, server

    cfg = ServerConfig(record_dir=str(tmp_path / "rec"), idle_timeout_s=2.0,
                       session=SessionConfig(sample_rate=RATE), prebuilt_sessions=2)
    ra, rb, server = asyncio.run(with_server(cfg, body, timeout_s=30.0))
    import soundfile as sf
    a_out, ra_rate = sf.read(tmp_path / "a.wav", dtype="float32")
    b_out, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    assert ra_rate == RATE
    # compare at 16 kHz (the speech band the correlation measure was calibrated on)
    a16, b16 = resample_poly(a_out, 1, 3), resample_poly(b_out, 1, 3)
    a_src, b_src = speech(seconds, 0.0), speech(seconds, 4.5)
    lag = 16000
    a_hears_b, a_hears_a = heard(a16, b_src, lag), heard(a16, a_src, lag)
    b_hears_a, b_hears_b = heard(b16, a_src, lag), heard(b16, b_src, lag)
    print(f"48 kHz: a hears b {a_hears_b:.3f} (self {a_hears_a:.3f}); b hears a {b_hears_a:.3f} (self {b_hears_b:.3f})")
    assert a_hears_b > 0.35 and b_hears_a > 0.35
    assert a_hears_b - a_hears_a > 0.1 and b_hears_a - b_hears_b > 0.1
    sidecars = [json.loads(p.read_text()) for p in sorted((tmp_path / "rec").glob("*.json"))]
    assert len(sidecars) == 2
    sent = {ra["ssrc"]: ra["sent_samples"], rb["ssrc"]: rb["sent_samples"]}
    for doc in sidecars:
        assert doc["status"] == "closed" and doc["sample_rate"] == RATE
        assert doc["files"]["rx"]["samples"] == sent[doc["ssrc"]] == int(seconds * RATE)
    assert server.dropped_frames == 0
