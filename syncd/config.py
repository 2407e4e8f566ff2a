"""Configuration: a TOML file, overridden by ``SYNCD_*`` environment variables
(``SYNCD_LEDGER__URL``, ``SYNCD_SYNC__INITIAL``, …), parsed once into frozen models.

Only the CLI and the daemon load it; everything else receives the validated objects.
Tokens are never in the file: each store names an environment variable or a file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .core import InitialPolicy
from .errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "DaemonSettings",
    "FleetSettings",
    "LedgerSettings",
    "Platform",
    "Settings",
    "StoreSettings",
    "SyncSettings",
    "load_settings",
    "resolve_token",
    "resolve_webhook_secret",
    "split_listen",
    "unknown_env",
]

DEFAULT_CONFIG = Path("config/syncd.toml")
Platform = Literal["squarespace", "bigcommerce", "wix", "saasignal", "shopify"]
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class LedgerSettings(BaseModel):
    model_config = _FROZEN

    url: str = "sqlite:///syncd.db"
    lock_timeout_seconds: float = Field(default=60.0, ge=0)


class SyncSettings(BaseModel):
    model_config = _FROZEN

    interval_seconds: int = Field(default=300, ge=1)
    cron: str | None = None  # a crontab line ("*/5 * * * *"); replaces interval_seconds
    max_change_per_cycle: int | None = Field(default=10_000, ge=1)  # safety rail per SKU; None: off
    circuit_failures: int = Field(default=5, ge=1)  # failed cycles in a row before a store is skipped
    circuit_cooldown_seconds: int = Field(default=900, ge=0)  # the longest a failing store is skipped
    circuit_probe_seconds: int = Field(default=30, ge=0)  # the first skip; each failed retry doubles it
    jitter_seconds: int = Field(default=0, ge=0)
    initial: InitialPolicy = InitialPolicy.MIN
    master: str | None = None
    event_debounce_ms: int = Field(default=200, ge=0, le=1000)  # events gathered into one targeted cycle


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8787`` for IPv6) → (host, port); ValueError saying why not."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT (IPv6: [::1]:8787)")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} in {value!r} is not from 1 to 65535")
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ValueError(f"{value!r}: an IPv6 host is written in brackets, e.g. [::1]:8787")
        host = host[1:-1]
    elif ":" in host or any(c.isspace() for c in host):
        raise ValueError(f"{value!r}: write an IPv6 host in brackets, e.g. [::1]:8787")
    return host, int(port)


class DaemonSettings(BaseModel):
    """``syncd run``: the HTTP endpoints and the shutdown budget. ``webhook_listen``: a
    separate address for ``POST /webhooks/{store}`` only (so it can face the internet
    while ``/metrics`` and ``/status`` stay private); default: the ``listen`` address."""

    model_config = _FROZEN

    listen: str = "127.0.0.1:8787"
    webhook_listen: str | None = None
    readiness_multiple: float = Field(default=3.0, gt=0)  # /readyz fails past this many intervals
    shutdown_timeout_seconds: float = Field(default=30.0, ge=0)
    status_token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # bearer token for /status
    event_queue: int = Field(default=10_000, ge=1)  # events waiting at most; past it, 503 with Retry-After

    @field_validator("listen", "webhook_listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class FleetSettings(BaseModel):
    """``syncd worker``: many pools on one PostgreSQL ledger, their cycles on Procrastinate."""

    model_config = _FROZEN

    concurrency: int = Field(default=1, ge=1, le=64)  # pool cycles at once per worker process
    schedule_seconds: int = Field(default=5, ge=1, le=59)  # how often due pools are queued
    stalled_seconds: float = Field(default=30.0, gt=0)  # a worker silent this long has its jobs taken over
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=60.0, ge=0)  # SIGTERM: how long the cycles in flight get
    lagging_pools: int = Field(default=10, ge=0, le=100)  # /metrics names this many most-lagging pools


class StoreSettings(BaseModel):
    """One connected store. Exactly one of ``token_env`` / ``token_file``."""

    model_config = _FROZEN

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    platform: Platform
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    token_file: Path | None = None
    buffer: int = Field(default=0, ge=0)
    buffer_percent: int = Field(default=0, ge=0, le=100)  # % of available held back (shown rounds down)
    max_listed: int | None = Field(default=None, ge=0)  # never list more than this
    aliases: dict[str, str] = Field(default_factory=dict)  # this store's SKU → the canonical SKU
    requests_per_minute: float | None = Field(default=None, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    enabled: bool = True
    # BigCommerce
    store_hash: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,64}$")
    apply_lag_seconds: float | None = Field(default=None, ge=0)
    # BigCommerce and Shopify: a numeric location id; Wix V3: a location GUID. Default: the store's default.
    location_id: int | str | None = None
    # BigCommerce, SaaSignal, Wix V1: "absolute" (after a fresh read) or "relative"; default per platform
    write_mode: Literal["absolute", "relative"] | None = None
    # Shopify
    shop: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
    api_version: str = Field(default="2026-10", pattern=r"^(\d{4}-(01|04|07|10)|unstable)$")
    bulk_threshold: int | None = Field(default=10_000, ge=0)  # pull larger catalogues by a bulk operation
    # Store events (webhooks): the secret that authenticates them. Shopify: the app's client
    # secret; Squarespace: the subscription's secret (hex); BigCommerce: the value the hook
    # sends in its header ``webhook_header``; Wix: the app's public key (PEM file). None: polled only.
    webhook_secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    webhook_secret_file: Path | None = None
    webhook_header: str = Field(default="X-Webhook-Secret", pattern=r"^[A-Za-z0-9-]{1,100}$")
    webhook_public_key_file: Path | None = None
    # Wix
    site_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    catalog: Literal["v1", "v3", "auto"] = "auto"

    @model_validator(mode="after")
    def _one_token_source(self) -> StoreSettings:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("set exactly one of token_env or token_file")
        if self.platform == "bigcommerce" and self.store_hash is None:
            raise ValueError("a bigcommerce store needs store_hash")
        if self.platform != "bigcommerce" and (self.store_hash or self.apply_lag_seconds is not None):
            raise ValueError("store_hash and apply_lag_seconds are for bigcommerce stores only")
        if self.write_mode is not None and self.platform not in ("bigcommerce", "saasignal", "wix"):
            raise ValueError(f"write_mode is fixed on {self.platform}")
        self._check_location()
        self._check_webhooks()
        self._check_shopify()
        self._check_wix()
        return self

    def _check_location(self) -> None:
        loc = self.location_id
        if loc is None:
            return
        if self.platform in ("bigcommerce", "shopify"):
            if not isinstance(loc, int) or loc < 1:
                raise ValueError(f"location_id on {self.platform} is a positive whole number")
        elif self.platform == "wix":
            if not isinstance(loc, str) or not loc.strip():
                raise ValueError("location_id on wix is the location's GUID (a string)")
        else:
            raise ValueError(f"location_id is not used on {self.platform}")

    def _check_webhooks(self) -> None:
        secrets = [f for f in ("webhook_secret_env", "webhook_secret_file", "webhook_public_key_file")
                   if getattr(self, f) is not None]
        if len(secrets) > 1:
            raise ValueError(f"set at most one of {', '.join(secrets)}")
        if not secrets:
            if "webhook_header" in self.model_fields_set:
                raise ValueError("webhook_header goes with webhook_secret_env or webhook_secret_file")
            return
        if self.platform == "saasignal":
            raise ValueError("SaaSignal publishes no webhook topics or signature: its stores are polled only")
        if (self.platform == "wix") != (self.webhook_public_key_file is not None):
            raise ValueError("Wix events are verified with webhook_public_key_file (the app's public key); "
                             "the other platforms take webhook_secret_env or webhook_secret_file")
        if "webhook_header" in self.model_fields_set and self.platform != "bigcommerce":
            raise ValueError("webhook_header is for bigcommerce stores only")

    @property
    def receives_events(self) -> bool:
        return any(getattr(self, f) is not None
                   for f in ("webhook_secret_env", "webhook_secret_file", "webhook_public_key_file"))

    def _check_shopify(self) -> None:
        if self.platform != "shopify":
            if self.shop is not None or {"api_version", "bulk_threshold"} & self.model_fields_set:
                raise ValueError("shop, api_version and bulk_threshold are for shopify stores only")
            return
        if self.shop is None and self.base_url is None:
            raise ValueError("a shopify store needs shop (its myshopify.com domain) or base_url")
        if self.api_version != "unstable" and self.api_version < "2026-04":
            raise ValueError(f"api_version {self.api_version} is too old: syncd writes with changeFromQuantity "
                             "and @idempotent, which need 2026-04 or later")

    def _check_wix(self) -> None:
        if self.platform != "wix":
            if self.site_id is not None or "catalog" in self.model_fields_set:
                raise ValueError("site_id and catalog are for wix stores only")
            return
        if self.site_id is None:
            raise ValueError("a wix store needs site_id (sent as wix-site-id)")
        if self.write_mode == "relative" and self.catalog != "v1":
            raise ValueError('write_mode = "relative" is for Wix Catalog V1 only: set catalog = "v1" '
                             "(Catalog V3 writes are absolute, guarded by each item's revision)")


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    ledger: LedgerSettings = LedgerSettings()
    sync: SyncSettings = SyncSettings()
    daemon: DaemonSettings = DaemonSettings()
    fleet: FleetSettings = FleetSettings()
    stores: list[StoreSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pool_rules(self) -> Settings:
        names = [s.name for s in self.stores]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"store names must be unique; repeated: {', '.join(dupes)}")
        if not any(s.enabled for s in self.stores) and "fleet" not in self.model_fields_set:
            raise ValueError("at least one enabled [[stores]] entry is required (a fleet's main config, with "
                             "[fleet], may have none: its pools have them)")
        master = self.sync.master
        if master is not None and master not in names:
            raise ValueError(f"sync.master {master!r} is not the name of a configured store")
        if self.sync.initial is InitialPolicy.MASTER and master is None:
            raise ValueError("sync.initial = 'master' needs sync.master")
        if self.sync.cron is not None and len(self.sync.cron.split()) != 5:
            raise ValueError("sync.cron must be a five-field crontab line, e.g. '*/5 * * * *'")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values come in as init kwargs; SYNCD_* variables override them.
        return env_settings, init_settings

    @property
    def enabled_stores(self) -> list[StoreSettings]:
        return [s for s in self.stores if s.enabled]


RESERVED_ENV = ("SYNCD_CONFIG", "SYNCD_TEST_", "SYNCD_REQUIRE_", "SYNCD_CONTAINER_")  # not settings


def unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """``SYNCD_*`` variables that set nothing, each with the name it was probably meant to
    be (a misspelt section or field would otherwise be ignored without a word)."""
    environ = os.environ if environ is None else environ
    sections: dict[str, type[BaseModel]] = {"ledger": LedgerSettings, "sync": SyncSettings,
                                            "daemon": DaemonSettings, "fleet": FleetSettings}
    known = {"SYNCD_STORES", *(f"SYNCD_{name.upper()}" for name in sections),
             *(f"SYNCD_{name.upper()}__{field.upper()}" for name, model in sections.items()
               for field in model.model_fields)}
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("SYNCD_") or upper in known or upper.startswith(RESERVED_ENV):
            continue
        guess = difflib.get_close_matches(upper, known, n=1, cutoff=0.7)
        out.append(f"{name} sets nothing" + (f" (did you mean {guess[0]}?)" if guess else
                                             " (settings are SYNCD_SECTION__FIELD, e.g. SYNCD_LEDGER__URL)"))
    return out


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the configuration; every problem is a ``ConfigError`` that
    names the field. ``path`` defaults to ``$SYNCD_CONFIG`` or ``config/syncd.toml``."""
    path = path or Path(os.environ.get("SYNCD_CONFIG") or DEFAULT_CONFIG)
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (give --config or SYNCD_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{_explain(exc, data)}") from None


def _explain(exc: ValidationError, data: dict[str, Any]) -> str:
    lines = []
    stores: list[Any] = data["stores"] if isinstance(data.get("stores"), list) else []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "stores" and isinstance(loc[1], int) and loc[1] < len(stores):
            name = stores[loc[1]].get("name") if isinstance(stores[loc[1]], dict) else None
            rest = ".".join(str(p) for p in loc[2:])
            where = f"stores[{loc[1]}]" + (f" ({name!r})" if name else "") + (f".{rest}" if rest else "")
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)


def resolve_token(store: StoreSettings) -> SecretStr:
    """The store's token from its environment variable or file. The value never appears
    in an error; only the variable's or file's name does."""
    return _secret(store.name, "token", store.token_env, store.token_file)


def resolve_webhook_secret(store: StoreSettings) -> SecretStr | None:
    """What authenticates the store's events: its webhook secret, or (Wix) the app's
    public key, read like tokens are. None: the store is polled only."""
    if store.webhook_public_key_file is not None:
        return _secret(store.name, "webhook_public_key", None, store.webhook_public_key_file)
    if store.webhook_secret_env is None and store.webhook_secret_file is None:
        return None
    return _secret(store.name, "webhook_secret", store.webhook_secret_env, store.webhook_secret_file)


def _secret(name: str, what: str, env: str | None, file: Path | None) -> SecretStr:
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise ConfigError(f"store {name!r}: environment variable {env} is not set")
        return SecretStr(value)
    assert file is not None
    path = file
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        path = Path(creds) / path
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"store {name!r}: {what}_file {path} cannot be read ({exc.strerror})") from None
    if not value:
        raise ConfigError(f"store {name!r}: {what}_file {path} is empty")
    return SecretStr(value)
