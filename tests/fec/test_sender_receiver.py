"""Sender -> (lossy, reordering) link -> Receiver: bit-exact audio, FEC/RED recovery, hostile input."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fec.jitter import DTX, EXPAND, IDLE, JitterConfig, LOST, RECEIVED, RECOVERED
from fec.packet import RtpPacket
from fec.payload import FORMATS
from fec.receiver import Receiver, ReceiverConfig
from fec.red import pack_red, parse_red
from fec.sender import Sender, SenderConfig
from fec.packet import PacketError
from fec.sender import REDUNDANT_FORMATS
from fec.shaped import PCMU_SHAPED

RATE = 16000
N = 320
T = 0.02


def pcm_signal(frames, seed=0):
    """Speech-like test signal already on the int16 grid (so L16 is exact)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames * N) / RATE
    x = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(t.size)
    return (np.round(x * 32768) / 32768).astype(np.float32)


def send_all(sender, x):
    """[(frame index, datagram)] in send order."""
    out = []
    for i in range(x.size // N):
        for p in sender.send(x[i * N:(i + 1) * N]):
            out.append((i, p))
    return out


def play(receiver, deliveries, n_ticks, phase=0.0113):
    """deliveries: [(arrival_s, datagram)]; returns the Playout of every tick."""
    deliveries = sorted(deliveries, key=lambda d: d[0])
    k, ticks = 0, []
    for m in range(n_ticks):
        now = m * T + phase
        while k < len(deliveries) and deliveries[k][0] <= now:
            receiver.receive(deliveries[k][1], deliveries[k][0])
            k += 1
        ticks.append(receiver.tick(now))
    return ticks


def frames_by_index(ticks, n_frames):
    """{frame index: (status, frame)} of the frames played (timestamps start at 0)."""
    out = {}
    for t in ticks:
        if t.frame is not None:
            out[t.timestamp // N] = (t.status, t.frame)
            if t.extra is not None:
                out[t.timestamp // N + 1] = (t.status, t.extra)
    return out


@pytest.mark.parametrize("fec", ["none", "xor:4", "rs:4+2", "rs:2+1x2", "red:2"])
def test_lossless_link_is_bit_exact_and_one_playout_per_tick(fec):
    frames = 150
    x = pcm_signal(frames)
    s = Sender(SenderConfig(fec=fec))
    r = Receiver(ReceiverConfig(fec_delay_ms=s.added_latency_ms))
    pk = send_all(s, x)
    ticks = play(r, [(i * T + 0.04, p) for i, p in pk], frames + 20)
    assert len(ticks) == frames + 20
    started = [t for t in ticks if t.status != IDLE]
    y = np.concatenate([t.frame for t in started[:frames]])
    assert all(t.status == RECEIVED for t in started[:frames])
    assert np.array_equal(y, x)
    assert r.stats.drops == {} and r.stats.late == 0


@pytest.mark.parametrize("payload", ["PCMU", "PCMA"])
def test_g711_payloads_decode_to_the_codec_values(payload):
    frames = 40
    x = pcm_signal(frames, 1)
    s = Sender(SenderConfig(payload=payload))
    r = Receiver(ReceiverConfig(payload=payload))
    ticks = play(r, [(i * T + 0.04, p) for i, p in send_all(s, x)], frames + 10)
    got = frames_by_index(ticks, frames)
    fmt = FORMATS[payload]
    for i in range(frames):
        assert np.array_equal(got[i][1], fmt.decode(fmt.encode(x[i * N:(i + 1) * N])))


def test_every_erasure_pattern_of_a_block_recovers_bit_exact():
    frames = 12                                   # three RS(4+2) blocks
    x = pcm_signal(frames, 2)
    s = Sender(SenderConfig(fec="rs:4+2"))
    pk = send_all(s, x)
    assert len(pk) == frames + 6
    block = pk[6:12]                              # second block: media 4..7, then its 2 repairs
    assert [i for i, _ in block] == [4, 5, 6, 7, 7, 7]
    for n_lost in (1, 2):
        for lost in itertools.combinations(range(6), n_lost):
            r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
            keep = [(i * T + 0.04, p) for j, (i, p) in enumerate(pk) if not (6 <= j < 12 and j - 6 in lost)]
            ticks = play(r, keep, frames + 15)
            got = frames_by_index(ticks, frames)
            for i in range(frames):
                status, frame = got[i]
                assert np.array_equal(frame, x[i * N:(i + 1) * N])
                assert status == (RECOVERED if 4 <= i < 8 and i - 4 in lost else RECEIVED)


@pytest.mark.parametrize("red_payload", [None, "PCMU-SHAPED", "DVI4", "APC4"])
def test_red_copies_fill_losses_with_the_redundant_encoding(red_payload):
    frames = 60
    x = pcm_signal(frames, 3)
    kw = {} if red_payload is None else dict(red_payload=red_payload)
    s = Sender(SenderConfig(fec="red:@1,3", **kw))
    pk = send_all(s, x)
    lost = {10, 11, 12, 30}                       # a burst of 3 and a single loss
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0, **kw))
    ticks = play(r, [(i * T + 0.04, p) for i, p in pk if i not in lost], frames + 10)
    got = frames_by_index(ticks, frames)
    mu = REDUNDANT_FORMATS[s.config.red_payload]  # default: APC4
    assert s.config.red_payload == (red_payload or "APC4")
    for i in range(frames - 3):
        status, frame = got[i]
        if i in lost:
            assert status == RECOVERED
            assert np.array_equal(frame, mu.decode(mu.encode(x[i * N:(i + 1) * N])))
        else:
            assert status == RECEIVED and np.array_equal(frame, x[i * N:(i + 1) * N])
    assert r.stats.recovered_red == len(lost)


def test_burst_beyond_the_code_is_reported_lost_not_crashed_on():
    frames = 80
    x = pcm_signal(frames, 4)
    s = Sender(SenderConfig(fec="rs:4+2"))
    pk = send_all(s, x)
    # 5 consecutive datagrams lost inside one block: more than m = 2 of its 6
    drop = set(range(30, 35))
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
    ticks = play(r, [(i * T + 0.04, p) for j, (i, p) in enumerate(pk) if j not in drop], frames + 10)
    statuses = [t.status for t in ticks]
    assert statuses.count(LOST) + statuses.count(EXPAND) >= 1
    got = frames_by_index(ticks, frames)
    assert len(got) >= frames - 4
    assert all(np.array_equal(f, x[i * N:(i + 1) * N]) for i, (_, f) in got.items())


def test_reordering_within_the_buffer_depth_loses_nothing():
    frames = 200
    x = pcm_signal(frames, 5)
    s = Sender(SenderConfig())
    rng = np.random.default_rng(9)
    pk = send_all(s, x)
    arrivals = [(i * T + 0.04 + rng.uniform(0, 0.05), p) for i, p in pk]   # up to 2.5 frames of reordering
    r = Receiver(ReceiverConfig(jitter=JitterConfig(min_delay_ms=70.0)))
    got = frames_by_index(play(r, arrivals, frames + 20), frames)
    assert sorted(got) == list(range(frames))
    assert all(np.array_equal(f, x[i * N:(i + 1) * N]) for i, (_, f) in got.items())
    assert r.stats.late == 0


def test_duplicates_are_ignored():
    frames = 100
    x = pcm_signal(frames, 6)
    s = Sender(SenderConfig(fec="xor:4"))
    pk = send_all(s, x)
    arrivals = [(i * T + 0.04, p) for i, p in pk] + [(i * T + 0.047, p) for i, p in pk]
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
    ticks = play(r, arrivals, frames + 15)
    got = frames_by_index(ticks, frames)
    assert sorted(got) == list(range(frames))
    assert r.stats.duplicates == frames
    played = [t.timestamp for t in ticks if t.frame is not None]
    assert len(played) == len(set(played))


def test_sequence_and_timestamp_wrap():
    frames = 100
    x = pcm_signal(frames, 7)
    s = Sender(SenderConfig(fec="rs:4+2", first_sequence=65530, first_timestamp=2 ** 32 - 5 * N))
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
    pk = send_all(s, x)
    keep = [(i * T + 0.04, p) for j, (i, p) in enumerate(pk) if j != 3]      # seq 65533 lost, rebuilt
    ticks = play(r, keep, frames + 15)
    started = [t for t in ticks if t.status != IDLE][:frames]
    y = np.concatenate([t.frame for t in started])
    assert np.array_equal(y, x)
    assert [t.status for t in started].count(RECOVERED) == 1


def test_ssrc_change_resets_after_probation_and_stray_packets_are_ignored():
    frames = 60
    x = pcm_signal(frames, 8)
    a = Sender(SenderConfig(ssrc=1))
    b = Sender(SenderConfig(ssrc=2, first_sequence=5000, first_timestamp=123456))
    pa = send_all(a, x[:30 * N])
    pb = send_all(b, x[30 * N:])
    stray = RtpPacket(96, 777, 999, 0xBADBAD, bytes(2 * N)).pack()
    arrivals = [(i * T + 0.04, p) for i, p in pa] + [(0.3, stray)] + \
               [((30 + i) * T + 0.04, p) for i, p in pb]
    r = Receiver(ReceiverConfig())
    ticks = play(r, arrivals, frames + 20)
    assert r.stats.source_changes == 1 and r.ssrc == 2
    assert r.stats.drops.get("ssrc", 0) == 2          # the stray one and the first of the new source
    played = np.concatenate([t.frame for t in ticks if t.frame is not None])
    assert played.size >= (frames - 3) * N


def test_dtx_silence_is_not_counted_as_loss():
    frames = 120
    x = pcm_signal(frames, 9)
    x[40 * N:80 * N] = 0.0                          # 800 ms of digital silence
    s = Sender(SenderConfig(dtx=True, dtx_hangover=3))
    pk = send_all(s, x)
    assert s.stats.dtx_frames >= 30
    r = Receiver(ReceiverConfig(jitter=JitterConfig(stall_gap_ms=2000.0, min_delay_ms=60.0)))
    ticks = play(r, [(i * T + 0.04, p) for i, p in pk], frames + 10)
    rep = r.report(2400)
    from fec.adapt import LossReport
    assert LossReport.parse(rep).lost == 0
    assert DTX in [t.status for t in ticks]
    got = frames_by_index(ticks, frames)
    assert all(i in got for i in range(frames) if i < 40 or i >= 81)


def test_corrupt_and_hostile_datagrams_are_dropped_and_counted():
    frames = 40
    x = pcm_signal(frames, 10)
    s = Sender(SenderConfig(fec="rs:4+2"))
    pk = send_all(s, x)
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
    bad = [b"", b"\x00" * 5, b"\x40" + bytes(20), "text", None,
           RtpPacket(96, 3, 0, s.config.ssrc, b"\x01\x02\x03").pack(),          # odd L16 payload
           RtpPacket(97, 4, 0, s.config.ssrc, b"\x85").pack(),                  # truncated RED header
           RtpPacket(99, 9, 0, s.config.repair_ssrc, b"\x10" * 30).pack(),      # bad repair header
           RtpPacket(55, 9, 0, s.config.ssrc, b"x").pack()]                     # unknown payload type
    arrivals = [(i * T + 0.04, p) for i, p in pk] + [(0.1 + 0.001 * j, b) for j, b in enumerate(bad)]
    ticks = play(r, arrivals, frames + 15)
    drops = r.stats.drops
    assert sum(drops.values()) == len(bad)
    assert {"truncated", "version", "not_bytes", "payload", "red", "payload_type"} <= set(drops)
    assert any(k.startswith("repair") for k in drops)
    got = frames_by_index(ticks, frames)
    assert all(np.array_equal(f, x[i * N:(i + 1) * N]) for i, (_, f) in got.items())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=6), st.integers(0, 17),
       st.integers(0, 40))
