"""``audio3a serve`` and ``audio3a client`` as processes: stats lines, SIGTERM, one-line errors."""
import json
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import pytest

from audio3a.cli import main

SPEECH = str(Path(__file__).resolve().parents[3] / "samples" / "clean_speech_16k.wav")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_and_client_processes_then_sigterm(tmp_path):
    port = _free_port()
    rec = tmp_path / "rec"
    server = subprocess.Popen([sys.executable, "-m", "audio3a.cli", "serve", "--port", str(port), "--record",
                               str(rec), "--stats-interval-s", "0.5", "--duration-s", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        line = server.stderr.readline()
        while "serving on" not in line and time.monotonic() - t0 < 30 and server.poll() is None:
            line = server.stderr.readline()
        assert f"127.0.0.1:{port}" in line
        out = subprocess.run([sys.executable, "-m", "audio3a.cli", "client", SPEECH,
                              "--server", f"127.0.0.1:{port}", "--duration-s", "1.0", "--drain-s", "0.3",
                              "--loss", "5%", "--record", str(tmp_path / "back.wav"), "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.splitlines()[-1])
        assert result["sent_samples"] == 16000 and (tmp_path / "back.wav").exists()
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        stdout, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0
    records = [json.loads(x) for x in stdout.splitlines()]
    assert any(r["type"] == "session" for r in records)
    assert records[-1]["type"] == "server" and records[-1]["final"]
    (doc,) = [json.loads(p.read_text()) for p in rec.glob("*.json")]
    assert doc["status"] == "closed" and doc["files"]["rx"]["samples"] == 16000


def test_client_bad_server_address_is_one_line_error(capsys):
    assert main(["client", SPEECH, "--server", "nowhere"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HOST:PORT" in err[0]


def test_serve_bad_port_is_one_line_error(capsys):
    assert main(["serve", "--port", "70000"]) == 1
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize("args, word", [(["--helper-share", "1.5"], "helper_share"),
                                        (["--helper-share", "nan"], "helper_share"),
                                        (["--stats-port", "70000"], "stats_port")])
def test_serve_bad_helper_share_or_stats_port_is_one_line_error(capsys, args, word):
    assert main(["serve", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0]
