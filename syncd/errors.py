"""The exceptions syncd raises, named by what the caller should do.

    SyncdError
    ├── ConfigError                  fix the configuration (exit code 2)
    ├── StoreError(store=…)          something about one store; the others go on
    │   ├── TransientStoreError      retry later: 429, 5xx, timeouts, connection resets
    │   │   └── RateLimited          429; carries the wait the store asked for
    │   ├── PermanentStoreError      do not retry: 4xx other than 409/429
    │   │   ├── AuthError            401/403: the token is wrong or lacks a scope
    │   │   └── BadStoreData         malformed page, invalid or looping cursor: fail this pull
    │   └── UnknownWriteOutcome      the request may or may not have been applied
    ├── LedgerError                  the ledger could not do what was asked
    │   └── LockNotHeld              another cycle holds the ledger's cycle lock
    └── ListenError                  ``syncd run`` cannot listen on an address (exit code 3)

Every ``StoreError`` names its store and, where there was a request, the method and a
redacted URL (no query string, no credentials). Messages never contain secrets.
This module imports nothing from the rest of syncd.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadStoreData",
    "ConfigError",
    "LedgerError",
    "ListenError",
    "LockNotHeld",
    "PermanentStoreError",
    "RateLimited",
    "StoreError",
    "SyncdError",
    "TransientStoreError",
    "UnknownWriteOutcome",
]


class SyncdError(Exception):
    """Root of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """The configuration is invalid or a secret it names cannot be read."""


class StoreError(SyncdError):
    """A failure that concerns one store; the cycle goes on with the others."""

    def __init__(
        self,
        message: str,
        *,
        store: str,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        self.store = store
        self.method = method
        self.url = url
        self.status = status
        where = f" ({method} {url})" if method and url else ""
        code = f" [HTTP {status}]" if status is not None else ""
        super().__init__(f"store {store!r}: {message}{code}{where}")
        self.reason = message


class TransientStoreError(StoreError):
    """Worth retrying after a wait: 429, 5xx, timeouts and connection errors.

    ``maybe_applied`` is False when the store surely did not act on the request (a 429,
    a connection that was never made): only then may a keyless write be resent."""

    retry_after: float | None = None
    maybe_applied: bool = True


class RateLimited(TransientStoreError):
    """The store answered 429; ``retry_after`` is the wait it asked for (seconds), if any."""

    retry_after: float | None = None
    maybe_applied = False


class PermanentStoreError(StoreError):
    """Retrying the same request will not help (4xx other than 409 and 429)."""


class AuthError(PermanentStoreError):
    """The store refused the credentials (401/403). Fix the token or its scopes."""


class BadStoreData(PermanentStoreError):
    """The store sent data syncd cannot trust: this store's pull fails, nothing is recorded."""


class UnknownWriteOutcome(StoreError):
    """A write was sent and no answer came back: it may or may not have been applied."""


class LedgerError(SyncdError):
    """The ledger could not do what was asked."""


class LockNotHeld(LedgerError):
    """Another cycle holds the ledger's cycle lock."""


class ListenError(SyncdError):
    """An HTTP address cannot be listened on: in use, not resolvable, not this host's."""
