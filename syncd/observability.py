"""Logging: structlog events, JSON when stderr is not a terminal, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

__all__ = ["RedactSecrets", "configure_logging"]

SENSITIVE_KEYS = frozenset({"token", "authorization", "password", "secret", "api_key", "x-auth-token"})


class RedactSecrets:
    """Replaces every known secret value, and every value under a sensitive key, by
    ``[REDACTED]`` — wherever it hides in the event (messages, errors, nested dicts)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {k: self._clean(k, v) for k, v in event.items()}

    def _clean(self, key: str, value: Any) -> Any:
        if key.lower() in SENSITIVE_KEYS:
            return "[REDACTED]"
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "[REDACTED]")
            return value
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean("", v) for v in value]
        return value


def configure_logging(secrets: Iterable[str] = (), level: str = "info", json: bool | None = None) -> None:
    """structlog to stderr (stdout stays for command output): JSON off a terminal."""
    use_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            RedactSecrets(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
