"""The SaaSignal simulator's own rules: the text's auth header only, page limits 1..100,
and the documented Free-plan bucket (10 a second, burst 10; configurable)."""

from __future__ import annotations

import httpx
import pytest

from syncd.testing import FakeClock
from syncd.testing.saasignal_sim import SaaSignalSimulator, SsRecord

KEY = "sk_app_abc"
INV = "/modules/commerce/inventory"


def sim_of(clock: FakeClock, **kw: object) -> SaaSignalSimulator:
    return SaaSignalSimulator([SsRecord(f"inv_{i}", f"prod_{i}", None, f"S{i}", 1) for i in range(3)],
                              token=KEY, clock=clock, **kw)  # type: ignore[arg-type]


async def get(sim: SaaSignalSimulator, headers: dict[str, str], **params: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://ss") as c:
        return await c.get(INV, headers=headers, params=params)  # type: ignore[arg-type]


async def test_only_the_api_key_header_is_accepted(clock: FakeClock) -> None:
    sim = sim_of(clock)
    assert (await get(sim, {"X-API-Key": KEY})).status_code == 200
    refused = await get(sim, {"Authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401 and refused.json() == {"success": False, "error": "Missing or invalid API key"}


@pytest.mark.parametrize(("limit", "status"), [(1, 200), (100, 200), (0, 400), (101, 400), ("x", 400)])
async def test_page_limits(clock: FakeClock, limit: object, status: int) -> None:
    assert (await get(sim_of(clock), {"X-API-Key": KEY}, limit=limit)).status_code == status


async def test_the_bucket_holds_ten_and_refills_ten_a_second(clock: FakeClock) -> None:
    sim = sim_of(clock, rps=10)
    answers = [await get(sim, {"X-API-Key": KEY}) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert answers[-1].headers["Retry-After"] == "1" and answers[-1].json()["code"] == "rate_limited"
    assert answers[9].headers["X-RateLimit-Remaining"] == "0"
    clock.advance(0.1)
    assert (await get(sim, {"X-API-Key": KEY})).status_code == 200
    assert (await get(sim, {"X-API-Key": KEY})).status_code == 429
    clock.advance(0.5)
    assert [(await get(sim, {"X-API-Key": KEY})).status_code for _ in range(6)] == [200] * 5 + [429]


async def test_a_configured_burst(clock: FakeClock) -> None:
    sim = sim_of(clock, rps=10, burst=3)
    assert [(await get(sim, {"X-API-Key": KEY})).status_code for _ in range(4)] == [200, 200, 200, 429]
