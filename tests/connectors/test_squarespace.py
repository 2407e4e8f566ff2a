"""The Squarespace connector against canned responses and against its simulator."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest

from syncd.connectors import Applied, Rejected, UnknownOutcome
from syncd.connectors.squarespace import SquarespaceConnector, classify
from syncd.core import Adjustment, ConflictKind, WriteMode
from syncd.errors import AuthError, BadStoreData
from syncd.http import ApiClient, RateLimiter, RetryPolicy
from syncd.testing import FakeClock, SquarespaceSimulator, Variant

Handler = Callable[[httpx.Request], httpx.Response]


def connector(handler: Handler | None, clock: FakeClock, token: str = "tok",
              app: object = None) -> SquarespaceConnector:
    transport = httpx.ASGITransport(app=app) if app is not None else httpx.MockTransport(handler)  # type: ignore[arg-type]
    http = httpx.AsyncClient(base_url="http://sq.test", transport=transport)
    client = ApiClient("sq", http, clock=clock, limiter=RateLimiter(300, clock),
                       retry=RetryPolicy(max_attempts=3, base=0.1, rng=random.Random(0)),
                       classify=classify, retry_after_429=60.0)
    return SquarespaceConnector("sq", client, token)


LAST = {"hasNextPage": False}


def page(items: list[dict], cursor: str | None) -> httpx.Response:
    return httpx.Response(200, json={"inventory": items, "pagination": {
        "hasNextPage": cursor is not None, "nextPageCursor": cursor,
        "nextPageUrl": f"/1.0/commerce/inventory?cursor={cursor}" if cursor else None}})


def item(vid: str, sku: str | None, qty: object = 1, unlimited: bool = False) -> dict:
    return {"variantId": vid, "sku": sku, "descriptor": "", "isUnlimited": unlimited, "quantity": qty}


async def collect(c: SquarespaceConnector) -> tuple[list, list]:
    obs, issues = [], []
    async for p in c.pull():
        obs.extend(p.observations)
        issues.extend(p.issues)
    return obs, issues


async def test_pull_follows_the_cursor_to_the_end_with_a_user_agent(clock):
    """Pages are read in cursor order until hasNextPage is false; every request names syncd."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return page([item("v1", "A", 3)], "c1")
        if cursor == "c1":
            return page([item("v2", "B", 0)], "c2")
        return page([item("v3", "C", 9)], None)

    obs, _ = await collect(connector(handler, clock))
    assert [(o.sku, o.quantity) for o in obs] == [("A", 3), ("B", 0), ("C", 9)]
    assert [r.url.params.get("cursor") for r in seen] == [None, "c1", "c2"]
    assert all(r.headers["user-agent"].startswith("syncd/") for r in seen)
    assert all(r.headers["authorization"] == "Bearer tok" for r in seen)


async def test_null_inventory_on_an_empty_site_is_an_empty_pull(clock):
    """Squarespace may send null for an empty array."""
    obs, issues = await collect(connector(lambda r: httpx.Response(200, json={
        "inventory": None, "pagination": {"hasNextPage": False, "nextPageCursor": None, "nextPageUrl": None}}), clock))
    assert obs == [] and issues == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"inventory": []}, "pagination"),
        ({"inventory": {}, "pagination": {"hasNextPage": False}}, "must be a list"),
        ({"inventory": [{"sku": "A", "isUnlimited": False, "quantity": 1}], "pagination": LAST}, "variantId"),
        ({"inventory": [{"variantId": "v", "sku": "A", "quantity": 1}], "pagination": LAST}, "isUnlimited"),
        ({"inventory": [], "pagination": {"hasNextPage": True, "nextPageCursor": None}}, "nextPageCursor is empty"),
        ([1, 2], "pagination"),
    ],
)
async def test_a_malformed_page_fails_the_pull(clock, body, match):
    """Bad data: a page syncd cannot trust is BadStoreData, not a partial pull."""
    with pytest.raises(BadStoreData, match=match):
        await collect(connector(lambda r: httpx.Response(200, json=body), clock))


async def test_truncated_json_fails_the_pull(clock):
    """A body cut short is BadStoreData."""
    with pytest.raises(BadStoreData, match="not valid JSON"):
        await collect(connector(lambda r: httpx.Response(200, content=b'{"inventory": [{"varia'), clock))


async def test_a_cursor_returned_twice_fails_the_pull(clock):
    """A cursor loop would never end: it is an invalid cursor."""
    with pytest.raises(BadStoreData, match="invalid cursor"):
        await collect(connector(lambda r: page([item(f"v{r.url.params.get('cursor')}", "A")], "same"), clock))


async def test_a_variant_repeated_across_pages_fails_the_pull(clock):
    """Pages that repeat items cannot be trusted to add up."""
    def handler(request: httpx.Request) -> httpx.Response:
        return page([item("v1", "A")], "c1") if "cursor" not in request.url.params else page([item("v1", "A")], None)

    with pytest.raises(BadStoreData, match="appears twice"):
        await collect(connector(handler, clock))


