"""The fake Slack's Socket Mode: `apps.connections.open` and the WebSocket it hands out.

As in Slack (docs.slack.dev "Using Socket Mode"):
- `apps.connections.open` takes only an app-level token (`xapp-…`, scope `connections:write`) and answers
  a WebSocket URL with a single-use ticket; any other token gets `not_allowed_token_type`.
- On connect the server sends `{"type": "hello", "num_connections", "debug_info", "connection_info"}`.
- Each delivery is an envelope `{"envelope_id", "type", "payload", "accepts_response_payload",
  "retry_attempt", "retry_reason"}`, where `type` is `events_api` (payload: the event callback body),
  `interactive` (the interactivity payload) or `slash_commands` (the command's fields); the app acks
  with `{"envelope_id"}` and, where responses are accepted, a `payload` (e.g. a slash command's
  message). Slack waits 3 s for the ack.
- `disconnect()` sends `{"type": "disconnect", "reason": "refresh_requested"}`, as Slack does before it
  rotates a connection; the client then opens a new one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack_payloads import Delivery, SlackRequest
from tests.fakes.slack_state import Workspace
from tests.fakes.slack_workspace import SlackError

ACK_TIMEOUT = 3.0
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None


def envelope_type(request: SlackRequest) -> str:
    """What Socket Mode calls the delivery that Slack would POST as `request`."""
    if request.content_type == "application/json":
        return "events_api"
    return "interactive" if request.body.startswith(b"payload=") else "slash_commands"


class SocketModeSide:
    """Tickets, live connections and acks; one connection at a time is used for deliveries."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.app_token = f"xapp-1-{ws.app_id}-1234567890123-{'f' * 64}"
        self.connects = 0  # connections accepted so far
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[Ack]] = {}
        self._connected = asyncio.Event()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/link/", self.link)]

    # ---- the Web API method -------------------------------------------------------------------

    def open_connection(self, token: str | None) -> dict[str, Any]:
        """`apps.connections.open`, already past the generic token checks."""
        if token != self.app_token:
            raise SlackError("not_allowed_token_type")
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self._port()}/link/?ticket={ticket}&app_id={self.ws.app_id}",
        }

    def _port(self) -> str:
        return self.ws.base_url.rsplit(":", 1)[1]

    # ---- the WebSocket --------------------------------------------------------------------------

    async def link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid or used ticket")
        self._tickets.discard(ticket)
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        self.connects += 1
        self._sockets.append(socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {
                    "host": "fake-socket-mode",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.ws.app_id},
            }
        )
        self._connected.set()
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = self._acks.get(str(data.get("envelope_id")))
                if future is not None and not future.done():
                    payload = data.get("payload")
                    future.set_result(
                        Ack(str(data["envelope_id"]), payload if isinstance(payload, dict) else None)
                    )
        finally:
            self._sockets.remove(socket)
            if not self._sockets:
                self._connected.clear()
        return socket

    async def wait_connected(self) -> None:
        """Until the app has a connection open (the app connects as it starts)."""
        await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT)

    async def deliver(self, request: SlackRequest) -> Delivery:
        """Send `request` as an envelope on the newest connection and wait for its ack: a Delivery
        with status 200 and the ack's payload as JSON text (empty when none), or status 408 when the
        app did not ack within 3 s."""
        await self.wait_connected()
        kind = envelope_type(request)
        envelope_id = secrets.token_hex(16)
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        started = time.monotonic()
        try:
            await self._sockets[-1].send_json(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": request.payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": request.retry_num or 0,
                    "retry_reason": request.retry_reason or "",
                }
            )
            try:
                ack = await asyncio.wait_for(future, ACK_TIMEOUT)
            except TimeoutError:
                return Delivery(status=408, text="", elapsed=time.monotonic() - started)
        finally:
            self._acks.pop(envelope_id, None)
        text = json.dumps(ack.payload) if ack.payload is not None else ""
        return Delivery(status=200, text=text, elapsed=time.monotonic() - started)

    async def disconnect(self) -> None:
        """Ask the app to reconnect, as Slack does before it rotates a connection."""
        for socket in list(self._sockets):
            await socket.send_json({"type": "disconnect", "reason": "refresh_requested"})

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
