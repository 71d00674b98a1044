"""PROTOCOL §4.2: bad arguments raise ``ValueError`` (or ``TypeError``) before any request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from async_qexp import Provider, RetryPolicy

from ._support import AUTH, RDB, TOKEN, body, connect, mock_login

pytestmark = pytest.mark.asyncio

Connected = tuple[Provider, respx.MockRouter]

BAD_LIMITS = [0, -1]
WRONG_TYPE_LIMITS = ["5", True, 2.0]

# (method name, positional args, keyword args): each must raise ValueError without a request.
INVALID_CALLS: list[Any] = [
    *[
        pytest.param("experiments", (), {"limit": v}, id=f"experiments-limit-{v!r}")
        for v in BAD_LIMITS
    ],
    *[
        pytest.param("analysis_results", (), {"limit": v}, id=f"results-limit-{v!r}")
        for v in BAD_LIMITS
    ],
    pytest.param("experiments", (), {"group": "g"}, id="group-without-hub"),
    pytest.param("experiments", (), {"hub": "h", "project": "p"}, id="project-without-group"),
    pytest.param("experiments", (), {"group": "g", "project": "p"}, id="project-without-hub"),
    pytest.param(
        "experiments", (), {"exclude_public": True, "public_only": True}, id="public-both"
    ),
    pytest.param("experiments", (), {"exclude_mine": True, "mine_only": True}, id="mine-both"),
    pytest.param("experiments", (), {"tags": ["a"], "tags_operator": "XOR"}, id="tags-op-xor"),
    pytest.param("experiments", (), {"tags": ["a"], "tags_operator": None}, id="tags-op-none"),
    pytest.param(
        "analysis_results", (), {"tags": ["a"], "tags_operator": "NOT"}, id="results-tags-op"
    ),
    pytest.param(
        "analysis_results", (), {"sort_by": "result_type: asc"}, id="sort-space-after-colon"
    ),
    pytest.param(
        "analysis_results",
        (),
        {"sort_by": ["result_type:asc", "creation_datetime: desc"]},
        id="sort-space-in-list",
    ),
    pytest.param("experiments", (), {"sort_by": "start_datetime: asc"}, id="exp-sort-space"),
    pytest.param("experiments", (), {"sort_by": "owner:asc"}, id="sort-unknown-key"),
    pytest.param("analysis_results", (), {"sort_by": "start_time:asc"}, id="sort-wrong-call-key"),
    pytest.param("experiments", (), {"sort_by": "start_time:ascending"}, id="sort-bad-direction"),
    pytest.param("experiments", (), {"sort_by": "start_time:ASC"}, id="sort-direction-case"),
    pytest.param("experiments", (), {"sort_by": "start_time"}, id="sort-no-colon"),
    pytest.param("experiments", (), {"sort_by": "start_time:asc:x"}, id="sort-two-colons"),
    pytest.param(
        "experiments",
        (),
        {"device_components": ["Q0"], "device_components_operator": "like"},
        id="components-operator",
    ),
    pytest.param(
        "analysis_results",
        (),
        {"device_components": "Q0", "device_components_operator": "CONTAINS"},
        id="results-components-operator",
    ),
    pytest.param(
        "experiments",
        (),
        {"experiment_type": "T1", "experiment_type_operator": "contains"},
        id="experiment-type-operator",
    ),
    pytest.param(
        "analysis_results",
        (),
        {"result_type": "T1", "result_type_operator": "exact"},
        id="result-type-operator",
    ),
    pytest.param("analysis_results", (), {"quality": "excellent"}, id="filter-quality"),
    pytest.param("analysis_results", (), {"quality": "No Information"}, id="quality-wire-value"),
    pytest.param("analysis_results", (), {"quality": ["good", "meh"]}, id="filter-quality-list"),
    pytest.param("create_experiment", ("T1", "b"), {"share_level": "team"}, id="create-share"),
    pytest.param("update_experiment", ("e1",), {"share_level": "everyone"}, id="update-share"),
    pytest.param(
        "create_analysis_result", ("e1", {}, "T1"), {"quality": "great"}, id="create-quality"
    ),
    pytest.param("update_analysis_result", ("r1",), {"quality": "meh"}, id="update-quality"),
    pytest.param(
        "bulk_update_analysis_results", ([{"quality": "good"}],), {}, id="bulk-no-result-id"
    ),
    pytest.param(
        "bulk_update_analysis_results",
        ([{"result_id": "r1", "colour": "red"}],),
        {},
        id="bulk-unknown-key",
    ),
    pytest.param(
        "bulk_update_analysis_results",
        ([{"result_id": "r1"}, {"result_id": "r2", "quality": "meh"}],),
        {},
        id="bulk-bad-quality-in-second",
    ),
    # empty or non-string ids and names
    pytest.param("experiment", ("",), {}, id="experiment-empty-id"),
    pytest.param("update_experiment", ("",), {}, id="update-empty-id"),
    pytest.param("delete_experiment", ("",), {}, id="delete-empty-id"),
    pytest.param("create_experiment", ("", "b"), {}, id="create-empty-type"),
    pytest.param("create_experiment", ("T1", ""), {}, id="create-empty-backend"),
    pytest.param("analysis_result", ("",), {}, id="result-empty-id"),
    pytest.param("update_analysis_result", ("",), {}, id="update-result-empty-id"),
    pytest.param("delete_analysis_result", ("",), {}, id="delete-result-empty-id"),
    pytest.param("create_analysis_result", ("", {}, "T1"), {}, id="create-result-no-exp"),
    pytest.param("create_analysis_result", ("e1", {}, ""), {}, id="create-result-no-type"),
    pytest.param("create_figure", ("", b"<svg/>"), {}, id="figure-empty-exp"),
    pytest.param("update_figure", ("e1", b"<svg/>", ""), {}, id="update-figure-empty-name"),
    pytest.param("figure", ("e1", ""), {}, id="figure-empty-name"),
    pytest.param("figure", ("", "f.svg"), {}, id="figure-empty-exp-id"),
    pytest.param("delete_figure", ("e1", ""), {}, id="delete-figure-empty-name"),
    pytest.param("files", ("",), {}, id="files-empty-id"),
    pytest.param("experiment_has_file", ("", "f"), {}, id="has-file-empty-id"),
    pytest.param("experiment_has_file", ("e1", ""), {}, id="has-file-empty-name"),
    pytest.param("file_upload", ("", "f", {}), {}, id="upload-empty-id"),
    pytest.param("file_upload", ("e1", "", {}), {}, id="upload-empty-name"),
    pytest.param("file_download", ("e1", ""), {}, id="download-empty-name"),
    pytest.param("file_delete", ("", "f"), {}, id="file-delete-empty-id"),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), INVALID_CALLS)
async def test_invalid_arguments_raise_value_error_before_any_request(
    connected: Connected, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    provider, router = connected
    router.route().mock(return_value=httpx.Response(200, json={}))
    before = router.calls.call_count
    with pytest.raises(ValueError):  # noqa: PT011 - the many messages are checked below
        await getattr(provider.experiment, method)(*args, **kwargs)
    assert router.calls.call_count == before


# (method name, positional args, keyword args): each must raise TypeError without a request.
WRONG_TYPES: list[Any] = [
    *[
        pytest.param("experiments", (), {"limit": v}, id=f"experiments-limit-{v!r}")
        for v in WRONG_TYPE_LIMITS
    ],
    *[
        pytest.param("analysis_results", (), {"limit": v}, id=f"results-limit-{v!r}")
        for v in WRONG_TYPE_LIMITS
    ],
    pytest.param("experiments", (), {"tags": "abc"}, id="tags-as-a-string"),
    pytest.param("experiments", (), {"tags": [1]}, id="tags-of-ints"),
    pytest.param("experiments", (), {"backend_name": 5}, id="backend-name-int"),
    pytest.param("experiments", (), {"public_only": "yes"}, id="public-only-str"),
    pytest.param("analysis_results", (), {"verified": "maybe"}, id="verified-maybe"),
    pytest.param("analysis_results", (), {"device_components": [object()]}, id="components"),
    pytest.param("experiment", (None,), {}, id="experiment-none-id"),
    pytest.param("experiment", (123,), {}, id="experiment-int-id"),
    pytest.param("create_experiment", ("T1", "b"), {"tags": "abc"}, id="create-tags-str"),
    pytest.param("create_experiment", ("T1", "b"), {"job_ids": "xyz"}, id="create-jobs-str"),
    pytest.param("create_experiment", ("T1", "b"), {"parent_id": 5}, id="create-parent-int"),
    pytest.param("create_experiment", ("T1", "b"), {"notes": 5}, id="create-notes-int"),
    pytest.param("create_experiment", ("T1", "b"), {"metadata": "x"}, id="create-metadata-str"),
    pytest.param(
        "create_experiment", ("T1", "b"), {"metadata": {(1, 2): "k"}}, id="create-metadata-key"
    ),
    pytest.param("update_experiment", ("e1",), {"tags": "abc"}, id="update-tags-str"),
    pytest.param("update_experiment", ("e1",), {"notes": 5}, id="update-notes-int"),
    pytest.param(
        "create_analysis_result", ("e1", {}, "T1"), {"verified": "no"}, id="create-verified"
    ),
    pytest.param("create_analysis_result", ("e1", {}, "T1"), {"tags": [1]}, id="result-tags"),
    pytest.param("create_analysis_result", ("e1", {}, "T1"), {"chisq": "x"}, id="chisq-str"),
    pytest.param(
        "create_analysis_result",
        ("e1", {}, "T1"),
        {"device_components": [object()]},
        id="result-components",
    ),
    pytest.param(
        "create_analysis_result", ("e1", {"v": object()}, "T1"), {}, id="result-data-object"
    ),
    pytest.param("update_analysis_result", ("r1",), {"verified": "no"}, id="update-verified"),
    pytest.param("update_analysis_result", ("r1",), {"chisq": "x"}, id="update-chisq"),
    pytest.param("create_figure", ("e1", b"<svg/>"), {"figure_name": 5}, id="figure-name-int"),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), WRONG_TYPES)
async def test_wrong_types_raise_type_error_before_any_request(
    connected: Connected, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Issue 9, defects 3 and 4: nothing is coerced (``tags="abc"`` is not three tags,
    ``verified="no"`` is not True) and nothing of the wrong type reaches the server."""
    provider, router = connected
    router.route().mock(return_value=httpx.Response(200, json={}))
    before = router.calls.call_count
    with pytest.raises(TypeError):
        await getattr(provider.experiment, method)(*args, **kwargs)
    assert router.calls.call_count == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"group": "g"}, "If group is specified, hub must also be specified."),
        ({"project": "p", "hub": "h"}, "If project is specified, group and hub must also"),
        ({"exclude_public": True, "public_only": True}, "exclude_public and public_only cannot"),
        ({"exclude_mine": True, "mine_only": True}, "exclude_mine and mine_only cannot both"),
    ],
)
async def test_validation_messages_match_the_reference(
    connected: Connected, kwargs: dict[str, Any], match: str
) -> None:
    provider, _ = connected
    with pytest.raises(ValueError, match=match):
        await provider.experiment.experiments(**kwargs)


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("iter_experiments", {"limit": 0}),
        ("iter_experiments", {"page_size": -1}),
        ("iter_experiments", {"hub": None, "group": "g"}),
        ("iter_experiments", {"sort_by": "experiment_type: asc"}),
        ("iter_analysis_results", {"page_size": 0}),
        ("iter_analysis_results", {"quality": "so-so"}),
    ],
)
async def test_iterators_raise_at_call_time_not_at_iteration(
    connected: Connected, method: str, kwargs: dict[str, Any]
) -> None:
    provider, router = connected
    before = router.calls.call_count
    with pytest.raises(ValueError):  # noqa: PT011
        getattr(provider.experiment, method)(**kwargs)  # no await, no iteration
    assert router.calls.call_count == before


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("iter_experiments", {"page_size": True}),
        ("iter_analysis_results", {"limit": "3"}),
        ("experiments", {"page_size": 2.5}),
    ],
)
async def test_pagers_refuse_wrong_types_at_call_time(
    connected: Connected, method: str, kwargs: dict[str, Any]
) -> None:
    provider, router = connected
    before = router.calls.call_count
    with pytest.raises(TypeError):
        getattr(provider.experiment, method)(**kwargs)  # no await, no iteration
    assert router.calls.call_count == before


