"""Thin adapters over the peer libraries, for side-by-side latency and quality.

Each adapter turns one 10 ms float32 frame (and, for echo cancellers, the
far-end frame) into one output frame, like an audio3a stage, so the latency
benchmark can time peers *interleaved* with audio3a in one process and print
audio3a/peer ratios that hold on a loaded machine. ``process`` runs a whole
signal through an adapter for the quality benchmarks; ``opus_conceal`` runs
Opus with its codec-integrated PLC over a loss mask; ``zfec_coder`` wraps
zfec's Reed-Solomon coder for the FEC benchmark.

Peers (``pip install 'audio3a[peers]'``), compared with:

=================  ==========================  =============
adapter            library                     audio3a part
=================  ==========================  =============
webrtc_apm         pywebrtc-audio AudioProc.   pipeline (HPF+AEC3+NS high+AGC2)
webrtc_aec3        pywebrtc-audio EchoCanc.    aec
webrtc_ns          pywebrtc-audio NoiseSupp.   ns (level 2 = high)
webrtc_agc2        pywebrtc-audio GainContr.   agc
speex_ns           speexdsp-ns                 ns
rnnoise            pyrnnoise (48 kHz only)     ns
opus_plc           opuslib-next-bundled        plc (per concealed frame)
=================  ==========================  =============

Only peers that import are offered; ``status()`` says why the others are
missing.
"""
import ctypes
import importlib

import numpy as np

from audio3a.benchmark import Candidate, _loss_mask
from audio3a.frames import frame_len_for

# why a peer in the extra may be absent even after `pip install 'audio3a[peers]'`
KNOWN_INSTALL_PROBLEMS = {
    "speexdsp": "its sdist builds with SWIG and libspeexdsp headers ('swig' not found here); "
                "apt-get install swig libspeexdsp-dev, then pip install speexdsp",
}

_MODULES = {
    "webrtc_apm": "pywebrtc_audio",
    "webrtc_aec3": "pywebrtc_audio",
    "webrtc_ns": "pywebrtc_audio",
    "webrtc_agc2": "pywebrtc_audio",
    "speex_ns": "speexdsp_ns",
    "speex_aec": "speexdsp",
    "rnnoise": "pyrnnoise.rnnoise",
    "opus_plc": "opuslib_next",
    "zfec": "zfec",
}


def status() -> dict:
    """{adapter: "ok" or the reason it is unavailable}."""
    out = {}
    for name, module in _MODULES.items():
        try:
            importlib.import_module(module)
            out[name] = "ok"
        except Exception as exc:  # ImportError, or OSError from a missing shared library
            top = module.split(".")[0]
            out[name] = f"{type(exc).__name__}: {exc}" + (
                f" ({KNOWN_INSTALL_PROBLEMS[top]})" if top in KNOWN_INSTALL_PROBLEMS else "")
    return out


# ---------------------------------------------------------------- frame adapters
class _Int16Buffers:
    """Preallocated int16 scratch so adapters that need int16 do not allocate per frame."""

    def __init__(self, frame_len):
        self.i16 = np.empty(frame_len, np.int16)
        self.out = np.empty(frame_len, np.float32)

    def to_i16(self, x):
        np.multiply(x, 32768.0, out=self.out)
        np.clip(self.out, -32768, 32767, out=self.out)
        self.i16[:] = self.out
        return self.i16


class WebrtcApm:
    """WebRTC APM full 3A (HPF, AEC3, NS high, AGC2) through ``AudioProcessor``."""

    name, compare, rates, uses_far = "WebRTC APM 3A", "pipeline", (16000, 48000), True

    def __init__(self, sample_rate):
        from pywebrtc_audio import AudioProcessor

        self.apm = AudioProcessor(sample_rate, echo_cancellation=True, noise_suppression=True,
                                  high_pass_filter=True, auto_gain_control=True, ns_level=2)

    def frame(self, near, far=None):
        return self.apm.process(near, far if far is not None else np.zeros_like(near))


class WebrtcAec3:
    name, compare, rates, uses_far = "WebRTC AEC3", "aec", (16000, 48000), True

    def __init__(self, sample_rate):
        from pywebrtc_audio import EchoCanceller

        self.aec = EchoCanceller(sample_rate)

    def frame(self, near, far=None):
        return self.aec.process(near, far if far is not None else np.zeros_like(near))


