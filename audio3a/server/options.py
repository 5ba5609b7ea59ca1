"""Command-line options of ``audio3a client`` (kept free of heavy imports: the CLI builds its parser from it)."""

__all__ = ["client_arguments"]


def client_arguments(p):
    """Add the ``audio3a client`` arguments to parser ``p``; returns it."""
    p.add_argument("input", metavar="IN", help="speech file to send (resampled to --rate, downmixed)")
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="server address, e.g. 127.0.0.1:5004")
    p.add_argument("--loss", default="0%", help="packet loss rate both ways, e.g. 10%% (default 0)")
    p.add_argument("--burst", type=float, default=None, help="mean loss burst in packets (Gilbert-Elliott)")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="delay jitter standard deviation, ms")
    p.add_argument("--delay-ms", type=float, default=20.0, help="base one-way delay added, ms (default 20)")
    p.add_argument("--record", metavar="OUT.wav", default=None,
                   help="record what comes back (with --sessions N: OUT-000.wav, ...)")
    p.add_argument("--sessions", type=int, default=1, help="clients to run at once (load generator)")
    p.add_argument("--duration-s", type=float, default=None, help="loop or cut the input to this duration")
    p.add_argument("--drain-s", type=float, default=1.0, help="keep receiving this long after the end (s)")
    p.add_argument("--rate", type=int, choices=(16000, 48000), default=16000, help="stream rate (default 16000)")
    p.add_argument("--seed", type=int, default=0, help="channel seed (session i uses seed + i)")
    p.add_argument("--json", action="store_true", help="print one JSON line per session instead of text")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return p