def test_mutated_datagrams_never_raise(mutations, which, cut):
    s = Sender(SenderConfig(fec="rs:4+2" if which % 2 else "red:2"))
    x = pcm_signal(6, 11)
    pk = [p for _, p in send_all(s, x)]
    r = Receiver(ReceiverConfig())
    for k, p in enumerate(pk):
        data = bytearray(p)
        if k == which % len(pk):
            for pos, val in mutations:
                if data:
                    data[pos % len(data)] = val
            data = data[:len(data) - cut] if cut < len(data) else data
        r.receive(bytes(data), k * T)
        r.tick(k * T + 0.01)


def test_red_payload_round_trip_and_rejections():
    body = pack_red(96, b"primary", [(98, 640, b"old2"), (98, 320, b"old1")])
    pt, primary, red = parse_red(body)
    assert (pt, primary) == (96, b"primary")
    assert red == [(98, 640, b"old2"), (98, 320, b"old1")]
    for bad in (b"", b"\x80\x00", body[:3], b"\x80\x00\x00\x05\x60ab"):
        with pytest.raises(PacketError):
            parse_red(bad)


def test_loss_report_from_the_receiver_counts_media_losses():
    frames = 500
    x = pcm_signal(frames, 12)
    s = Sender(SenderConfig())
    pk = send_all(s, x)
    rng = np.random.default_rng(3)
    lost = set(np.flatnonzero(rng.random(frames) < 0.1).tolist()) - {frames - 1}
    r = Receiver(ReceiverConfig())
    play(r, [(i * T + 0.04, p) for i, p in pk if i not in lost], frames + 10)
    from fec.adapt import LossReport
    rep = LossReport.parse(r.report(10000))
    assert rep.expected >= frames - 10
    assert rep.lost == pytest.approx(len([i for i in lost if i < rep.expected]), abs=1)


