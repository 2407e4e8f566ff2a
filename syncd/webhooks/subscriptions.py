"""``syncd webhooks register | list | remove``: the stores' own subscription APIs.

    Shopify      webhookSubscriptionCreate / webhookSubscriptions / webhookSubscriptionDelete
                 (topic INVENTORY_LEVELS_UPDATE, which fires for sales too); events are signed with the
                 app's client secret, which is the store's ``webhook_secret``.
    BigCommerce  POST/GET/DELETE /v3/hooks (scopes store/sku/inventory/updated,
                 store/sku/inventory/order/updated, store/product/inventory/updated,
                 store/product/inventory/order/updated); the hook sends the store's
                 ``webhook_secret`` in its ``webhook_header`` on every event.
    Squarespace  POST/GET/DELETE /1.0/webhook_subscriptions (order.create, order.update),
                 an OAuth token only; the answer to a create holds the subscription's
                 secret, shown once: store it where ``webhook_secret_env/file`` points.
    Wix          subscriptions are set in the app's dashboard (see the README).

Only syncd's own subscriptions (those pointing at the given URL) are listed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..config import StoreSettings, resolve_token, resolve_webhook_secret
from ..connectors.registry import spec_of
from ..errors import AuthError, ConfigError, PermanentStoreError, StoreError, TransientStoreError

__all__ = ["SHOPIFY_TOPICS", "Subscription", "list_hooks", "register", "remove"]

SHOPIFY_TOPICS = ("INVENTORY_LEVELS_UPDATE",)  # fires for sales too (orders/create names variants only)
BIGCOMMERCE_SCOPES = ("store/sku/inventory/updated", "store/sku/inventory/order/updated",
                      "store/product/inventory/updated", "store/product/inventory/order/updated")
SQUARESPACE_TOPICS = ("order.create", "order.update")

CREATE = """mutation SyncdHookCreate($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri } userErrors { field message } } }"""
LIST = """query SyncdHooks($after: String) { webhookSubscriptions(first: 100, after: $after) {
  nodes { id topic uri } pageInfo { hasNextPage endCursor } } }"""
DELETE = """mutation SyncdHookDelete($id: ID!) { webhookSubscriptionDelete(id: $id) {
  deletedWebhookSubscriptionId userErrors { field message } } }"""
DOCUMENTS = {"HOOK_CREATE": CREATE, "HOOK_LIST": LIST, "HOOK_DELETE": DELETE}


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription on a store: its id there, what it listens to, where it posts;
    ``secret``: what the store answered as the signing secret (Squarespace, once)."""

    id: str
    topic: str
    url: str
    secret: str | None = None


