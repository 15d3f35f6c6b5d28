"""A tiny real WebSocket server for the client tests (run as a subprocess).

Prints ``port: N`` once listening on 127.0.0.1. Protocol:
``{"op": "subscribe", "repos": [...]}`` → ``{"type": "subscribed", ...}``;
``{"op": "ping"}`` → ``{"type": "pong"}``; ``{"op": "burst", "n": N}`` → N
``{"type": "tick", "seq": i}`` messages; ``{"op": "drop"}`` → the TCP
connection is cut without a close frame; anything else is echoed back.
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import ServerConnection, serve


async def handle(conn: ServerConnection) -> None:
    async for raw in conn:
        message = json.loads(raw)
        op = message.get("op")
        if op == "subscribe":
            await conn.send(json.dumps({"type": "subscribed", "repos": message["repos"]}))
        elif op == "ping":
            await conn.send(json.dumps({"type": "pong"}))
        elif op == "burst":
            for seq in range(message["n"]):
                await conn.send(json.dumps({"type": "tick", "seq": seq}))
        elif op == "drop":
            conn.transport.abort()
            return
        else:
            await conn.send(json.dumps({"type": "echo", "message": message}))


async def main(port: int) -> None:
    async with serve(handle, "127.0.0.1", port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"port: {bound}", flush=True)
        await asyncio.sleep(120)  # bounded: the test kills it long before


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
