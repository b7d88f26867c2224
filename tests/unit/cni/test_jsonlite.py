"""cni.jsonlite answers exactly as json does: the same values, the same text, the same errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cni import jsonlite

ROOT = Path(__file__).resolve().parents[3]

DOCUMENTS = [
    '{"cniVersion": "1.1.0", "name": "vpc-ipam", "plugins": [{"type": "vpc-cni"}]}',
    '  \n\t{"a": [1, -2.5e3, "\\u00e9\\n", true, false, null, {}]}\r\n ',
    '"text"',
    "12",
    "[]",
    '{"a": NaN, "b": Infinity, "c": -Infinity}',
    '{"same": 1, "same": 2}',
    '"\\ud800"',
]
BAD = [
    "",
    "   ",
    "{",
    '{"a" 1}',
    '{"a": 1} x',
    "[1,]",
    '"\x01"',
    "\ufeff{}",
    "nul",
    "[" * 100_000 + "]" * 100_000,
]


def outcome(call: Callable[..., object], *args: object, **kwargs: object) -> tuple[object, ...]:
    """What ``call`` returned, or the type and text of what it raised."""
    try:
        value = call(*args, **kwargs)
    except Exception as error:
        return ("raised", type(error), str(error))
    return ("returned", json.dumps(value, allow_nan=True), type(value))


@pytest.mark.parametrize("text", DOCUMENTS + BAD)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_loads_matches_json(text: str, as_bytes: bool) -> None:
    data: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert outcome(jsonlite.loads, data) == outcome(json.loads, data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        '{"a": 1}'.encode("utf-32-be"),
        b"\xff\xfe",
        b"{\xff}",
        bytearray(b"{}"),
    ],
)
def test_input_json_decides_goes_to_json(data: bytes) -> None:
    assert outcome(jsonlite.loads, data) == outcome(json.loads, data)


def refuse(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


@pytest.mark.parametrize("text", ['{"a": NaN}', "[Infinity]", '{"a": 1}'])
def test_parse_constant_is_json_s(text: str) -> None:
    assert outcome(jsonlite.loads, text, parse_constant=refuse) == outcome(
        json.loads, text, parse_constant=refuse
    )


def test_nan_by_default_is_a_float_nan() -> None:
    assert math.isnan(jsonlite.loads("NaN"))


VALUES: list[object] = [
    {"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.5/32", "interface": 1}]},
    {"é": "\u2028\x00\n", "n": [1, 2.5, -0.0, 1e300, True, False, None]},
    ["a", ("tuple",), {1: "int key", 2.5: "float key", False: "bool key", None: "null"}],
    "top-level text",
    float("nan"),
    [float("inf")],
    {"bad": object()},
    {("tuple", "key"): 1},
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("separators", [None, (",", ":")])
@pytest.mark.parametrize("allow_nan", [True, False])
def test_dumps_matches_json(
    value: object, separators: tuple[str, str] | None, allow_nan: bool
) -> None:
    mine = outcome(jsonlite.dumps, value, separators=separators, allow_nan=allow_nan)
    theirs = outcome(json.dumps, value, separators=separators, allow_nan=allow_nan)
    assert mine[0] == theirs[0]
    if mine[0] == "raised":
        assert mine == theirs
    else:
        assert jsonlite.dumps(value, separators=separators, allow_nan=allow_nan) == json.dumps(
            value, separators=separators, allow_nan=allow_nan
        )


def test_a_circular_value_raises_as_json_does() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert outcome(jsonlite.dumps, loop) == outcome(json.dumps, loop)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_json_value_round_trips_as_with_json(value: object) -> None:
    text = jsonlite.dumps(value)
    assert text == json.dumps(value)
    assert jsonlite.dumps(jsonlite.loads(text)) == json.dumps(json.loads(text))
    assert jsonlite.loads(text.encode()) == json.loads(text.encode())


def test_its_fast_path_imports_neither_json_nor_re() -> None:
    probe = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from cni import jsonlite\n"
        "jsonlite.dumps(jsonlite.loads(b'{\"a\": [1, 2.5, null]}'), separators=(',', ':'))\n"
        "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
