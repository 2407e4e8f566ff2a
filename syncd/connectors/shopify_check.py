"""``syncd check`` for a Shopify store: read-only, one ``Check`` per item.

* token — a query needing no scope (``shop { name }``) is answered;
* api_version — Shopify's ``X-Shopify-API-Version`` answer header names the version it
  served; a version it no longer supports is served as the oldest one it does;
* scopes — ``currentAppInstallation.accessScopes`` holds what the documents need
  (``shopify_documents.SCOPES``; a ``write_`` scope grants its ``read_``);
* location — the configured location (or the primary one) exists and is active;
* bulk_access — whether bulk queries will be needed (variants over ``bulk_threshold``)
  and, read-only, what Shopify shows of this app's bulk queries: whether they are
  allowed can only be learnt by starting one, which a check does not do;
* first_page — the first page of levels is read and parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AuthError, StoreError
from .base import Check
from .shopify_bulk import ENABLE_BULK
from .shopify_documents import BULK_RUNNING, CHECK, LEVELS, LOCATION, PAGE, PAGE_COST, SCOPES

if TYPE_CHECKING:
    from .shopify import ShopifyConnector

__all__ = ["check", "missing_scopes"]

TOKEN_FIX = "install the app on the shop again, or set the token to its current Admin API access token"


def missing_scopes(granted: set[str]) -> list[str]:
    """The scopes syncd needs that ``granted`` lacks (``write_x`` grants ``read_x``)."""
    have = granted | {"read_" + s.removeprefix("write_") for s in granted if s.startswith("write_")}
    return [s for s in SCOPES if s not in have]


async def check(conn: ShopifyConnector) -> list[Check]:
    checks: list[Check] = []
    try:
        response, data = await conn._post(CHECK, {}, 3)
    except StoreError as exc:
        status = f" (HTTP {exc.status})" if exc.status else ""
        if isinstance(exc, AuthError) and exc.status == 403:  # the token is known, its access is not enough
            return [Check("scopes", False, f"Shopify forbade a plain query: {exc.reason}{status}",
                          f"give the app the scopes {', '.join(SCOPES)} and approve them on the shop")]
        fix = TOKEN_FIX if isinstance(exc, AuthError) else "check the shop address and that Shopify is reachable"
        return [Check("token", False, f"Shopify did not answer a plain query: {exc.reason}{status}", fix)]
    checks.append(Check("token", True, f"accepted by shop {(data.get('shop') or {}).get('name')!r}"))
    served = response.headers.get("x-shopify-api-version")
    checks.append(Check("api_version", True, f"Shopify served {served}") if served == conn.api_version else Check(
        "api_version", False, f"asked for {conn.api_version}, Shopify served {served or 'no version header'} "
        "(an unsupported version is served as the oldest supported one)",
        "set api_version to a version Shopify supports, after reading its release notes"))
    install = data.get("currentAppInstallation") or {}
    granted = {s.get("handle") for s in install.get("accessScopes") or () if isinstance(s, dict)}
    missing = missing_scopes({s for s in granted if isinstance(s, str)})
    checks.append(Check("scopes", not missing, f"granted: {', '.join(sorted(s for s in granted if s))}"
                        + (f"; missing: {', '.join(missing)}" if missing else ""),
                        f"give the app the scopes {', '.join(missing)} and approve them on the shop" * bool(missing)))
    where = conn.configured_location or "the primary location"
    try:
        location = (await conn._gql(LOCATION, {"loc": conn.configured_location}, 1)).get("location")
    except StoreError as exc:
        fix = "see the scopes check" if isinstance(exc, AuthError) else "report this to syncd with the detail"
        return [*checks, Check("location", False, f"could not read {where}: {exc.reason}", fix)]
    if not isinstance(location, dict) or not isinstance(location.get("id"), str):
        checks.append(Check("location", False, f"{where} not found in the shop",
                            "set location_id to one of the shop's locations (Settings → Locations), or leave it "
                            "unset for the primary location"))
        return [*checks, Check("first_page", False, "not read: no location", "fix the location first")]
    active = location.get("isActive") is not False
    checks.append(Check("location", active, f"{location['id']} ({location.get('name')})"
                        + ("" if active else " is deactivated"), "" if active else "reactivate the location, or "
                        "set location_id to an active one"))
    conn._location = location["id"]
    checks.append(await _bulk(conn))
    checks.append(await _first_page(conn, location["id"]))
    return checks


async def _bulk(conn: ShopifyConnector) -> Check:
    if conn.bulk_threshold is None:
        return Check("bulk_access", True, "bulk pulls are off (bulk_threshold unset): pulls page")
    try:
        variants = await conn.count()
        if variants <= conn.bulk_threshold:
            return Check("bulk_access", True, f"not needed: {variants:,} variants, bulk_threshold "
                         f"{conn.bulk_threshold:,}")
        runs = ((await conn._gql(BULK_RUNNING, {}, 7)).get("bulkOperations") or {}).get("nodes") or []
    except StoreError as exc:
        return Check("bulk_access", False, f"could not read: {exc.reason}", "see the scopes check")
    statuses = [r.get("status") for r in runs if isinstance(r, dict)]
    seen = f"its recent bulk queries: {', '.join(map(str, statuses))}" if statuses else "no bulk query by this app yet"
    return Check("bulk_access", True, f"unknown until a pull runs one ({variants:,} variants > bulk_threshold "
                 f"{conn.bulk_threshold:,}; {seen}). If Shopify refuses it the pull pages, up to "
                 f"{conn.paged_max:,} levels; an app built in the Partner Dashboard must {ENABLE_BULK}")


async def _first_page(conn: ShopifyConnector, loc: str) -> Check:
    try:
        data = await conn._gql(LEVELS, {"loc": loc, "first": PAGE, "after": None}, PAGE_COST)
        levels: Any = (data.get("location") or {}).get("inventoryLevels") or {}
        nodes = levels.get("nodes")
        if not isinstance(nodes, list):
            return Check("first_page", False, "the page has no inventoryLevels.nodes", "report this to syncd")
        page = conn._parse([(n.get("item") if isinstance(n, dict) else None,
                             n.get("quantities") if isinstance(n, dict) else None) for n in nodes], set())
    except StoreError as exc:
        fix = "see the scopes check" if isinstance(exc, AuthError) else "report this to syncd with the detail"
        return Check("first_page", False, f"could not read the first page: {exc.reason}", fix)
    return Check("first_page", True, f"{len(page.observations)} items read, {len(page.issues)} with issues"
                 + (" (more pages follow)" if (levels.get("pageInfo") or {}).get("hasNextPage") else ""))