class _Api:
    def __init__(self, store: StoreSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.store = store
        self.token = resolve_token(store).get_secret_value()
        self.http = httpx.AsyncClient(base_url=spec_of(store.platform).url_for(store), transport=transport,
                                      timeout=store.timeout_seconds)

    async def __aenter__(self) -> _Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def _fail(self, response: httpx.Response, what: str) -> StoreError:
        kind = AuthError if response.status_code in (401, 403) else (
            TransientStoreError if response.status_code >= 500 or response.status_code == 429 else PermanentStoreError)
        detail = response.text[:300].replace(self.token, "[REDACTED]")
        return kind(f"{what}: {detail}", store=self.store.name, status=response.status_code)

    async def call(self, method: str, path: str, what: str, body: Any = None) -> Any:
        headers = {"User-Agent": "syncd-webhooks", "Accept": "application/json"}
        if self.store.platform == "shopify":
            headers["X-Shopify-Access-Token"] = self.token
        elif self.store.platform == "bigcommerce":
            headers["X-Auth-Token"] = self.token
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientStoreError(f"{what}: {type(exc).__name__}", store=self.store.name) from None
        if response.status_code >= 400:
            raise self._fail(response, what)
        return response.json() if response.content else None

    async def gql(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        body = await self.call("POST", f"/admin/api/{self.store.api_version}/graphql.json", what,
                               {"query": query, "variables": variables})
        if not isinstance(body, dict) or body.get("errors") or not isinstance(body.get("data"), dict):
            errors = body.get("errors") if isinstance(body, dict) else body
            raise PermanentStoreError(f"{what}: {errors}", store=self.store.name)
        data: dict[str, Any] = body["data"]
        return data

    def bc(self, path: str) -> str:
        return f"/stores/{self.store.store_hash}/v3{path}"


def _check(store: StoreSettings) -> None:
    if store.platform == "wix":
        raise ConfigError("Wix webhooks are set in the app's dashboard (Webhooks → the inventory events), "
                          "not through the API: see the README")
    if store.platform not in ("shopify", "bigcommerce", "squarespace"):
        raise ConfigError(f"{store.platform} sends no events syncd can use; the store is polled only")


async def register(store: StoreSettings, url: str, transport: httpx.AsyncBaseTransport | None = None
                   ) -> list[Subscription]:
    """Subscribe ``url`` to the store's stock events; topics already subscribed there are kept."""
    _check(store)
    existing = {s.topic for s in await list_hooks(store, url, transport)}
    made: list[Subscription] = []
    async with _Api(store, transport) as api:
        if store.platform == "shopify":
            for topic in SHOPIFY_TOPICS:
                if topic in existing:
                    continue
                data = await api.gql(CREATE, {"topic": topic, "sub": {"uri": url}}, f"subscribe {topic}")
                payload = data.get("webhookSubscriptionCreate") or {}
                if payload.get("userErrors"):
                    raise PermanentStoreError(f"subscribe {topic}: {payload['userErrors']}", store=store.name)
                sub = payload.get("webhookSubscription") or {}
                made.append(Subscription(str(sub.get("id")), topic, url))
        elif store.platform == "bigcommerce":
            secret = resolve_webhook_secret(store)
            if secret is None:
                raise ConfigError(f"store {store.name!r}: set webhook_secret_env or webhook_secret_file first: "
                                  f"the hook sends it in {store.webhook_header}")
            for scope in BIGCOMMERCE_SCOPES:
                if scope in existing:
                    continue
                body = await api.call("POST", api.bc("/hooks"), f"subscribe {scope}", {
                    "scope": scope, "destination": url, "is_active": True,
                    "headers": {store.webhook_header: secret.get_secret_value()}})
                hook = (body or {}).get("data") or {}
                made.append(Subscription(str(hook.get("id")), scope, url))
        else:
            wanted = [t for t in SQUARESPACE_TOPICS if t not in existing]
            if wanted:
                body = await api.call("POST", "/1.0/webhook_subscriptions", "subscribe",
                                      {"endpointUrl": url, "topics": wanted})
                made.append(Subscription(str(body.get("id")), ",".join(wanted), url, secret=body.get("secret")))
    return made


async def list_hooks(store: StoreSettings, url: str | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> list[Subscription]:
    """The store's subscriptions (those posting to ``url``, when given)."""
    _check(store)
    found: list[Subscription] = []
    async with _Api(store, transport) as api:
        if store.platform == "shopify":
            after: str | None = None
            while True:
                data = (await api.gql(LIST, {"after": after}, "list subscriptions"))["webhookSubscriptions"]
                found += [Subscription(n["id"], n["topic"], n["uri"]) for n in data["nodes"]]
                if not data["pageInfo"]["hasNextPage"]:
                    break
                after = data["pageInfo"]["endCursor"]
        elif store.platform == "bigcommerce":
            body = await api.call("GET", api.bc("/hooks"), "list hooks")
            found += [Subscription(str(h["id"]), h["scope"], h["destination"]) for h in (body or {}).get("data", [])]
        else:
            body = await api.call("GET", "/1.0/webhook_subscriptions", "list subscriptions")
            for s in (body or {}).get("webhookSubscriptions", []):
                found += [Subscription(s["id"], topic, s["endpointUrl"]) for topic in s.get("topics", [])]
    return [s for s in found if url is None or s.url == url]


async def remove(store: StoreSettings, url: str, transport: httpx.AsyncBaseTransport | None = None
                 ) -> list[Subscription]:
    """Delete the store's subscriptions that post to ``url``."""
    hooks = await list_hooks(store, url, transport)
    async with _Api(store, transport) as api:
        for hook_id in dict.fromkeys(h.id for h in hooks):
            if store.platform == "shopify":
                await api.gql(DELETE, {"id": hook_id}, "unsubscribe")
            elif store.platform == "bigcommerce":
                await api.call("DELETE", api.bc(f"/hooks/{hook_id}"), "delete hook")
            else:
                await api.call("DELETE", f"/1.0/webhook_subscriptions/{hook_id}", "delete subscription")
    return hooks
