"""Date-times on the wire (PROTOCOL §1.4), across time zones.

The local zone is pinned with ``TZ`` + ``time.tzset()`` (POSIX zone strings, so no tz database
is needed) and restored afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from async_qexp.models.timeutil import format_datetime, parse_datetime

IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))
UTC = timezone.utc

INSTANT = datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=UTC)


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the local zone UTC+05:30 (POSIX offsets are west-positive)."""
    with monkeypatch.context() as patch:
        patch.setenv("TZ", "IST-5:30")
        time.tzset()
        yield
    time.tzset()  # back to the original TZ, which the context manager restored


@pytest.fixture
def local_zone_west(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the local zone UTC-08:00, no DST."""
    with monkeypatch.context() as patch:
        patch.setenv("TZ", "PST+8")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.parametrize(
    "value",
    [INSTANT, INSTANT.astimezone(IST), INSTANT.astimezone(PST)],
    ids=["utc", "+05:30", "-08:00"],
)
def test_aware_datetimes_in_any_zone_render_the_same_z_instant(value: datetime) -> None:
    assert format_datetime(value) == "2022-07-29T09:49:45.123456Z"


def test_microseconds_only_when_non_zero() -> None:
    assert format_datetime(datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)) == "2022-07-29T09:49:45Z"
    assert format_datetime(datetime(2022, 7, 29, 9, 49, 45, 1, tzinfo=UTC)) == (
        "2022-07-29T09:49:45.000001Z"
    )


@pytest.mark.usefixtures("local_zone")
def test_naive_datetime_is_local_time_east() -> None:
    assert format_datetime(datetime(2022, 7, 29, 15, 19, 45)) == "2022-07-29T09:49:45Z"


@pytest.mark.usefixtures("local_zone_west")
def test_naive_datetime_is_local_time_west() -> None:
    assert format_datetime(datetime(2022, 7, 29, 1, 49, 45, 5)) == "2022-07-29T09:49:45.000005Z"


def test_local_zone_fixture_pins_utc_plus_0530(local_zone: None) -> None:
    assert time.strftime("%z", time.localtime(0)) == "+0530"


def test_a_string_with_an_offset_is_normalised() -> None:
    assert format_datetime("2022-07-29T15:19:45.5+05:30") == "2022-07-29T09:49:45.500000Z"
    assert format_datetime("2022-07-29T09:49:45Z") == "2022-07-29T09:49:45Z"


@pytest.mark.usefixtures("local_zone")
def test_a_naive_string_is_local_time_like_a_naive_datetime() -> None:
    naive = datetime(2022, 7, 29, 15, 19, 45)
    assert format_datetime(naive.isoformat()) == format_datetime(naive) == "2022-07-29T09:49:45Z"


def test_format_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        format_datetime(1234)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO-8601"):
        format_datetime("yesterday")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-07-29T09:49:45Z", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T09:49:45z", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T09:49:45+00:00", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T09:49:45", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29 09:49:45", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T09:49", datetime(2022, 7, 29, 9, 49, tzinfo=UTC)),
        ("2022-07-29T09:49:45.123Z", datetime(2022, 7, 29, 9, 49, 45, 123000, tzinfo=UTC)),
        ("2022-07-29T09:49:45.123456789Z", datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=UTC)),
        ("2022-07-29T09:49:45,5Z", datetime(2022, 7, 29, 9, 49, 45, 500000, tzinfo=UTC)),
        ("2022-07-29T15:19:45+05:30", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T15:19:45+0530", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        ("2022-07-29T01:49:45-08", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
        (" 2022-07-29T09:49:45Z ", datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)),
    ],
)
def test_parse_accepts_wire_forms(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize("text", ["", "2022-07-29", "29/07/2022 09:49", "2022-07-29T09:49:45+5"])
def test_parse_rejects_non_iso_text(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_datetime(text)


@pytest.mark.usefixtures("local_zone")
def test_parse_returns_the_local_zone() -> None:
    parsed = parse_datetime("2022-07-29T09:49:45Z")
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)
    assert (parsed.hour, parsed.minute) == (15, 19)


@pytest.mark.usefixtures("local_zone")
@pytest.mark.parametrize(
    "value",
    [
        INSTANT,
        INSTANT.astimezone(IST),
        INSTANT.astimezone(PST),
        INSTANT.replace(microsecond=0),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=PST),
    ],
)
def test_parse_of_format_is_the_same_instant(value: datetime) -> None:
    assert parse_datetime(format_datetime(value)) == value


@pytest.mark.usefixtures("local_zone_west")
def test_parse_of_format_of_a_naive_datetime_is_that_local_time() -> None:
    naive = datetime(2022, 3, 1, 12, 0, 0, 250)
    round_tripped = parse_datetime(format_datetime(naive))
    assert round_tripped == naive.astimezone()
    assert round_tripped.replace(tzinfo=None) == naive


def test_format_of_parse_is_stable() -> None:
    for text in ["2022-07-29T09:49:45.123456Z", "2022-07-29T09:49:45Z"]:
        assert format_datetime(parse_datetime(text)) == text


# -- naive server times are UTC, whatever the local zone ----------------------------------------
# The suite may run in UTC, where "read as UTC" and "read as local time" agree; these pin a zone
# east and one west of UTC, so reading a naive server value as local time is caught.

NAIVE_WIRE = "2022-07-29T09:49:45"
NAIVE_INSTANT = datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["local_zone", "local_zone_west"])
def test_a_naive_server_time_is_utc_in_any_local_zone(
    zone: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(zone)
    parsed = parse_datetime(NAIVE_WIRE)
    assert parsed == NAIVE_INSTANT
    assert parsed.utcoffset() == datetime.now().astimezone().utcoffset() != timedelta(0)


@pytest.mark.parametrize("zone", ["local_zone", "local_zone_west"])
def test_a_naive_typed_time_is_local_in_any_local_zone(
    zone: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(zone)
    parsed = parse_datetime(NAIVE_WIRE, naive_as_local=True)
    assert parsed != NAIVE_INSTANT
    assert parsed.replace(tzinfo=None) == datetime(2022, 7, 29, 9, 49, 45)
    assert parsed - NAIVE_INSTANT == -parsed.utcoffset()  # type: ignore[operator]


@pytest.mark.usefixtures("local_zone_west")
def test_records_read_naive_server_times_as_utc() -> None:
    from async_qexp.models import Experiment, from_wire
    from async_qexp.models.runtime import JobRecord, created_job

    experiment = from_wire(
        Experiment,
        {"uuid": "e1", "type": "T1", "device_name": "b", "start_time": NAIVE_WIRE},
    )
    assert experiment.start_datetime == NAIVE_INSTANT
    job = JobRecord.from_wire({"id": "j1", "program": {"id": "p"}, "created": NAIVE_WIRE})
    assert job.created == NAIVE_INSTANT
    assert created_job({"id": "j1", "created": NAIVE_WIRE}) == ("j1", NAIVE_INSTANT)
    # and a value a user typed into a record is local time (UTC-08:00 here)
    typed = Experiment(
        experiment_id="e2", experiment_type="T1", backend_name="b", start_datetime=NAIVE_WIRE
    )
    assert typed.start_datetime == NAIVE_INSTANT + timedelta(hours=8)


def test_parse_iso_reads_a_date_alone_as_midnight_unless_told_not_to() -> None:
    from async_qexp.models.timeutil import parse_iso

    assert parse_iso("2022-07-29") == datetime(2022, 7, 29, 0, 0, 0)
    assert parse_iso("2022-07-29").tzinfo is None  # as written: no offset
    with pytest.raises(ValueError, match="not an ISO-8601 date-time"):
        parse_iso("2022-07-29", date_only=False)


def test_parse_iso_refuses_an_offset_out_of_range() -> None:
    from async_qexp.models.timeutil import parse_iso

    with pytest.raises(ValueError, match=r"offset out of range in '2022-07-29T10:00\+24:00'"):
        parse_iso("2022-07-29T10:00+24:00")
