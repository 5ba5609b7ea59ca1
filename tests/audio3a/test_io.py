import numpy as np
import pytest
import soundfile as sf

from audio3a.errors import AudioFileError
from audio3a.io import fit_length, processing_rate, read_audio, resample, write_audio


def test_int16_and_float_round_trip(tmp_path):
    x = (np.arange(-1000, 1000) * 16).astype(np.int16)
    write_audio(tmp_path / "a.wav", x, 16000, "PCM_16")
    y, info = read_audio(tmp_path / "a.wav")
    assert y.dtype == np.int16 and np.array_equal(x, y) and info.subtype == "PCM_16"
    f = np.linspace(-0.5, 0.5, 999).astype(np.float32)
    write_audio(tmp_path / "f.flac", (f * 32767).astype(np.int16), 48000)
    write_audio(tmp_path / "f.wav", f, 48000, "FLOAT")
    g, info = read_audio(tmp_path / "f.wav")
    assert g.dtype == np.float32 and np.array_equal(f, g) and info.sample_rate == 48000


def test_stereo_reads_as_two_columns(tmp_path):
    x = np.zeros((100, 2), np.int16)
    x[:, 1] = 7
    write_audio(tmp_path / "s.wav", x, 16000, "PCM_16")
    y, info = read_audio(tmp_path / "s.wav")
    assert y.shape == (100, 2) and info.channels == 2 and y[0, 1] == 7


@pytest.mark.parametrize("content, match", [
    (None, "no such file"),
    (b"", "not an audio file"),
    (b"hello, this is text not audio" * 10, "not an audio file"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.wav"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(AudioFileError, match=match):
        read_audio(p)


def test_header_only_and_truncated_files(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match="no samples"):
        read_audio(p)
    good = tmp_path / "good.wav"
    sf.write(good, np.ones(16000, np.int16), 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioFileError, match="cut.wav"):
        read_audio(cut)


def test_nan_samples_named(tmp_path):
    x = np.zeros(1000, np.float32)
    x[500] = np.nan
    sf.write(tmp_path / "n.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"sample 500 .*NaN or Inf"):
        read_audio(tmp_path / "n.wav")


def test_write_is_atomic_on_failure(tmp_path):
    with pytest.raises(AudioFileError, match="unknown output format"):
        write_audio(tmp_path / "x.xyz", np.zeros(10, np.float32), 16000)
    assert list(tmp_path.iterdir()) == []


def test_rates_and_resampling():
    assert processing_rate(8000) == 16000 and processing_rate(16000) == 16000
    assert processing_rate(44100) == 48000 and processing_rate(44100, 16000) == 16000
    with pytest.raises(AudioFileError, match="not supported"):
        processing_rate(16000, 22050)
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = resample(resample(x, 44100, 48000), 48000, 44100)
    assert y.shape == x.shape
    from audio3a.metrics import snr_db
    assert snr_db(x[2000:-2000], y[2000:-2000]) > 50.0  # resample_poly's passband ripple: ~58 dB here
    assert fit_length(np.ones(5), 3).shape == (3,) and fit_length(np.ones(5), 8)[5:].sum() == 0
