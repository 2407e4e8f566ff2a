"""`syncd webhooks register | list | remove` against the simulators: each platform's own
subscription API; only syncd's own subscriptions are touched; registering twice adds
nothing; every Shopify request validates against the real 2026-10 schema."""

from __future__ import annotations

import json

import httpx
import pytest
from graphql import OperationDefinitionNode, get_variable_values, parse, validate

from syncd.errors import ConfigError
from syncd.testing.pool import Pool
from syncd.webhooks.subscriptions import list_hooks, register, remove
from tests.contract.test_shopify_conformance import real

URL = "https://hooks.example.test/webhooks/s"
OTHER = "https://someone-else.example.test/hook"


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.bodies = inner, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            self.bodies.append(json.loads(request.content))
        return await self.inner.handle_async_request(request)


def store(pool: Pool, monkeypatch: pytest.MonkeyPatch, **extra):
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    return pool.settings("sqlite://", store_options={"s": extra}).stores[0]


@pytest.mark.parametrize("platform", ["shopify", "squarespace", "bigcommerce"])
async def test_register_list_remove(platform, monkeypatch):
    pool = Pool({"s": (platform, {"A": 1})})
    monkeypatch.setenv("HOOK_SECRET", "bc-hook-secret")
    settings = store(pool, monkeypatch, **({"webhook_secret_env": "HOOK_SECRET"} if platform == "bigcommerce" else {}))
    transport = Recording(httpx.ASGITransport(app=pool["s"].app))
    made = await register(settings, URL, transport)
    assert made and all(s.url == URL for s in made)
    if platform == "squarespace":
        assert made[0].secret and len(made[0].secret) == 64  # shown once: the operator stores it
    assert await register(settings, URL, transport) == []  # already there: nothing added
    await register(settings, OTHER, transport)
    mine = await list_hooks(settings, URL, transport)
    assert {s.topic for s in mine} == {
        "shopify": {"INVENTORY_LEVELS_UPDATE"}, "squarespace": {"order.create", "order.update"},
        "bigcommerce": {"store/sku/inventory/updated", "store/sku/inventory/order/updated",
                        "store/product/inventory/updated", "store/product/inventory/order/updated"}}[platform]
    if platform == "bigcommerce":  # each hook sends the store's secret in its header on every event
        assert {h["headers"]["X-Webhook-Secret"] for h in pool["s"].hooks.values()} == {"bc-hook-secret"}
    removed = await remove(settings, URL, transport)
    assert {s.id for s in removed} == {s.id for s in mine}
    assert await list_hooks(settings, URL, transport) == []
    assert await list_hooks(settings, OTHER, transport) != []  # not ours: left alone
    if platform == "shopify":
        schema = real()
        for body in transport.bodies:
            document = parse(body["query"])
            assert validate(schema, document) == [], body["query"]
            [op] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            assert not isinstance(get_variable_values(schema, op.variable_definitions or (), body["variables"]), list)


async def test_squarespace_subscriptions_need_an_oauth_token(monkeypatch):
    pool = Pool({"s": ("squarespace", {"A": 1})})
    pool["s"].oauth = False
    with pytest.raises(Exception, match="OAuth"):
        await register(store(pool, monkeypatch), URL, httpx.ASGITransport(app=pool["s"].app))


@pytest.mark.parametrize("platform", ["wix", "saasignal"])
async def test_platforms_without_a_subscription_api_say_what_to_do(platform, monkeypatch):
    pool = Pool({"s": (platform, {"A": 1})})
    with pytest.raises(ConfigError, match="dashboard" if platform == "wix" else "polled only"):
        await register(store(pool, monkeypatch), URL)


def test_the_command_registers_lists_and_removes(tmp_path, monkeypatch):
    from syncd.testing.serve import serve
    from tests.test_cli import config, syncd

    pool = Pool({"one": ("squarespace", {"A": 1})})
    with serve(pool["one"].app) as url:
        cfg = str(config(tmp_path, {"one": url}))
        made = syncd("--config", cfg, "webhooks", "register", "--url", "https://hooks.example.test", env=pool.env())
        assert made.returncode == 0, made.stderr
        assert "subscribed order.create,order.update → https://hooks.example.test/webhooks/one" in made.stdout
        assert "shown once" in made.stdout
        listed = syncd("--config", cfg, "webhooks", "list", env=pool.env())
        assert listed.returncode == 0 and listed.stdout.count("https://hooks.example.test/webhooks/one") == 2
        plain = syncd("--config", cfg, "webhooks", "register", "--url", "http://example.test", env=pool.env())
        assert plain.returncode == 2 and "https" in plain.stderr
        gone = syncd("--config", cfg, "webhooks", "remove", "--url", "https://hooks.example.test", env=pool.env())
        assert gone.returncode == 0 and "removed" in gone.stdout
    assert pool["one"].subscriptions == {}
