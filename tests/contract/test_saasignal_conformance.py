"""syncd's SaaSignal traffic and the simulator, held to SaaSignal's own route list,
``llms-full.txt`` (tests/data/saasignal, see SOURCES.md), read by tests/support/saasignal_llms.

Every request the connector sends (pull with product and variant listings, reads, absolute
and relative writes, ``check()``) must be a documented route and verb, with documented query
parameters and body fields of the documented types, under the documented auth header;
every 200 answer of the simulator must hold exactly the documented fields (recursively, in
lists); its 400/401/404 answers the documented ``{success:false, error}``; and every route
the simulator serves must be a documented one.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.connectors.saasignal import SaaSignalConnector, capabilities, classify, pace
from syncd.core import Adjustment, WriteMode
from syncd.http import ApiClient, RetryPolicy, limiter_for
from syncd.testing import FakeClock
from syncd.testing.saasignal_sim import SaaSignalSimulator, SsRecord
from tests.support.saasignal_llms import LLMS, Field, Route, auth_header, parse_fields, routes

ROUTES = routes()
TOKEN = "sk_app1_0123abcd"


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.seen.append((request, response))
        return response


def route_of(method: str, path: str) -> Route | None:
    return next((r for r in ROUTES if r.method == method and r.matches(path)), None)


def type_errors(where: str, fields: dict[str, Field], value: Any, *, exact: bool) -> list[str]:
    """``value`` against documented ``fields``: required ones present, no others (when
    ``exact``), each of its documented type (null allowed: the text marks no nullability)."""
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {type(value).__name__}"]
    errors = [f"{where}: lacks required '{n}'" for n, f in fields.items() if f.required and n not in value]
    errors += [f"{where}: '{n}' is not in the text" for n in value if n not in fields] if exact else []
    for name, f in fields.items():
        v = value.get(name)
        if v is None:
            continue
        ok = {"integer": isinstance(v, int) and not isinstance(v, bool),
              "number": isinstance(v, int | float) and not isinstance(v, bool),
              "boolean": isinstance(v, bool), "object": isinstance(v, dict),
              "array": isinstance(v, list)}.get(f.type, not f.type.endswith("[]") or isinstance(v, list))
        if f.type == "string":
            ok = True  # "all fields string unless noted": ids, names, and untyped members alike
        if not ok:
            errors.append(f"{where}: '{name}' = {v!r} is not {f.type}")
        if f.fields is not None and f.type == "array" and isinstance(v, list):
            for i, item in enumerate(v):
                errors += type_errors(f"{where}.{name}[{i}]", f.fields, item, exact=exact)
        elif f.fields and f.type == "object" and isinstance(v, dict):
            errors += type_errors(f"{where}.{name}", f.fields, v, exact=exact)
    return errors


def records() -> list[SsRecord]:
    own = [SsRecord(f"inv_a{i:02d}", f"prod_a{i:02d}", None, f"OWN-{i}", 5 + i) for i in range(8)]
    variants = [SsRecord(f"inv_b{i:02d}", f"prod_b{i // 3}", f"var_b{i:02d}", f"VAR-{i}", 3) for i in range(6)]
    return [*own, *variants, SsRecord("inv_c00", "prod_c", None, "FREE", 0, track_inventory=False)]


async def traffic() -> tuple[list[tuple[httpx.Request, httpx.Response]], SaaSignalSimulator]:
    """Everything syncd sends to SaaSignal, against the simulator: pull (two pages), read,
    both write modes, check(), and three refusals (a bad key, an unknown record, a bad limit)."""
    clock = FakeClock()
    sim = SaaSignalSimulator(records(), token=TOKEN, clock=clock, rps=10, balance=10_000)
    recorder = Recorder(httpx.ASGITransport(app=sim.app))
    http = httpx.AsyncClient(base_url="https://api.saasignal.saastemly.com", transport=recorder)

    def connector(mode: str, token: str = TOKEN) -> SaaSignalConnector:
        caps = capabilities(mode)
        client = ApiClient("ss", http, clock=clock, limiter=limiter_for(caps.requests_per_minute, clock,
                                                                         caps.limit_window),
                           retry=RetryPolicy(max_attempts=2, base=0.1, rng=random.Random(0)),
                           classify=classify, pace=pace)
        return SaaSignalConnector("ss", client, token, caps)

    import syncd.connectors.saasignal as module

    absolute, relative = connector("absolute"), connector("relative")
    page_limit, module.PAGE_LIMIT = module.PAGE_LIMIT, 10  # two pages of inventory and of products
    try:
        async for _ in absolute.pull({}):
            pass
    finally:
        module.PAGE_LIMIT = page_limit
    await absolute.read(["inv_a00", "inv_zz"])
    await absolute.push([Adjustment("ss", "OWN-0", "inv_a00", 5, 9, WriteMode.ABSOLUTE)], "k")
    await relative.push([Adjustment("ss", "VAR-0", "inv_b00", 3, 1, WriteMode.RELATIVE)], "k")
    await absolute.check()
    await connector("absolute", "sk_wrong_key").check()
    await http.get("/modules/commerce/inventory", params={"limit": 0}, headers={"X-API-Key": TOKEN})
    return recorder.seen, sim


@pytest.fixture(scope="module")
def seen() -> tuple[list[tuple[httpx.Request, httpx.Response]], SaaSignalSimulator]:
    import asyncio

    return asyncio.run(traffic())


def test_the_vendored_text_is_the_one_sources_names() -> None:
    sources = (LLMS.parent / "SOURCES.md").read_text()
    assert hashlib.sha256(LLMS.read_bytes()).hexdigest() in sources
    assert len(ROUTES) > 400 and route_of("GET", "/modules/commerce/inventory") is not None


def test_the_reader_reads_the_texts_conventions() -> None:
    fields = parse_fields("{items*:[{id*, n*:number, tags:string[]}], next_cursor*, meta:{a:boolean}}")
    assert fields["items"].type == "array" and fields["items"].fields["n"] == Field(True, "number")
    assert fields["next_cursor"] == Field(True, "string") and fields["meta"].fields == {"a": Field(False, "boolean")}


def test_every_request_syncd_sends_is_documented(seen) -> None:
    requests, _ = seen
    header = auth_header()
    errors: list[str] = []
    used = set()
    for request, _ in requests:
        where = f"{request.method} {request.url.path}"
        route = route_of(request.method, request.url.path)
        if route is None:
            errors.append(f"{where}: no such route in llms-full.txt")
            continue
        used.add((route.method, route.path))
        if route.auth != "KEY" or header not in request.headers or "authorization" in request.headers:
            errors.append(f"{where}: not sent with {header} alone (route auth {route.auth})")
        for name, value in request.url.params.multi_items():
            documented = route.query.get(name)
            if documented is None:
                errors.append(f"{where}: query parameter '{name}' is not documented")
            elif documented.type == "integer" and not value.lstrip("-").isdigit():
                errors.append(f"{where}: '{name}={value}' is not an integer")
        if request.content:
            if route.body is None:
                errors.append(f"{where}: sends a body the route does not take")
            else:
                errors += type_errors(f"{where} body", route.body, json.loads(request.content), exact=True)
    assert errors == []
    assert {("GET", "/modules/commerce/inventory"), ("GET", "/modules/commerce/products"),
            ("GET", "/modules/commerce/products/{product_id}/variants"),
            ("PATCH", "/modules/commerce/inventory/{inventory_id}"),
            ("POST", "/modules/commerce/inventory/{inventory_id}/adjust"),
            ("GET", "/core/tokens/balance")} <= used


def test_every_answer_of_the_simulator_is_documented(seen) -> None:
    requests, _ = seen
    errors: list[str] = []
    statuses = set()
    for request, response in requests:
        where = f"{request.method} {request.url.path} → {response.status_code}"
        route = route_of(request.method, request.url.path)
        assert route is not None, where
        statuses.add(response.status_code)
        if response.status_code == 200:
            assert route.ok is not None, where
            errors += type_errors(where, route.ok, response.json(), exact=True)
        elif response.status_code in (400, 401, 404):
            body = response.json()
            if set(body) != {"success", "error"} or body["success"] is not False or not isinstance(body["error"], str):
                errors.append(f"{where}: {body} is not {{success:false, error}}")
    assert errors == []
    assert {200, 400, 401, 404} <= statuses


def test_the_simulator_serves_only_documented_routes_and_every_one_syncd_uses(seen) -> None:
    requests, sim = seen
    served = {(m, r.path) for r in sim.faults.inner.routes for m in (r.methods or ()) if m != "HEAD"}
    undocumented = [(m, p) for m, p in served if not any(x.method == m and x.path == p for x in ROUTES)]
    assert undocumented == []
    used = {(r.method, route.path) for r, _ in requests if (route := route_of(r.method, r.url.path))}
    assert used <= served


def test_the_texts_auth_header_is_the_one_the_connector_and_simulator_use() -> None:
    source = (Path(__file__).resolve().parents[2] / "syncd" / "connectors" / "saasignal.py").read_text()
    assert f'"{auth_header()}": token' in source
