"""The ``audio3a`` command line.

Subcommands: ``process`` (3A on a file), ``simulate`` (a file through a
lossy network with FEC and concealment), ``bench`` (per-frame latency,
concurrency, cold start), ``eval`` (quality of one processed file),
``serve`` (a UDP voice server mixing many participants) and ``client``
(stream a file to it and record what comes back; a load generator). Exit
status: 0 ok, 1 the input could not be processed (one line naming the file
and the fix; ``--debug`` adds the traceback), 2 bad usage.
"""
import argparse
import dataclasses
import importlib
import sys
from pathlib import Path

from ._version import __version__
from .errors import Audio3aError
from .pipeline import slot_names

_STAGE_HELP = {
    "hpf": "high-pass filter",
    "aec": "echo cancellation",
    "ns": "noise suppression",
    "agc": "gain control",
}


def _progress_printer(stream):
    """A one-line progress bar on ``stream`` when it is a terminal, else None."""
    if not stream.isatty():
        return None
    last = [-1]

    def show(done, total):
        pct = int(100 * done / max(total, 1))
        if pct != last[0]:
            last[0] = pct
            bar = "#" * (pct // 4)
            stream.write(f"\r[{bar:<25}] {pct:3d}%")
            if done >= total:
                stream.write("\n")
            stream.flush()

    return show


def _fmt_stats(stats) -> str:
    if dataclasses.is_dataclass(stats):
        parts = []
        for f in dataclasses.fields(stats):
            v = getattr(stats, f.name)
            parts.append(f"{f.name}={v:.3g}" if isinstance(v, float) else f"{f.name}={v}")
        return ", ".join(parts) or "-"
    return str(stats)


def cmd_process(args) -> int:
    from .process import process_file

    configs = {name: None for name in slot_names() if getattr(args, f"no_{name}", False)}
    out = args.output or str(Path(args.input).with_name(
        Path(args.input).stem + ".processed" + (Path(args.input).suffix or ".wav")))
    progress = None if args.quiet else _progress_printer(sys.stderr)
    summary = process_file(args.input, out, far_path=args.far, rate=args.rate,
                           downmix=args.downmix, progress=progress, **configs)
    if not args.quiet:
        for n in summary.notices:
            print(f"audio3a: note: {n}", file=sys.stderr)
        s = summary
        print(f"wrote {s.output}")
        print(f"  {s.duration_s:.2f} s, {s.info.channels} ch, {s.info.sample_rate} Hz "
              f"(processed at {s.processing_rate} Hz), real-time factor {s.realtime_factor:.4f}")
        print(f"  stages: {' -> '.join(s.stages) or 'none'}; algorithmic delay {s.latency_ms:g} ms")
        print(f"  speech level in {s.level_in_db:.1f} dBFS, out {s.level_out_db:.1f} dBFS")
        for name, st in s.stats.items():
            print(f"  {name}: {_fmt_stats(st)}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate_files

    res = evaluate_files(args.reference, args.output, far_path=args.far, sample_rate=args.rate)
    for key, value in res.items():
        if key == "missing":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{key:>16}: {value}")
    if res.get("missing"):
        print(f"not measured (install audio3a[eval]): {', '.join(res['missing'])}", file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    import json

    from .server.server import ServerConfig, run_server
    from .server.session import SessionConfig

    if args.port is not None and not 0 <= args.port < 65536:
        raise Audio3aError(f"--port {args.port} must lie in 0..65535")
    pipeline = {name: None for name in slot_names() if getattr(args, f"no_{name}", False)}
    try:
        config = ServerConfig(host=args.host, port=args.port or 0, max_sessions=args.max_sessions,
                              idle_timeout_s=args.idle_timeout_s, rate_pps=args.max_pps,
                              stats_interval_s=args.stats_interval_s, record_dir=args.record,
                              record_format=args.record_format, workers=args.workers,
                              stats_port=args.stats_port, helper_share=args.helper_share,
                              session=SessionConfig(sample_rate=args.rate, pipeline=pipeline))
    except ValueError as e:
        raise Audio3aError(str(e)) from None

    def sink(record):
        if not args.quiet or record.get("final"):
            print(json.dumps(record, separators=(",", ":")), flush=True)

    def ready(addr, stats_addr=None):
        print(f"audio3a: serving on {addr[0]}:{addr[1]}" + (f", recording to {args.record}" if args.record else "")
              + (f", stats on http://{stats_addr[0]}:{stats_addr[1]}/stats" if stats_addr else ""),
              file=sys.stderr, flush=True)

    run_server(config, sink, duration_s=args.duration_s, ready=ready)
    return 0


def cmd_client(args) -> int:
    from .server.client import main as client_main

    try:
        return client_main(args=args)
    except ValueError as e:
        if isinstance(e, Audio3aError) or getattr(args, "debug", False):
            raise
        raise Audio3aError(str(e)) from None


# Subcommands whose modules parse their own arguments (each has ``main(argv)``).
DELEGATED = {
    "simulate": ("audio3a.simulate", "send a file through a lossy, jittery network with FEC and concealment"),
    "bench": ("audio3a.benchmark", "per-frame latency, concurrency and cold-start benchmarks"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio3a",
        description="Real-time voice processing for weak networks: echo cancellation, "
                    "noise suppression, gain control, packet-loss concealment.",
    )
    parser.add_argument("--version", action="version", version=f"audio3a {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("process", help="run the 3A pipeline over an audio file",
                       description="Run the capture pipeline (HPF, AEC, NS, AGC as available) over a file. "
                                   "Output keeps the input's rate, channels and sample format.")
    p.add_argument("input", metavar="IN", help="input audio file (WAV, FLAC, OGG)")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: IN.processed.<ext> beside IN)")
    p.add_argument("--far", metavar="FAR", help="far-end (loudspeaker) reference for echo cancellation, "
                                                "same time span as IN; cut or padded with silence to IN's length")
    p.add_argument("--rate", type=int, choices=(16000, 48000),
                   help="processing rate (default: 16000 for files up to 16 kHz, else 48000)")
    p.add_argument("--downmix", action="store_true", help="mix channels to mono (default: one pipeline per channel)")
    for name in sorted(set(slot_names()) | set(_STAGE_HELP), key=lambda n: list(_STAGE_HELP).index(n)
                       if n in _STAGE_HELP else 99):
        p.add_argument(f"--no-{name}", action="store_true", help=f"switch off {_STAGE_HELP.get(name, name)}")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(func=cmd_process)

    e = sub.add_parser("eval", help="measure a processed file against its reference",
                       description="SI-SDR, SNR and levels of OUT against REF; PESQ-WB, STOI, DNSMOS "
                                   "(and AECMOS with --far) when audio3a[eval] is installed.")
    e.add_argument("reference", metavar="REF", help="reference (clean) file")
    e.add_argument("output", metavar="OUT", help="processed file")
    e.add_argument("--far", metavar="FAR", help="far-end reference, for echo metrics")
    e.add_argument("--rate", type=int, choices=(16000, 48000), help="rate to measure at (default: REF's)")
    e.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    e.set_defaults(func=cmd_eval)

    v = sub.add_parser("serve", help="UDP voice server: RTP from many participants, mixed back",
                       description="Terminate RTP audio from many participants: FEC, jitter buffer, concealment, "
                                   "3A (echo reference = what is sent back), N-minus-one mix, adaptive FEC back. "
                                   "Prints a JSON stats line per session and one for the server every interval. "
                                   "Stops on SIGINT/SIGTERM, closing every recording.")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=None, help="UDP port (default: a free one, printed on stderr)")
    v.add_argument("--record", metavar="DIR", default=None,
                   help="record both directions of every session to DIR, with a JSON sidecar each")
    v.add_argument("--record-format", choices=("wav", "flac"), default="wav", help="recording format (default wav)")
    v.add_argument("--rate", type=int, choices=(16000, 48000), default=16000, help="stream rate (default 16000)")
    v.add_argument("--max-sessions", type=int, default=32, help="concurrent sessions allowed (default 32)")
    v.add_argument("--idle-timeout-s", type=float, default=5.0, help="close a silent session after this (s)")
    v.add_argument("--max-pps", type=float, default=250.0, help="datagrams per second allowed per address")
    v.add_argument("--stats-interval-s", type=float, default=1.0, help="stats line interval (s)")
    v.add_argument("--duration-s", type=float, default=None, help="stop by itself after this long (s)")
    v.add_argument("--workers", type=int, default=1, help="threads for per-session processing (default 1)")
    v.add_argument("--helper-share", type=float, default=0.0,
                   help="share of the sessions whose 3A runs in a helper process, using a second core "
                        "(e.g. 0.5; default 0: all in this process)")
    v.add_argument("--stats-port", type=int, default=None,
                   help="serve per-session JSON on http://HOST:PORT/stats (0: a free port, printed on stderr)")
    for name in slot_names():
        v.add_argument(f"--no-{name}", action="store_true", help=f"switch off {_STAGE_HELP.get(name, name)}")
    v.add_argument("--quiet", action="store_true", help="print only the final stats line")
    v.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    v.set_defaults(func=cmd_serve)

    from .server.options import client_arguments
    c = sub.add_parser("client", help="stream a file to an audio3a server, record what comes back",
                       description="Stream a file in real time through a channel model to an audio3a server and "
                                   "record what comes back; --sessions N makes it a load generator.")
    client_arguments(c)
    c.set_defaults(func=cmd_client)

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except (Audio3aError, OSError) as e:
        if getattr(args, "debug", False):
            raise
        print(f"audio3a: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("audio3a: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user, traceback with --debug
        if getattr(args, "debug", False):
            raise
        print(f"audio3a: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
