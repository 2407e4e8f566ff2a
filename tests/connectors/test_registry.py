"""open_connectors: one client per store, and one TLS context for all of them."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import pytest

from syncd.config import Settings
from syncd.connectors import open_connectors
from syncd.connectors.registry import tls_context
from syncd.http import SystemClock


def settings() -> Settings:
    return Settings(stores=[
        {"name": "sq", "platform": "squarespace", "token_env": "T_SQ"},
        {"name": "bc", "platform": "bigcommerce", "token_env": "T_BC", "store_hash": "abc123"},
    ])


async def test_cycles_share_one_tls_context_that_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle costs ~50 ms of CPU; a cycle per minute with a client per
    store must not pay it every time."""
    monkeypatch.setenv("T_SQ", "sq-token")
    monkeypatch.setenv("T_BC", "bc-token")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kw: Any) -> ssl.SSLContext:
        built.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    tls_context.cache_clear()
    for _ in range(3):
        async with open_connectors(settings(), SystemClock()) as connectors:
            assert set(connectors) == {"sq", "bc"}
    assert built == [{"cafile": certifi.where()}]
    ctx = tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_the_tls_context_honours_ssl_cert_file_as_httpx_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    seen: list[Any] = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda **kw: seen.append(kw) or real(**kw))
    tls_context.cache_clear()
    try:
        tls_context()
    finally:
        tls_context.cache_clear()
    assert seen == [{"cafile": certifi.where()}]
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", "/etc/ssl/certs")
    seen.clear()
    tls_context()
    tls_context.cache_clear()
    assert seen == [{"capath": "/etc/ssl/certs"}]
