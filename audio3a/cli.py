"""The ``audio3a`` command line.

Subcommands: ``process`` (3A on a file). Exit status: 0 ok, 1 the input
could not be processed (one line naming the file and the fix; ``--debug``
adds the traceback), 2 bad usage.
"""
import argparse
import dataclasses
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
    return parser


def main(argv=None) -> int:
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