class WebrtcNs:
    name, compare, rates, uses_far = "WebRTC NS (high)", "ns", (16000, 48000), False

    def __init__(self, sample_rate, level: int = 2):
        from pywebrtc_audio import NoiseSuppressor

        self.ns = NoiseSuppressor(sample_rate, level=level)

    def frame(self, near, far=None):
        return self.ns.process(near)


class WebrtcAgc2:
    name, compare, rates, uses_far = "WebRTC AGC2", "agc", (16000, 48000), False

    def __init__(self, sample_rate):
        from pywebrtc_audio import GainController

        self.agc = GainController(sample_rate)

    def frame(self, near, far=None):
        return self.agc.process(near)


class SpeexNs:
    """SpeexDSP preprocessor noise suppression (int16 bytes in/out)."""

    name, compare, rates, uses_far = "Speex NS", "ns", (16000, 48000), False

    def __init__(self, sample_rate):
        from speexdsp_ns import NoiseSuppression

        self.fl = frame_len_for(sample_rate)
        self.ns = NoiseSuppression.create(self.fl, sample_rate)
        self.buf = _Int16Buffers(self.fl)

    def frame(self, near, far=None):
        out = self.ns.process(self.buf.to_i16(near).tobytes())
        return np.frombuffer(out, np.int16).astype(np.float32) / 32768.0


class RNNoise:
    """RNNoise 0.x via pyrnnoise's C library; 48 kHz, 480-sample frames, int16-scaled floats."""

    name, compare, rates, uses_far = "RNNoise", "ns", (48000,), False

    def __init__(self, sample_rate):
        if sample_rate != 48000:
            raise ValueError("RNNoise runs at 48 kHz only")
        from pyrnnoise import rnnoise

        self._lib = rnnoise.lib
        self._state = rnnoise.create()
        self._destroy = rnnoise.destroy
        self.buf = np.zeros(rnnoise.FRAME_SIZE, np.float32)
        self._ptr = self.buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self.out = np.empty(rnnoise.FRAME_SIZE, np.float32)

    def frame(self, near, far=None):
        np.multiply(near, 32768.0, out=self.buf)
        self._lib.rnnoise_process_frame(self._state, self._ptr, self._ptr)
        np.multiply(self.buf, 1.0 / 32768.0, out=self.out)
        return self.out

    def __del__(self):
        try:
            self._destroy(self._state)
        except Exception:
            pass


FRAME_ADAPTERS = {
    "webrtc_apm": WebrtcApm,
    "webrtc_aec3": WebrtcAec3,
    "webrtc_ns": WebrtcNs,
    "webrtc_agc2": WebrtcAgc2,
    "speex_ns": SpeexNs,
    "rnnoise": RNNoise,
}


def available_adapters(sample_rate: int) -> dict:
    """{name: adapter class} of frame adapters that import and support ``sample_rate``."""
    ok = status()
    return {n: cls for n, cls in FRAME_ADAPTERS.items() if ok.get(n) == "ok" and sample_rate in cls.rates}


