"""A reader for SaaSignal's ``llms-full.txt`` (tests/data/saasignal): its routes, their
path, query and body parameters and the fields of their 200 answer.

The text's own conventions (its "Conventions" section): ``### METHOD /path - Title | AUTH``,
then ``Path: :a :b``, ``Query: ?name ?other:integer`` (``*`` after a name: required),
``Body: `{field*, other:integer, nested:{…}, list:[{…}]}` `` and ``200: `{…}` ``; fields are
strings unless ``:type`` says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LLMS", "Field", "Route", "auth_header", "parse_fields", "routes"]

LLMS = Path(__file__).resolve().parents[1] / "data" / "saasignal" / "llms-full.txt"
HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) - .* \| (\w+(?:\|\w+)?)\s*$")


@dataclass(frozen=True)
class Field:
    """One field: required or not, its type (``string`` unless noted; ``object`` for
    ``{…}``, ``array`` for ``[{…}]`` or ``type[]``) and, for objects and lists of objects,
    its own fields."""

    required: bool
    type: str
    fields: dict[str, Field] | None = None


@dataclass
class Route:
    method: str
    path: str
    auth: str
    query: dict[str, Field] = field(default_factory=dict)
    body: dict[str, Field] | None = None
    ok: dict[str, Field] | None = None  # the 200 answer's fields (an object answer)

    def matches(self, path: str) -> bool:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path)) + "$"
        return re.match(pattern, path) is not None


def parse_fields(text: str) -> dict[str, Field]:
    """``{a*, b:integer, c*:[{d*}], e:{}}`` → fields by name."""
    fields, rest = _object(text.strip(), 0)
    if text.strip()[rest:].strip():
        raise ValueError(f"trailing text after the field list: {text[rest:]!r}")
    return fields


def _object(text: str, i: int) -> tuple[dict[str, Field], int]:
    if text[i] != "{":
        raise ValueError(f"expected '{{' at {i} in {text!r}")
    i += 1
    out: dict[str, Field] = {}
    while True:
        while i < len(text) and text[i] in " ,":
            i += 1
        if text[i] == "}":
            return out, i + 1
        m = re.compile(r"([A-Za-z_][\w.]*)(\*?)").match(text, i)
        if m is None:
            raise ValueError(f"expected a field name at {i} in {text!r}")
        name, required, i = m.group(1), m.group(2) == "*", m.end()
        kind, nested = "string", None
        if text[i] == ":":
            i += 1
            if text[i] == "{":
                nested, i = _object(text, i)
                kind = "object"
            elif text[i] == "[":
                nested, i = _object(text, i + 1)
                if text[i] != "]":
                    raise ValueError(f"expected ']' at {i} in {text!r}")
                i, kind = i + 1, "array"
            else:
                m = re.compile(r"[\w\[\].]+").match(text, i)
                if m is None:
                    raise ValueError(f"expected a type at {i} in {text!r}")
                kind, i = m.group(0), m.end()
        out[name] = Field(required, kind, nested)


def routes(text: str | None = None) -> list[Route]:
    lines = (text if text is not None else LLMS.read_text()).splitlines()
    out: list[Route] = []
    for line in lines:
        heading = HEADING.match(line)
        if heading:
            out.append(Route(heading.group(1), heading.group(2), heading.group(3)))
            continue
        if not out or not line.strip():
            continue
        route = out[-1]
        if line.startswith("Query: "):
            for name in re.findall(r"\?(\w+\*?(?::\w+)?)", line):
                bare, _, kind = name.partition(":")
                route.query[bare.rstrip("*")] = Field(bare.endswith("*"), kind or "string")
        elif line.startswith("Body: `"):
            route.body = parse_fields(line.removeprefix("Body: `").rstrip("`"))
        elif line.startswith("200: `{"):
            route.ok = parse_fields(line.removeprefix("200: `").rstrip("`"))
    return out


def auth_header(text: str | None = None) -> str:
    """The header of the text's ``KEY`` auth method (``- KEY: `X-API-Key: …` ``)."""
    m = re.search(r"^- KEY: `([\w-]+):", text if text is not None else LLMS.read_text(), re.M)
    if m is None:
        raise ValueError("no KEY auth method in the text")
    return m.group(1)
