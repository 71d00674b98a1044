"""RetryPolicy on its own: the backoff schedule and its validation (PROTOCOL §1.6)."""

from __future__ import annotations

from typing import Any

import pytest

from async_qexp import RetryPolicy
from async_qexp._http import parse_retry_after


def test_retry_policy_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(backoff_initial=0.25, backoff_max=1.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 5)] == [0.25, 0.5, 1.0, 1.0]
    jittered = RetryPolicy(backoff_initial=1.0, jitter=0.5)
    assert all(0.5 <= jittered.backoff(1) <= 1.0 for _ in range(100))


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"backoff_initial": -1}, {"jitter": 1.5}, {"total_budget": -1}],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - attrs' validators say little more
        RetryPolicy(**kwargs)


def test_retry_policy_none_is_one_attempt() -> None:
    assert RetryPolicy.none().max_attempts == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0.05", 0.05), ("3", 3.0), ("-2", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