@pytest.mark.parametrize("qty", [-1, 2.5, "3", None, True, 2**31])
async def test_a_bad_quantity_is_an_item_issue_not_an_observation(clock, qty):
    """Negative, fractional, textual, missing or enormous quantities are bad data for that item."""
    obs, issues = await collect(connector(lambda r: page([item("v1", "A", qty), item("v2", "B", 4)], None), clock))
    assert [(o.sku, o.quantity) for o in obs] == [("B", 4)]
    assert [(i.sku, i.kind) for i in issues] == [("A", ConflictKind.BAD_DATA)]


async def test_blank_skus_are_unmapped_and_unlimited_items_have_no_quantity(clock):
    """sku null or blank → unmapped; isUnlimited → quantity None."""
    obs, issues = await collect(connector(lambda r: page(
        [item("v1", None), item("v2", "  "), item("v3", " U ", 50, unlimited=True)], None), clock))
    assert [(o.sku, o.quantity) for o in obs] == [("U", None)]
    assert [(i.remote_id, i.kind) for i in issues] == [("v1", ConflictKind.UNMAPPED), ("v2", ConflictKind.UNMAPPED)]


async def test_401_is_an_auth_error_and_the_token_is_not_in_it(clock):
    """Credentials refused: AuthError naming store and URL, never the token."""
    with pytest.raises(AuthError) as info:
        refused = httpx.Response(401, json={"type": "AUTHORIZATION_ERROR"})
        await collect(connector(lambda r: refused, clock, token="s3cr3t-token"))
    assert "sq" in str(info.value) and "s3cr3t" not in str(info.value)


async def test_429_without_headers_waits_a_minute_then_succeeds(clock):
    """Squarespace's 429 is a one-minute cool-down with no header."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(clock.t)
        if len(calls) == 1:
            return httpx.Response(429, json={"type": "TOO_MANY_REQUESTS", "subtype": None})
        return page([item("v1", "A", 1)], None)

    obs, _ = await collect(connector(handler, clock))
    assert len(obs) == 1 and calls[1] - calls[0] >= 60


def adj(vid: str, before: int, target: int) -> Adjustment:
    return Adjustment("sq", vid.upper(), vid, before, target, WriteMode.RELATIVE)


async def test_push_sends_increments_and_decrements_under_the_key(clock):
    """One request: positive deltas as increments, negative as decrements, key in the header."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    results = await connector(handler, clock).push([adj("v1", 5, 8), adj("v2", 5, 1)], "key-1")
    assert results == [Applied(), Applied()]
    assert seen[0].headers["idempotency-key"] == "key-1"
    assert json.loads(seen[0].content) == {
        "incrementOperations": [{"variantId": "v1", "quantity": 3}],
        "decrementOperations": [{"variantId": "v2", "quantity": 4}],
    }


async def test_push_retries_500_with_the_identical_request(clock):
    """Every attempt carries the same key and the same bytes."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) < 3 else 204)

    assert await connector(handler, clock).push([adj("v1", 5, 8)], "k") == [Applied()]
    assert len(seen) == 3 and len({(r.headers["idempotency-key"], r.content) for r in seen}) == 1


async def test_push_concurrent_modification_is_retried(clock):
    """409 CONCURRENT_MODIFICATION: retry after a short delay, same key."""
    busy = httpx.Response(409, json={"type": "CONFLICT", "subtype": "CONCURRENT_MODIFICATION"})
    answers = [busy, httpx.Response(204)]
    assert await connector(lambda r: answers.pop(0), clock).push([adj("v1", 5, 8)], "k") == [Applied()]


async def test_push_insufficient_stock_is_a_whole_batch_rejection(clock):
    """409 INSUFFICIENT_STOCK names no item: the batch is refused as a whole."""
    refused = httpx.Response(409, json={"type": "CONFLICT", "subtype": "INSUFFICIENT_STOCK", "message": "no"})
    r = await connector(lambda r: refused, clock).push([adj("v1", 5, 1), adj("v2", 5, 1)], "k")
    assert r == [Rejected("INSUFFICIENT_STOCK", "no", whole_batch=True)] * 2


async def test_push_without_an_answer_is_an_unknown_outcome(clock):
    """Timeouts until the retries run out: the outcome is unknown, not failed."""
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    r = await connector(handler, clock).push([adj("v1", 5, 8)], "k")
    assert isinstance(r[0], UnknownOutcome)


async def test_push_refuses_batches_the_api_would_refuse(clock):
    """More than 50 operations, or a variant twice, never leave syncd."""
    c = connector(lambda r: httpx.Response(204), clock)
    with pytest.raises(ValueError):
        await c.push([adj(f"v{i}", 1, 2) for i in range(51)], "k")
    with pytest.raises(ValueError):
        await c.push([adj("v1", 1, 2), adj("v1", 2, 3)], "k")


async def test_the_simulator_pages_by_fifty_and_replays_keys(clock):
    """Against the simulator: 120 variants in 3 pages; a replayed key applies nothing."""
    sim = SquarespaceSimulator([Variant(f"v{i:03d}", f"S{i}", 5) for i in range(120)], token="tok", clock=clock)
    c = connector(None, clock, app=sim.app)
    obs, _ = await collect(c)
    assert len(obs) == 120 and sim.requests["GET /1.0/commerce/inventory"] == 3
    batch = [adj("v001", 5, 2)]
    assert await c.push(batch, "same-key") == [Applied()]
    assert await c.push(batch, "same-key") == [Applied()]
    assert sim.variants["v001"].quantity == 2 and sim.applied_keys["same-key"] == 1
