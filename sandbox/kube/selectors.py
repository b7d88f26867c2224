"""Field and label selectors, as the API server parses them for lists and watches.

Supported: ``a=b``, ``a==b``, ``a!=b`` terms joined by commas, for both kinds; label selectors
also take ``key`` (exists) and ``!key`` (absent). Set-based label terms (``key in (a,b)``) are
not supported and answer 400. A field path the resource does not index answers 400, as the
real API server does (``field label not supported``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.kube.objects import ApiError, Kind, Obj

Matcher = Callable[[Obj], bool]


def _terms(selector: str) -> list[tuple[str, str, str]]:
    terms = []
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                key, value = term.split(op, 1)
                terms.append((key.strip(), "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            terms.append((term, "exists", ""))
    return terms


def _field_value(document: Obj, path: str) -> str:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_matcher(kind: Kind, selector: str | None) -> Matcher:
    terms = _terms(selector or "")
    for path, op, _ in terms:
        if op == "exists":
            raise ApiError(400, "BadRequest", f'invalid field selector: "{path}"')
        if kind.fields is not None and path not in kind.fields:
            raise ApiError(
                400,
                "BadRequest",
                f'field label not supported: "{path}"',
            )

    def match(document: Obj) -> bool:
        for path, op, value in terms:
            if (_field_value(document, path) == value) != (op == "="):
                return False
        return True

    return match


def label_matcher(selector: str | None) -> Matcher:
    terms = []
    for key, op, value in _terms(selector or ""):
        if " in " in key or " notin " in key or "(" in key:
            raise ApiError(400, "BadRequest", f'unsupported label selector: "{key}"')
        if op == "exists" and key.startswith("!"):
            terms.append((key[1:].strip(), "absent", ""))
        else:
            terms.append((key, op, value))

    def match(document: Obj) -> bool:
        labels = (document.get("metadata") or {}).get("labels") or {}
        for key, op, value in terms:
            if op == "exists" and key not in labels:
                return False
            if op == "absent" and key in labels:
                return False
            if op == "=" and labels.get(key) != value:
                return False
            if op == "!=" and labels.get(key) == value:
                return False
        return True

    return match


def matcher(kind: Kind, namespace: str | None, fields: str | None, labels: str | None) -> Matcher:
    """One predicate for a list or watch: in ``namespace`` (if any) and both selectors."""
    by_field = field_matcher(kind, fields)
    by_label = label_matcher(labels)

    def match(document: Obj) -> bool:
        if namespace is not None and document["metadata"].get("namespace") != namespace:
            return False
        return by_field(document) and by_label(document)

    return match
