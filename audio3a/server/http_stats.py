"""A small local HTTP endpoint for the running server's statistics (stdlib asyncio, same event loop).

``GET /stats`` returns ``{"server": ..., "sessions": [...]}``: the server
record of the stats lines (tick lateness and work of the interval so far,
drops, counts) and one record per open session (receiver, concealment,
sender/FEC, counters), as JSON. ``GET /sessions/<id>`` returns one session's
record, 404 if no open session has that id. Anything else gets 404 (405 for
methods other than GET). The endpoint runs on the server's event loop
between ticks: a request costs about 0.1 ms per session, and a client that
sends nothing is dropped after ``timeout_s``. Meant for 127.0.0.1 (an
operator's tool, not a public interface); requests beyond ``max_request_bytes``
are refused.
"""
import asyncio
import json

__all__ = ["StatsEndpoint"]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class StatsEndpoint:
    """``await start(host, port)``; ``address``; ``await close()``; ``server`` is an ``audio3a.server.Server``."""

    def __init__(self, server, timeout_s: float = 2.0, max_request_bytes: int = 8192):
        self.server = server
        self.timeout_s = float(timeout_s)
        self.max_request_bytes = int(max_request_bytes)
        self.requests = 0
        self._srv = None

    async def start(self, host: str, port: int):
        self._srv = await asyncio.start_server(self._handle, host, port, limit=self.max_request_bytes)
        return self.address

    @property
    def address(self):
        return self._srv.sockets[0].getsockname()[:2]

    async def close(self):
        if self._srv is not None:
            self._srv.close()
            await self._srv.wait_closed()
            self._srv = None

    def snapshot(self) -> dict:
        srv = self.server
        now = srv._loop.time()
        return {"server": srv.server_stats(now), "sessions": [s.stats() for s in list(srv.sessions.values())]}

    def _route(self, method: str, path: str):
        if method != "GET":
            return 405, {"error": "only GET"}
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/stats":
            return 200, self.snapshot()
        if path.startswith("/sessions/"):
            sid = path[len("/sessions/"):]
            for s in list(self.server.sessions.values()):
                if s.sid == sid:
                    return 200, s.stats()
            return 404, {"error": f"no open session {sid!r}"}
        if path == "/sessions":
            return 200, [s.stats() for s in list(self.server.sessions.values())]
        return 404, {"error": "try /stats, /sessions or /sessions/<id>"}

    async def _handle(self, reader, writer):
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout_s)
                parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
                if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                    raise ValueError
                status, body = self._route(parts[0], parts[1])
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                status, body = 400, {"error": "bad request"}
            self.requests += 1
            data = json.dumps(body, separators=(",", ":")).encode()
            writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
