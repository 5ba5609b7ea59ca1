"""Dual recording: both directions of a session to WAV or FLAC, written as they happen, with a sidecar.

``WavTrack`` writes 16-bit PCM through an unbuffered descriptor and patches
the RIFF and data sizes after every write, so the file on disk is a valid
WAV holding everything written so far even if the process is killed.
``FlacTrack`` writes through libsndfile and flushes after every write (a
FLAC file is only guaranteed complete after ``close``). ``SessionRecorder``
holds the received (``rx``) and sent (``tx``) tracks of one session and a
JSON sidecar (timestamps, sample counts, packet and concealment statistics)
rewritten atomically every ``sidecar_interval_s`` and on close, when it also
gets the SHA-256 of each closed file. Its ``write`` keeps a copy of the samples
and ``flush`` hands them to the tracks (one write, three system calls, per track
and flush): the server flushes in the slack after its tick, so the disk writes
(~70 us a session-tick at 16 sessions) are not on the tick's critical path; the
files on disk lag by a tick, at most by ``max_pending`` writes (beyond that
``write`` flushes itself).
"""
import hashlib
import json
import os
import struct
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["WavTrack", "FlacTrack", "SessionRecorder", "sha256_file", "FORMATS"]

FORMATS = ("wav", "flac")
_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def _utc(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat(timespec="milliseconds")


def _to_int16(x) -> np.ndarray:
    y = np.asarray(x, np.float32)
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype("<i2")


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk_bytes)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class _Track:
    """A mono 16-bit recording that counts its samples and stamps its first and last write."""

    def __init__(self, path, sample_rate: int):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.samples = 0
        self.first_write_s = None
        self.last_write_s = None

    def write(self, x) -> None:
        """Append float samples in [-1, 1) (clipped to int16)."""
        pcm = _to_int16(x)
        if pcm.size == 0:
            return
        now = time.time()
        if self.first_write_s is None:
            self.first_write_s = now
        self.last_write_s = now
        self._append(pcm)
        self.samples += pcm.size

    def _append(self, pcm: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class WavTrack(_Track):
    """Mono 16-bit PCM WAV, valid on disk after every ``write`` (sizes patched in place)."""

    def __init__(self, path, sample_rate: int):
        super().__init__(path, sample_rate)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(self._fd, self._header(0))

    def _header(self, n: int) -> bytes:
        data = 2 * n
        return _WAV_HEADER.pack(b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, 1, self.sample_rate,
                                2 * self.sample_rate, 2, 16, b"data", data)

    def _append(self, pcm: np.ndarray) -> None:
        os.write(self._fd, pcm.tobytes())
        data = 2 * (self.samples + pcm.size)
        os.pwrite(self._fd, struct.pack("<I", 36 + data), 4)
        os.pwrite(self._fd, struct.pack("<I", data), 40)

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


class FlacTrack(_Track):
    """Mono 16-bit FLAC through libsndfile, flushed after every ``write``."""

    def __init__(self, path, sample_rate: int):
        import soundfile as sf
        super().__init__(path, sample_rate)
        self._f = sf.SoundFile(str(self.path), "w", self.sample_rate, 1, "PCM_16", format="FLAC")

    def _append(self, pcm: np.ndarray) -> None:
        self._f.write(pcm.astype(np.int16))
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class SessionRecorder:
    """The ``rx`` (what the participant sent, as received and concealed) and ``tx`` (what the
    server sent it) tracks of one session, and their JSON sidecar ``<base>.json``."""

    max_pending = 100                 # writes kept per track before ``write`` flushes itself (2 s of 20 ms frames)

    def __init__(self, directory, base: str, sample_rate: int, fmt: str = "wav", info: dict | None = None,
                 sidecar_interval_s: float = 1.0):
        if fmt not in FORMATS:
            raise ValueError(f"recording format must be one of {FORMATS}, got {fmt!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.base = base
        self.sample_rate = int(sample_rate)
        self.info = dict(info or {})
        self.sidecar_interval_s = float(sidecar_interval_s)
        track = WavTrack if fmt == "wav" else FlacTrack
        self.tracks = {name: track(self.directory / f"{base}.{name}.{fmt}", sample_rate) for name in ("rx", "tx")}
        self._pending = {name: [] for name in self.tracks}       # samples written, not yet on disk
        self.sidecar_path = self.directory / f"{base}.json"
        self.opened_s = time.time()
        self.closed = False
        self._stats = {}
        self._last_sidecar_s = 0.0
        self._hashes = None
        self.write_sidecar()

    def write(self, track: str, x) -> None:
        """Queue float samples for ``track`` (a copy: the caller may reuse ``x``); ``flush`` writes them."""
        q = self._pending[track]
        q.append(np.array(x, np.float32).reshape(-1))
        if len(q) >= self.max_pending:
            self.flush()

    @property
    def pending(self) -> bool:
        return any(self._pending.values())

    def flush(self) -> None:
        """Write the queued samples of each track to its file (one write per track)."""
        for name, q in self._pending.items():
            if q:
                self.tracks[name].write(q[0] if len(q) == 1 else np.concatenate(q))
                q.clear()

    def update(self, stats: dict, force: bool = False) -> None:
        """Remember the latest statistics; rewrite the sidecar when due (or ``force``)."""
        self._stats = stats
        self.flush()
        now = time.monotonic()
        if force or now - self._last_sidecar_s >= self.sidecar_interval_s:
            self.write_sidecar()

    def _doc(self, hashes=None) -> dict:
        files = {}
        for name, t in self.tracks.items():
            files[name] = {
                "path": t.path.name, "sample_rate": t.sample_rate, "samples": t.samples,
                "duration_s": t.samples / t.sample_rate,
                "first_write_utc": _utc(t.first_write_s) if t.first_write_s else None,
                "last_write_utc": _utc(t.last_write_s) if t.last_write_s else None,
            }
            if hashes:
                files[name]["sha256"] = hashes[name]
        return {"session": self.base, "status": "closed" if self.closed else "open",
                "opened_utc": _utc(self.opened_s), "closed_utc": _utc(time.time()) if self.closed else None,
                **self.info, "files": files, "stats": self._stats}

    def write_sidecar(self, hashes=None, sync: bool = False) -> None:
        """Atomic rewrite of the sidecar (a reader never sees half a file); ``sync`` waits for the disk
        (only on close: the periodic rewrites run on the processing thread)."""
        tmp = self.sidecar_path.with_name(f".{self.sidecar_path.name}.part")
        with open(tmp, "w") as f:
            json.dump(self._doc(hashes), f, indent=1, default=str)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, self.sidecar_path)
        self._last_sidecar_s = time.monotonic()

    def close(self, stats: dict | None = None, reason: str = "") -> dict:
        """Close both tracks, hash them, write the final sidecar; returns it as a dict."""
        if self.closed:
            return self._doc(self._hashes)
        if stats is not None:
            self._stats = stats
        if reason:
            self.info["close_reason"] = reason
        self.flush()
        for t in self.tracks.values():
            t.close()
        hashes = {name: sha256_file(t.path) for name, t in self.tracks.items()}
        self.closed = True
        self._hashes = hashes
        self.write_sidecar(hashes, sync=True)
        return self._doc(hashes)
