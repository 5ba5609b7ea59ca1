"""audio3a.simulate: the whole weak-network path on a signal, and its command line."""
import numpy as np
import pytest
import soundfile as sf

from audio3a.simulate import format_report, main, parse_loss, simulate
from fec.channel import DelayModel

RATE = 16000


def voice(seconds=3.0, seed=0):
    """Voiced, pitch-gliding test signal on the int16 grid (L16 is then exact)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2.5 * t))
    x = x + 0.003 * rng.standard_normal(t.size)
    return (np.round(x * 32768) / 32768).astype(np.float32)


def snr_db(ref, out):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((ref - out) ** 2.0), 1e-30))


@pytest.mark.parametrize("fec", ["none", "rs:4+2", "red:2"])
def test_lossless_channel_gives_the_input_back_bit_exact(fec):
    x = voice(2.0)
    y, rep = simulate(x, RATE, loss=0.0, jitter_ms=0.0, fec=fec, seed=1)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(y, x)
    assert rep["loss_before_fec"] == 0.0 and rep["concealed"] == 0.0 and rep["late_loss"] == 0.0


def test_fixed_seed_is_reproducible_and_the_seed_matters():
    x = voice(2.0)
    kw = dict(loss="15%", burst=2.0, jitter_ms=15.0, fec="rs:4+2")
    y1, r1 = simulate(x, RATE, seed=5, **kw)
    y2, r2 = simulate(x, RATE, seed=5, **kw)
    y3, r3 = simulate(x, RATE, seed=6, **kw)
    assert np.array_equal(y1, y2) and r1 == r2
    assert not np.array_equal(y1, y3)


def test_fec_reduces_loss_and_reports_overhead_and_delay():
    x = voice(4.0)
    _, none = simulate(x, RATE, loss=0.1, fec="none", seed=2)
    _, rs = simulate(x, RATE, loss=0.1, fec="rs:4+2", seed=2)
    assert none["loss_after_fec"] == pytest.approx(none["loss_before_fec"], abs=0.01)
    assert rs["loss_after_fec"] < rs["loss_before_fec"] / 3
    assert rs["overhead"] == pytest.approx(0.5, abs=0.05)
    assert rs["delay_mean_ms"] > none["delay_mean_ms"] + 40.0        # RS(4+2) waits up to 60 ms more
    assert rs["recovered_fec"] > 0


def test_burst_beyond_the_code_is_concealed_and_concealment_beats_zeros():
    x = voice(4.0)
    y_plc, rep = simulate(x, RATE, loss=0.3, burst=6.0, fec="xor:2", plc=True, seed=3)
    y_zero, _ = simulate(x, RATE, loss=0.3, burst=6.0, fec="xor:2", plc=False, seed=3)
    assert rep["concealed"] > 0.1 and np.all(np.isfinite(y_plc))
    assert np.max(np.abs(y_plc)) < 1.0
    # on a voiced signal the concealer's substitution is closer to the truth than silence
    assert snr_db(x, y_plc) > snr_db(x, y_zero)


def test_jitter_and_reordering_with_the_adaptive_buffer():
    x = voice(6.0)
    delay = DelayModel(base_ms=40.0, jitter_ms=12.0, reorder_rate=0.1, reorder_ms=25.0)
    y, rep = simulate(x, RATE, delay=delay, fec="none", seed=4)
    assert rep["loss_before_fec"] == 0.0
    assert rep["late_loss"] <= 0.03
    assert 40.0 < rep["delay_mean_ms"] < 150.0


def test_auto_fec_protects_from_the_start_respects_the_cap_and_drops_redundancy_on_a_clean_link():
    x = voice(8.0)
    _, rep = simulate(x, RATE, loss=0.1, fec="auto", max_overhead=0.6, seed=5)
    assert rep["scheme"] != "none"
    assert rep["overhead"] <= 0.62
    assert rep["loss_after_fec"] < rep["loss_before_fec"] / 3
    _, clean = simulate(x, RATE, loss=0.0, fec="auto", seed=5)
    assert clean["schemes"][0][1] != "none" and clean["scheme"] == "none"
    assert clean["schemes"][-1][0] <= 5.0          # redundancy dropped within 5 s


def test_trace_driven_loss(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("0\n0\n0\n1\n" * 50)
    x = voice(2.0)
    _, rep = simulate(x, RATE, trace=trace, fec="none", seed=0)
    assert rep["loss_before_fec"] == pytest.approx(0.25, abs=0.03)


def test_bad_arguments_raise_clear_errors():
    x = voice(0.5)
    with pytest.raises(ValueError, match="loss"):
        simulate(x, RATE, loss="lots")
    with pytest.raises(ValueError, match="scheme|FEC"):
        simulate(x, RATE, fec="turbo:3")
    with pytest.raises(ValueError, match="mono"):
        simulate(np.zeros((100, 2), np.float32), RATE)
    assert parse_loss("20%") == pytest.approx(0.2) and parse_loss(0.05) == 0.05 and parse_loss(20) == 0.2


def test_command_line_writes_audio_and_prints_the_report(tmp_path, capsys):
    src = tmp_path / "in.wav"
    out = tmp_path / "out.wav"
    sf.write(src, voice(2.0), RATE, subtype="PCM_16")
    code = main([str(src), "-o", str(out), "--loss", "20%", "--burst", "2", "--jitter-ms", "10",
                 "--fec", "rs:4+2", "--seed", "3", "--no-score"])
    assert code == 0
    y, rate = sf.read(out)
    assert rate == RATE and y.shape[0] == int(2.0 * RATE)
    text = capsys.readouterr().out
    for word in ("loss before FEC", "after FEC", "late", "playout delay", "overhead"):
        assert word in text
    assert main([str(tmp_path / "missing.wav"), "-o", str(out)]) == 1
    with pytest.raises(SystemExit) as bad_fec:                  # a bad option value is bad usage
        main([str(src), "-o", str(out), "--fec", "bogus"])
    assert bad_fec.value.code == 2


def test_format_report_lines():
    _, rep = simulate(voice(1.0), RATE, loss=0.1, fec="red:1", seed=1)
    lines = format_report(rep)
    assert any("overhead" in line for line in lines) and len(lines) >= 3


@pytest.mark.parametrize("flag", [["--loss", "150%"], ["--loss", "lots"], ["--fec", "rs:300+2"],
                                  ["--max-overhead=-5%"]])
def test_bad_option_values_are_usage_errors(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o.wav"), *flag])
    assert exc.value.code == 2
    assert not (tmp_path / "o.wav").exists()
    assert flag[-1].split("=")[-1] in capsys.readouterr().err
