"""One fault-injection mechanism for every simulator: an ASGI wrapper with rules.

A rule matches a method and a path pattern and fires ``times`` times:

    status        answer ``status`` without calling the app (nothing applied)
    after         call the app (the request IS applied), then answer ``status`` instead
    reset         raise a connection error before the app is called
    reset_after   call the app (applied), then raise a connection error
    timeout_after call the app (applied), then time out as a hung answer would
    malformed     call the app, then send its body cut in half
    call          run ``callback()`` first, then the app as usual (e.g. kill the client)
    call_after    run the app (the request IS applied), then ``callback()``, then answer
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

__all__ = ["FaultInjector", "FaultRule"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Action = Literal["status", "after", "reset", "reset_after", "timeout_after", "malformed", "call", "call_after"]


@dataclass
class FaultRule:
    method: str
    path: str
    action: Action
    times: int = 1
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    query: str | None = None  # a pattern the query string must contain, e.g. "cursor="
    content: str | None = None  # a pattern the request body must contain (GraphQL: one path, many operations)
    callback: Callable[[], None] | None = None
    skip: int = 0  # let this many matching requests through first
    fired: int = 0

    def matches(self, scope: Scope, body: bytes = b"") -> bool:
        query = scope.get("query_string", b"").decode()
        return (
            self.fired < self.times
            and scope["method"] == self.method
            and re.fullmatch(self.path, scope["path"]) is not None
            and (self.query is None or re.search(self.query, query) is not None)
            and (self.content is None or re.search(self.content, body.decode("utf-8", "replace")) is not None)
        )


class FaultInjector:
    """Wraps an ASGI app; ``add()`` rules; ``app`` is the wrapped application."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.rules: list[FaultRule] = []

    def add(self, method: str, path: str, action: Action, **kw: Any) -> FaultRule:
        rule = FaultRule(method, path, action, **kw)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        if scope["type"] == "http" and any(r.content is not None for r in self.rules):
            body, receive = await _buffered(receive)
        rule = next((r for r in self.rules if scope["type"] == "http" and r.matches(scope, body)), None)
        if rule is not None and rule.skip > 0:
            rule.skip -= 1
            rule = None
        if rule is None:
            await self.inner(scope, receive, send)
            return
        rule.fired += 1
        if rule.action in ("call", "call_after"):
            await self._call(rule, scope, receive, send)
            return
        if rule.action == "status":
            await self._respond(send, rule)
        elif rule.action == "reset":
            raise httpx.ReadError("connection reset by the simulator (fault injected)")
        elif rule.action == "malformed":
            await self._malformed(scope, receive, send)
        else:
            await self.inner(scope, receive, _swallow)
            if rule.action == "reset_after":
                raise httpx.ReadError("connection reset after the request was applied (fault injected)")
            if rule.action == "timeout_after":
                raise httpx.ReadTimeout("no answer within the client's timeout (fault injected)")
            await self._respond(send, rule)

    async def _call(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        assert rule.callback is not None
        if rule.action == "call":
            rule.callback()
            await self.inner(scope, receive, send)
            return
        await self.inner(scope, receive, _swallow)
        rule.callback()
        await self._respond(send, FaultRule(rule.method, rule.path, "status", status=500))

    @staticmethod
    async def _respond(send: Send, rule: FaultRule) -> None:
        body = json.dumps(rule.body if rule.body is not None else {"error": "fault injected"}).encode()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in (rule.headers or {}).items()]
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.inner(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)]})


async def _swallow(message: Message) -> None:
    return None


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
