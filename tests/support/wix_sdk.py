"""A small reader of Wix's SDK packages vendored in ``tests/data/wix`` (see SOURCES.md):
interfaces from the ``.d.ts`` typings, each method's verb and path from the built JS, and a
validator of JSON bodies against an interface (fields, types, enums, limits)."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "wix"


@cache
def text(name: str) -> str:
    """A vendored file's text, after checking it is the one SOURCES.md names (sha256)."""
    raw = gzip.decompress((DATA / f"{name}.gz").read_bytes())
    sources = (DATA / "SOURCES.md").read_text()
    row = re.search(rf"^\| `{re.escape(name)}\.gz` \|[^\n]*\| `([0-9a-f]{{64}})` \|", sources, re.M)
    assert row, f"{name} is not listed in SOURCES.md"
    assert hashlib.sha256(raw).hexdigest() == row.group(1), f"{name} differs from the sha256 in SOURCES.md"
    return raw.decode()


@dataclass
class Field:
    name: str
    type: str
    optional: bool
    doc: str
    tags: dict[str, str]


@dataclass
class Interface:
    name: str
    bases: list[str]
    fields: dict[str, Field] = field(default_factory=dict)


@dataclass
class Typings:
    interfaces: dict[str, Interface]
    enums: dict[str, set[str]]

    def fields(self, name: str) -> dict[str, Field]:
        iface = self.interfaces[name]
        out: dict[str, Field] = {}
        for base in iface.bases:
            out.update(self.fields(base))
        out.update(iface.fields)
        return out


_DOC = re.compile(r"/\*\*(.*?)\*/\s*$", re.S)


@cache
def typings(name: str) -> Typings:
    """Interfaces (with their fields' doc comments and @tags) and enums of one .d.ts."""
    src = text(name)
    interfaces: dict[str, Interface] = {}
    for m in re.finditer(r"^interface (\w+)(?: extends ([\w, ]+))? \{\n(.*?)^\}", src, re.M | re.S):
        iface = Interface(m.group(1), [b.strip() for b in (m.group(2) or "").split(",") if b.strip()])
        body, doc = m.group(3), ""
        for chunk in re.split(r"(/\*\*.*?\*/)", body, flags=re.S):
            if chunk.startswith("/**"):
                doc = chunk
                continue
            for line in chunk.splitlines():
                fm = re.match(r"\s+(\w+)(\?)?: (.+);$", line)
                if fm:
                    tags = dict(re.findall(r"@(\w+)(?:[ \t]+([^\n*]*))?", doc))
                    iface.fields[fm.group(1)] = Field(fm.group(1), fm.group(3).strip(), bool(fm.group(2)), doc,
                                                      {k: v.strip() for k, v in tags.items()})
                    doc = ""
        interfaces[iface.name] = iface
    enums: dict[str, set[str]] = {}
    for m in re.finditer(r"^declare enum (\w+) \{\n(.*?)^\}", src, re.M | re.S):
        enums[m.group(1)] = set(re.findall(r'= "([^"]+)"', m.group(2)))
    for m in re.finditer(r"^type (\w+)WithLiterals = \w+((?: \| '[^']+')*);", src, re.M):
        enums[m.group(1) + "WithLiterals"] = set(re.findall(r"'([^']+)'", m.group(2)))
    return Typings(interfaces, enums)


@dataclass(frozen=True)
class Method:
    name: str
    fqn: str
    verbs: tuple[str, ...]  # the primary verb, then any fallback's
    public: str  # path on www.wixapis.com, with {params}
    request: str  # interface names in the package's meta.d.ts
    response: str


@cache
def methods(package: str) -> dict[str, Method]:
    """Each SDK method's verbs and www.wixapis.com path (from ``{package}.meta.js``) and its
    request / response interfaces (from ``{package}.meta.d.ts``)."""
    js, dts = text(f"{package}.meta.js"), text(f"{package}.meta.d.ts")
    hosts: dict[str, list[tuple[str, str]]] = {}
    for m in re.finditer(r"function (resolve\w+)\(opts\) \{\n(.*?)\n\}", js, re.S):
        www = re.search(r'"www\.wixapis\.com": \[(.*?)\n    \]', m.group(2), re.S)
        hosts[m.group(1)] = re.findall(r'srcPath: "([^"]+)",\s*destPath: "([^"]*)"', www.group(1)) if www else []
    types = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r"declare function (\w+)\(\): __PublicMethodMetaInfo<'\w+', \{[^}]*\}, \w+\$1, (\w+), \w+\$1, (\w+)>;", dts)}
    out: dict[str, Method] = {}
    for m in re.finditer(r"\nfunction (\w+)\(payload\) \{\n(.*?)\n  return __\1;\n\}", js, re.S):
        body = m.group(2)
        verb = re.search(r'method: "(\w+)",\s*methodFqn: "([^"]+)"', body)
        url = re.search(r'url: (\w+)\(\{\s*protoPath: "([^"]+)"', body)
        if not verb or not url or m.group(1) not in types:
            continue
        fallbacks = tuple(re.findall(r'fallback: \[\s*\{\s*method: "(\w+)"', body))
        proto = url.group(2)
        public = next((src + proto[len(dst):] for src, dst in hosts.get(url.group(1), [])
                       if dst and (proto == dst or proto.startswith(dst + "/"))), "")
        out[m.group(1)] = Method(m.group(1), verb.group(2), (verb.group(1), *fallbacks), public, *types[m.group(1)])
    return out


