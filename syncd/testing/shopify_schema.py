"""The slice of Shopify's Admin GraphQL schema syncd uses, per API version, and the
calculated query cost (``shared/stores/shopify.md`` §5–6).

Versions differ in the compare-and-set fields of ``InventoryQuantityInput``: up to
2025-10 ``compareQuantity`` (+ ``ignoreCompareQuantity``); 2026-01 adds
``changeFromQuantity``; from 2026-04 only ``changeFromQuantity`` remains.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    value_from_ast,
)

from .shopify_hooks_sim import HOOK_MUTATIONS, HOOK_QUERY, HOOK_SDL

__all__ = ["ERAS", "MAX_COST", "MAX_INPUT", "MAX_PAGE", "PAGE_CAP", "Cost", "era_of", "schema_for", "version_key"]

MAX_PAGE = 250  # objects per connection page
PAGE_CAP = 25_000  # objects a connection can be paged through
MAX_INPUT = 250  # elements of an input array
MAX_COST = 1000  # points a single query may request
MUTATION_COST = 10

ERROR_CODES = """
  CHANGE_FROM_QUANTITY_STALE COMPARE_QUANTITY_REQUIRED COMPARE_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
  INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_NAME INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH
  INVALID_QUANTITY_TOO_LOW INVALID_REASON INVALID_REFERENCE_DOCUMENT NON_MUTABLE_INVENTORY_ITEM
  NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR
"""
NOT_STOCKED = "ITEM_NOT_STOCKED_AT_LOCATION"  # gone in 2026-10: a quantity can be set at any location
ERAS = ("legacy", "transition", "current", "latest")

SDL = """
schema { query: QueryRoot  mutation: Mutation }
directive @idempotent(key: String!) on FIELD
scalar DateTime
scalar UnsignedInt64
scalar URL
interface Node { id: ID! }

type QueryRoot {
  location(id: ID): Location
  inventoryItems(first: Int, after: String, query: String): InventoryItemConnection!
  productVariantsCount(query: String, limit: Int = 10000): Count
  nodes(ids: [ID!]!): [Node]!
  node(id: ID!): Node
  shop: Shop!
  currentAppInstallation: AppInstallation!
  bulkOperations(first: Int, after: String, query: String, reverse: Boolean = false,
                 sortKey: BulkOperationsSortKeys = CREATED_AT): BulkOperationConnection!
}
type Shop { name: String! }
type AppInstallation { accessScopes: [AccessScope!]! }
type AccessScope { handle: String!  description: String! }
type Count { count: Int!  precision: CountPrecision! }
enum CountPrecision { EXACT AT_LEAST }
type PageInfo { hasNextPage: Boolean!  hasPreviousPage: Boolean!  startCursor: String  endCursor: String }

type Location implements Node {
  id: ID!  name: String!  isActive: Boolean!
  inventoryLevels(first: Int, after: String): InventoryLevelConnection!
}
type InventoryLevelConnection { nodes: [InventoryLevel!]!  edges: [InventoryLevelEdge!]!  pageInfo: PageInfo! }
type InventoryLevelEdge { cursor: String!  node: InventoryLevel! }
type InventoryLevel implements Node {
  id: ID!  item: InventoryItem!  location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]!
}
type InventoryQuantity { name: String!  quantity: Int!  updatedAt: DateTime }
type InventoryItemConnection { nodes: [InventoryItem!]!  edges: [InventoryItemEdge!]!  pageInfo: PageInfo! }
type InventoryItemEdge { cursor: String!  node: InventoryItem! }
type InventoryItem implements Node {
  id: ID!  sku: String  tracked: Boolean!
  inventoryLevel(locationId: ID!): InventoryLevel
}

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { QUERY MUTATION }
enum BulkOperationsSortKeys { COMPLETED_AT CREATED_AT }
type BulkOperation implements Node {
  id: ID!  status: BulkOperationStatus!  errorCode: BulkOperationErrorCode  objectCount: UnsignedInt64!
  url: URL  type: BulkOperationType!  query: String!  createdAt: DateTime!  completedAt: DateTime
}
type BulkOperationConnection { nodes: [BulkOperation!]!  edges: [BulkOperationEdge!]!  pageInfo: PageInfo! }
type BulkOperationEdge { cursor: String!  node: BulkOperation! }
enum BulkOperationUserErrorCode { INVALID LIMIT_REACHED OPERATION_IN_PROGRESS }
type BulkOperationUserError { code: BulkOperationUserErrorCode  field: [String!]  message: String! }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation  userErrors: [BulkOperationUserError!]! }

