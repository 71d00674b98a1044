"""Request bodies: the JSON parser's quick path (no walk over the values) refuses what the
full walk refuses, and accepts what it accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from async_qexp.emulator._req import MAX_JSON_DEPTH, _check_value, parse_body
from async_qexp.emulator._util import HTTPProblem


def _walked(raw: bytes) -> Any:
    """The reference: ``json.loads`` on the bytes, then the walk over every value."""
    body = json.loads(raw)
    _check_value(body, MAX_JSON_DEPTH)
    return body


ACCEPTED = [
    b'{"a":"plain","b":[1,2.5,null,true],"c":{"d":"x"}}',
    b'{"a":"\\u00e9\\u4e2d"}',  # escapes that are no surrogates
    '{"a":"é中😀"}'.encode(),  # the same characters as UTF-8
    b'{"a":"\\ud83d\\ude00"}',  # an escaped surrogate pair
    b'{"a":"\\\\udfff"}',  # an escaped backslash, then text that looks like an escape
    b"\xef\xbb\xbf" + b'{"a":1}',  # a UTF-8 byte-order mark
    '{"a":"é"}'.encode("utf-16"),  # UTF-16, as json.loads reads bytes
    ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode(),  # exactly as deep as allowed
    ('{"s":"' + "[" * 400 + '"}').encode(),  # brackets in a string are no nesting
]

REFUSED = [
    (b'{"a":"\\ud800"}', "lone surrogate"),
    (b'{"a":"\\uDFFF"}', "lone surrogate"),
    (b'{"\\udc00":1}', "lone surrogate"),  # in a key
    (b'{"a":"\xed\xa0\x80"}', "lone surrogate"),  # encoded in the bytes themselves
    ('{"a":"\ud800"}'.encode("utf-16", "surrogatepass"), "lone surrogate"),
    (("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode(), "nested deeper"),
    (b'{"a":', "malformed JSON"),
    (b"\xff\xfe\xfd", "malformed JSON"),
]


@pytest.mark.parametrize("raw", ACCEPTED)
def test_a_body_the_walk_accepts_is_parsed_to_the_same_value(raw: bytes) -> None:
    assert parse_body(raw) == _walked(raw)


@pytest.mark.parametrize(("raw", "message"), REFUSED)
def test_a_body_the_walk_refuses_is_answered_400(raw: bytes, message: str) -> None:
    with pytest.raises(HTTPProblem) as caught:
        parse_body(raw)
    assert caught.value.status == 400
    assert message in str(caught.value)
