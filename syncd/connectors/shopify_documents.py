"""Every GraphQL document the Shopify connector sends, and what they cost and need.

``tests/contract/test_shopify_conformance.py`` validates each of them (and the
variables the connector builds for them) against Shopify's own introspection of the
pinned API version, and checks ``SCOPES`` against the access each field requires there.

Cost (``extensions.cost``): Shopify's documented rules are scalar/enum 0, object 1,
connection sized by ``first``, mutation 10, at most 1,000 points requested per query.
The exact connection formula is not published (Shopify's engineers say it scales
connections logarithmically, in the client's favour), so the connector paces each
document by the ``requestedQueryCost`` Shopify answered for it last time, and uses the
figures below — the linear upper bound of the documented rules — only before the first
answer. ``LEVELS`` at ``PAGE`` = 250: ``location`` (object, 1) + ``inventoryLevels``
(connection, 2) + 250 × (level 1 + ``item`` 1 + ``quantities`` 1) + ``pageInfo`` (object,
1) = 754, under the 1,000-point cap.
"""

from __future__ import annotations

__all__ = [
    "BULK_POLL",
    "BULK_QUERY",
    "BULK_RUN",
    "BULK_RUNNING",
    "CHECK",
    "COUNT",
    "DOCUMENTS",
    "LEVELS",
    "LOCATION",
    "PAGE",
    "PAGED_MAX",
    "PAGE_COST",
    "PRIMARY",
    "READ",
    "SCOPES",
    "SET",
    "SET_COST",
    "bulk_query",
]

PAGE = 250  # levels a page, Shopify's largest
PAGE_COST = 1 + 2 + PAGE * 3 + 1  # 754: see above
SET_COST = 10  # a mutation
PAGED_MAX = 25_000  # Shopify pages a connection up to 25,000 objects, no further

# The access scopes the documents need (the introspection's ``offlineScopes``): levels and
# quantities read_inventory, a location's levels read_locations, the variant count
# read_products, inventorySetQuantities write_inventory (a write_ scope grants its read_).
SCOPES = ("read_inventory", "write_inventory", "read_locations", "read_products")

LEVELS = """query SyncdLevels($loc: ID!, $first: Int!, $after: String) {
  location(id: $loc) { inventoryLevels(first: $first, after: $after) {
    nodes { item { id sku tracked } quantities(names: ["available"]) { name quantity } }
    pageInfo { hasNextPage endCursor } } } }"""
PRIMARY = "query SyncdPrimaryLocation { location { id } }"
COUNT = "query SyncdCount { productVariantsCount(limit: null) { count precision } }"
READ = """query SyncdRead($ids: [ID!]!, $loc: ID!) { nodes(ids: $ids) { ... on InventoryItem {
  id sku tracked inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } } } } }"""
SET = """mutation SyncdSet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id } userErrors { field message code } } }"""
BULK_RUN = """mutation SyncdBulk($query: String!) { bulkOperationRunQuery(query: $query, groupObjects: false) {
  bulkOperation { id status } userErrors { field message code } } }"""
BULK_POLL = """query SyncdBulkPoll($id: ID!) { node(id: $id) { ... on BulkOperation {
  id status errorCode objectCount url } } }"""
BULK_RUNNING = """query SyncdBulkRunning { bulkOperations(first: 5, query: "operation_type:query") {
  nodes { id status query } } }"""
BULK_QUERY = """{ inventoryItems { edges { node { id sku tracked
  inventoryLevel(locationId: "%s") { quantities(names: ["available"]) { name quantity } } } } } }"""
CHECK = "query SyncdCheck { shop { name } currentAppInstallation { accessScopes { handle } } }"  # no scope needed
LOCATION = "query SyncdLocation($loc: ID) { location(id: $loc) { id name isActive } }"

DOCUMENTS = {"LEVELS": LEVELS, "PRIMARY": PRIMARY, "COUNT": COUNT, "READ": READ, "SET": SET, "BULK_RUN": BULK_RUN,
             "BULK_POLL": BULK_POLL, "BULK_RUNNING": BULK_RUNNING, "CHECK": CHECK,
             "LOCATION": LOCATION}


def bulk_query(location: str) -> str:
    """The document a bulk operation runs: every inventory item with its level here."""
    return BULK_QUERY % location
