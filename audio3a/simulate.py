"""Weak-network simulation: sender -> lossy, jittery channel -> receiver -> concealer, one run.

``simulate(signal, sample_rate, ...)`` cuts the signal into ``frame_ms``
frames and plays the whole real-time path in simulated time:

1. ``fec.Sender`` turns frame ``i`` (sent at ``i T``) into a media packet
   (L16 by default, bit-exact) plus the redundancy of the chosen scheme:
   block repair packets (``xor:k``, ``rs:k+m``, with ``xK`` interleave) or
   RFC 2198 copies (``red:N``, ``red:@d1,d2``) in ``red_payload`` (default
   APC4, ``fec.apc``: 4-bit predictive coding with its noise under the speech
   spectrum, 29 % of an L16 packet, so two copies fit in 60 % overhead);
2. the channel drops packets (seeded Bernoulli, Gilbert–Elliott from loss
   and mean burst, or a 0/1 trace) and delays the rest (``fec.channel``
   ``DelayModel``: base delay plus normal jitter, or any model passed in);
3. ``fec.Receiver`` files what arrives in its adaptive jitter buffer, runs
   FEC recovery and gives one playout decision per frame tick (the tick
   clock runs at the frame rate with an arbitrary phase);
4. the ``audio3a.plc`` concealer fills what is missing (or zeros with
   ``plc=False``); when the jitter buffer asks to shed a frame, the two
   frames are compressed into one by WSOLA (``audio3a.plc.wsola``), and a
   frame it asks to add is concealed.

``fec="auto"``: the receiver sends a ``fec.adapt.LossReport`` every
``report_ms``; it reaches the sender after the base delay, whose
``RateController`` picks the scheme (residual target ``target_loss``,
latency budget ``budget_ms``, overhead cap ``max_overhead``).

The report gives loss before FEC (media packets the channel dropped), after
FEC (frames neither received nor rebuilt, whenever), late loss (frames that
came, or were rebuilt, after their playout time), frames concealed, playout
delay (tick time minus send time of played frames: mean, p95, max; added
FEC delay included), overhead (redundancy bytes per media byte, RTP headers
counted) and, with ``score=True`` and the eval extra installed, PESQ-WB and
PLCMOS of the output.
"""
import argparse
import heapq
import sys

import numpy as np

from fec.adapt import ControllerConfig, RateController, parse_scheme
from fec.channel import Bernoulli, DelayModel, GilbertElliott, Trace
from fec.jitter import ACCELERATE, CrossfadeStretcher, IDLE, JitterConfig, RECEIVED, RECOVERED
from fec.receiver import Receiver, ReceiverConfig
from fec.sender import Sender, SenderConfig, red_ratio

__all__ = ["simulate", "main", "build_parser", "parse_loss", "parse_overhead", "format_report"]

MAX_SLOTS = 8          # packets per frame time the pre-drawn delays cover


def parse_loss(text):
    """``"20%"``, ``"0.2"`` or ``20`` (percent when > 1) -> 0.2."""
    s = str(text).strip()
    try:
        v = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise ValueError(f"loss {text!r} is not a number: use e.g. 20% or 0.2") from None
    if v > 1.0 and not s.endswith("%"):
        v /= 100.0
    if not 0.0 <= v < 1.0:
        raise ValueError(f"loss {text!r} must lie in [0, 100) %")
    return v


def parse_overhead(text):
    """``"60%"`` or ``0.6`` -> 0.6 (any value >= 0; percent when it ends in %)."""
    s = str(text).strip()
    try:
        v = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise ValueError(f"overhead {text!r} is not a number: use e.g. 60% or 0.6") from None
    if not v >= 0.0:
        raise ValueError(f"overhead {text!r} must be >= 0")
    return v


def _loss_model(loss, burst, trace):
    if trace is not None:
        return Trace(str(trace))
    if loss <= 0.0:
        return None
    if burst is None or burst <= 1.0 / (1.0 - loss) + 1e-9:
        return Bernoulli(loss) if burst is None else GilbertElliott(loss, max(burst, loss / (1 - loss), 1.0))
    return GilbertElliott(loss, burst)


