"""One paginator per pagination style. A fresh instance per traversal; the same cursor
twice is an invalid cursor (BadStoreData), as DESIGN requires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

__all__ = ["CursorLoop", "CursorPaginator", "Paginator"]


class CursorLoop(Exception):
    """The store handed back a cursor it had already given in this traversal."""


class Paginator(Protocol):
    def first(self, request: httpx.Request) -> httpx.Request: ...

    def next(self, request: httpx.Request, body: Any) -> httpx.Request | None: ...


class CursorPaginator:
    """Follows an opaque cursor found in the body by ``cursor_of(body)``, sent back as the
    query parameter ``param``. ``None`` or empty ends the traversal."""

    def __init__(self, cursor_of: Callable[[Any], str | None], param: str = "cursor") -> None:
        self.cursor_of = cursor_of
        self.param = param
        self._seen: set[str] = set()

    def first(self, request: httpx.Request) -> httpx.Request:
        self._seen.clear()
        return request

    def next(self, request: httpx.Request, body: Any) -> httpx.Request | None:
        cursor = self.cursor_of(body)
        if not cursor:
            return None
        if cursor in self._seen:
            raise CursorLoop(f"cursor {cursor[:40]!r} was returned twice")
        self._seen.add(cursor)
        url = request.url.copy_set_param(self.param, cursor)
        return httpx.Request(request.method, url, headers=request.headers)
