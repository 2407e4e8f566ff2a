"""Wix Stores (``shared/stores/wix.md``): one connector for both catalogs.

A Wix site runs Catalog V1 or Catalog V3, never both. ``catalog = "auto"`` asks
``GET /stores/v3/provision/version`` once and uses the answer; ``"v1"`` / ``"v3"`` skip
the question. The two code paths live in ``wix_v1`` and ``wix_v3``:

- V1: keyset crawl of ``inventoryItems/query`` by ``numericId`` (past the 10,000-item
  offset limit), SKUs from the Products API remembered in the ledger's catalog; absolute
  ``PATCH`` per product after a fresh read (default), or ``increment`` / ``decrement``
  (≤ 300 rows, ``write_mode = "relative"``). No key, no compare-and-set: never resent
  after an unknown outcome, settled by re-reading.
- V3: cursor paging at 1,000 items; absolute bulk update (≤ 1,000 rows) guarded by each
  item's ``revision`` — a stale revision fails only its row (a ``stale_write`` conflict,
  re-planned next cycle), the other rows apply. Not resent after an unknown outcome.

Both: 200 requests a minute per site (paced at 190), ``Authorization: <token>`` and
``wix-site-id``; counts and targets within Wix's 99,999 (a target above it is refused
before sending, never clamped). ``check()`` lives in ``wix_check``. The wire contract is
pinned by the SDK typings vendored in ``tests/data/wix``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeGuard

import httpx

from .. import __version__
from ..core import Adjustment, CatalogEntry, Quantity, WriteMode, WriteStrategy
from ..errors import BadStoreData, PermanentStoreError, StoreError
from ..http import ApiClient
from .base import Capabilities, Check, Page, Rejected, WriteResult

__all__ = ["DEFAULT_BASE_URL", "WixConnector", "WixSite", "capabilities", "classify"]

DEFAULT_BASE_URL = "https://www.wixapis.com"
REQUESTS_PER_MINUTE = 200  # per app instance, counted over a minute (paced by a sliding window)
VERSIONS = {"V1_CATALOG": "v1", "V3_CATALOG": "v3"}
# The largest count either catalog holds: V3 InventoryItem.quantity is -99,999..99,999, V1's
# variant stock @max 99999 (@wix/auto_sdk_stores_products); see tests/data/wix.
QUANTITY_LIMIT = 99_999


def capabilities(catalog: str = "auto", write_mode: str | None = None) -> Capabilities:
    """V3: absolute, compare-and-set on ``revision``; V1: absolute after a fresh read, or
    relative without a key. ``auto`` plans absolute writes (both catalogs take them)."""
    if catalog == "v3":
        strategy, batch = WriteStrategy.ABSOLUTE_CAS, 1000
    elif write_mode == "relative":
        strategy, batch = WriteStrategy.RELATIVE_NO_KEY, 300
    else:
        strategy, batch = WriteStrategy.ABSOLUTE_FRESH_READ, 1000
    return Capabilities(platform="wix", strategy=strategy, max_batch=batch, requests_per_minute=REQUESTS_PER_MINUTE,
                        limit_window=timedelta(minutes=1))


def classify(response: httpx.Response) -> tuple[type[StoreError], str] | None:
    """A refusal's own code, from ``details.applicationError`` or ``validationError``."""
    status = response.status_code
    if status < 400 or status in (401, 403, 408, 429) or status >= 500:
        return None
    try:
        details = response.json().get("details") or {}
    except (ValueError, AttributeError):
        return None
    app = details.get("applicationError") if isinstance(details, dict) else None
    if isinstance(app, dict) and app.get("code"):
        return PermanentStoreError, f"{app['code']}: {str(app.get('description') or '')[:200]}"
    violations = (details.get("validationError") or {}).get("fieldViolations") if isinstance(details, dict) else None
    if isinstance(violations, list) and violations and isinstance(violations[0], dict):
        v = violations[0]
        return PermanentStoreError, f"INVALID_ARGUMENT: {v.get('field')}: {str(v.get('description') or '')[:200]}"
    return None


class WixSite:
    """The HTTP side both catalogs share."""

    def __init__(self, name: str, client: ApiClient, token: str, site_id: str) -> None:
        self.name = name
        self.client = client
        self.headers = {"Authorization": token, "wix-site-id": site_id, "Accept": "application/json",
                        "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}

    async def call(self, method: str, path: str, body: Any = None, *, retry: Any = True) -> Any:
        request = self.client.http.build_request(method, path, headers=self.headers,
                                                 json=body if body is not None else None)
        return self.client.json(await self.client.send(request, retry=retry))

    def bad(self, message: str) -> BadStoreData:
        return BadStoreData(message, store=self.name)


class CatalogPath(Protocol):
    def pull(self, catalog: Mapping[str, CatalogEntry]) -> AsyncIterator[Page]: ...

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]: ...

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]: ...


class WixConnector:
    """One Wix site, on whichever catalog it runs."""

    def __init__(self, name: str, client: ApiClient, token: str, *, site_id: str, catalog: str = "auto",
                 location_id: str | None = None, caps: Capabilities | None = None) -> None:
        self.name = name
        self.site = WixSite(name, client, token, site_id)
        self.capabilities = caps or capabilities(catalog)
        self.configured = catalog
        self.location_id = location_id
        self._path: CatalogPath | None = None
        self.version: str | None = None if catalog == "auto" else catalog

    async def path(self) -> CatalogPath:
        if self._path is None:
            if self.version is None:
                self.version = await self.detect()
            from . import wix_v1, wix_v3  # they import WixSite from here
            if self.version == "v3":
                self._path = wix_v3.CatalogV3(self.site, self.location_id)
            else:
                self._path = wix_v1.CatalogV1(self.site, relative=self.capabilities.strategy.mode is WriteMode.RELATIVE)
        return self._path

    async def detect(self) -> str:
        """The site's catalog, from the Catalog Versioning API, or a clear error."""
        body = await self.site.call("GET", "/stores/v3/provision/version")
        answer = body.get("catalogVersion") if isinstance(body, dict) else None
        if answer in VERSIONS:
            return VERSIONS[answer]
        why = "Wix Stores is not installed on this site" if answer == "STORES_NOT_INSTALLED" else (
            f"the catalog version could not be detected (answer: {str(answer)[:60]!r})")
        raise PermanentStoreError(f"{why}; set catalog = \"v1\" or \"v3\" in this store's settings", store=self.name)

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        path = await self.path()
        async for page in path.pull(catalog or {}):
            yield page

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        return await (await self.path()).push(batch, key)

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        return await (await self.path()).read(remote_ids)

    async def check(self) -> list[Check]:
        """Read-only checks for ``syncd check`` (see ``wix_check``)."""
        from . import wix_check

        return await wix_check.run(self)


def above_cap(target: int) -> Rejected:
    """A target Wix cannot hold is not sent (Wix would refuse the request as invalid) and not
    clamped (a clamped write confirmed as the target would book the difference as a sale on
    the next pull): it is refused here, logged as a conflict, and planned again next cycle."""
    return Rejected("QUANTITY_ABOVE_WIX_LIMIT", f"target {target:,} is outside Wix's 0 to {QUANTITY_LIMIT:,}; "
                    "a buffer on this store can keep its target within that")


def whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)