def _stretcher(sample_rate, frame_ms, frame_len):
    try:
        from .plc.wsola import TimeStretcher
    except ImportError:
        return None, CrossfadeStretcher(frame_len)
    return TimeStretcher(sample_rate, int(frame_ms), max_change_ms=frame_ms / 2.0), None


def simulate(signal, sample_rate, loss=0.0, burst=None, trace=None, jitter_ms=0.0, fec="none", plc=True,
             seed=0, frame_ms=20, payload="L16", delay=None, base_delay_ms=40.0, target_loss=0.01,
             budget_ms=60.0, max_overhead=1.0, jitter=None, report_ms=1000, score=False, dtx=False,
             loss_mask=None, loss_schedule=None, red_payload=None):
    """Run the weak-network path on ``signal``; returns ``(audio_out, report)``.

    ``loss``: packet loss rate (fraction or ``"20%"``); ``burst``: mean loss
    burst in packets (Gilbert–Elliott; ``None``: independent losses);
    ``trace``: a 0/1-per-packet loss file instead; ``jitter_ms``: delay
    standard deviation around ``base_delay_ms`` (``delay``: a full
    ``fec.channel.DelayModel`` instead); ``fec``: ``auto``, ``none``,
    ``xor:4``, ``rs:4+2``, ``rs:2+1x2``, ``red:2``, ``red:@1,3``; ``plc``:
    conceal missing frames (else zeros); ``jitter``: a ``fec.jitter.JitterConfig``;
    ``loss_mask``: an explicit per-datagram loss mask (True = lost, in send
    order, repeated if short) instead of a loss model; ``loss_schedule``: a
    list of ``(start_s, loss, burst)``: the loss model changes at those send
    times (each segment draws its own seeded mask); ``red_payload``: the
    format of RED copies (``fec.sender.REDUNDANT_FORMATS``; default the
    sender's, APC4); with ``auto`` the controller's ``red_ratio`` is its real size.
    The output has the input's length (the initial playout delay is removed).
    """
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"signal must be mono (1-D), got shape {x.shape}; downmix first")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("signal holds NaN or Inf samples")
    loss = parse_loss(loss)
    frame_len = int(sample_rate * frame_ms / 1000)
    if frame_len * 1000 != sample_rate * frame_ms:
        raise ValueError(f"frame_ms={frame_ms} is not a whole number of samples at {sample_rate} Hz")
    n_frames = -(-x.size // frame_len)
    padded = np.zeros(n_frames * frame_len, np.float32)
    padded[:x.size] = x
    auto = str(fec).strip().lower() == "auto"
    controller = None
    red_kw = {} if red_payload is None else dict(red_payload=red_payload)
    if auto:
        ratio = red_ratio(SenderConfig(sample_rate=sample_rate, frame_ms=frame_ms, payload=payload, **red_kw))
        controller = RateController(ControllerConfig(target=target_loss, budget_ms=budget_ms, frame_ms=frame_ms,
                                                     max_overhead=max_overhead, red_ratio=ratio))
        scheme = controller.scheme
    else:
        scheme = parse_scheme(fec)
    sender = Sender(SenderConfig(sample_rate=sample_rate, frame_ms=frame_ms, payload=payload, fec=str(scheme),
                                 dtx=dtx, **red_kw))
    jcfg = jitter if jitter is not None else JitterConfig(frame_ms=frame_ms)
    receiver = Receiver(ReceiverConfig(sample_rate=sample_rate, frame_ms=frame_ms, payload=payload, jitter=jcfg,
                                       fec_delay_ms=sender.added_latency_ms, **red_kw))
    receiver.log = []
    media_pts = (sender.config.payload_type, sender.config.red_payload_type)

    # channel draws, all from one seed
    ss = np.random.SeedSequence(seed)
    s_loss, s_delay, s_dup, s_phase = ss.spawn(4)
    model = _loss_model(loss, burst, trace)
    n_slots = n_frames * MAX_SLOTS
    if loss_mask is not None:
        lm = np.asarray(loss_mask, dtype=bool).reshape(-1)
        if lm.size == 0:
            raise ValueError("loss_mask is empty")
        segments = [(0.0, np.resize(lm, n_slots))]
    elif loss_schedule is not None:
        seg_seeds = s_loss.spawn(len(loss_schedule))
        segments = []
        for (start, l_, b_), sd in zip(sorted(loss_schedule, key=lambda e: e[0]), seg_seeds):
            m_ = _loss_model(parse_loss(l_), b_, None)
            segments.append((float(start), np.zeros(n_slots, bool) if m_ is None else m_.mask(n_slots, sd)))
    else:
        segments = [(0.0, np.zeros(n_slots, bool) if model is None else model.mask(n_slots, s_loss))]
    seg_used = [0] * len(segments)
    dm = delay if delay is not None else DelayModel(base_ms=base_delay_ms, jitter_ms=jitter_ms)
    send_ms = np.repeat(np.arange(n_frames) * float(frame_ms), MAX_SLOTS)
    delays_ms = dm.sample_ms(send_ms, s_delay).reshape(n_frames, MAX_SLOTS)
    rng_dup = np.random.default_rng(s_dup)
    phase = float(np.random.default_rng(s_phase).uniform(0.05, 0.95)) * frame_ms / 1000.0

    frame_s = frame_ms / 1000.0
    events = []            # (arrival_s, order, bytes)
    order = 0
    sent_media = dropped_media = 0
    feedback = []          # (time_s at the sender, report bytes)
    next_report = report_ms / 1000.0
    concealer = None
    if plc:
        from .plc import Concealer, PlcConfig
        concealer = Concealer(sample_rate, PlcConfig(frame_ms=int(frame_ms)))
    wsola, fallback = _stretcher(sample_rate, frame_ms, frame_len)
    half = frame_len // 2
    out = []
    tick_log = []          # (tick time, status, timestamp of frame played, extra played)
    schemes = [(0.0, str(scheme))]
    tail_ticks = int((jcfg.max_delay_ms + budget_ms + 200.0) / frame_ms) + 2

    def play(frame):
        """Concealer (or zeros) then the stretcher's pass-through for one tick of output."""
        if concealer is not None:
            y = concealer.process(frame)
        else:
            y = np.zeros(frame_len, np.float32) if frame is None else frame
        if wsola is not None:
            y = wsola.stretch(y, frame_len)
        return np.array(y, np.float32)

    for i in range(n_frames + tail_ticks):
        now = i * frame_s
        if i < n_frames:
            pkts = []
            while feedback and feedback[0][0] <= now:
                _, rep = feedback.pop(0)
                new = controller.update(rep, now)
                if new != sender.scheme:
                    pkts += sender.set_scheme(new)
                    schemes.append((now, str(new)))
            pkts += sender.send(padded[i * frame_len:(i + 1) * frame_len])
            for j, p in enumerate(pkts):
                s = min(j, MAX_SLOTS - 1)
                seg = max(k for k, (start, _) in enumerate(segments) if start <= now or k == 0)
                lost = bool(segments[seg][1][seg_used[seg] % n_slots])
                seg_used[seg] += 1
                if (p[1] & 0x7F) in media_pts:
                    sent_media += 1
                    dropped_media += lost
                if lost:
                    continue
                d = delays_ms[i, s] + (j - s) * 0.01
                arrival = now + d / 1000.0
                heapq.heappush(events, (arrival, order, p))
                order += 1
                if dm.duplicate_rate and rng_dup.random() < dm.duplicate_rate:
                    heapq.heappush(events, (arrival + rng_dup.uniform(0, 0.05), order, p))
                    order += 1
        t = now + phase
        while events and events[0][0] <= t:
            arrival, _, p = heapq.heappop(events)
            receiver.receive(p, arrival)
        if controller is not None and t >= next_report:
            feedback.append((t + dm.base_ms / 1000.0, receiver.report(report_ms)))
            next_report += report_ms / 1000.0
        pl = receiver.tick(t)
        if pl.status == IDLE:
            continue
        tick_log.append((t, pl.status, pl.timestamp, pl.action == ACCELERATE and pl.extra is not None))
        if pl.action == ACCELERATE:
            first = play(pl.frame) if wsola is None else None
            if wsola is not None:
                y1 = concealer.process(pl.frame) if concealer is not None else pl.frame
                a = np.array(wsola.stretch(y1, half), np.float32)
                y2 = concealer.process(pl.extra) if concealer is not None else \
                    (pl.extra if pl.extra is not None else np.zeros(frame_len, np.float32))
                b = np.array(wsola.stretch(y2, frame_len - half), np.float32)
                out.append(np.concatenate((a, b)))
            else:
                second = play(pl.extra) if pl.extra is not None else None
                out.append(first if second is None else np.array(fallback.compress(first, second)))
        else:
            out.append(play(pl.frame))
        if i >= n_frames and len(out) >= n_frames:
            break

    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    y = y[:x.size] if y.size >= x.size else np.concatenate((y, np.zeros(x.size - y.size, np.float32)))
    report = _report(x, y, sample_rate, n_frames, frame_len, frame_s, sender, receiver, tick_log,
                     sent_media, dropped_media, schemes, score)
    return y, report


def _report(x, y, sample_rate, n_frames, frame_len, frame_s, sender, receiver, tick_log, sent_media,
            dropped_media, schemes, score):
    played = {}
    statuses = {}
    for t, status, ts, extra in tick_log:
        statuses[status] = statuses.get(status, 0) + 1
        if status in (RECEIVED, RECOVERED) and ts is not None:
            i = ts // frame_len
            played[i] = t - i * frame_s
            if extra:
                played[i + 1] = t - (i + 1) * frame_s
    arrived = set()
    late = set()
    for ts, _, _, result in receiver.log:
        i = ts // frame_len
        if 0 <= i < n_frames:
            arrived.add(i)
            if result == "late":
                late.add(i)
    frames = range(n_frames)
    n_played = sum(1 for i in frames if i in played)
    late_frames = sum(1 for i in frames if i not in played and i in late)
    delays = np.array([played[i] for i in frames if i in played]) * 1000.0
    st = sender.stats
    rs = receiver.stats
    report = {
        "frames": n_frames,
        "media_packets": st.media_packets,
        "repair_packets": st.repair_packets,
        "loss_before_fec": dropped_media / max(sent_media, 1),
        "loss_after_fec": sum(1 for i in frames if i not in arrived) / n_frames,
        "late_loss": late_frames / n_frames,
        "concealed": (n_frames - n_played) / n_frames,
        "recovered_fec": rs.recovered_fec,
        "recovered_red": rs.recovered_red,
        "delay_mean_ms": float(delays.mean()) if delays.size else float("nan"),
        "delay_p95_ms": float(np.percentile(delays, 95)) if delays.size else float("nan"),
        "delay_max_ms": float(delays.max()) if delays.size else float("nan"),
        "overhead": st.overhead,
        "scheme": schemes[-1][1],
        "schemes": schemes,
        "ticks": statuses,
        "drops": rs.drops,
        "expands": receiver.jitter.stats.expands + receiver.jitter.stats.stalls,
        "accelerates": receiver.jitter.stats.accelerates,
    }
    if score:
        report.update(_scores(x, y, sample_rate))
    return report


def _scores(ref, out, sample_rate):
    try:
        from . import evaluate
    except ImportError:
        return {}
    have = evaluate.available()
    res = {}
    if have.get("pesq_wb"):
        try:
            res["pesq_wb"] = evaluate.pesq_wb(ref, out, sample_rate)
        except Exception as exc:            # a scorer failure must not lose the simulation
            res["pesq_wb_error"] = str(exc)
    if have.get("plcmos"):
        try:
            res["plcmos"] = evaluate.plcmos(out, sample_rate)
        except Exception as exc:
            res["plcmos_error"] = str(exc)
    return res


def format_report(r):
    """Human-readable lines for the CLI."""
    lines = [
        f"frames: {r['frames']} ({r['media_packets']} media + {r['repair_packets']} repair packets), "
        f"fec: {r['scheme']}" + (f" ({len(r['schemes'])} settings over the run)" if len(r['schemes']) > 1 else ""),
        f"loss before FEC: {100 * r['loss_before_fec']:.2f} %   after FEC: {100 * r['loss_after_fec']:.2f} %   "
        f"late: {100 * r['late_loss']:.2f} %   concealed: {100 * r['concealed']:.2f} %",
        f"playout delay: mean {r['delay_mean_ms']:.1f} ms, p95 {r['delay_p95_ms']:.1f} ms, "
        f"max {r['delay_max_ms']:.1f} ms   overhead: {100 * r['overhead']:.1f} %",
    ]
    if "pesq_wb" in r or "plcmos" in r:
        parts = []
        if "pesq_wb" in r:
            parts.append(f"PESQ-WB {r['pesq_wb']:.2f}")
        if "plcmos" in r:
            parts.append(f"PLCMOS {r['plcmos']:.2f}")
        lines.append("quality: " + ", ".join(parts))
    if r["drops"]:
        lines.append("dropped datagrams: " + ", ".join(f"{k}={v}" for k, v in sorted(r["drops"].items())))
    return lines


def build_parser(parser=None):
    """Arguments of ``audio3a simulate`` (adds to ``parser`` when given, e.g. a subcommand's)."""
    p = parser or argparse.ArgumentParser(
        prog="audio3a simulate",
        description="Send a file through a simulated lossy, jittery network with FEC and concealment.")
    p.add_argument("input", help="speech file (WAV, FLAC, ...)")
    p.add_argument("-o", "--output", required=True, help="where to write the received audio")
    p.add_argument("--loss", default="0%", help="packet loss rate, e.g. 20%% (default 0)")
    p.add_argument("--burst", type=float, default=None,
                   help="mean loss burst in packets (Gilbert-Elliott); default: independent losses")
    p.add_argument("--trace", default=None, help="0/1-per-packet loss trace file (instead of --loss)")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="delay jitter standard deviation, ms")
    p.add_argument("--delay-ms", type=float, default=40.0, help="base one-way delay, ms (default 40)")
    p.add_argument("--fec", default="auto", help="auto, none, xor:4, rs:4+2, rs:2+1x2, red:2, red:@1,3")
    p.add_argument("--plc", choices=("on", "off"), default="on", help="conceal missing frames (default on)")
    p.add_argument("--frame-ms", type=int, choices=(10, 20), default=20, help="packet duration")
    p.add_argument("--payload", choices=("L16", "PCMU", "PCMA"), default="L16", help="payload format")
    p.add_argument("--budget-ms", type=float, default=60.0, help="auto FEC: added latency budget, ms")
    p.add_argument("--max-overhead", default="100%", help="auto FEC: overhead cap (default 100%%)")
    p.add_argument("--rate", type=int, choices=(16000, 48000), default=None, help="processing rate")
    p.add_argument("--seed", type=int, default=0, help="channel seed (runs are reproducible)")
    p.add_argument("--no-score", action="store_true", help="skip PESQ / PLCMOS even when installed")
    return p


