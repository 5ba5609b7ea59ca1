"""Server load: how many 16 kHz participants the full pipeline serves on this machine in real time.

``python -m bench.serve_load [--levels 8,16,24,32] [--seconds 8]`` runs, per
level N, ``audio3a serve`` in one process and ``audio3a client --sessions N``
(the load generator, no channel loss, 20 ms base delay) in another, both on
127.0.0.1, and reads the server's JSON stats lines. Per level:

* p99 / max lateness of the 10 ms processing tick over the steady part (the
  stats intervals after every session has joined and before any has left;
  the worst interval's p99 is taken, so the figure is conservative);
* frames dropped at the server: ticks skipped for being too late (one frame
  per session each), media packets that arrived after their playout time or
  overflowed the jitter buffer, and media packets the client put on the wire
  that the server never received (socket overflow: there is no channel loss);
* server CPU (user + system seconds per second of wall time, the 3A helper process included) and
  the work time of one tick
  (its own processing, p50 / p99 ms: what the load costs, whatever else runs on the machine);
* the load generator's CPU (cores, and microseconds per participant frame of 20 ms): the clients
  run on the same cores as the server (each has its own sender with FEC, receiver, concealer and
  timers), so that CPU is taken from the server's; both are measured over the intervals with every
  session joined.

The sweep stops at the first level that misses a target (p99 <= 5 ms, zero
frames dropped); the last level that met both is the maximum reported.
With ``--helper-share 0.5`` half of the sessions' 3A runs in the server's
helper process (``audio3a serve --helper-share``), so the server uses both
cores; the default 0 measures the single-process server (``audio3a serve``'s
default). The helper needs both processes scheduled every tick: on a machine
already loaded by other jobs it does worse than one process.
The figures depend on what else runs: the header prints the load average,
and a figure taken under a load of 3 or more is not the machine's. With the
kernel's autogroup scheduling on (the header says so) CPU time is shared
equally between sessions (logins, terminals) first, and niceness only counts
within one: jobs of other sessions take their share however nice they are.
The server and the load generator each run in a session of their own
(``start_new_session``), as on separate machines: in one session the load
generator's CPU would be taken from the server's share.
Targets: 16 participants, p99 <= 5 ms, zero drops. Not a test: it takes a
minute and depends on the machine (``--nice -10`` raises both processes'
priority on a machine shared with batch jobs). ``--offline`` times the
server's own tick code on a simulated clock instead (no sockets, no
sleeping): the processing cost per session, apart from waiting for a CPU.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np

P99_TARGET_MS = 5.0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid, children=True):
    """User + system CPU seconds of ``pid`` and (``children``) its live child processes (the 3A helper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")
    if children:
        try:
            kids = set()
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    kids.update(int(c) for c in f.read().split())
            for c in kids:
                v = _cpu_s(c, children=False)
                if v == v:
                    total += v
        except OSError:
            pass
    return total


def _autogroup():
    """'on' / 'off' / 'unknown': Linux's per-session CPU fair share (sched_autogroup_enabled)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return "on" if f.read().strip() == "1" else "off"
    except OSError:
        return "unknown"


def run_level(n, seconds, sample, workers=1, nice=0, python=sys.executable, helper_share=0.0):
    """One load level; returns a dict of the figures described in the module docstring."""
    port = _free_port()
    pre = (lambda: os.nice(nice)) if nice else None
    server = subprocess.Popen([python, "-m", "audio3a.cli", "serve", "--port", str(port), "--max-sessions",
                               str(max(n, 1) + 4), "--stats-interval-s", "0.5", "--max-pps", "1000", "--workers", str(workers),
                               "--helper-share", str(helper_share)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre,
                              start_new_session=True)
    client = None
    try:
        deadline = time.monotonic() + 30
        line = server.stderr.readline()
        while "serving on" not in line:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"server did not start: {line}")
            line = server.stderr.readline()
        lines, marks = [], []

        def read():
            """Keep the pipe drained (a full pipe would block the server); at every server stats
            line note both processes' CPU seconds, to measure them over the steady intervals."""
            for text in server.stdout:
                lines.append(text)
                if text.startswith('{"type":"server"'):        # audio3a serve's compact JSON
                    pid = client.pid if client is not None else None
                    marks.append((json.loads(text)["sessions"], time.monotonic(), _cpu_s(server.pid),
                                  _cpu_s(pid, children=False) if pid else float("nan")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        client = subprocess.Popen([python, "-m", "audio3a.cli", "client", sample, "--server", f"127.0.0.1:{port}",
                                   "--sessions", str(n), "--duration-s", str(seconds), "--drain-s", "0.5", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre,
                                  start_new_session=True)
        client_out, client_err = client.communicate(timeout=seconds + 60)
        time.sleep(1.0)
        server.send_signal(2)
        server.wait(timeout=30)
        reader.join(timeout=10)
        out = "".join(lines)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
        if server.poll() is None:
            server.kill()
    if client.returncode != 0:
        raise RuntimeError(f"client failed: {client_err.strip()[-300:]}")
    clients = [json.loads(x) for x in client_out.splitlines() if x.startswith("{")]
    records = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    servers = [r for r in records if r["type"] == "server" and not r["final"]]
    closed = [r for r in records if r["type"] == "session_closed"]
    final = [r for r in records if r["type"] == "server" and r["final"]][-1]
    full = [r for r in servers if r["sessions"] == n]
    steady = full[1:] if len(full) > 2 else full          # skip the interval in which the last one joined
    p99 = max((r["tick"]["p99_ms"] for r in steady), default=float("nan"))
    work = max((r["work"]["p99_ms"] for r in steady), default=float("nan"))
    work50 = float(np.median([r["work"]["p50_ms"] for r in steady])) if steady else float("nan")
    worst = max((r["tick"]["max_ms"] for r in steady), default=float("nan"))
    sent = sum(c["media_on_wire"] for c in clients)
    received = sum(s["rx"]["media"] for s in closed)
    late = sum(s["rx"]["late"] + s["rx"]["drops"].get("overflow", 0) for s in closed)
    dropped = final["dropped_frames"] + late + max(0, sent - received)
    full_marks = [m for m in marks if m[0] == n]              # stats lines with every session joined
    cpu = client_cpu = float("nan")
    if len(full_marks) >= 2:
        (_, t0, s0, c0), (_, t1, s1, c1) = full_marks[0], full_marks[-1]
        cpu, client_cpu = (s1 - s0) / (t1 - t0), (c1 - c0) / (t1 - t0)
    return {"sessions": n, "p99_ms": p99, "max_ms": worst, "dropped": dropped, "skipped": final["dropped_frames"],
            "late": late, "unreceived": max(0, sent - received), "closed": len(closed),
            "cpu": cpu, "client_cpu": client_cpu,
            "client_us_per_frame": client_cpu / (n * 1000.0 / 20.0) * 1e6, "intervals": len(steady),
            "p99_all_ms": final["tick_total"]["p99_ms"],
            "work_p50_ms": work50, "work_p99_ms": work}


class _Clock:
    """Stands in for the event loop in offline runs: ``time()`` is the simulated clock ``now`` plus
    the real time since it was set (so work that watches the clock, as the handling of arrivals in
    a tick's slack does, sees its own duration)."""

    def __init__(self):
        self._set_at = time.perf_counter()
        self._now = 0.0

    @property
    def now(self):
        return self._now

    @now.setter
    def now(self, t):
        self._now = t
        self._set_at = time.perf_counter()

    def time(self):
        return self._now + (time.perf_counter() - self._set_at)


class _NullTransport:
    def sendto(self, data, addr=None):
        pass


def offline_level(n, seconds, sample, workers=1, idle_gc=True, reports=True, helper_share=0.0):
    """The server's real per-tick code (``Server._drain``-free: datagrams are handed over directly) on a
    simulated clock, ``n`` in-process senders feeding it; returns the work time of each tick (ms).

    No sockets and no sleeping: this is what the processing costs, apart from waiting for the CPU.
    With ``reports`` every sender also sends the server a loss report each second (zero loss, all
    in the same tick), so the server's rate controllers run
    and pick their scheme as live; ``idle_gc=False`` leaves Python's collector on automatic.
    The CPU time of the thread running the tick (``time.thread_time``) is reported beside the
    wall time: with one worker it is the tick's own cost, unaffected by other processes' load.
    """
    from audio3a.io import read_audio
    from audio3a.server.server import IDLE_MARGIN_MS, IdleTimeGc, Server, ServerConfig
    from fec.adapt import LossReport
    from fec.sender import Sender, SenderConfig

    data, _ = read_audio(sample)
    x = data.astype(np.float32) / 32768.0
    server = Server(ServerConfig(max_sessions=n + 1, prebuilt_sessions=n, workers=workers, rate_pps=1e6,
                                 gc_in_idle_time=idle_gc, helper_share=helper_share))
    clock = _Clock()
    server._loop = clock
    server.pool.fill(n)
    server.start_helper()
    server.transport = _NullTransport()
    # Client i sends on the ticks of parity i % 2 and starts its rs:2+2x2 groups (4 packets, 4 repair
    # packets after the last) at its packet (i // 2 + 1) % 4, so its repair arrives on the ticks
    # t = i (mod 8): the clients' packets and repair bursts spread evenly over the ticks, as the
    # load generator's (started 7 ms apart, codes switched on at their own loss reports) do.
    senders = [Sender(SenderConfig(ssrc=0x1000 + i, first_timestamp=i * 7)) for i in range(n)]
    repair_from = [(i // 2 + 1) % 4 for i in range(n)]
    sent = [0] * n
    addrs = [("127.0.0.1", 20000 + i) for i in range(n)]
    ticks = int(seconds * 100)
    work, cpu, tick_work, tick_cpu_ms = [], [], [], []
    report = LossReport(0, 1000, 50, 0, 0, 0, (0,) * 16).pack()
    idle_gc = IdleTimeGc() if server.config.gc_in_idle_time else None
    if idle_gc is not None:
        idle_gc.__enter__()             # as in Server.run: the collector runs in the tick's slack
    for t in range(ticks):
        clock.now = t * 0.01
        arrivals = []
        for i, snd in enumerate(senders):   # the clients' packets (their encoding is not the server's cost)
            if (t + i) % 2 == 0:
                if sent[i] == repair_from[i]:
                    snd.set_scheme("rs:2+2x2")
                sent[i] += 1
                j = ((t + i) // 2) % (x.size // 320 - 1)
                arrivals.extend((d, addrs[i]) for d in snd.send(x[j * 320:(j + 1) * 320]))
        # the datagrams arrive in the slack 5 ms before the tick (handled there, as live, until
        # IDLE_MARGIN_MS before it), the tick then runs on its deadline
        server._idle_until = clock.now + 0.005 - IDLE_MARGIN_MS / 1000.0
        start, start_cpu = time.perf_counter(), time.thread_time()
        for d, a in arrivals:
            server.datagram_received(d, a)
        if reports and t % 100 == 50:
            for a in addrs:
                server.datagram_received(report, a)
        server._idle_until = -np.inf
        clock.now = t * 0.01 + 0.005
        tick_start, tick_cpu = time.perf_counter(), time.thread_time()
        server._tick(clock.now)
        end, end_cpu = time.perf_counter(), time.thread_time()
        work.append((end - start) * 1000.0)
        cpu.append((end_cpu - start_cpu) * 1000.0)
        tick_work.append((end - tick_start) * 1000.0)
        tick_cpu_ms.append((end_cpu - tick_cpu) * 1000.0)
        if idle_gc is not None:
            idle_gc.idle(10.0 - work[-1])      # (the slack after the tick, before the next arrivals)
    if idle_gc is not None:
        idle_gc.__exit__(None, None, None)
    if server._executor is not None:
        server._executor.shutdown()
    if server.shard is not None:
        server.shard.close()
    w = np.array(work[100:])          # after the first second (jitter buffers settled)
    c = np.array(cpu[100:])
    tc = np.array(tick_cpu_ms[100:])
    return {"sessions": n, "work_p50_ms": float(np.median(w)), "work_p99_ms": float(np.percentile(w, 99)),
            "work_mean_ms": float(w.mean()), "per_session_ms": float(np.median(w)) / max(n, 1),
            "cpu_p50_ms": float(np.median(c)), "cpu_p99_ms": float(np.percentile(c, 99)), "cpu_max_ms": float(c.max()),
            "cpu_per_session_us": float(c.mean()) / max(n, 1) * 1000.0, "cpu_ticks_ms": cpu,
            "tick_cpu_p50_ms": float(np.median(tc)), "tick_cpu_p99_ms": float(np.percentile(tc, 99)),
            "tick_cpu_max_ms": float(tc.max()), "tick_cpu_ms": tick_cpu_ms,
            "tick_work_p99_ms": float(np.percentile(tick_work[100:], 99))}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.serve_load", description=__doc__.split("\n")[0])
    p.add_argument("--levels", default="4,8,16,24,32,40,48", help="session counts to try, in order")
    p.add_argument("--seconds", type=float, default=8.0, help="streaming time per level")
    p.add_argument("--sample", default="samples/clean_speech_16k.wav", help="speech file the clients send")
    p.add_argument("--workers", type=int, default=1, help="server processing threads (audio3a serve --workers)")
    p.add_argument("--helper-share", type=float, default=0.0,
                   help="share of the sessions whose 3A runs in the server's helper process (audio3a serve "
                        "--helper-share, e.g. 0.5: both cores; default 0: one process, as audio3a serve)")
    p.add_argument("--nice", type=int, default=0,
                   help="niceness increment for the server and client processes (negative needs root; "
                        "use on a machine shared with batch jobs to measure the server, not the contention)")
    p.add_argument("--offline", action="store_true",
                   help="no sockets: time the server's tick code on a simulated clock (the cost of the "
                        "processing itself, without network or scheduling delays)")
    p.add_argument("--all", action="store_true", help="run every level even after one misses a target")
    p.add_argument("--no-idle-gc", action="store_true",
                   help="leave Python's garbage collector on automatic (the server's default runs it in idle time)")
    p.add_argument("--no-reports", action="store_true", help="offline: no loss reports to the server")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if args.offline:
        print(f"offline: the server's tick code on a simulated clock, {args.seconds:g} s per level, "
              f"{args.workers} worker thread(s), 3A helper share {args.helper_share:g}; "
              f"machine load average {os.getloadavg()[0]:.2f}")
        print(f"idle-time gc {'off' if args.no_idle_gc else 'on'}, loss reports {'off' if args.no_reports else 'on'}")
        print("work and cpu: a tick and the handling of the datagrams that arrived before it (wall time, and the "
              "thread's CPU time); tick cpu: the tick alone (its critical path: arrivals are handled in the slack)")
        print(f"{'sessions':>8} {'work p50 ms':>11} {'p99 ms':>7} {'mean ms':>7} {'per session ms':>14} "
              f"{'cpu p50/p99/max ms':>18} {'tick cpu p50/p99/max':>20} {'cpu us/session-tick':>19}")
        for n in levels:
            r = offline_level(n, args.seconds, args.sample, args.workers, not args.no_idle_gc, not args.no_reports,
                              args.helper_share)
            print(f"{n:>8} {r['work_p50_ms']:>11.2f} {r['work_p99_ms']:>7.2f} {r['work_mean_ms']:>7.2f} "
                  f"{r['per_session_ms']:>14.3f} {r['cpu_p50_ms']:>6.2f}/{r['cpu_p99_ms']:.2f}/{r['cpu_max_ms']:<5.2f} "
                  f"{r['tick_cpu_p50_ms']:>8.2f}/{r['tick_cpu_p99_ms']:.2f}/{r['tick_cpu_max_ms']:<5.2f} "
                  f"{r['cpu_per_session_us']:>19.1f}", flush=True)
        print("a 10 ms tick has room for sessions while the work stays well under 10 ms "
              "(p99 lateness <= 5 ms needs tick work p99 + the slack's datagram handling below ~10 ms)")
        return 0
    print(f"{os.cpu_count()} CPUs; full pipeline (HPF, AEC, NS, AGC) at 16 kHz, 20 ms packets, 10 ms tick; "
          f"{args.seconds:g} s per level, {args.workers} server worker thread(s), 3A helper share "
          f"{args.helper_share:g}, nice {args.nice:+d}")
    print(f"machine load average at start: {os.getloadavg()[0]:.2f} (other processes share these CPUs; "
          f"autogroup scheduling {_autogroup()})")
    print("cpu: cores used by the server (with its helper process) and by the load generator, over the "
          "intervals with every session joined; client us: the load generator's CPU per participant frame (20 ms)")
    print(f"{'sessions':>8} {'p99 ms':>7} {'max ms':>7} {'dropped':>7} {'(skip/late/unrecv)':>18} "
          f"{'cpu':>5} {'client':>6} {'client us':>9} {'p99 all':>7} {'work p50/p99 ms':>15}  ok")
    best = 0
    for n in levels:
        r = run_level(n, args.seconds, args.sample, args.workers, args.nice, helper_share=args.helper_share)
        ok = r["p99_ms"] <= P99_TARGET_MS and r["dropped"] == 0 and r["closed"] == n
        print(f"{n:>8} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} {r['dropped']:>7} "
              f"{r['skipped']:>6}/{r['late']:>4}/{r['unreceived']:>5} {r['cpu']:>5.2f} {r['client_cpu']:>6.2f} "
              f"{r['client_us_per_frame']:>9.0f} {r['p99_all_ms']:>7.2f} "
              f"{r['work_p50_ms']:>7.2f}/{r['work_p99_ms']:<7.2f}  "
              f"{'yes' if ok else 'NO'}", flush=True)
        if ok:
            best = n
        elif not args.all:
            break
    print(f"maximum sessions meeting p99 <= {P99_TARGET_MS:g} ms with zero dropped frames: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
