"""Store events as the platforms send them, signed: for the simulators and the tests.

``signed(platform, payload, secret)`` returns (body, headers) the way each platform
delivers one event (Wix: ``secret`` is the PEM private key the app's public key matches).
``EventSender`` posts them to a URL with knobs for what real delivery does: duplicates,
delays, reordering, drops and bad signatures. Loopback only; bounded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

__all__ = ["EventSender", "rsa_keys", "signed"]


def rsa_keys() -> tuple[str, str]:
    """A fresh (private, public) RSA key pair in PEM, as a Wix app has."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def signed(platform: str, payload: Mapping[str, Any], secret: str, *, topic: str = "",
           event_id: str | None = None, header: str = "X-Webhook-Secret") -> tuple[bytes, dict[str, str]]:
    """One event's body and headers, signed as the platform signs them."""
    event_id = event_id or uuid.uuid4().hex
    if platform == "wix":
        envelope = {"eventType": topic, "instanceId": "sim-instance", "data": json.dumps({"id": event_id, **payload})}
        token = jwt.encode({"data": json.dumps(envelope)}, secret, algorithm="RS256")
        return token.encode(), {"content-type": "text/plain"}
    body = json.dumps(dict(payload)).encode()
    headers = {"content-type": "application/json"}
    if platform == "shopify":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers.update({"X-Shopify-Hmac-SHA256": base64.b64encode(digest).decode(), "X-Shopify-Topic": topic,
                        "X-Shopify-Event-Id": event_id})
    elif platform == "squarespace":
        headers["Squarespace-Signature"] = hmac.new(bytes.fromhex(secret), body, hashlib.sha256).hexdigest()
    elif platform == "bigcommerce":
        headers[header] = secret
    else:
        raise ValueError(f"{platform} sends no events")
    return body, headers


def _forged(platform: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The same event with a signature that does not match (Wix: a tampered JWT)."""
    if platform == "wix":
        return body[:-3] + (b"AAA" if not body.endswith(b"AAA") else b"BBB"), headers
    forged = dict(headers)
    for name in ("X-Shopify-Hmac-SHA256", "Squarespace-Signature"):
        if name in forged:
            forged[name] = ("0" if not forged[name].startswith("0") else "1") + forged[name][1:]
    for name in list(forged):
        if name not in ("content-type", "X-Shopify-Hmac-SHA256", "Squarespace-Signature", "X-Shopify-Topic",
                        "X-Shopify-Event-Id"):
            forged[name] = "not-the-secret"  # BigCommerce: the hook's header
    return body, forged


@dataclass
class EventSender:
    """Posts signed events to ``url``. Knobs: ``duplicate`` (probability of a second
    delivery), ``drop`` (never delivered), ``delay`` (seconds, max; each event waits a
    random share of it, so events also arrive out of order), ``bad_signature``
    (probability the signature is corrupted). Bounded by ``max_events``."""

    url: str
    platform: str
    secret: str
    header: str = "X-Webhook-Secret"
    duplicate: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    bad_signature: float = 0.0
    max_events: int = 100_000
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    sent: int = 0
    answers: list[int] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def emit(self, payload: Mapping[str, Any], topic: str = "") -> None:
        """Queue one event (from inside a running event loop)."""
        if self.sent >= self.max_events or self.rng.random() < self.drop:
            return
        body, headers = signed(self.platform, payload, self.secret, topic=topic, header=self.header)
        copies = 2 if self.rng.random() < self.duplicate else 1
        posts = [(body, headers)] * copies
        if self.rng.random() < self.bad_signature:  # a forgery beside the real delivery
            posts.append(_forged(self.platform, body, headers))
        for post_body, post_headers in posts:
            task = asyncio.get_running_loop().create_task(
                self._post(post_body, post_headers, self.rng.random() * self.delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.sent += 1

    async def _post(self, body: bytes, headers: dict[str, str], wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(self.url, content=body, headers=headers)
            self.answers.append(response.status_code)
        except httpx.HTTPError:
            self.answers.append(0)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