def main(argv=None):
    """``audio3a simulate IN -o OUT [...]``; returns the exit status."""
    from .errors import Audio3aError
    from .io import processing_rate, read_audio, resample, write_audio

    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # values argparse cannot type-check alone: a bad one is bad usage (exit 2)
        parse_loss(args.loss)
        parse_overhead(args.max_overhead)
        if args.fec.strip().lower() != "auto":
            parse_scheme(args.fec)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        data, info = read_audio(args.input)
        if data.ndim > 1:
            data = data.mean(axis=1)
        x = data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data.astype(np.float32)
        rate = processing_rate(info.sample_rate, args.rate)
        x = resample(x, info.sample_rate, rate)
        y, report = simulate(x, rate, loss=args.loss, burst=args.burst, trace=args.trace,
                             jitter_ms=args.jitter_ms, base_delay_ms=args.delay_ms, fec=args.fec,
                             plc=args.plc == "on", seed=args.seed, frame_ms=args.frame_ms, payload=args.payload,
                             budget_ms=args.budget_ms, max_overhead=parse_overhead(args.max_overhead),
                             score=not args.no_score)
        y = resample(y, rate, info.sample_rate)
        write_audio(args.output, y, info.sample_rate)
    except (Audio3aError, ValueError, FileNotFoundError) as exc:
        print(f"audio3a simulate: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    for line in format_report(report):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