input InventoryQuantityInput { inventoryItemId: ID!  locationId: ID!  quantity: Int!  %ROW% }
input InventorySetQuantitiesInput {
  name: String!  reason: String!  referenceDocumentUri: String  quantities: [InventoryQuantityInput!]!  %TOP%
}
enum InventorySetQuantitiesUserErrorCode { %CODES% }
type InventorySetQuantitiesUserError { field: [String!]  message: String!  code: InventorySetQuantitiesUserErrorCode }
type InventoryChange {
  name: String!  delta: Int!  quantityAfterChange: Int  item: InventoryItem  location: Location
  ledgerDocumentUri: String
}
type InventoryAdjustmentGroup {
  id: ID!  createdAt: DateTime!  reason: String!  referenceDocumentUri: String
  changes(quantityNames: [String!]): [InventoryChange!]!
}
type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup  userErrors: [InventorySetQuantitiesUserError!]!
}
type Mutation {
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  bulkOperationRunQuery(query: String!, groupObjects: Boolean! = %GROUP%): BulkOperationRunQueryPayload
}
"""


def era_of(version: tuple[int, int]) -> str:
    """Which contract a version speaks: "legacy" (≤ 2025-10), "transition" (2026-01),
    "current" (2026-04, 2026-07), "latest" (2026-10 on: no ``ITEM_NOT_STOCKED_AT_LOCATION``)."""
    if version < (2026, 1):
        return "legacy"
    if version < (2026, 4):
        return "transition"
    return "current" if version < (2026, 10) else "latest"


def version_key(version: str) -> tuple[int, int] | None:
    """``2026-04`` → (2026, 4); ``unstable`` sorts last; anything else is None."""
    if version == "unstable":
        return (9999, 12)
    year, _, month = version.partition("-")
    if not (year.isdigit() and month in ("01", "04", "07", "10")):
        return None
    return int(year), int(month)


@functools.cache
def schema_for(era: str) -> GraphQLSchema:
    """The schema of one of ``ERAS`` (see ``era_of``)."""
    row = {"legacy": "compareQuantity: Int", "transition": "compareQuantity: Int  changeFromQuantity: Int"}.get(
        era, "changeFromQuantity: Int")
    top = "ignoreCompareQuantity: Boolean = false" if era in ("legacy", "transition") else ""
    codes = ERROR_CODES if era == "latest" else f"{ERROR_CODES} {NOT_STOCKED}"
    group = "true" if era == "legacy" else "false"  # groupObjects defaulted to true up to 2025-10
    sdl = (SDL.replace("%ROW%", row).replace("%TOP%", top).replace("%CODES%", codes).replace("%GROUP%", group)
           .replace("type Mutation {\n", "type Mutation {\n" + HOOK_MUTATIONS)
           .replace("type QueryRoot {\n", "type QueryRoot {\n" + HOOK_QUERY))
    return build_schema(sdl + HOOK_SDL)


class Cost:
    """Calculated query cost by Shopify's documented rules: scalars and enums 0, objects 1
    (``pageInfo`` too), a connection 2 + ``size(first)`` × its node's cost, a mutation
    10. Shopify does not publish how it sizes a connection (its engineers say it scales
    logarithmically, in the client's favour): ``size`` defaults to the linear ``first``,
    the dearest reading. ``returned`` (field node id → objects returned) turns the
    requested cost into the actual one."""

    def __init__(self, schema: GraphQLSchema, variables: Mapping[str, Any],
                 fragments: Mapping[str, FragmentDefinitionNode],
                 size: Callable[[int], float] = float) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = fragments
        self.size = size

    def of(self, selection: SelectionSetNode, parent: GraphQLObjectType, mutation: bool = False,
           returned: Mapping[int, int] | None = None) -> int:
        if mutation:
            return MUTATION_COST * sum(1 for s in selection.selections if isinstance(s, FieldNode))
        return self._set(selection, parent, returned or {})

    def _set(self, selection: SelectionSetNode | None, parent: Any, returned: Mapping[int, int]) -> int:
        total = 0
        for node in selection.selections if selection else ():
            if isinstance(node, InlineFragmentNode):
                cond = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += self._set(node.selection_set, cond, returned)
            elif isinstance(node, FragmentSpreadNode):
                frag = self.fragments[node.name.value]
                total += self._set(frag.selection_set, self.schema.get_type(frag.type_condition.name.value), returned)
            elif isinstance(node, FieldNode):
                total += self._field(node, parent, returned)
        return total

    def _field(self, node: FieldNode, parent: Any, returned: Mapping[int, int]) -> int:
        fields = getattr(parent, "fields", {})
        if node.name.value not in fields:
            return 0  # __typename and friends
        field = fields[node.name.value]
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return 0
        if named.name.endswith("Connection"):
            first = self._arg(node, field, "first") or 0
            count = returned.get(id(node), first)
            subs = node.selection_set.selections if node.selection_set else ()
            node_cost = sum(self._node_cost(sub, named, returned) for sub in subs)
            page_info = any(isinstance(sub, FieldNode) and sub.name.value == "pageInfo" for sub in subs)
            return 2 + math.ceil(self.size(count) * node_cost) + page_info
        if is_list_type(get_nullable_type(field.type)) and node.name.value == "nodes":
            ids = self._arg(node, field, "ids") or []
            return len(ids) * (1 + self._set(node.selection_set, named, returned))
        return 1 + self._set(node.selection_set, named, returned)

    def _node_cost(self, sub: Any, connection: Any, returned: Mapping[int, int]) -> int:
        if not isinstance(sub, FieldNode) or sub.name.value == "pageInfo":
            return 0
        inner = get_named_type(connection.fields[sub.name.value].type)
        if sub.name.value == "edges":
            edge = inner
            node_sel = next((s for s in sub.selection_set.selections  # type: ignore[union-attr]
                             if isinstance(s, FieldNode) and s.name.value == "node"), None)
            if node_sel is None:
                return 0
            return 1 + self._set(node_sel.selection_set, get_named_type(edge.fields["node"].type), returned)
        return 1 + self._set(sub.selection_set, inner, returned)

    def _arg(self, node: FieldNode, field: Any, name: str) -> Any:
        for arg in node.arguments:
            if arg.name.value == name:
                return value_from_ast(arg.value, field.args[name].type, dict(self.variables))
        default = field.args.get(name)
        return None if default is None or default.default_value is Undefined else default.default_value