def process(name: str, x, sample_rate: int, far=None, align: bool = True) -> np.ndarray:
    """Run a whole mono signal (and far end) through adapter ``name``; float64 out, same length.

    A rate the peer does not run at (RNNoise below 48 kHz) is resampled to
    48 kHz and back. With ``align`` the peer's algorithmic delay (found by
    cross-correlating output and input, up to 40 ms) is removed so the output
    lines up with ``x`` sample for sample.
    """
    from audio3a.evaluate import resample

    cls = FRAME_ADAPTERS[name]
    rate = sample_rate if sample_rate in cls.rates else cls.rates[-1]
    x0 = np.asarray(x, np.float64)
    xs = resample(x0, sample_rate, rate)
    fs = None if far is None else resample(np.asarray(far, np.float64), sample_rate, rate)
    fl = frame_len_for(rate)
    n = -(-xs.size // fl)
    xp = np.zeros(n * fl, np.float32)
    xp[: xs.size] = np.clip(xs, -1.0, 1.0 - 2 ** -15)
    fp = None
    if fs is not None:
        fp = np.zeros(n * fl, np.float32)
        m = min(fs.size, fp.size)
        fp[:m] = np.clip(fs[:m], -1.0, 1.0 - 2 ** -15)
    peer = cls(rate)
    y = np.empty(n * fl, np.float64)
    for i in range(n):
        s = slice(i * fl, (i + 1) * fl)
        y[s] = peer.frame(xp[s], None if fp is None else fp[s])
    y = resample(y[: xs.size], rate, sample_rate)[: x0.size]
    if align:
        from audio3a.evaluate import estimate_delay

        d = estimate_delay(x0, y, int(0.04 * sample_rate))
        y = np.concatenate([y[d:], np.zeros(d)])
    return y


# ---------------------------------------------------------------- Opus PLC
class OpusPlc:
    """Opus (VOIP mode, fixed bitrate) decoding each packet, or concealing with its built-in PLC."""

    name, compare = "Opus PLC", "plc"

    def __init__(self, sample_rate, frame_ms: int = 10, bitrate: int = 32000):
        import opuslib_next as opus

        self.fl = sample_rate * frame_ms // 1000
        self.enc = opus.Encoder(sample_rate, 1, opus.APPLICATION_VOIP)
        self.enc.bitrate = bitrate
        self.dec = opus.Decoder(sample_rate, 1)

    def encode(self, frames: np.ndarray) -> list[bytes]:
        """Opus packets of float frames (n, frame_len)."""
        pcm = np.clip(np.round(frames * 32768.0), -32768, 32767).astype(np.int16)
        return [self.enc.encode(f.tobytes(), self.fl) for f in pcm]

    def receive(self, packet: bytes) -> bytes:
        return self.dec.decode(packet, self.fl)

    def conceal(self) -> bytes:
        return self.dec.decode(b"", self.fl)  # length 0: libopus runs its PLC


def opus_conceal(x, sample_rate: int, lost, frame_ms: int = 20, bitrate: int = 32000) -> np.ndarray:
    """``x`` coded by Opus in ``frame_ms`` packets, packets where ``lost`` is True concealed by Opus PLC.

    Returns float64 of len(x) (the tail that does not fill a packet is dropped
    to zeros). Opus's own algorithmic delay (6.5 ms) is removed so the output
    lines up with ``x``.
    """
    c = OpusPlc(sample_rate, frame_ms, bitrate)
    fl = c.fl
    x = np.asarray(x, np.float64)
    n = x.size // fl
    packets = c.encode(np.clip(x[: n * fl], -1, 1).reshape(n, fl))
    lost = np.asarray(lost, bool)
    out = []
    for i in range(n):
        pcm = c.conceal() if (i < lost.size and lost[i]) else c.receive(packets[i])
        out.append(np.frombuffer(pcm, np.int16))
    y = np.concatenate(out).astype(np.float64) / 32768.0 if out else np.zeros(0)
    delay = c.enc.lookahead if hasattr(c.enc, "lookahead") else int(0.0065 * sample_rate)
    y = np.concatenate([y[delay:], np.zeros(delay)])
    res = np.zeros(x.size)
    res[: y.size] = y
    return res


# ---------------------------------------------------------------- zfec
def zfec_coder(k: int, m: int):
    """(encode(blocks) -> repair blocks, decode(blocks, indices) -> data blocks) for zfec RS(k+m)."""
    import zfec

    enc = zfec.Encoder(k, k + m)
    dec = zfec.Decoder(k, k + m)

    def encode(blocks):
        return enc.encode(list(blocks), list(range(k, k + m)))

    def decode(blocks, indices):
        return dec.decode(list(blocks), list(indices))

    return encode, decode


# ---------------------------------------------------------------- latency
def latency_candidates(sample_rate: int, mic: np.ndarray, far: np.ndarray) -> list:
    """Benchmark candidates for every installed peer at ``sample_rate`` (see audio3a.benchmark)."""
    cands = []
    for key, cls in available_adapters(sample_rate).items():
        peer = cls(sample_rate)
        if cls.uses_far:
            def call(i, p=peer):
                p.frame(mic[i], far[i])
        else:
            def call(i, p=peer):
                p.frame(mic[i])
        cands.append(Candidate(cls.name, call, kind="peer", compare=cls.compare))
    if status().get("opus_plc") == "ok":
        opus = OpusPlc(sample_rate)
        packets = opus.encode(mic)
        lost = _loss_mask(mic.shape[0])

        def plc_call(i, o=opus, lost=lost, packets=packets):
            if lost[i]:
                o.conceal()
            else:
                o.receive(packets[i])

        cands.append(Candidate("Opus PLC (concealed)", plc_call, kind="peer", compare="plc (concealed)",
                               frames_used=lost))
    return cands
