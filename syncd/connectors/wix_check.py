"""``syncd check`` for a Wix site: read-only, one ``Check`` per item.

The token (and ``wix-site-id``) on the Catalog Versioning API; the catalog the site runs
against the configured one; then one small read on that catalog: its first page, the read
permission (a 403 names the permission and the scope to grant), and on Catalog V3 the
configured location. Wix's Inventory Items API has no read of locations (the Locations API
is another service, with its own permission), so the location check asks for the first
items *at* the configured location: none found means an unknown location, or one that
holds no stock — the fix names both. Write permissions cannot be checked without writing;
the detail says which one the first cycle will need.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, StoreError
from .base import Check

if TYPE_CHECKING:
    from .wix import WixConnector

__all__ = ["PERMISSIONS", "run"]

VERSION = "/stores/v3/provision/version"
V1_QUERY = "/stores-reader/v2/inventoryItems/query"
V1_PRODUCTS = "/stores-reader/v1/products/query"
V3_QUERY = "/stores/v3/inventory-items/query"

CATALOG_VERSION_READ = "WIX_STORES.CATALOG_VERSION_READ"  # GetCatalogVersion's @permissionId
# What each call needs: the method's @permissionId in the SDK typings, and the scope that
# grants it (scope names from the typings' @permissionScopeId lists, or the REST reference
# where the typings carry none — see tests/contract/test_wix_conformance.py).
PERMISSIONS = {
    "v1_read": ("WIX_STORES.READ_INVENTORY", "SCOPE.DC-STORES.READ-PRODUCTS", "Read Products"),
    "v1_write": ("WIX_STORES.MODIFY_INVENTORY", "SCOPE.DC-STORES.MANAGE-PRODUCTS", "Manage Products"),
    "v3_read": ("WIX_STORES.INVENTORY_READ", "SCOPE.STORES.INVENTORY_ITEM_READ", "Read inventory in v3 catalog"),
    "v3_write": ("WIX_STORES.INVENTORY_UPDATE", "SCOPE.STORES.INVENTORY_ITEM_WRITE", ""),  # REST reference only
}


def _grant(key: str) -> str:
    permission, scope, title = PERMISSIONS[key]
    return f"{scope} ({f'{title!r}, ' if title else ''}permission {permission})"


async def run(conn: WixConnector) -> list[Check]:
    checks: list[Check] = []
    try:
        body = await conn.site.call("GET", VERSION)
    except AuthError as exc:
        if exc.status == 401:
            return [Check("token", False, "Wix refused the token (HTTP 401)",
                          "create a new API key or app token and put it in this store's token variable")]
        return [Check("scopes", False, "the token may not read this site's catalog version (HTTP 403, permission "
                                       f"{CATALOG_VERSION_READ})",
                      "grant the app or API key a Wix Stores scope on this site (e.g. "
                      f"{PERMISSIONS['v3_read'][1]} or {PERMISSIONS['v1_read'][1]}), and check site_id")]
    except StoreError as exc:
        return [Check("catalog", False, f"the catalog version could not be read: {exc}",
                      "retry later; if it persists, set catalog = \"v1\" or \"v3\" and check the token")]
    checks.append(Check("token", True, "Wix accepted the token for this site"))
    answer = body.get("catalogVersion") if isinstance(body, dict) else None
    site = {"V1_CATALOG": "v1", "V3_CATALOG": "v3"}.get(str(answer))
    if site is None:
        why = "Wix Stores is not installed on this site" if answer == "STORES_NOT_INSTALLED" else \
            f"unexpected catalog version {str(answer)[:40]!r}"
        checks.append(Check("catalog", False, why, "install Wix Stores on the site, or check site_id"))
        return checks
    if conn.configured not in ("auto", site):
        checks.append(Check("catalog", False, f"the site runs Catalog {site.upper()}, the settings say "
                                              f"{conn.configured.upper()}", f'set catalog = "{site}" (or "auto")'))
        return checks
    checks.append(Check("catalog", True, f"the site runs Catalog {site.upper()} (catalog = {conn.configured})"))
    checks.extend(await (_v3(conn) if site == "v3" else _v1(conn)))
    return checks


async def _read(conn: WixConnector, path: str, body: Any, need: str) -> tuple[Any, Check | None]:
    """One read; a refusal becomes the failed check it stands for."""
    try:
        return await conn.site.call("POST", path, body), None
    except AuthError:
        return None, Check("scopes", False, f"the token may not call {path} (HTTP 403)",
                           f"grant the app or API key {_grant(need)}")
    except StoreError as exc:
        return None, Check("first_page", False, f"the first page could not be read: {exc}",
                           "retry later; if it persists, report the error above")


async def _v3(conn: WixConnector) -> list[Check]:
    query: dict[str, Any] = {"cursorPaging": {"limit": 100}}
    if conn.location_id:
        query["filter"] = {"locationId": {"$eq": conn.location_id}}
    body, failed = await _read(conn, V3_QUERY, {"query": query}, "v3_read")
    if failed is not None:
        return [failed]
    items = body.get("inventoryItems", []) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return [Check("first_page", False, "the first page is malformed (no 'inventoryItems' list)",
                      "report this answer: syncd cannot read it")]
    out = [Check("scopes", True, f"read permission accepted; the first write will need {_grant('v3_write')}"),
           Check("first_page", True, f"{len(items)} inventory item(s) on the first page")]
    locations = sorted({str(i.get("locationId")) for i in items})
    if conn.location_id and not items:
        out.append(Check("location", False, f"no inventory item at location {conn.location_id} (the Inventory "
                                            "API cannot list locations: an unknown and an empty one look alike)",
                         "check location_id against the site's locations (dashboard → Settings → Locations)"))
    elif conn.location_id:
        out.append(Check("location", True, f"inventory items found at location {conn.location_id}"))
    elif len(locations) > 1:
        out.append(Check("location", False, f"stock is kept at {len(locations)} locations on the first page alone",
                         "set location_id to the location syncd should keep in step"))
    else:
        out.append(Check("location", True, "one location on the first page (no location_id set)"))
    return out


async def _v1(conn: WixConnector) -> list[Check]:
    query = {"query": {"paging": {"limit": 1, "offset": 0}, "sort": json.dumps([{"numericId": "asc"}])}}
    body, failed = await _read(conn, V1_QUERY, query, "v1_read")
    if failed is not None:
        return [failed]
    items = body.get("inventoryItems") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return [Check("first_page", False, "the first page is malformed (no 'inventoryItems' list)",
                      "report this answer: syncd cannot read it")]
    out: list[Check] = []
    ids = [i.get("productId") for i in items if isinstance(i, dict) and isinstance(i.get("productId"), str)]
    if ids:  # SKUs come from the products query, which must include hidden products
        products = {"query": {"filter": json.dumps({"id": {"$hasSome": ids}}), "paging": {"limit": 1, "offset": 0}},
                    "includeVariants": True, "includeHiddenProducts": True}
        _, refused = await _read(conn, V1_PRODUCTS, products, "v1_write")
        if refused is not None:
            return [Check("scopes", False, "the token may not read hidden products' SKUs (HTTP 403)",
                          f"grant the app or API key {_grant('v1_write')}")]
    out.append(Check("scopes", True, f"read permission accepted; writes need {_grant('v1_write')}"))
    out.append(Check("first_page", True, f"{len(items)} inventory item(s) on the first page"))
    if conn.location_id:
        out.append(Check("location", False, "Catalog V1 has no locations, but location_id is set",
                         "remove location_id from this store's settings"))
    return out
