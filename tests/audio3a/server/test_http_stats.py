"""The local HTTP stats endpoint: per-session JSON while a call runs; bad requests get 4xx."""
import asyncio
import json

from audio3a.server.server import ServerConfig

from server_helpers import client, speech, with_server


async def http_get(addr, path, raw=None):
    reader, writer = await asyncio.open_connection(*addr)
    writer.write(raw if raw is not None else f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_stats_endpoint_reports_each_open_session():
    async def body(server):
        c = client(server, speech(2.0), drain_s=0.5)
        task = asyncio.ensure_future(c.run())
        await asyncio.sleep(1.2)                      # mid-call
        addr = server.http.address
        status, doc = await http_get(addr, "/stats")
        sid = doc["sessions"][0]["session"] if doc["sessions"] else None
        one = await http_get(addr, f"/sessions/{sid}")
        missing = await http_get(addr, "/sessions/nobody")
        wrong = await http_get(addr, "/nothing")
        post = await http_get(addr, None, raw=b"POST /stats HTTP/1.1\r\n\r\n")
        garbage = await http_get(addr, None, raw=b"\x00\x01 hello\r\n\r\n")
        result = await task
        return status, doc, one, missing, wrong, post, garbage, result

    status, doc, one, missing, wrong, post, garbage, result = asyncio.run(
        with_server(ServerConfig(stats_port=0), body))
    assert status == 200
    assert doc["server"]["type"] == "server" and doc["server"]["sessions"] == 1
    (s,) = doc["sessions"]
    assert s["ssrc"] == result["ssrc"]
    assert s["rx"]["media"] > 20                     # > 0.4 s of 20 ms packets had arrived by then
    assert one[0] == 200 and one[1]["session"] == s["session"]
    assert missing[0] == 404 and wrong[0] == 404 and post[0] == 405 and garbage[0] == 400
