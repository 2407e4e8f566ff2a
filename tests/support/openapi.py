"""Validate httpx traffic against a platform's OpenAPI files (openapi-core)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).resolve().parents[1] / "data" / "bigcommerce"  # verbatim copies, see SOURCES.md


# Known defects of the published files, corrected here and nowhere else. BigCommerce
# declares the `variant_id:in` / `product_id:in` filters as `type: integer` while the same
# file describes them as "List of `variant_id` separated by comma" (and the API takes a
# list): they are checked as comma-separated integers instead.
CSV_INTEGERS = {"type": "string", "pattern": r"^[0-9]+(,[0-9]+)*$"}
PATCHES = {"inventory.v3.yml": {("VariantIdFilterParam", "schema"): CSV_INTEGERS,
                                ("ProductIdFilterParam", "schema"): CSV_INTEGERS}}


def load_spec(name: str) -> OpenAPI:
    data = yaml.safe_load((SPECS / name).read_text())
    for (param, field), value in PATCHES.get(name, {}).items():
        data["components"]["parameters"][param][field] = value
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(data, config=config)


class _Request:
    def __init__(self, request: httpx.Request) -> None:
        self._r = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict({}),
        )

    @property
    def host_url(self) -> str:
        return f"{self._r.url.scheme}://{self._r.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._r.url.path

    @property
    def method(self) -> str:
        return self._r.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._r.content or None

    @property
    def content_type(self) -> str:
        return str(self._r.headers.get("Content-Type") or "application/json").lower()


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self._r = response

    @property
    def status_code(self) -> int:
        return self._r.status_code

    @property
    def headers(self) -> Headers:
        return Headers(dict(self._r.headers))

    @property
    def content_type(self) -> str:
        return str(self._r.headers.get("Content-Type", "")).lower()

    @property
    def data(self) -> bytes | None:
        return self._r.content


class ValidatingTransport(httpx.AsyncBaseTransport):
    """Passes traffic to ``inner`` and records every spec violation in ``errors``; each
    request is checked against the first spec whose regex matches its path."""

    def __init__(self, inner: httpx.AsyncBaseTransport, specs: list[tuple[str, str]]) -> None:
        self.inner = inner
        self.specs = [(re.compile(pattern), load_spec(name)) for pattern, name in specs]
        self.errors: list[str] = []
        self.checked = 0

    def _spec(self, path: str) -> OpenAPI:
        return next(spec for pattern, spec in self.specs if pattern.search(path))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        spec = self._spec(request.url.path)
        where = f"{request.method} {request.url.path}"
        for label, errors in (("request", spec.iter_request_errors(_Request(request))),
                              ("response", spec.iter_response_errors(_Request(request), _Response(response)))):
            for err in errors:
                self.errors.append(f"{where} {label}: {err!r} {getattr(err, '__cause__', '')!r}")
        self.checked += 1
        return response
