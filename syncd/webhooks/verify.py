"""Is this request really from the store? One check per platform, over the raw body,
before anything is parsed. Constant-time comparisons; secrets never leave this module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import jwt

__all__ = ["Invalid", "verify"]


class Invalid(Exception):
    """The request is not authentic (the reason names no secret and no signature)."""


def _hmac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.strip().encode(), expected.encode())


def verify(platform: str, body: bytes, headers: Mapping[str, str], secret: str, *,
           header: str = "X-Webhook-Secret") -> Any:
    """Raise ``Invalid`` unless the request is authentic. Returns what the check decoded
    (Wix: the verified JWT's claims), else None."""
    if platform == "shopify":  # base64 HMAC-SHA256 of the raw body, keyed with the app's client secret
        if not _same(headers.get("x-shopify-hmac-sha256"), base64.b64encode(_hmac(secret.encode(), body)).decode()):
            raise Invalid("X-Shopify-Hmac-SHA256 does not match the body")
        return None
    if platform == "squarespace":  # hex HMAC-SHA256 of the raw body, keyed with the hex-decoded secret
        try:
            key = bytes.fromhex(secret)
        except ValueError:
            raise Invalid("the configured Squarespace webhook secret is not hex") from None
        given = (headers.get("squarespace-signature") or "").lower()
        if not _same(given, _hmac(key, body).hex()):
            raise Invalid("Squarespace-Signature does not match the body")
        return None
    if platform == "bigcommerce":  # the custom header set on the hook when it was created
        if not _same(headers.get(header.lower()), secret):
            raise Invalid(f"header {header} is missing or does not match")
        return None
    if platform == "wix":  # the whole body is a JWT signed by Wix (RS256), checked with the app's public key
        try:
            return jwt.decode(body.decode("ascii").strip(), secret, algorithms=["RS256"],
                              options={"require": ["data"], "verify_aud": False})
        except (jwt.PyJWTError, UnicodeDecodeError, ValueError) as exc:
            raise Invalid(f"the JWT does not verify ({type(exc).__name__})") from None
    raise Invalid(f"{platform} sends no events syncd can verify")


def decoded_json(value: Any) -> Any:
    """Wix nests JSON as strings: decode one level if it is a string."""
    return json.loads(value) if isinstance(value, str) else value
