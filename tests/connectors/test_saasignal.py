"""The SaaSignal connector against its simulator: SKUs learned by listing (never item by
item), paced under the documented bucket (10 a second, burst 10) with no 429, and
``check()`` with each failure injected."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TypeVar

import httpx
import pytest

from syncd.connectors.saasignal import SaaSignalConnector, capabilities, classify, pace
from syncd.http import ApiClient, RetryPolicy, limiter_for
from syncd.testing import FakeClock
from syncd.testing.clock import VirtualClock
from syncd.testing.pool import Pool
from syncd.testing.saasignal_sim import SaaSignalSimulator, SsRecord

T = TypeVar("T")
TOKEN = "sk_live_ss_secret"


def catalogue() -> tuple[dict[str, int], list[SsRecord]]:
    """2,000 SKUs: 300 products of 6 variants each, then 200 products without variants."""
    stock: dict[str, int] = {}
    recs: list[SsRecord] = []
    for i in range(1800):
        sku = f"V-{i:05d}"
        stock[sku] = 10 + i % 7
        recs.append(SsRecord(f"inv_{i:05d}", f"prod_v{i // 6:04d}", f"var_{i:05d}", sku, stock[sku]))
    for i in range(1800, 2000):
        sku = f"P-{i:05d}"
        stock[sku] = 10 + i % 7
        recs.append(SsRecord(f"inv_{i:05d}", f"prod_p{i:04d}", None, sku, stock[sku]))
    return stock, recs


class Latency(httpx.AsyncBaseTransport):
    """Each request reaches the store 0 to 200 ms (virtual) after it is sent: arrivals
    trail sends by a varying delay, as over a network."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock, seed: int = 7) -> None:
        self.inner, self.clock, self.rng = inner, clock, random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.clock.sleep(self.rng.uniform(0.0, 0.2))
        return await self.inner.handle_async_request(request)


LISTING = 20 + 5 + 300  # inventory pages + product pages (500 products) + one variant list per product


async def test_a_first_sync_of_2000_skus_lists_the_catalog_and_provokes_no_429(engine, monkeypatch):
    """Against SaaSignal's documented bucket (10 a second, burst 10), a 2,000-SKU first sync
    asks for SKUs by listing (325 requests, where a lookup per record needed 2,020) and,
    with arrivals trailing sends by 0-200 ms, is never refused; it takes little more than
    the limit's floor. Past the catalog's age, the catalog is learned again the same way,
    not record by record."""
    from syncd.service import reconcile_once

    clock = VirtualClock()
    stock, recs = catalogue()
    pool = Pool({"sq": ("squarespace", stock), "ss": ("saasignal", {})}, clock=clock)
    sim = pool.sims["ss"] = SaaSignalSimulator(recs, token=TOKEN, clock=clock, rps=10, burst=10)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    settings = pool.settings(engine.url.render_as_string(hide_password=False),
                             store_options={"sq": {"requests_per_minute": 10**7}})

    async def cycle() -> float:
        start = clock.t
        transports = {**pool.transports(), "ss": Latency(httpx.ASGITransport(app=sim.app), clock)}
        report = await clock.run(lambda: reconcile_once(settings, clock, engine=engine, transports=transports))
        assert report.exit_code == 0, report.failed
        return clock.t - start

    took = await cycle()
    assert sum(sim.requests.values()) == LISTING, (sim.refused, took)
    assert sim.refused[429] == 0
    floor = (LISTING - 10) / 10  # a full bucket of 10, then 10 a second
    assert took <= 1.25 * floor, (took, floor)
    sim.requests.clear()
    await cycle()
    assert sum(sim.requests.values()) == 20  # steady: the inventory only
    sim.requests.clear()
    clock.advance(timedelta(hours=25).total_seconds())
    await cycle()
    assert sum(sim.requests.values()) == LISTING and sim.refused[429] == 0


def make(sim: SaaSignalSimulator, clock: FakeClock, token: str = TOKEN) -> SaaSignalConnector:
    caps = capabilities()
    http = httpx.AsyncClient(base_url="https://api.saasignal.saastemly.com",
                             transport=httpx.ASGITransport(app=sim.app))
    client = ApiClient("ss", http, clock=clock, limiter=limiter_for(caps.requests_per_minute, clock,
                                                                     caps.limit_window),
                       retry=RetryPolicy(max_attempts=2, base=0.1, rng=random.Random(0)), classify=classify,
                       pace=pace)
    return SaaSignalConnector("ss", client, token, caps)


