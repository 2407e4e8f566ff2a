"""The Shopify simulator's webhook subscriptions (``webhookSubscriptionCreate``,
``webhookSubscriptions``, ``webhookSubscriptionDelete``), as the 2026-10 schema has them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

if TYPE_CHECKING:
    from .shopify_sim import ShopifySimulator

__all__ = ["HOOK_RESOLVERS", "HOOK_SDL"]

HOOK_SDL = """
enum WebhookSubscriptionTopic { INVENTORY_LEVELS_UPDATE ORDERS_CREATE }
type WebhookSubscription implements Node { id: ID!  topic: WebhookSubscriptionTopic!  uri: String! }
type WebhookSubscriptionEdge { cursor: String!  node: WebhookSubscription! }
type WebhookSubscriptionConnection { nodes: [WebhookSubscription!]!  edges: [WebhookSubscriptionEdge!]!
                                     pageInfo: PageInfo! }
input WebhookSubscriptionInput { uri: String }
type UserError { field: [String!]  message: String! }
type WebhookSubscriptionCreatePayload { webhookSubscription: WebhookSubscription  userErrors: [UserError!]! }
type WebhookSubscriptionDeletePayload { deletedWebhookSubscriptionId: ID  userErrors: [UserError!]! }
"""
HOOK_QUERY = "  webhookSubscriptions(first: Int, after: String): WebhookSubscriptionConnection!\n"
HOOK_MUTATIONS = """  webhookSubscriptionCreate(topic: WebhookSubscriptionTopic!,
                            webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
"""


def _sim(info: GraphQLResolveInfo) -> ShopifySimulator:
    sim: ShopifySimulator = info.context["sim"]
    return sim


def _refused(field: list[str], message: str, key: str) -> dict[str, Any]:
    return {key: None, "userErrors": [{"field": field, "message": message}]}


def _create(_: Any, info: GraphQLResolveInfo, topic: str, webhookSubscription: dict[str, Any]) -> dict[str, Any]:
    sim = _sim(info)
    uri = webhookSubscription.get("uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://127.0.0.1")):
        return _refused(["webhookSubscription", "uri"], "Address is invalid", "webhookSubscription")
    if any(h["topic"] == topic and h["uri"] == uri for h in sim.webhooks.values()):
        return _refused(["webhookSubscription", "uri"], "Address for this topic has already been taken",
                        "webhookSubscription")
    hook = {"__typename": "WebhookSubscription", "id": f"gid://shopify/WebhookSubscription/{len(sim.webhooks) + 1}",
            "topic": topic, "uri": uri}
    sim.webhooks[hook["id"]] = hook
    return {"webhookSubscription": hook, "userErrors": []}


def _delete(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    if _sim(info).webhooks.pop(id, None) is None:
        return _refused(["id"], "Webhook subscription does not exist", "deletedWebhookSubscriptionId")
    return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def _list(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None) -> dict[str, Any]:
    hooks = list(_sim(info).webhooks.values())
    start = int(after) if after and after.isdigit() else 0
    page = hooks[start : start + (first or 50)]
    end = start + len(page)
    return {"nodes": page, "edges": [{"cursor": str(start + i + 1), "node": h} for i, h in enumerate(page)],
            "pageInfo": {"hasNextPage": end < len(hooks), "hasPreviousPage": start > 0,
                         "startCursor": str(start + 1) if page else None, "endCursor": str(end) if page else None}}


HOOK_RESOLVERS = (("Mutation", "webhookSubscriptionCreate", _create),
                  ("Mutation", "webhookSubscriptionDelete", _delete),
                  ("QueryRoot", "webhookSubscriptions", _list))
