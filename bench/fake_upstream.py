"""A loopback stand-in for a Kaspr v2.0 server, fast enough to bench against: one asyncio process, HTTP/1.1
keep-alive, every answer after ``--delay`` seconds, a profile for whatever id it is asked.

    python bench/fake_upstream.py --port 9000 --delay 0.05

``GET /calls`` says how many profiles it was asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

CALLS = {"n": 0}


def profile(slug: str) -> bytes:
    work = [f"{slug}@upstream.example"]
    body = {
        "profile": {
            "id": slug,
            "name": "Jane Upstream",
            "firstName": "Jane",
            "lastName": "Upstream",
            "title": "CTO",
            "companyName": "Upstream",
            "company": {"name": "Upstream", "domains": ["upstream.example"]},
            "workEmails": work,
            "directEmails": [],
            "phones": ["+33 6 12 34 56 78"],
            "emails": [{"email": work[0], "valid": None, "isCurrent": True}],
        }
    }
    return json.dumps(body).encode()


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, jitter: float = 0.0) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            raw = await reader.readexactly(length) if length else b""
            if path == "/calls":
                data = json.dumps(CALLS).encode()
            else:
                CALLS["n"] += 1
                await asyncio.sleep(delay + random.uniform(-jitter, jitter) if jitter else delay)
                slug = json.loads(raw).get("id", "x") if raw else "x"
                data = profile(str(slug))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDecreased-Credits: 1\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--jitter", type=float, default=0.0, help="each answer's delay drawn from delay +- jitter")
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, args.delay, args.jitter), "127.0.0.1", args.port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
