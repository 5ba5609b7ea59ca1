"""audio3a.evaluate: clear errors without the eval extra, and sane scores with it."""
import sys

import numpy as np
import pytest

from audio3a import evaluate
from audio3a.evaluate import EvalExtraMissing

FS = 16000


def _speech():
    from bench.scenarios import corpus

    try:
        x = corpus.speech(0, FS)[: 6 * FS]
    except (IndexError, FileNotFoundError):
        from audio3a.benchmark import synthetic_speech

        x = synthetic_speech(6.0, FS)
    return 0.5 * x / np.max(np.abs(x))


@pytest.mark.parametrize("module,call", [
    ("pesq", lambda x: evaluate.pesq_wb(x, x, FS)),
    ("pystoi", lambda x: evaluate.stoi(x, x, FS)),
    ("speechmos", lambda x: evaluate.dnsmos(x, FS)),
    ("speechmos", lambda x: evaluate.plcmos(x, FS)),
    ("speechmos", lambda x: evaluate.aecmos(x, x, x, FS, "st")),
])
def test_missing_package_raises_clear_import_error(monkeypatch, module, call):
    monkeypatch.setitem(sys.modules, module, None)          # makes `import module` fail
    with pytest.raises(ImportError) as err:
        call(np.zeros(FS))
    assert isinstance(err.value, EvalExtraMissing)
    assert "pip install 'audio3a[eval]'" in str(err.value)
    assert module in str(err.value)


def test_evaluate_pair_without_extra_still_gives_signal_metrics(monkeypatch):
    for m in ("pesq", "pystoi", "speechmos"):
        monkeypatch.setitem(sys.modules, m, None)
    x = _speech()
    noise = np.random.default_rng(0).standard_normal(x.size)
    noise *= np.sqrt(np.sum(x ** 2) / np.sum(noise ** 2)) * 10 ** (-20 / 20)
    d = int(0.005 * FS)
    out = np.concatenate([np.zeros(d), x + noise])          # 5 ms late, 20 dB SNR
    res = evaluate.evaluate_pair(x, out, FS)
    assert res["delay_ms"] == pytest.approx(5.0)
    assert res["snr_db"] == pytest.approx(20.0, abs=0.01)
    assert res["si_sdr_db"] == pytest.approx(20.0, abs=0.1)
    assert res["level_out_dbfs"] == pytest.approx(res["level_ref_dbfs"], abs=0.1)
    assert set(res["missing"]) == {"pesq_wb", "stoi", "dnsmos"}


def test_evaluate_pair_with_far_adds_erle(monkeypatch):
    monkeypatch.setitem(sys.modules, "speechmos", None)
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    x = _speech()
    res = evaluate.evaluate_pair(x, 0.1 * x, FS, far=x)
    assert res["erle_db"] == pytest.approx(20.0, abs=1e-6)
    assert "aecmos" in res["missing"]


def test_resample_and_bad_input():
    x = np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)
    y = evaluate.resample(x, 48000, 16000)
    assert y.size == 16000
    with pytest.raises(ValueError, match="mono"):
        evaluate.pesq_wb(np.zeros((2, 100)), np.zeros(100), FS)
    with pytest.raises(ValueError, match="scenario"):
        evaluate.aecmos(x, x, x, 48000, scenario="bogus")


def test_mel_filterbank_shape_and_peaks():
    fb = evaluate.mel_filterbank(16000, 513, 160)
    assert fb.shape == (160, 257)
    assert np.all(fb >= 0) and np.all(fb.sum(axis=1) > 0)   # every filter sees some bin
    peaks = fb.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)                      # centres rise with the filter index


def test_log_mel_matches_librosa_when_installed():
    librosa = pytest.importorskip("librosa")
    x = _speech()[: 2 * FS].astype(np.float32)
    ours = evaluate.log_mel(x, FS, n_fft=513, hop=256, n_mels=160)
    mel = librosa.feature.melspectrogram(y=x, sr=FS, n_fft=513, hop_length=256, n_mels=160)
    ref = ((librosa.power_to_db(mel, ref=np.max) + 40) / 40).T
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < 1e-3


have = evaluate.available()
needs_eval = pytest.mark.skipif(not all(have.values()), reason="needs pip install 'audio3a[eval]'")


@needs_eval
def test_model_scores_order_clean_above_noisy():
    x = _speech()
    noisy = x + 0.05 * np.random.default_rng(1).standard_normal(x.size)
    assert evaluate.pesq_wb(x, x, FS) > 4.5
    assert evaluate.pesq_wb(x, noisy, FS) < 2.5
    assert evaluate.stoi(x, x, FS) == pytest.approx(1.0, abs=1e-6)
    clean, dirty = evaluate.dnsmos(x, FS), evaluate.dnsmos(noisy, FS)
    assert clean["bak"] > dirty["bak"] + 1.0 and clean["ovrl"] > dirty["ovrl"]
    p1, p2 = evaluate.plcmos(x, FS), evaluate.plcmos(x, FS)
    assert p1 == p2 and 1.0 <= p1 <= 5.0                     # seeded rater embeddings: repeatable


@needs_eval
def test_aecmos_rewards_echo_removal_and_48k_resamples():
    from scipy.signal import resample_poly

    near = _speech()
    far = np.roll(near, FS // 2)[::-1].copy()               # another "talker" as far end
    mic = np.concatenate([np.zeros(160), far[:-160]]) * 0.5  # far-end single talk: mic is only echo
    bad = evaluate.aecmos(mic, far, mic, FS, "st")
    good = evaluate.aecmos(mic, far, 0.001 * mic, FS, "st")
    assert good["echo"] > bad["echo"] + 1.0
    up = [resample_poly(s, 3, 1) for s in (mic, far, 0.001 * mic)]
    at48 = evaluate.aecmos(*up, 48000, "st")
    assert at48["echo"] == pytest.approx(good["echo"], abs=0.3)


def test_eval_main_on_files(tmp_path, capsys, monkeypatch):
    import soundfile as sf

    for m in ("pesq", "pystoi", "speechmos"):
        monkeypatch.setitem(sys.modules, m, None)
    x = _speech()
    sf.write(tmp_path / "ref.wav", x, FS)
    sf.write(tmp_path / "out.wav", 0.5 * x, FS, subtype="FLOAT")
    assert evaluate.main([str(tmp_path / "ref.wav"), str(tmp_path / "out.wav"), "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert "| si_sdr_db |" in text and "pip install 'audio3a[eval]'" in text
    import json

    res = json.loads((tmp_path / "r.json").read_text())
    assert res["si_sdr_db"] > 40 and res["level_out_dbfs"] == pytest.approx(res["level_ref_dbfs"] - 6.02, abs=0.1)


def test_eval_unreadable_file_is_a_clear_error(tmp_path):
    from audio3a.errors import AudioFileError

    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(AudioFileError, match="cannot read"):
        evaluate.evaluate_files(tmp_path / "bad.wav", tmp_path / "bad.wav")