def host_prefixes(package: str) -> list[tuple[str, str]]:
    """Every (public prefix, proto prefix) pair the package maps on www.wixapis.com."""
    js = text(f"{package}.meta.js")
    pairs: list[tuple[str, str]] = []
    for www in re.finditer(r'"www\.wixapis\.com": \[(.*?)\n    \]', js, re.S):
        pairs += re.findall(r'srcPath: "([^"]+)",\s*destPath: "([^"]*)"', www.group(1))
    return pairs


def find(package: str, verb: str, path: str) -> Method | None:
    for method in methods(package).values():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(method.public))
        if method.public and verb in method.verbs and re.fullmatch(pattern, path):
            return method
    return None


def validate(t: Typings, type_name: str, value: Any, path: str = "$", *, request: bool = False) -> list[str]:
    """Every way ``value`` departs from the interface: unknown fields, wrong types, enum
    values, limits; in a request also missing required fields and fields the typings say
    every call must set."""
    errors: list[str] = []
    if value is None:
        return errors
    if type_name not in t.interfaces:
        return _scalar(t, type_name, value, path, {})
    if not isinstance(value, dict):
        return [f"{path}: {type_name} must be an object, not {type(value).__name__}"]
    fields = t.fields(type_name)
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}.{key}: no such field in {type_name}")
            continue
        errors += _field(t, fields[key], item, f"{path}.{key}", request)
    if request:
        for f in fields.values():
            must = not f.optional or "must explicitly set this field" in f.doc
            if must and f.name not in value:
                errors.append(f"{path}.{f.name}: required by {type_name} but not sent")
    return errors


def _field(t: Typings, f: Field, value: Any, path: str, request: bool) -> list[str]:
    types = [p.strip() for p in f.type.split("|") if p.strip() != "null"]
    if value is None:
        return [] if "null" in f.type or f.optional else [f"{path}: null where {f.type} is expected"]
    kind = types[0] if len(types) == 1 else f.type
    if kind.endswith("[]"):
        if not isinstance(value, list):
            return [f"{path}: {f.type} must be an array"]
        errors = _limits(f.tags, len(value), path, ("minSize", "maxSize"))
        for i, item in enumerate(value):
            errors += validate(t, kind[:-2], item, f"{path}[{i}]", request=request) \
                if kind[:-2] in t.interfaces else _scalar(t, kind[:-2], item, f"{path}[{i}]", f.tags)
        return errors
    if kind in t.interfaces:
        return validate(t, kind, value, path, request=request)
    return _scalar(t, kind, value, path, f.tags)


def _scalar(t: Typings, kind: str, value: Any, path: str, tags: dict[str, str]) -> list[str]:
    if kind == "string" or kind == "Date":
        if not isinstance(value, str):
            return [f"{path}: {kind} must be a string, not {value!r}"]
        return _limits(tags, len(value), path, ("minLength", "maxLength"))
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: number expected, not {value!r}"]
        return _limits(tags, value, path, ("min", "max"))
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: boolean expected, not {value!r}"]
    if kind in t.enums:
        return [] if value in t.enums[kind] else [f"{path}: {value!r} is not one of {sorted(t.enums[kind])}"]
    if kind.startswith("Record<"):
        return [] if isinstance(value, dict) else [f"{path}: object expected"]
    return [f"{path}: cannot check type {kind!r}"]


def _limits(tags: dict[str, str], n: float, path: str, names: tuple[str, str]) -> list[str]:
    low, high = (float(tags[k]) if tags.get(k) else None for k in names)
    if low is not None and n < low:
        return [f"{path}: {n} is below @{names[0]} {tags[names[0]]}"]
    if high is not None and n > high:
        return [f"{path}: {n} is above @{names[1]} {tags[names[1]]}"]
    return []


def reachable(t: Typings, name: str) -> set[str]:
    """Every field name reachable from an interface (for 'does syncd read a field that exists')."""
    seen: set[str] = set()
    names: set[str] = set()
    todo = [name]
    while todo:
        iface = todo.pop()
        if iface in seen or iface not in t.interfaces:
            continue
        seen.add(iface)
        for f in t.fields(iface).values():
            names.add(f.name)
            todo += re.findall(r"\w+", f.type)
    return names
