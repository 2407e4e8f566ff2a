"""Shopify bulk query operations for large catalogues: run, poll, download the JSONL.

``start`` answers the operation's id, or why Shopify would not run it (``Refusal``), in
which case the caller falls back to the paged pull:

* ``ACCESS_DENIED`` (a top-level error): since November 2026 an app built in the Partner
  Dashboard must be allowed bulk queries there (``ENABLE_BULK``), and one that ran none
  for 31 days loses the permission;
* ``OPERATION_IN_PROGRESS`` (``BulkOperationUserError.code``): one of this app's bulk
  queries is running; if it is the very query syncd runs (a previous cycle's), syncd
  follows it instead of starting another, otherwise it pages;
* ``LIMIT_REACHED``: too many bulk operations for now; it pages.

``INVALID`` (the query itself) is a bug and fails the pull.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import AuthError, PermanentStoreError, TransientStoreError
from .base import Page
from .shopify_documents import BULK_POLL, BULK_RUN, BULK_RUNNING, SET_COST, bulk_query

if TYPE_CHECKING:
    from .shopify import ShopifyConnector

__all__ = ["ENABLE_BULK", "POLL_SECONDS", "Refusal", "pages", "start"]

POLL_SECONDS = (1.0, 10.0)  # polling: first wait, longest wait
ENABLE_BULK = ("allow bulk queries for the app: Partner Dashboard → Apps → (the app) → API access requests → "
               "Run bulk operations → Allow bulk queries")
FAILED = ("FAILED", "CANCELED", "CANCELING", "EXPIRED")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Shopify would not run the bulk query: ``code`` and its words."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


async def start(conn: ShopifyConnector, loc: str) -> str | Refusal:
    query = bulk_query(loc)
    try:
        data = await conn._gql(BULK_RUN, {"query": query}, SET_COST, retry=False)
    except AuthError as exc:
        if exc.status != 200:  # the token itself (401/403): not a bulk matter
            raise
        return Refusal("ACCESS_DENIED", f"bulk queries refused ({exc.reason}); {ENABLE_BULK}")
    run = data.get("bulkOperationRunQuery") or {}
    op_id = (run.get("bulkOperation") or {}).get("id")
    errors = [e for e in run.get("userErrors") or () if isinstance(e, dict)]
    if not errors and isinstance(op_id, str):
        return op_id
    first = errors[0] if errors else {}
    code, message = str(first.get("code") or ""), str(first.get("message") or run)[:300]
    if code == "OPERATION_IN_PROGRESS":
        return await _ours_running(conn, query) or Refusal(code, message)
    if code == "LIMIT_REACHED":
        return Refusal(code, message)
    if code == "INVALID":
        raise PermanentStoreError(f"bulk query refused as invalid: {message}", store=conn.name)
    raise TransientStoreError(f"bulk operation refused: {code or 'no code'}: {message}", store=conn.name)


async def _ours_running(conn: ShopifyConnector, query: str) -> str | None:
    """The id of this app's running bulk query if it is ``query`` (a previous cycle's)."""
    nodes = ((await conn._gql(BULK_RUNNING, {}, 7)).get("bulkOperations") or {}).get("nodes")
    for node in nodes if isinstance(nodes, list) else ():
        if (isinstance(node, dict) and node.get("status") in ("CREATED", "RUNNING")
                and _same(node.get("query"), query) and isinstance(node.get("id"), str)):
            return str(node["id"])
    return None


def _same(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.split() == b.split()


async def pages(conn: ShopifyConnector, op_id: str) -> AsyncIterator[Page]:
    clock, wait = conn.client.clock, POLL_SECONDS[0]
    deadline = clock.monotonic() + conn.bulk_timeout
    while True:
        await clock.sleep(wait)
        node = (await conn._gql(BULK_POLL, {"id": op_id}, 1)).get("node") or {}
        status = node.get("status")
        if status == "COMPLETED":
            break
        if status in FAILED or clock.monotonic() > deadline:
            raise TransientStoreError(f"bulk operation {op_id} ended {status} ({node.get('errorCode')})",
                                      store=conn.name)
        wait = min(POLL_SECONDS[1], wait * 1.5)
    if not node.get("url"):
        return  # no objects: Shopify gives no file
    seen: set[str] = set()
    rows: list[tuple[Any, Any]] = []
    # No token on the file's URL; read as it arrives (the whole file at 100,000 items
    # is about 15 MB, and holding it meant two copies at the cycle's peak).
    download = conn.client.lines(conn.client.http.build_request("GET", node["url"]))
    async with contextlib.aclosing(download) as lines:
        async for line in lines:
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except ValueError:
                raise conn._bad("bulk result has a line that is not JSON") from None
            level = item.get("inventoryLevel") if isinstance(item, dict) else None
            if level is None:
                continue  # not stocked at this location
            rows.append((item, level.get("quantities") if isinstance(level, dict) else None))
            if len(rows) == 1000:
                yield conn._parse(rows, seen)
                rows = []
    yield conn._parse(rows, seen)
