"""``syncd webhooks register | list | remove``: subscribe the stores' stock events."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from .cli_common import err, out
from .cli_common import settings as load
from .errors import ConfigError, StoreError

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(no_args_is_help=True, help="Subscribe the stores' stock events to syncd's webhook address.")
NO_API = {"wix": "set the inventory events in the Wix app's dashboard (see the README)",
          "saasignal": "SaaSignal publishes no event topics or signature: this store is polled only"}


def _hook_stores(store: str | None) -> list[Any]:
    settings = load()
    stores = [s for s in settings.enabled_stores if store in (None, s.name)]
    if store is not None and not stores:
        err.print(f"[bold red]no enabled store named {store!r}[/]", highlight=False)
        raise typer.Exit(2)
    return stores


def _hooks(action: str, base: str | None, store: str | None) -> None:
    from .webhooks import subscriptions

    if base is not None and not base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        err.print("--url must be https:// (the stores post events over the internet)")
        raise typer.Exit(2)
    failed = False
    for s in _hook_stores(store):
        url = f"{base.rstrip('/')}/webhooks/{s.name}" if base else None
        if s.platform in NO_API:
            out.print(f"  {s.name}: {NO_API[s.platform]}", highlight=False)
            failed = failed or store is not None
            continue
        try:
            if action == "register":
                done = asyncio.run(subscriptions.register(s, url or ""))
            elif action == "remove":
                done = asyncio.run(subscriptions.remove(s, url or ""))
            else:
                done = asyncio.run(subscriptions.list_hooks(s, url))
        except ConfigError as exc:
            err.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except StoreError as exc:
            err.print(f"[red]✗[/] {s.name}: {exc}", highlight=False)
            failed = True
            continue
        verb = {"register": "subscribed ", "remove": "removed ", "list": ""}[action]
        for sub in done:
            out.print(f"  {s.name}: {verb}{sub.topic} → {sub.url} (id {sub.id})", highlight=False)
            if sub.secret:
                out.print(f"    its signing secret, shown once: store it where {s.name}'s webhook_secret_env "
                          f"or webhook_secret_file points: {sub.secret}", highlight=False)
        if not done:
            out.print(f"  {s.name}: {'no subscription' if action == 'list' else 'nothing to do'}")
    raise typer.Exit(1 if failed else 0)


@webhooks_app.command("register")
def webhooks_register(
    url: Annotated[str, typer.Option("--url", help="syncd's public webhook base URL (https://…).")],
    store: Annotated[str | None, typer.Option("--store", help="Only this store.")] = None,
) -> None:
    """Subscribe each store's stock events to URL/webhooks/STORE (Shopify, BigCommerce, Squarespace)."""
    _hooks("register", url, store)


@webhooks_app.command("list")
def webhooks_list(
    url: Annotated[str | None, typer.Option("--url", help="Only subscriptions to this base URL.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Only this store.")] = None,
) -> None:
    """List each store's webhook subscriptions."""
    _hooks("list", url, store)


@webhooks_app.command("remove")
def webhooks_remove(
    url: Annotated[str, typer.Option("--url", help="syncd's public webhook base URL.")],
    store: Annotated[str | None, typer.Option("--store", help="Only this store.")] = None,
) -> None:
    """Remove the subscriptions that post to URL/webhooks/STORE."""
    _hooks("remove", url, store)


