"""Real websocket clients (the `websockets` library) speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import websockets
from websockets.asyncio.client import ClientConnection


class FrameClient:
    """Reads frames in order, checks that `seq` has no gap, and waits for a given type.

    Frames read while waiting for another kind are kept in a backlog, so that a frame which
    arrives before the one awaited (an event before its command's ack) is not lost."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.backlog: list[dict[str, Any]] = []
        self.last_seq = 0

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, timeout_s: float = 10.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout_s))
        assert frame["seq"] == self.last_seq + 1, f"sequence gap: {self.last_seq} -> {frame}"
        self.last_seq = frame["seq"]
        self.seen.append(frame)
        return frame

    async def expect(self, kind: str, timeout_s: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first unconsumed frame of type `kind` whose fields equal `match`."""
        for i, frame in enumerate(self.backlog):
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return self.backlog.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no {kind} frame {match} within {timeout_s}s; "
                    f"saw {[f['type'] for f in self.seen[-10:]]}"
                )
            frame = await self.next(remaining)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame
            self.backlog.append(frame)

    async def close(self) -> None:
        await self.ws.close()


async def login(base_url: str, username: str, password: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/api/login", json={"username": username, "password": password}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        token: str = (await resp.json())["token"]
        return token


class AgentClient(FrameClient):
    snapshot: dict[str, Any]

    @classmethod
    async def connect(cls, base_url: str, username: str, password: str) -> AgentClient:
        token = await login(base_url, username, password)
        ws = await websockets.connect(
            base_url.replace("http", "ws", 1) + "/ws/agent",
            additional_headers={"Authorization": f"Bearer {token}"},
        )
        client = cls(ws)
        client.snapshot = await client.expect("snapshot")
        return client

    @property
    def agent_id(self) -> str:
        return str(self.snapshot["agent"]["agent_id"])

    async def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its ack (or error)."""
        ref = uuid.uuid4().hex[:8]
        await self.send(type=kind, ref=ref, **fields)
        while True:
            frame = await self.next()
            if frame.get("ref") == ref and frame["type"] in ("ack", "error"):
                return frame
            self.backlog.append(frame)

    async def go_available(self) -> None:
        ack = await self.command("set_state", state="available")
        assert ack["type"] == "ack", ack


class ChatClient(FrameClient):
    welcome: dict[str, Any]

    @classmethod
    async def connect(
        cls, base_url: str, name: str, visitor_id: str | None = None, email: str | None = None
    ) -> ChatClient:
        ws = await websockets.connect(base_url.replace("http", "ws", 1) + "/ws/chat")
        client = cls(ws)
        hello: dict[str, Any] = {"type": "hello", "name": name}
        if visitor_id:
            hello["visitor_id"] = visitor_id
        if email:
            hello["email"] = email
        await client.ws.send(json.dumps(hello))
        client.welcome = await client.expect("welcome")
        return client

    @classmethod
    async def connect_signed(
        cls, base_url: str, name: str, user_id: str, user_hash: str
    ) -> ChatClient:
        """A visitor the embedding site signed in: its user id and the id's signature."""
        ws = await websockets.connect(base_url.replace("http", "ws", 1) + "/ws/chat")
        client = cls(ws)
        hello = {"type": "hello", "name": name, "user_id": user_id, "user_hash": user_hash}
        await client.ws.send(json.dumps(hello))
        client.welcome = await client.expect("welcome")
        return client

    async def say(self, text: str) -> None:
        await self.send(type="message", text=text, client_msg_id=uuid.uuid4().hex)
