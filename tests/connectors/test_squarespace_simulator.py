"""The simulator is as strict as the notes: a lenient simulator would hide bugs."""

from __future__ import annotations

import json

import httpx
import pytest

from syncd.testing import FakeClock, SquarespaceSimulator, Variant

ADJ = "/1.0/commerce/inventory/adjustments"
HEAD = {"Authorization": "Bearer tok", "User-Agent": "t/1", "Content-Type": "application/json"}


@pytest.fixture
def sim(clock: FakeClock) -> SquarespaceSimulator:
    return SquarespaceSimulator([Variant(f"v{i}", f"S{i}", 5) for i in range(60)], token="tok", clock=clock)


async def call(sim: SquarespaceSimulator, method: str, path: str, headers: dict[str, str] | None = None,
               body: object = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://sq") as c:
        h = dict(HEAD if headers is None else headers)
        if "User-Agent" not in h:
            del c.headers["User-Agent"]  # httpx sends its own by default
        content = json.dumps(body).encode() if body is not None else None
        r = await c.request(method, path, headers=h, content=content)
        return r


def ops(*pairs: tuple[str, int]) -> dict[str, list[dict[str, object]]]:
    return {"decrementOperations": [{"variantId": v, "quantity": q} for v, q in pairs]}


def error_shape(r: httpx.Response) -> tuple[int, str, str | None]:
    body = r.json()
    assert set(body) == {"type", "subtype", "message", "details", "contextId"}
    return r.status_code, body["type"], body["subtype"]


async def test_last_page_has_null_cursor_and_url(sim):
    """Two pages of 50 + 10; every pagination field present, null on the last page."""
    first = (await call(sim, "GET", "/1.0/commerce/inventory")).json()
    assert len(first["inventory"]) == 50 and first["pagination"]["hasNextPage"] is True
    cursor = first["pagination"]["nextPageCursor"]
    last = (await call(sim, "GET", f"/1.0/commerce/inventory?cursor={cursor}")).json()
    assert len(last["inventory"]) == 10
    assert last["pagination"] == {"hasNextPage": False, "nextPageCursor": None, "nextPageUrl": None}


@pytest.mark.parametrize(
    ("headers", "body", "key", "expected"),
    [
        ({"Authorization": "Bearer tok", "Content-Type": "application/json"}, ops(("v1", 1)), "k1",
         (400, "INVALID_REQUEST_ERROR", "MISSING_ARGUMENT")),  # no User-Agent
        (None, ops(("v1", 1)), None, (400, "INVALID_REQUEST_ERROR", "MISSING_ARGUMENT")),  # no key
        (None, ops(("v1", 1)), "bad key!", (400, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT")),
        (None, ops(("v1", 1)), "x" * 65, (400, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT")),
        (None, {}, "k2", (400, "INVALID_REQUEST_ERROR", "MISSING_ARGUMENT")),
        (None, ops(*[(f"v{i}", 1) for i in range(51)]), "k3", (400, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT")),
        (None, ops(("v1", 1), ("v1", 1)), "k4", (400, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT")),
        (None, ops(("v1", 0)), "k5", (400, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT")),
        (None, ops(("nope", 1)), "k6", (400, "INVALID_REQUEST_ERROR", "INVENTORY_ITEM_NOT_FOUND")),
        (None, ops(("v1", 6)), "k7", (409, "CONFLICT", "INSUFFICIENT_STOCK")),
        ({"Authorization": "Bearer wrong", "User-Agent": "t", "Content-Type": "application/json"},
         ops(("v1", 1)), "k8", (401, "AUTHORIZATION_ERROR", None)),
    ],
)
async def test_adjustments_refuse_what_squarespace_refuses(sim, headers, body, key, expected):
    """Each refusal has the documented status, type, subtype and body shape; nothing applied."""
    h = dict(HEAD if headers is None else headers)
    if key is not None:
        h["Idempotency-Key"] = key
    r = await call(sim, "POST", ADJ, h, body)
    assert error_shape(r) == expected
    assert sim.variants["v1"].quantity == 5


async def test_atomic_batch_and_key_rules(sim):
    """All or nothing; a replay applies nothing; a key reused with other parameters is refused."""
    h = {**HEAD, "Idempotency-Key": "k"}
    r = await call(sim, "POST", ADJ, h, ops(("v1", 2), ("v2", 9)))
    assert r.status_code == 409 and sim.variants["v1"].quantity == 5  # v2 short: v1 untouched
    assert (await call(sim, "POST", ADJ, h, ops(("v1", 2)))).status_code == 204  # failures are not cached
    assert (await call(sim, "POST", ADJ, h, ops(("v1", 2)))).status_code == 204
    assert sim.variants["v1"].quantity == 3 and sim.applied_keys["k"] == 1
    assert error_shape(await call(sim, "POST", ADJ, h, ops(("v1", 1))))[2] == "INVALID_ARGUMENT"


async def test_rate_limit_429_then_one_minute_cool_down(clock):
    """Past 300/min: 429 TOO_MANY_REQUESTS, no headers, locked for 60 s."""
    sim = SquarespaceSimulator([Variant("v1", "S", 1)], token="tok", clock=clock, rate_limit_per_minute=300)
    statuses = [(await call(sim, "GET", "/1.0/commerce/inventory")).status_code for _ in range(301)]
    assert statuses[:300] == [200] * 300 and statuses[300] == 429
    r = await call(sim, "GET", "/1.0/commerce/inventory")
    assert r.status_code == 429 and "retry-after" not in r.headers
    clock.advance(59)
    assert (await call(sim, "GET", "/1.0/commerce/inventory")).status_code == 429
    clock.advance(2)
    assert (await call(sim, "GET", "/1.0/commerce/inventory")).status_code == 200


async def test_keys_are_kept_48_hours(sim, clock):
    """Within 48 h a replay is answered from memory; after that the key is forgotten."""
    h = {**HEAD, "Idempotency-Key": "old"}
    await call(sim, "POST", ADJ, h, ops(("v1", 1)))
    clock.advance(47 * 3600)
    await call(sim, "POST", ADJ, h, ops(("v1", 1)))
    assert sim.variants["v1"].quantity == 4
    clock.advance(2 * 3600)
    await call(sim, "POST", ADJ, h, ops(("v1", 1)))
    assert sim.variants["v1"].quantity == 3