async def test_products_and_variants_are_learned_by_listing_and_unknowns_are_unmapped(clock):
    """A few new products are fetched one by one; variants by their product's list, which
    also teaches the siblings; a variant its product does not list, or a product the store
    no longer has, is unmapped; an untracked product is unlimited."""
    sim = SaaSignalSimulator([SsRecord("inv_1", "prod_1", None, "OWN", 4),
                              SsRecord("inv_2", "prod_2", "var_a", "VA", 2),
                              SsRecord("inv_3", "prod_2", "var_b", "VB", 1),
                              SsRecord("inv_4", "prod_3", None, "FREE", 0, track_inventory=False)],
                             token=TOKEN, clock=clock)
    conn = make(sim, clock)
    listed = sim.faults.add("GET", r".*/products/prod_2/variants$", "status", status=200,
                            body={"items": [{"id": "var_a", "sku": "VA", "track_inventory": True}]})
    pages = [p async for p in conn.pull({})]
    obs = {o.remote_id: (o.sku, o.quantity) for p in pages for o in p.observations}
    assert obs == {"inv_1": ("OWN", 4), "inv_2": ("VA", 2), "inv_4": ("FREE", None)}
    assert [(i.remote_id, i.kind.value) for p in pages for i in p.issues] == [("inv_3", "unmapped")]
    assert sim.requests["GET products"] == 2 and listed.fired == 1  # prod_1, prod_3; prod_2's variants once
    assert sim.requests["GET inventory"] == 1 and sum(sim.requests.values()) == 3


@pytest.mark.parametrize(("inject", "failed", "fix_words"), [
    (None, [], ""),
    ("bad key", ["token"], "X-API-Key"),
    ("no commerce scope", ["scopes"], "commerce:read"),
    ("balance spent", ["balance"], "top up"),
    ("unreadable page", ["first_page"], ""),
])
async def test_check_names_each_failure_with_its_fix_and_writes_nothing(clock, inject, failed, fix_words):
    sim = SaaSignalSimulator([SsRecord("inv_1", "prod_1", None, "OWN", 4)], token=TOKEN, clock=clock,
                             balance=0 if inject == "balance spent" else 100,
                             scopes=["kv:read"] if inject == "no commerce scope" else ["commerce:*"])
    if inject == "unreadable page":
        sim.faults.add("GET", r".*/inventory$", "status", status=200, body={"items": []}, query=r"limit=100")
    conn = make(sim, clock, "sk_not_the_key_77" if inject == "bad key" else TOKEN)
    checks = await conn.check()
    got = [(c.name, c.fix) for c in checks if not c.ok]
    assert [name for name, _ in got] == failed, checks
    if failed:
        assert fix_words in got[0][1] and "sk_not_the_key_77" not in str(checks)
    else:
        assert [c.name for c in checks] == ["token", "scopes", "balance", "first_page"]
        assert "1 item(s)" in checks[-1].detail
    assert not [k for k in sim.requests if not k.startswith("GET")]
    assert sim.records["inv_1"].quantity == 4


async def test_check_reads_an_empty_balance_from_the_balance_route(clock):
    """The balance route says 0 while reads still pass (a race at the edge): check fails it."""
    sim = SaaSignalSimulator([SsRecord("inv_1", "prod_1", None, "OWN", 4)], token=TOKEN, clock=clock)
    sim.faults.add("GET", r"/core/tokens/balance", "status", status=200,
                   body={"org_id": "o", "included_tokens_remaining": 0, "topup_tokens_balance": 0, "total_balance": 0})
    checks = await make(sim, clock).check()
    assert [(c.name, c.ok) for c in checks if not c.ok] == [("balance", False)]


def test_the_window_limiter_counts_every_send_it_allows():
    """SaaSignal's pacing (9 in any 1.02 s) once let sends through uncounted: when the
    oldest send was due to leave the window at that very instant, the subtraction could
    round it in (not popped) while the wait it computed was ≤ 0, which ``acquire`` took
    as "send now". 7 of the 2,000-SKU sync's sends went uncounted and the store answered 429."""
    from syncd.http import WindowLimiter

    clock = FakeClock()
    limiter = WindowLimiter(9, 1.0, clock)
    for _ in range(9):
        assert limiter._wait(0.0486) == 0.0
    now = 0.0486 + limiter.window  # 1.0686: 1.0686 - 1.02 rounds below 0.0486
    allowed = limiter._wait(now) <= 0
    assert not allowed or list(limiter._sent)[-1] == now  # allowed ⇒ counted
    assert len(limiter._sent) <= 9