def test_a_late_packet_still_completes_its_fec_block():
    frames = 20
    x = pcm_signal(frames, 13)
    s = Sender(SenderConfig(fec="rs:4+2"))
    pk = send_all(s, x)
    # second block: media 4..7 at datagrams 6..9, repairs at 10, 11
    lossless = play(Receiver(ReceiverConfig(fec_delay_ms=60.0)), [(i * T + 0.04, p) for i, p in pk], frames + 15)
    due4 = next(m * T + 0.0113 for m, t in enumerate(lossless) if t.timestamp == 4 * N)
    due6 = next(m * T + 0.0113 for m, t in enumerate(lossless) if t.timestamp == 6 * N)
    arrivals = []
    for j, (i, p) in enumerate(pk):
        if j in (8, 11):                          # media 6 and one repair lost
            continue
        arrivals.append((due4 + 0.005 if j == 6 else i * T + 0.04, p))   # media 4 comes after its playout
    assert due4 + 0.005 < due6
    r = Receiver(ReceiverConfig(fec_delay_ms=60.0))
    got = frames_by_index(play(r, arrivals, frames + 15), frames)
    assert 4 not in got and r.stats.late == 1
    assert got[6][0] == RECOVERED and np.array_equal(got[6][1], x[6 * N:7 * N])


def test_shaped_mulaw_puts_less_noise_in_the_weak_high_band_than_plain_mulaw():
    rng = np.random.default_rng(14)
    # speech-like tilt: strong low band, weak high band
    white = rng.standard_normal(16000)
    x = np.zeros_like(white)
    for n in range(1, white.size):
        x[n] = 0.95 * x[n - 1] + white[n]
    x = (0.2 * x / np.max(np.abs(x))).astype(np.float32)
    plain = np.concatenate([FORMATS["PCMU"].decode(FORMATS["PCMU"].encode(x[i:i + N])) for i in range(0, x.size, N)])
    shaped = np.concatenate([PCMU_SHAPED.decode(PCMU_SHAPED.encode(x[i:i + N])) for i in range(0, x.size, N)])

    def high_band_noise(y):
        e = np.fft.rfft(y - x)
        return float(np.sum(np.abs(e[e.size // 2:]) ** 2))

    assert high_band_noise(shaped) < 0.5 * high_band_noise(plain)
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((shaped - x) ** 2.0))
    assert snr > 30.0
    assert len(PCMU_SHAPED.encode(x[:N])) == N          # one byte per sample, like PCMU
