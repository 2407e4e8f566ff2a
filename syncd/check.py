"""``syncd check``: what a merchant runs before the first cycle. Read-only, every store.

For each enabled store: the platform's own checks (``Checkable.check()``: token, scopes,
location, catalog or API version, bulk access), then, if the connector did not read one
itself, the first page of its pull. A store error that escapes becomes a failed check
with the fix in one line; nothing is written anywhere, not even the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from .config import Settings
from .connectors import Check, Connector, open_connectors
from .errors import AuthError, BadStoreData, RateLimited, StoreError, TransientStoreError
from .http import Clock, RetryPolicy

__all__ = ["CHECK_RETRY", "check_stores", "failed_check", "first_page_check", "report_json"]

CHECK_RETRY = RetryPolicy(max_attempts=2, base=0.5, cap=2.0, max_total=10.0)
"""A check answers in seconds: one retry of a passing fault, not the cycle's three minutes."""


def failed_check(name: str, exc: BaseException) -> Check:
    """A store error, as the failed check it stands for, with the fix in one line."""
    reason = getattr(exc, "reason", None) or str(exc)
    status = getattr(exc, "status", None)
    if isinstance(exc, AuthError) and status == 403:
        return Check("scopes", False, f"the store refused the request (403): {reason}",
                     "grant the token the read and write scopes syncd needs (see the README's platform table)")
    if isinstance(exc, AuthError):
        return Check("token", False, f"the token was refused ({status or 'auth'}): {reason}",
                     "check the token the store's token_env / token_file names: it is wrong, revoked or expired")
    if isinstance(exc, RateLimited):
        return Check(name, False, f"rate limited: {reason}", "wait a minute and run syncd check again")
    if isinstance(exc, TransientStoreError):
        return Check(name, False, f"the store could not be reached: {reason}",
                     "check base_url / the shop or store hash, and the network; then run syncd check again")
    if isinstance(exc, BadStoreData):
        return Check(name, False, f"the store answered something syncd cannot read: {reason}",
                     "check the platform settings (catalog, API version, location) against the README")
    return Check(name, False, reason, "see the message; fix the store's settings in the config")


async def first_page_check(connector: Connector) -> Check:
    """Read the first page of the store's pull (nothing more) and say what it held."""
    pages = connector.pull({})
    try:
        page = await anext(pages, None)
    except StoreError as exc:
        return failed_check("first_page", exc)
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    if page is None:
        return Check("first_page", True, "the store answered an empty inventory")
    issues = f", {len(page.issues)} item(s) syncd cannot use" if page.issues else ""
    return Check("first_page", True, f"{len(page.observations)} item(s) on the first page{issues}")


async def _check_one(connector: Connector) -> list[Check]:
    checks: list[Check] = []
    own = getattr(connector, "check", None)
    if own is not None:
        try:
            checks = list(await own())
        except StoreError as exc:
            checks = [failed_check("store", exc)]
    if any(c.name in ("token", "scopes") and not c.ok for c in checks):
        return checks  # nothing more can be read with this token
    if not any(c.name == "first_page" for c in checks):
        checks.append(await first_page_check(connector))
    return checks


async def check_stores(
    settings: Settings,
    clock: Clock,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, list[Check]]:
    """Every enabled store's checks, the stores checked concurrently."""
    async with open_connectors(settings, clock, transports=transports, retry=retry or CHECK_RETRY) as connectors:
        names = list(connectors)
        results = await asyncio.gather(*(_check_one(connectors[n]) for n in names))
    return dict(zip(names, results, strict=True))


def report_json(results: Mapping[str, list[Check]], platforms: Mapping[str, str]) -> dict[str, Any]:
    """The JSON shape of ``syncd check --json`` (stable keys, for scripts)."""
    return {
        "ok": all(c.ok for checks in results.values() for c in checks),
        "stores": {
            name: {"platform": platforms.get(name, ""), "ok": all(c.ok for c in checks),
                   "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks]}
            for name, checks in results.items()
        },
    }
