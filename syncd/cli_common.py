"""What every ``syncd`` command shares: the consoles, the global options, loading the
settings (secrets redacted from every log line) and DESIGN's exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from .config import Settings, load_settings, resolve_token, resolve_webhook_secret, unknown_env
from .errors import ConfigError, LedgerError
from .observability import configure_logging

__all__ = ["State", "err", "exit_codes", "out", "settings"]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    config: Path | None = None
    log_level: str = "info"


def settings(tokens: bool = True) -> Settings:
    """The validated settings; ``tokens``: also read every store's token (commands that
    talk to stores need them, read-only ledger commands do not)."""
    try:
        loaded = load_settings(State.config)
        for problem in unknown_env():
            err.print(f"[yellow]warning:[/] environment variable {problem}; it is ignored", highlight=False)
        secrets = [resolve_token(s).get_secret_value() for s in loaded.enabled_stores] if tokens else []
        secrets += [w.get_secret_value() for s in loaded.enabled_stores
                    if tokens and (w := resolve_webhook_secret(s)) is not None]
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    configure_logging(secrets, level=State.log_level)
    return loaded


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Errors become DESIGN's exit codes with a clear message: configuration 2, ledger 1."""
    try:
        yield
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (LedgerError, SQLAlchemyError) as exc:
        err.print(f"[bold red]ledger error:[/] {type(exc).__name__}: {str(exc).splitlines()[0]}", highlight=False)
        raise typer.Exit(1) from None
