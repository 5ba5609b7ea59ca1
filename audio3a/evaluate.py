"""Quality scores for processed speech: model-based metrics and one-pair evaluation.

The listening-quality models live in the optional ``eval`` extra
(``pip install 'audio3a[eval]'``):

* ``pesq_wb``  ITU-T P.862.2 wide-band PESQ (``pesq``), 16 kHz, MOS-LQO 1.04-4.64.
* ``stoi``     short-time objective intelligibility, Taal et al. 2011 (``pystoi``), 0-1.
* ``dnsmos``   DNSMOS P.835 (Reddy et al., ICASSP 2022): SIG, BAK, OVRL on 1-5, 16 kHz.
* ``plcmos``   PLCMOS v2 (Mack et al., Interspeech 2023), 1-5, 16 kHz.
* ``aecmos``   AECMOS (Purin et al., ICASSP 2022): echo and degradation MOS, 1-5.

The three Microsoft models ship as ONNX files inside the ``speechmos``
package; they are run here with ``onnxruntime`` directly, with the same
pre-processing as ``speechmos`` but without its ``librosa`` dependency (the
log-mel features of AECMOS are computed below, mirroring
``librosa.feature.melspectrogram`` + ``power_to_db(ref=max)`` defaults).
Every wrapper resamples its input to the rate its model needs and raises
``EvalExtraMissing`` (an ``ImportError``) naming the install command when a
package is absent.

``evaluate_pair`` scores one processed file against its reference with the
always-available signal metrics (SI-SDR, SNR, active speech level) plus the
model scores that are installed.
"""
import importlib
import importlib.util
import math
import os
from functools import lru_cache

import numpy as np
from scipy.signal import resample_poly

from . import metrics

MODEL_RATE = 16000
INSTALL_HINT = "pip install 'audio3a[eval]'"
AEC_SCENARIOS = ("st", "dt", "nst")


class EvalExtraMissing(ImportError):
    """A model-based metric was asked for but its package is not installed."""