async def test_operators_are_only_checked_when_their_value_is_given(
    connected: Connected,
) -> None:
    """§4.2: a bad operator without its filter value is ignored, and sends nothing."""
    provider, router = connected
    route = router.get(f"{RDB}/experiments").mock(
        return_value=httpx.Response(200, json={"experiments": []})
    )
    await provider.experiment.experiments(
        device_components_operator="bogus", experiment_type_operator="bogus", tags_operator="X"
    )
    assert route.calls.last.request.url.params.multi_items() == [("limit", "10")]


async def test_type_errors_before_any_request(connected: Connected) -> None:
    provider, router = connected
    before = router.calls.call_count
    with pytest.raises(TypeError):
        await provider.experiment.create_figure("e1", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await provider.experiment.file_upload("e1", "a.zip", {"not": "bytes"})
    with pytest.raises(TypeError):
        await provider.experiment.create_experiment("T1", "b", metadata={"o": object()})
    assert router.calls.call_count == before


# -- Provider arguments --------------------------------------------------------------------------


async def test_provider_without_token_or_env_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="QEXP_TOKEN"):
        Provider()
    with pytest.raises(ValueError, match="QEXP_TOKEN"):
        Provider("")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group": "g"},
        {"hub": "h", "project": "p"},
        {"instance": "a/b"},
        {"instance": "a//c"},
        {"instance": "a/b/c", "hub": "a"},
        {"max_in_flight": 0},
        {"timeout": -1},
        {"timeout": 0},
    ],
)
async def test_provider_rejects_inconsistent_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Provider(TOKEN, AUTH, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_in_flight": True},
        {"max_in_flight": 2.5},
        {"timeout": "10"},
        {"transport": 5},
        {"retry": 3},
        {"hub": 5},
    ],
)
async def test_provider_rejects_wrong_types(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Provider(TOKEN, AUTH, **kwargs)


async def test_provider_checks_token_and_transport_when_made_not_at_connect() -> None:
    """Issue 9, defect 4: these were accepted and failed only at connect."""
    with pytest.raises(TypeError, match="token"):
        Provider(5, AUTH)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transport"):
        Provider(TOKEN, AUTH, transport="bogus")  # type: ignore[arg-type]


async def test_provider_rejects_an_unknown_transport_name() -> None:
    with pytest.raises(ValueError, match="transport"):
        await Provider(TOKEN, AUTH, transport="curl").connect()  # type: ignore[arg-type]


async def test_provider_reads_qexp_token_and_qexp_url(monkeypatch: pytest.MonkeyPatch) -> None:
    other_auth = "https://other-auth.example.test/api/"
    monkeypatch.setenv("QEXP_TOKEN", "env-token")
    monkeypatch.setenv("QEXP_URL", other_auth)
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router)  # on AUTH: must not be used
    login = router.post("https://other-auth.example.test/api/users/loginWithToken").mock(
        return_value=httpx.Response(200, json={"id": "ACCESS"})
    )
    router.get("https://other-auth.example.test/api/users/me").mock(
        return_value=httpx.Response(200, json={"urls": {"services": {"resultsDB": RDB}}})
    )
    provider = Provider(transport=httpx.MockTransport(router.async_handler))
    async with provider:
        assert provider.account.auth_url == other_auth.rstrip("/")
        assert provider.account.resultsdb_url == RDB
    assert body(login.calls.last.request) == {"apiToken": "env-token"}
    assert router["login"].call_count == 0


async def test_explicit_token_and_url_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QEXP_TOKEN", "env-token")
    monkeypatch.setenv("QEXP_URL", "https://unused.example.test")
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router)
    async with connect(router, retry=RetryPolicy.none()):
        pass
    assert body(router["login"].calls.last.request) == {"apiToken": TOKEN}
