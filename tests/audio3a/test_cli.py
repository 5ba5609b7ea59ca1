import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audio3a.cli import main


def speech(n, fs=16000, seed=0):
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.uniform(0.05, 1, n // 1600 + 1), 1600)[:n]
    return 0.2 * env * np.sin(2 * np.pi * 220 * np.arange(n) / fs + rng.uniform(0, 6))


def test_process_writes_default_output_same_format(tmp_path, capsys):
    p = tmp_path / "in.wav"
    sf.write(p, np.round(speech(16000) * 32767).astype(np.int16), 16000, subtype="PCM_16")
    assert main(["process", str(p)]) == 0
    out = tmp_path / "in.processed.wav"
    y, fs = sf.read(out, dtype="int16")
    assert fs == 16000 and y.shape == (16000,) and sf.info(out).subtype == "PCM_16"
    text = capsys.readouterr().out
    assert "real-time factor" in text and "speech level in" in text


def test_all_stages_off_file_is_bit_exact(tmp_path):
    p = tmp_path / "in.wav"
    x = np.round(speech(12345) * 32767).astype(np.int16)
    sf.write(p, x, 16000, subtype="PCM_16")
    off = ["--no-hpf", "--no-aec", "--no-ns", "--no-agc"]
    assert main(["process", str(p), "-o", str(tmp_path / "o.wav"), "--quiet", *off]) == 0
    y, _ = sf.read(tmp_path / "o.wav", dtype="int16")
    assert np.array_equal(x, y)


def test_unsupported_rate_resampled_with_notice_stereo_kept(tmp_path, capsys):
    p = tmp_path / "in.flac"
    x = np.stack([speech(22050, 22050), speech(22050, 22050, 1)], axis=1)
    sf.write(p, x, 22050)
    assert main(["process", str(p), "-o", str(tmp_path / "o.flac")]) == 0
    assert "resampled 22050 Hz -> 48000 Hz" in capsys.readouterr().err
    y, fs = sf.read(tmp_path / "o.flac")
    assert fs == 22050 and y.shape == x.shape
    assert main(["process", str(p), "-o", str(tmp_path / "m.wav"), "--downmix", "--quiet"]) == 0
    assert sf.read(tmp_path / "m.wav")[0].shape == (22050,)


def test_far_of_other_length_padded_with_notice(tmp_path, capsys):
    sf.write(tmp_path / "n.wav", speech(16000), 16000)
    sf.write(tmp_path / "f.wav", speech(8000, seed=3), 16000)
    assert main(["process", str(tmp_path / "n.wav"), "--far", str(tmp_path / "f.wav"),
                 "-o", str(tmp_path / "o.wav")]) == 0
    assert "padded with silence" in capsys.readouterr().err
    assert sf.info(tmp_path / "o.wav").frames == 16000


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b"not audio at all" * 8), "not an audio file"),
    (lambda p: sf.write(p, np.zeros(0, np.int16), 16000, subtype="PCM_16"), "no samples"),
    (lambda p: sf.write(p, np.array([0, np.inf, 0], np.float32), 16000, subtype="FLOAT"), "NaN or Inf"),
])
def test_bad_input_one_line_error_no_output(tmp_path, capsys, make, match):
    p = tmp_path / "in.wav"
    make(p)
    out = tmp_path / "out.wav"
    assert main(["process", str(p), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("audio3a: error:") and match in err and str(p) in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir()] in ([], ["in.wav"])


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["process"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["process", "x.wav", "--rate", "44100"])
    assert e.value.code == 2
    assert main([]) == 2


def test_version_and_console_script():
    r = subprocess.run([sys.executable, "-m", "audio3a.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("audio3a ")
