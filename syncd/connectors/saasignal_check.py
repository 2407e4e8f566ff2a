"""``syncd check`` for a SaaSignal project, read-only: the key is accepted (401), it may
read the Commerce module (403), the organisation's token balance is not empty (the
balance route, and a 402 on any read), and the first page of the pull is readable
(inventory and the SKUs of its records, learned as the pull learns them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AuthError, PermanentStoreError, StoreError
from .base import Check

if TYPE_CHECKING:
    from .saasignal import SaaSignalConnector

__all__ = ["check_store"]

TOP_UP = "top up the organisation's tokens in SaaSignal (Billing), then run syncd check again"


def _failed(name: str, exc: StoreError) -> Check:
    if isinstance(exc, AuthError) and exc.status == 403:
        return Check("scopes", False, f"the API key may not read the Commerce module (403): {exc.reason}",
                     "create a project API key with the commerce:read and commerce:write scopes (or commerce:*)")
    if isinstance(exc, AuthError):
        return Check("token", False, f"the API key was refused ({exc.status}): {exc.reason}",
                     "check the key the store's token_env / token_file names (X-API-Key, sk_…): wrong or revoked")
    if isinstance(exc, PermanentStoreError) and exc.status == 402:
        return Check("balance", False, "the organisation's token balance is empty (402)", TOP_UP)
    return Check(name, False, f"{type(exc).__name__}: {exc.reason}", "check base_url and the network, then "
                 "run syncd check again")


async def check_store(conn: SaaSignalConnector) -> list[Check]:
    try:
        await conn._call("GET", "/inventory", params={"limit": 1})
    except StoreError as exc:
        failed = _failed("token", exc)
        return [failed] if failed.name == "token" else [Check("token", True, "the API key was accepted"), failed]
    checks = [Check("token", True, "the API key was accepted"),
              Check("scopes", True, "the key reads the Commerce module; writes need commerce:write, "
                                    "which cannot be checked without writing")]
    try:
        body = conn.client.json(await conn._call("GET", "/core/tokens/balance", base=""))
        total = body.get("total_balance") if isinstance(body, dict) else None
        if isinstance(total, int | float) and not isinstance(total, bool) and total <= 0:
            checks.append(Check("balance", False, f"the organisation's token balance is {total}", TOP_UP))
        elif isinstance(total, int | float) and not isinstance(total, bool):
            checks.append(Check("balance", True, f"token balance {total:g}"))
        else:
            checks.append(Check("balance", True, "the balance answer holds no total_balance; not checked"))
    except AuthError as exc:  # the balance may need another scope: not the sync's business
        checks.append(Check("balance", True, f"the balance is not readable with this key ({exc.status}); "
                                             "not checked"))
    except StoreError as exc:
        checks.append(_failed("balance", exc))
    pages = conn.pull({})
    try:
        page = await anext(pages, None)
    except StoreError as exc:
        return [*checks, _failed("first_page", exc)]
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    if page is None:
        return [*checks, Check("first_page", True, "the store answered an empty inventory")]
    issues = f", {len(page.issues)} item(s) syncd cannot use" if page.issues else ""
    return [*checks, Check("first_page", True, f"{len(page.observations)} item(s) on the first page{issues}")]
