"""3A in a helper process (``ServerConfig.helper_share``): the same audio as in-process, and a dead
helper leaves the sessions running on their own pipelines."""
import numpy as np

from audio3a.server.server import ServerConfig
from fec.sender import Sender, SenderConfig

from server_helpers import offline_server, speech


def run_ticks(share, ticks=120, kill_at=None):
    """Two participants feeding a server tick by tick on a simulated clock; returns each tick's
    processed capture halves (sessions in join order) and the server."""
    server = offline_server(ServerConfig(max_sessions=4, prebuilt_sessions=2, helper_share=share, rate_pps=1e6), 2)
    server.start_helper()
    x = [speech(3.0, 0.0), speech(3.0, 4.5)]
    senders = [Sender(SenderConfig(ssrc=0x100 + i, fec="none")) for i in range(2)]
    addrs = [("127.0.0.1", 30000 + i) for i in range(2)]
    outs = []
    try:
        for t in range(ticks):
            server._loop.now = t * 0.01
            if t % 2 == 0:
                j = t // 2
                for i, snd in enumerate(senders):
                    for d in snd.send(x[i][j * 320:(j + 1) * 320]):
                        server.datagram_received(d, addrs[i])
            if kill_at is not None and t == kill_at:
                server.shard._proc.kill()
                server.shard._proc.join()
            server._tick(server._loop.now + 0.005)
            ss = [server.sessions[a] for a in addrs]
            outs.append(np.stack([s.capture_halves[s.half].copy() for s in ss]))
        helper_sessions = server.shard.in_use if server.shard is not None else 0
    finally:
        if server.shard is not None:
            server.shard.close()
    return np.array(outs), helper_sessions, server


def test_helper_process_gives_the_same_audio():
    local, n0, _ = run_ticks(0.0)
    remote, n1, _ = run_ticks(1.0)
    assert n0 == 0 and n1 == 2                      # both sessions' 3A ran in the helper
    assert np.sqrt(np.mean(local[-50:] ** 2)) > 0.01    # speech came through
    np.testing.assert_array_equal(local, remote)


def test_a_dead_helper_leaves_sessions_running():
    outs, n, server = run_ticks(1.0, ticks=120, kill_at=60)
    assert server.shard is None and server.helper_failures == 1 and n == 0
    assert server.errors == 0 and len(server.sessions) == 2
    assert np.sqrt(np.mean(outs[-30:] ** 2)) > 0.01      # still processing after the helper died
