"""Logging: every line on stderr is one structlog event — syncd's own and every library's
(stdlib ``logging``: uvicorn, APScheduler, asyncio, httpx …) — JSON when stderr is not a
terminal, exceptions inside the JSON, secrets redacted. Under systemd each line starts
with its syslog priority (``<3>`` …, sd-daemon(3)) so ``journalctl -p err`` works."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import Any

import structlog

__all__ = ["RedactSecrets", "configure_logging", "journal_priority", "stderr_is_journal"]

SENSITIVE_KEYS = frozenset({"token", "authorization", "password", "secret", "api_key", "x-auth-token"})
# The stdlib logger structlog's events go through; libraries log under their own names.
EVENTS_LOGGER = "syncd"
# sd-daemon(3): <3> err, <4> warning, <6> info, <7> debug (<2> crit).
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


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


def journal_priority(levelno: int) -> int:
    """The syslog priority journald gives a line prefixed ``<N>``."""
    return next((prio for floor, prio in _PRIORITIES if levelno >= floor), 7)


def stderr_is_journal(env: MutableMapping[str, str] | None = None) -> bool:
    """True when stderr is systemd's journal stream: ``$JOURNAL_STREAM`` names its
    device and inode (systemd.exec(5)); a redirected stderr is not."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class _Formatter(structlog.stdlib.ProcessorFormatter):
    def __init__(self, journal: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return f"<{journal_priority(record.levelno)}>{line}" if self.journal else line


class _StderrHandler(logging.Handler):
    """Writes each formatted record as one line to the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_logging(secrets: Iterable[str] = (), level: str = "info", json: bool | None = None,
                      journal: bool | None = None) -> None:
    """Everything to stderr (stdout stays for command output): JSON off a terminal, one
    object per line. syncd's events at ``level`` and above; other libraries' records at
    WARNING and above (everything at ``debug``). ``journal``: prefix each line with its
    syslog priority (default: when stderr is the journal)."""
    use_json = not sys.stderr.isatty() if json is None else json
    use_journal = stderr_is_journal() if journal is None else journal
    levelno = logging.getLevelName(level.upper())
    if not isinstance(levelno, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    formatter = _Formatter(
        use_journal,
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as one string field
            RedactSecrets(secrets),
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(levelno if levelno <= logging.DEBUG else max(levelno, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # a uvicorn started with its own
        library = logging.getLogger(name)  # log_config left plain-text handlers and propagate off
        library.handlers.clear()
        library.propagate = True
    events = logging.getLogger(EVENTS_LOGGER)
    events.setLevel(levelno)
    events.propagate = True
    logging.captureWarnings(True)
    if use_json:
        sys.excepthook = _log_uncaught
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=lambda *_args: events,
        cache_logger_on_first_use=False,
    )


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """An exception nobody caught ends the process as one JSON line, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger(EVENTS_LOGGER).critical("uncaught_exception", exc_info=(kind, value, tb))
