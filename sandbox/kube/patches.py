"""The three PATCH flavours the ``kubernetes`` client sends.

- ``application/merge-patch+json``: RFC 7386 (``null`` deletes a key, lists are replaced).
- ``application/strategic-merge-patch+json`` (what ``patch_node`` sends for a dict body): a
  merge patch where lists with a known merge key (``conditions`` by ``type``, ``containers``
  by ``name``...) merge element by element, ``{"$patch": "delete", key: ...}`` removes an
  element, and other ``$`` directives are dropped. Lists without a known key are replaced.
- ``application/json-patch+json`` (a list body): RFC 6902 ``add``, ``remove``, ``replace``,
  ``test``; ``move`` and ``copy`` answer 422.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.kube.objects import ApiError, Obj

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# patchMergeKey of the list fields a node agent might patch (from the API's Go types).
MERGE_KEYS = {
    "conditions": "type",
    "addresses": "type",
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "podIPs": "ip",
    "ownerReferences": "uid",
    "finalizers": "",  # merged as a set of strings
}


def invalid(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = copy.deepcopy(current)
    if not key:  # a set of scalars
        merged.extend(item for item in patch if item not in merged)
        return merged
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise invalid(f"list element without merge key {key!r}: {item!r}")
        index = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(strategic_merge({}, item))
        else:
            merged[index] = strategic_merge(merged[index], item)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise invalid(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise invalid(f"path {path!r} does not exist")
    return node


def json_patch(target: Obj, operations: list[Any]) -> Obj:
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise invalid(f"not a JSON patch operation: {operation!r}")
        op, path = operation.get("op"), str(operation.get("path", ""))
        parts = _pointer(path)
        if not parts:
            raise invalid("cannot patch the whole object")
        parent, last = _parent(document, parts, path), parts[-1]
        if op in ("add", "replace", "test"):
            value = copy.deepcopy(operation.get("value"))
            if isinstance(parent, dict):
                if op == "test":
                    if parent.get(last) != value:
                        raise invalid(f"test failed at {path!r}")
                elif op == "replace" and last not in parent:
                    raise invalid(f"path {path!r} does not exist")
                else:
                    parent[last] = value
            elif isinstance(parent, list):
                index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
                if not 0 <= index <= len(parent) or (op != "add" and index == len(parent)):
                    raise invalid(f"index out of range at {path!r}")
                if op == "add":
                    parent.insert(index, value)
                elif op == "replace":
                    parent[index] = value
                elif parent[index] != value:
                    raise invalid(f"test failed at {path!r}")
            else:
                raise invalid(f"path {path!r} does not exist")
        elif op == "remove":
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                del parent[int(last)]
            else:
                raise invalid(f"path {path!r} does not exist")
        else:
            raise invalid(f"unsupported JSON patch operation {op!r}")
    return document


def apply(content_type: str, target: Obj, body: Any) -> Obj:
    """``target`` patched with ``body`` according to the request's Content-Type."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        if not isinstance(body, list):
            raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
        return json_patch(target, body)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "a merge patch is a JSON object")
    if media == MERGE:
        result = merge_patch(target, body)
    elif media == STRATEGIC:
        result = strategic_merge(target, body)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types "
            f"include: {JSON_PATCH}, {MERGE}, {STRATEGIC}",
        )
    assert isinstance(result, dict)
    return result
