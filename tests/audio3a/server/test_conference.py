"""Two clients talk through the server at 10 % loss: each hears the other; recordings are exact."""
import asyncio
import json

import numpy as np
import soundfile as sf

from audio3a.server.recorder import sha256_file
from audio3a.server.server import ServerConfig

from server_helpers import client, speech, with_server


def heard(y, x, max_lag, win=8000):
    """Median over the voiced 0.5 s windows of ``x`` of the best normalised correlation with ``y``
    at any delay in 0..max_lag samples (per window, so jitter-buffer time-scale steps do not matter)."""
    scores = []
    for start in range(0, len(x) - win + 1, win):
        seg = x[start:start + win]
        if np.sqrt(np.mean(seg ** 2)) < 0.01:
            continue
        region = y[start:start + win + max_lag]
        if len(region) < win:
            break
        num = np.correlate(region, seg, mode="valid")
        energy = np.convolve(region ** 2, np.ones(win), mode="valid")
        scores.append(float(np.max(num / (np.sqrt(energy * np.sum(seg ** 2)) + 1e-9))))
    return float(np.median(scores))


def test_two_clients_hear_each_other_at_10_percent_loss(tmp_path):
    seconds = 5.0                                  # ten 0.5 s windows: a stable median
    a_in, b_in = speech(seconds, 0.0), speech(seconds, 4.5)

    async def body(server):
        a = client(server, a_in, loss=0.10, seed=1, record=tmp_path / "a.wav", drain_s=1.0)
        b = client(server, b_in, loss=0.10, seed=2, record=tmp_path / "b.wav", drain_s=1.0)
        ra, rb = await asyncio.gather(a.run(), b.run())
        for _ in range(100):                     # the server closes both sessions after their BYE
            if not server.sessions and not server._pending_closes:
                break
            await asyncio.sleep(0.05)
        return ra, rb, server

    cfg = ServerConfig(record_dir=str(tmp_path / "rec"), idle_timeout_s=2.0)
    ra, rb, server = asyncio.run(with_server(cfg, body))
    for st in server.closed_sessions:          # shown when the test fails
        print(st["ssrc"], st["closing"], st["rx"], st["plc"], st["counts"])
    print(ra)
    print(rb)
    assert ra["uplink_lost"] > 0 and rb["downlink_lost"] > 0
    a_out, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    b_out, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    lag = 16000                                    # up to 1 s of network + jitter-buffer delay
    a_hears_b, a_hears_a = heard(a_out, b_in, lag), heard(a_out, a_in, lag)
    b_hears_a, b_hears_b = heard(b_out, a_in, lag), heard(b_out, b_in, lag)
    print(f"a hears b {a_hears_b:.3f} (self {a_hears_a:.3f}); b hears a {b_hears_a:.3f} (self {b_hears_b:.3f})")
    # measured over 20 runs on a loaded 2-core machine: 0.41-0.75 for the other's speech, 0.19-0.29 for
    # one's own (never mixed back: what is left is the chance similarity of the best of 16000 lags)
    assert a_hears_b > 0.35 and b_hears_a > 0.35
    assert a_hears_a < 0.35 and b_hears_b < 0.35
    assert a_hears_b - a_hears_a > 0.1 and b_hears_a - b_hears_b > 0.1

    # recording exactness: the rx track holds exactly the samples each client sent; files hash as claimed
    sidecars = [json.loads(p.read_text()) for p in sorted((tmp_path / "rec").glob("*.json"))]
    assert len(sidecars) == 2
    sent = {ra["ssrc"]: ra["sent_samples"], rb["ssrc"]: rb["sent_samples"]}
    for doc in sidecars:
        assert doc["status"] == "closed" and doc["close_reason"] == "bye"
        assert doc["files"]["rx"]["samples"] == sent[doc["ssrc"]] == int(seconds * 16000)
        for name in ("rx", "tx"):
            f = doc["files"][name]
            path = tmp_path / "rec" / f["path"]
            assert sha256_file(path) == f["sha256"]
            info = sf.info(str(path))
            assert info.frames == f["samples"] and info.samplerate == 16000
        assert doc["stats"]["plc"]["concealed_frames"] >= 0
        assert doc["stats"]["rx"]["media"] > 0
    assert server.dropped_frames == 0
