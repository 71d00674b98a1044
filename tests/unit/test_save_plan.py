"""The save plan: a pure function of what the container holds and what the service confirmed.

The hard cases of saving are plain data here (``docs/behaviour.md#save-load-and-auto-save``).
"""

from __future__ import annotations

import pytest

from async_qexp.experiment._sync import Op, Versions, plan


def test_new_items_are_created_changed_ones_updated_unchanged_ones_left() -> None:
    local = {"result:a": 1, "result:b": 2, "result:c": 3}
    confirmed = {"result:b": 2, "result:c": 9}
    assert plan(local, confirmed) == [
        Op("result:a", create=True, version=1),
        Op("result:c", create=False, version=3),
    ]


def test_what_the_service_holds_and_the_container_does_not_is_deleted() -> None:
    assert plan({"figure:f": 1}, {"figure:f": 1, "figure:g": 4}) == [Op("figure:g", delete=True)]


def test_a_delete_during_an_in_flight_create_becomes_a_pending_delete() -> None:
    """Defect 1 of issue 9: the create lands after the local delete."""
    local = {"result:r": 1}
    assert plan(local, {}) == [Op("result:r", create=True, version=1)]
    del local["result:r"]  # deleted while the create is in flight
    confirmed = {"result:r": 1}  # ... then the create lands
    assert plan(local, confirmed) == [Op("result:r", delete=True)]


def test_a_change_during_an_in_flight_upload_is_uploaded_again() -> None:
    local = {"figure:f": 1}
    confirmed = {"figure:f": 1}  # the upload of version 1 landed
    local["figure:f"] = 2  # changed while it was in flight
    assert plan(local, confirmed) == [Op("figure:f", create=False, version=2)]


def test_an_item_that_failed_stays_pending() -> None:
    local = {"result:r": 1}
    assert plan(local, {}) == plan(local, {}), "nothing was confirmed: the same plan again"


def test_attempted_versions_wait_for_the_next_save() -> None:
    local = {"result:a": 1, "result:b": 2}
    confirmed = {"result:z": 5}
    attempted = frozenset({("result:a", 1), ("result:z", None)})
    assert plan(local, confirmed, attempted=attempted) == [Op("result:b", create=True, version=2)]
    local["result:a"] = 3  # a new version is a new attempt
    assert Op("result:a", create=True, version=3) in plan(local, {}, attempted=attempted)


def test_nothing_to_do() -> None:
    assert plan({}, {}) == []
    assert plan({"experiment:": b"x"}, {"experiment:": b"x"}) == []


def test_versions_count_their_changes_and_keep_sources_apart() -> None:
    versions = Versions()
    start = versions.generation
    versions["result:a"] = 1
    versions["result:b"] = 2
    versions.update({"figure:f": 3})
    assert versions.generation == start + 3
    assert dict(versions.of("result")) == {"a": 1, "b": 2}
    assert versions.of("artifact") == {}
    assert "figure:f" in versions
    assert "figure:g" not in versions
    assert 5 not in versions
    assert versions["result:b"] == 2
    assert sorted(versions) == ["figure:f", "result:a", "result:b"]
    assert len(versions) == 3
    assert versions.pop("result:a") == 1
    assert versions.pop("result:zz", None) is None
    del versions["figure:f"]
    with pytest.raises(KeyError):
        del versions["figure:f"]
    with pytest.raises(KeyError):
        versions["nothing:here"]
    assert dict(versions) == {"result:b": 2}
    assert versions.generation > start + 3