def _require(module: str, metric: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EvalExtraMissing(
            f"{metric} needs the '{module}' package, which is not installed: {INSTALL_HINT}"
        ) from exc


def available() -> dict:
    """Which model-based metrics can run here: {metric name: bool}."""
    def has(*mods):
        return all(importlib.util.find_spec(m) is not None for m in mods)

    return {
        "pesq_wb": has("pesq"),
        "stoi": has("pystoi"),
        "dnsmos": has("speechmos", "onnxruntime"),
        "plcmos": has("speechmos", "onnxruntime"),
        "aecmos": has("speechmos", "onnxruntime"),
    }


def resample(x, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling of a mono signal to ``rate_out`` (float64)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if int(rate_in) == int(rate_out):
        return x
    g = math.gcd(int(rate_in), int(rate_out))
    return resample_poly(x, int(rate_out) // g, int(rate_in) // g)


def _mono(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.int16:
        x = x.astype(np.float64) / 32768.0
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a mono signal, got shape {x.shape}: downmix it first")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf samples")
    return x


def _pair(ref, deg, sample_rate, rate_out):
    ref = resample(_mono(ref, "reference"), sample_rate, rate_out)
    deg = resample(_mono(deg, "degraded signal"), sample_rate, rate_out)
    n = min(ref.size, deg.size)
    return ref[:n], deg[:n]


def _clip_unit(x: np.ndarray) -> np.ndarray:
    """The Microsoft models reject samples outside [-1, 1]; resampling can overshoot slightly."""
    return np.clip(x, -1.0, 1.0)


# ---------------------------------------------------------------- PESQ / STOI
def pesq_wb(ref, deg, sample_rate: int) -> float:
    """Wide-band PESQ (P.862.2) of ``deg`` against ``ref``, both resampled to 16 kHz.

    Returns NaN when PESQ finds no utterance (e.g. a silent reference).
    """
    r, d = _pair(ref, deg, sample_rate, MODEL_RATE)
    pesq = _require("pesq", "PESQ-WB")
    try:
        return float(pesq.pesq(MODEL_RATE, r, d, "wb"))
    except pesq.NoUtterancesError:
        return float("nan")


def stoi(ref, deg, sample_rate: int, extended: bool = False) -> float:
    """STOI (or extended STOI) of ``deg`` against ``ref`` (pystoi resamples to 10 kHz itself)."""
    r, d = _pair(ref, deg, sample_rate, sample_rate)
    pystoi = _require("pystoi", "STOI")
    return float(pystoi.stoi(r, d, int(sample_rate), extended=extended))


# ---------------------------------------------------------------- ONNX models
def _speechmos_file(*parts: str) -> str:
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise EvalExtraMissing(f"the MOS models need the 'speechmos' package, which is not installed: {INSTALL_HINT}")
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    if not os.path.exists(path):
        raise EvalExtraMissing(f"speechmos is installed but has no model file {path}: reinstall it ({INSTALL_HINT})")
    return path


@lru_cache(maxsize=None)
def _session(*parts: str):
    """One onnxruntime session per model file, single-threaded (benchmarks share the CPU)."""
    ort = _require("onnxruntime", "the MOS models")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(_speechmos_file(*parts), sess_options=opts, providers=["CPUExecutionProvider"])


_DNSMOS_SECONDS = 9.01
# P.835 polynomial mappings from the raw network outputs (DNSMOS, non-personalised)
_DNSMOS_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_DNSMOS_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_DNSMOS_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def dnsmos(x, sample_rate: int) -> dict:
    """DNSMOS P.835 of ``x``: {"ovrl", "sig", "bak"}, each the mean over 9.01 s windows hopped by 1 s.

    Clips shorter than 9.01 s are repeated until long enough (as DNSMOS does).
    """
    _require("speechmos", "DNSMOS")
    sess = _session("dnsmos_models", "sig_bak_ovr.onnx")
    audio = _clip_unit(resample(_mono(x, "signal"), sample_rate, MODEL_RATE))
    win = int(_DNSMOS_SECONDS * MODEL_RATE)
    while audio.size < win:
        audio = np.concatenate([audio, audio])
    n_hops = int(np.floor(audio.size / MODEL_RATE) - _DNSMOS_SECONDS) + 1
    sig, bak, ovrl = [], [], []
    name = sess.get_inputs()[0].name
    for i in range(n_hops):
        seg = audio[i * MODEL_RATE: i * MODEL_RATE + win]
        if seg.size < win:
            continue
        s, b, o = sess.run(None, {name: seg.astype(np.float32)[None, :]})[0][0]
        sig.append(_DNSMOS_SIG(s))
        bak.append(_DNSMOS_BAK(b))
        ovrl.append(_DNSMOS_OVRL(o))
    return {"ovrl": float(np.mean(ovrl)), "sig": float(np.mean(sig)), "bak": float(np.mean(bak))}


def plcmos(x, sample_rate: int, rounds: int = 15, seed: int = 0) -> float:
    """PLCMOS v2 of ``x`` (1-5): the mean over ``rounds`` random rater embeddings (seeded here)."""
    _require("speechmos", "PLCMOS")
    sess = _session("plcmos_models", "plcmos_v2.onnx")
    audio = _clip_unit(resample(_mono(x, "signal"), sample_rate, MODEL_RATE))
    feat = _plcmos_features(audio)[None, None].astype(np.float32)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(rounds):
        embed = rng.normal(size=(1, 64)).astype(np.float32)
        out = sess.run(None, {"degraded_audio": feat, "rater_embed": embed})[0]
        scores.append(float(np.asarray(out).reshape(-1)[0]))
    return float(np.mean(scores))


def _plcmos_features(audio: np.ndarray, dft_size: int = 512) -> np.ndarray:
    """Log-power STFT / 20 with a 512-point periodic Hamming window, hop 256, as PLCMOS v2 was trained.

    Framing starts half a window before the signal (synthesis alignment);
    zero bins are floored 120 dB below the smallest non-zero power.
    """
    hop = dft_size // 2
    window = np.hamming(dft_size + 1)[:-1]
    start = hop - dft_size
    n_frames = math.ceil((audio.size - start) / hop)
    pad_right = (n_frames - 1) * hop + dft_size + start - audio.size
    padded = np.concatenate([np.zeros(-start), audio, np.zeros(max(pad_right, 0))])
    idx = np.arange(n_frames)[:, None] * hop + np.arange(dft_size)[None, :]
    spec = np.abs(np.fft.rfft(padded[idx] * window, n=dft_size))
    power = spec ** 2
    zero = power == 0
    logp = np.empty_like(power)
    if np.any(~zero):
        logp[~zero] = np.log(power[~zero])
        logp[zero] = np.log(power[~zero].min()) - 120.0 / 10.0 / np.log10(np.e)
    else:
        logp.fill(-80.0 / 10.0 / np.log10(np.e))
    return logp / 20.0


_AECMOS_MODELS = {None: "Run_1663829550_Stage_0.onnx", "scenario": "Run_1663915512_Stage_0.onnx"}


def aecmos(mic, far, out, sample_rate: int, scenario: str | None = None) -> dict:
    """AECMOS of an echo canceller's output: {"echo", "degradation"} on 1-5 (higher is better).

    ``mic`` is the capture input, ``far`` the loudspeaker (render) signal and
    ``out`` the canceller's output, all at ``sample_rate`` (resampled to 16 kHz).
    ``scenario``: "st" (far-end single talk), "dt" (double talk), "nst"
    (near-end single talk), or None for the scenario-less model. Only the first
    20 s are scored (the model's limit).
    """
    if scenario not in (None,) + AEC_SCENARIOS:
        raise ValueError(f"scenario must be one of {AEC_SCENARIOS} or None, got {scenario!r}")
    _require("speechmos", "AECMOS")
    sess = _session("aecmos_models", _AECMOS_MODELS[None if scenario is None else "scenario"])
    sigs = [_clip_unit(resample(_mono(s, n), sample_rate, MODEL_RATE)) for s, n in
            ((far, "far-end signal"), (mic, "mic signal"), (out, "output signal"))]
    n = min(s.size for s in sigs)
    n = min(n, 20 * MODEL_RATE)
    feats = [log_mel(s[:n].astype(np.float32), MODEL_RATE, n_fft=513, hop=256, n_mels=160) for s in sigs]
    if scenario is not None:
        # the scenario marker: 20 frames of ones/zeros then 20 of zeros appended per stream
        near_single = scenario == "nst"
        far_single = scenario == "st"
        marks = (1.0 - near_single, 1.0 - far_single, 1.0)  # (far, mic, out)
        feats = [np.concatenate([f, np.full((20, f.shape[1]), m), np.zeros((20, f.shape[1]))])
                 for f, m in zip(feats, marks)]
    x = np.stack(feats).astype(np.float32)[None]
    h0 = np.zeros((4, 1, 64), np.float32)
    res = sess.run(None, {sess.get_inputs()[0].name: x, "h0": h0})[0]
    res = np.asarray(res).reshape(-1)
    return {"echo": float(res[0]), "degradation": float(res[1])}


# ---------------------------------------------------------------- log-mel features
def _hz_to_mel(f):
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, min_log_mel + np.log(np.maximum(f, 1e-12) / 1000.0) / logstep, f / f_sp)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, 1000.0 * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular, area-normalised (Slaney) mel filters over 0..fs/2, shape (n_mels, n_fft // 2 + 1)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def log_mel(x: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int,
            top_db: float = 80.0) -> np.ndarray:
    """(power_to_db(mel power spectrogram, ref=max) + 40) / 40, frames x mels.

    The STFT is centred (``n_fft // 2`` zeros each side) with a periodic Hann
    window of ``n_fft`` points; dB values are floored ``top_db`` below the maximum.
    """
    pad = n_fft // 2
    y = np.concatenate([np.zeros(pad, x.dtype), x, np.zeros(pad, x.dtype)])
    n_frames = 1 + (y.size - n_fft) // hop
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    spec = np.fft.rfft(y[idx] * window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    mel = power @ mel_filterbank(sample_rate, n_fft, n_mels).T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= 10.0 * np.log10(max(float(mel.max()), 1e-10))
    db = np.maximum(db, db.max() - top_db)
    return (db + 40.0) / 40.0


# ---------------------------------------------------------------- one pair
def estimate_delay(ref, out, max_delay: int) -> int:
    """Lag in samples (0..max_delay) by which ``out`` trails ``ref``: argmax of their cross-correlation."""
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    n = min(ref.size, out.size)
    if n == 0 or max_delay <= 0:
        return 0
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.conj(np.fft.rfft(ref[:n], size)) * np.fft.rfft(out[:n], size), size)
    return int(np.argmax(xc[: max_delay + 1]))


def evaluate_pair(ref, out, sample_rate: int, far=None, max_delay_ms: float = 100.0) -> dict:
    """Score ``out`` against ``ref`` (both mono at ``sample_rate``).

    Always: the delay of ``out`` behind ``ref`` (found by cross-correlation up
    to ``max_delay_ms``, then compensated), SI-SDR, SNR, active speech levels
    (P.56) of both. When the ``eval`` extra is installed: PESQ-WB, STOI and
    DNSMOS of the output. With ``far`` (the loudspeaker signal), ``ref`` is
    taken as the microphone signal the echo canceller saw and ERLE and the
    scenario-less AECMOS are added. Metrics whose package is missing are
    listed under ``"missing"``.
    """
    ref = _mono(ref, "reference")
    out = _mono(out, "output")
    delay = estimate_delay(ref, out, int(max_delay_ms * sample_rate / 1000))
    n = min(ref.size, out.size - delay)
    r, o = ref[:n], out[delay: delay + n]
    res = {
        "sample_rate": int(sample_rate),
        "seconds": n / sample_rate,
        "delay_ms": 1000.0 * delay / sample_rate,
        "si_sdr_db": metrics.si_sdr_db(r, o),
        "snr_db": metrics.snr_db(r, o),
        "level_ref_dbfs": metrics.active_speech_level(r, sample_rate)[0],
        "level_out_dbfs": metrics.active_speech_level(o, sample_rate)[0],
    }
    missing = []

    def add(name, fn):
        try:
            value = fn()
        except EvalExtraMissing:
            missing.append(name)
            return
        if isinstance(value, dict):
            res.update({f"{name}_{k}": v for k, v in value.items()})
        else:
            res[name] = value

    add("pesq_wb", lambda: pesq_wb(r, o, sample_rate))
    add("stoi", lambda: stoi(r, o, sample_rate))
    add("dnsmos", lambda: dnsmos(o, sample_rate))
    if far is not None:
        far = _mono(far, "far-end signal")
        m = min(ref.size, out.size, far.size)
        res["erle_db"] = metrics.erle_db(ref[:m], out[:m])
        add("aecmos", lambda: aecmos(ref[:m], far[:m], out[:m], sample_rate))
    res["missing"] = missing
    return res


def evaluate_files(ref_path, out_path, far_path=None, sample_rate: int | None = None) -> dict:
    """``evaluate_pair`` on audio files (mono-mixed; resampled to ``sample_rate`` or the reference's rate)."""
    import soundfile as sf

    def read(path, rate):
        try:
            x, fs = sf.read(str(path), dtype="float64", always_2d=True)
        except Exception as exc:  # soundfile raises several types
            from .errors import AudioFileError
            raise AudioFileError(f"cannot read {path}: {exc}") from None
        x = x.mean(axis=1)
        return (x, fs) if rate is None else (resample(x, fs, rate), rate)

    ref, rate = read(ref_path, sample_rate)
    out, _ = read(out_path, rate)
    far = None if far_path is None else read(far_path, rate)[0]
    return evaluate_pair(ref, out, rate, far=far)


def main(argv=None) -> int:
    """``audio3a eval REF OUT [--far FAR] [--rate HZ] [--json FILE]``: print one pair's scores."""
    import argparse

    from .report import markdown_table, write_json

    ap = argparse.ArgumentParser(prog="audio3a eval", description=evaluate_pair.__doc__.split("\n\n")[0])
    ap.add_argument("ref", help="reference: the clean signal, or with --far the microphone signal")
    ap.add_argument("out", help="processed signal")
    ap.add_argument("--far", help="far-end (loudspeaker) signal: adds ERLE and AECMOS")
    ap.add_argument("--rate", type=int, help="evaluate at this rate (default: the reference file's)")
    ap.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    args = ap.parse_args(argv)
    res = evaluate_files(args.ref, args.out, args.far, args.rate)
    rows = [{"metric": k, "value": v} for k, v in res.items() if k != "missing"]
    print(markdown_table(rows, ["metric", "value"]), end="")
    if res["missing"]:
        print(f"\nnot computed ({INSTALL_HINT} adds them): {', '.join(res['missing'])}")
    if args.json:
        write_json(args.json, res)
    return 0
