"""Property tests of argument validation: for the public methods of ``ExperimentService``,
``RuntimeService`` and ``ExperimentData``, an argument of the wrong type raises ``TypeError``
and a bad value ``ValueError``, at once, and no request is sent (the mocked service fails any
request but login and discovery, and the tests count the requests too).

Each parameter has a kind (an id, a non-empty name, a list of strings, a limit ...); hypothesis
draws a wrong value of that kind for one parameter while the others stay valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_qexp import ExperimentData, Provider
from async_qexp._paging import Pager

from ._support import LOGIN_CALLS, connect, mock_login

SETTINGS = settings(
    max_examples=25,
    deadline=None,  # a first call may import lazily; the bound is the example count
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the regular suite stays reproducible; run with a seed to explore
)


# -- kinds of parameters: what is wrong in type (TypeError) and in value (ValueError) ----------

_ANYTHING = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
    st.text(max_size=5),
    st.none(),
)


def _not(*types: type, none: bool = False) -> st.SearchStrategy[Any]:
    """Values that are none of ``types`` (``None`` counts as right with ``none``)."""

    def wrong(value: Any) -> bool:
        if value is None:
            return not none
        if bool in types and isinstance(value, bool):
            return False
        if isinstance(value, bool) and int in types and bool not in types:
            return True  # a bool is no int here
        return not isinstance(value, types)

    return _ANYTHING.filter(wrong)


@attrs.frozen
class Kind:
    """A parameter's kind: a valid value, and wrong types and bad values (either may be
    ``None`` when that kind has none)."""

    valid: Any
    wrong_type: st.SearchStrategy[Any] | None
    bad_value: st.SearchStrategy[Any] | None = None


_SLASHED = st.tuples(st.text(max_size=4), st.text(max_size=4)).map(lambda p: p[0] + "/" + p[1])
IDENT = Kind(
    "3f2b6a1c-0d1e-4f5a-9b8c-7d6e5f4a3b2c",
    _not(str),
    st.one_of(st.sampled_from(["", ".", ".."]), _SLASHED, st.just("x" * 513)),
)
OPT_IDENT = attrs.evolve(IDENT, wrong_type=_not(str, none=True))
QUERY_ID = Kind("3f2b6a1c", _not(str, none=True))  # a filter in the query: any string
NAME = Kind("T1", _not(str), st.just(""))
REQUIRED = Kind("T1", _not(str, none=True), st.sampled_from(["", None]))  # None: missing
OPT_TEXT = Kind("text", _not(str, none=True))
_NOT_STRING_LIST = st.one_of(
    st.text(max_size=3),  # a lone string is not a list of strings
    st.integers(),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.lists(st.one_of(st.none(), st.binary(max_size=2)), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=2), st.text(max_size=2), min_size=1, max_size=1),
)
STRINGS = Kind(["a", "b"], _NOT_STRING_LIST)
BOOL = Kind(True, _not(bool))
OPT_BOOL = Kind(True, _not(bool, none=True))
LIMIT = Kind(5, _not(int, none=True), st.integers(max_value=0))
SKIP = Kind(0, _not(int), st.integers(max_value=-1))
_WRONG_MAPPING = st.one_of(
    st.integers(), st.lists(st.integers(), max_size=2), st.binary(max_size=2), st.floats()
)
MAPPING = Kind({"a": 1}, _WRONG_MAPPING)
OPT_MAPPING = Kind({"a": 1}, _WRONG_MAPPING)
_UNKNOWN_WORD = st.text(min_size=1, max_size=8).filter(
    lambda s: (
        s.strip().lower()
        not in {"private", "project", "group", "hub", "public", "good", "bad", "unknown"}
    )
)
SHARE = Kind(
    "project", st.one_of(st.integers(), st.floats(), st.lists(st.text(max_size=2))), _UNKNOWN_WORD
)
QUALITY = Kind("Good", st.one_of(st.integers(), st.floats()), _UNKNOWN_WORD)
DATETIME = Kind(
    "2024-01-02T03:04:05Z",
    st.one_of(st.integers(), st.floats(), st.lists(st.integers(), max_size=1)),
    st.sampled_from(["yesterday", "2024-13-01T00:00:00Z", "2024-01-02T25:00:00", "", "12:00"]),
)
SECONDS = Kind(
    1.0,
    st.one_of(st.text(max_size=3), st.booleans(), st.lists(st.integers(), max_size=1)),
    st.one_of(st.floats(max_value=-1e-9), st.just(math.inf), st.just(math.nan)),
)
COST = Kind(60, _not(int, none=True), st.integers(max_value=0))
WORKERS = Kind(2, _not(int, none=True), st.integers(max_value=0))
CHISQ = Kind(
    1.5,
    st.one_of(st.text(max_size=3), st.booleans(), st.lists(st.integers(), max_size=1)),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


@attrs.frozen
class Call:
    """One public method: where it lives, its valid arguments, the kind of each checked one."""

    target: str  # "experiment", "runtime" or "data"
    method: str
    kinds: dict[str, Kind]
    extra: dict[str, Any] = attrs.field(factory=dict)
    """Valid arguments that are not drawn."""

    def arguments(self, name: str, value: Any) -> dict[str, Any]:
        """The valid arguments, with ``name`` set to ``value``."""
        args = {key: kind.valid for key, kind in self.kinds.items()}
        return {**args, **self.extra, name: value}


CALLS = [
    # -- ExperimentService ----------------------------------------------------------------
    Call("experiment", "device_components", {"backend_name": OPT_TEXT}),
    Call(
        "experiment",
        "create_experiment",
        {
            "experiment_type": NAME,
            "backend_name": NAME,
            "metadata": OPT_MAPPING,
            "experiment_id": OPT_IDENT,
            "parent_id": OPT_IDENT,
            "job_ids": STRINGS,
            "tags": STRINGS,
            "notes": OPT_TEXT,
            "share_level": SHARE,
            "start_datetime": DATETIME,
            "end_datetime": DATETIME,
        },
    ),
    Call(
        "experiment",
        "update_experiment",
        {
            "experiment_id": IDENT,
            "metadata": OPT_MAPPING,
            "job_ids": STRINGS,
            "notes": OPT_TEXT,
            "tags": STRINGS,
            "share_level": SHARE,
            "end_datetime": DATETIME,
        },
    ),
    Call("experiment", "experiment", {"experiment_id": IDENT}),
    Call("experiment", "delete_experiment", {"experiment_id": IDENT}),
    Call(
        "experiment",
        "experiments",
        {
            "limit": LIMIT,
            "experiment_type": OPT_TEXT,
            "backend_name": OPT_TEXT,
            "tags": STRINGS,
            "start_datetime_after": DATETIME,
            "start_datetime_before": DATETIME,
            "parent_id": QUERY_ID,
            "exclude_public": BOOL,
            "exclude_mine": BOOL,
            "page_size": LIMIT,
        },
    ),
    Call(
        "experiment",
        "create_analysis_result",
        {
            "experiment_id": IDENT,
            "result_data": MAPPING,
            "result_type": NAME,
            "tags": STRINGS,
            "quality": QUALITY,
            "verified": BOOL,
            "result_id": OPT_IDENT,
            "chisq": CHISQ,
        },
    ),
    Call(
        "experiment",
        "update_analysis_result",
        {
            "result_id": IDENT,
            "result_data": OPT_MAPPING,
            "tags": STRINGS,
            "quality": QUALITY,
            "verified": OPT_BOOL,
            "chisq": CHISQ,
        },
    ),
    Call("experiment", "analysis_result", {"result_id": IDENT}),
    Call("experiment", "delete_analysis_result", {"result_id": IDENT}),
    Call(
        "experiment",
        "analysis_results",
        {
            "limit": LIMIT,
            "experiment_id": QUERY_ID,
            "result_type": OPT_TEXT,
            "backend_name": OPT_TEXT,
            "verified": OPT_BOOL,
            "tags": STRINGS,
            "creation_datetime_after": DATETIME,
            "creation_datetime_before": DATETIME,
            "page_size": LIMIT,
        },
    ),
    # -- RuntimeService -------------------------------------------------------------------
    Call("runtime", "programs", {"refresh": BOOL, "limit": LIMIT, "skip": SKIP}),
    Call("runtime", "program", {"program_id": IDENT, "refresh": BOOL}),
    Call("runtime", "set_program_visibility", {"program_id": IDENT, "public": BOOL}),
    Call("runtime", "delete_program", {"program_id": IDENT}),
    Call("runtime", "job", {"job_id": IDENT}),
    Call("runtime", "delete_job", {"job_id": IDENT}),
    Call(
        "runtime",
        "jobs",
        {"limit": LIMIT, "skip": SKIP, "pending": OPT_BOOL, "program_id": OPT_IDENT},
    ),
    Call(
        "runtime",
        "run",
        {"program_id": IDENT, "inputs": MAPPING},
        extra={"options": {"backend_name": "ibmq_qasm_simulator"}},
    ),
    Call(
        "runtime",
        "update_program",
        {
            "program_id": IDENT,
            "name": OPT_TEXT,
            "description": OPT_TEXT,
            "max_execution_time": COST,
        },
    ),
    Call(
        "runtime",
        "upload_program",
        {
            "name": REQUIRED,
            "description": REQUIRED,
            "max_execution_time": COST,
            "is_public": OPT_BOOL,
        },
        extra={"data": "def main(backend, user_messenger, **kwargs):\n    return 1\n"},
    ),
    # -- ExperimentData ---------------------------------------------------------------------
    Call(
        "data_new",
        "ExperimentData",
        {
            "experiment_type": OPT_TEXT,
            "experiment_id": OPT_IDENT,
            "parent_id": OPT_IDENT,
            "job_ids": STRINGS,
            "tags": STRINGS,
            "metadata": OPT_MAPPING,
            "share_level": SHARE,
            "notes": OPT_TEXT,
        },
    ),
    Call("data", "save", {"max_workers": WORKERS}),
    Call("data", "block_for_results", {"timeout": SECONDS}),
    Call(
        "data",
        "analysis_results",
        {"refresh": BOOL, "block": BOOL, "timeout": SECONDS, "dataframe": Kind(False, _not(bool))},
    ),
    Call("data", "add_tags_recursive", {"tags2add": STRINGS}),
    Call("data", "remove_tags_recursive", {"tags2remove": STRINGS}),
    Call("data_load", "load", {"experiment_id": IDENT}),
]

CASES = [
    pytest.param(call, name, which, id=f"{call.method}-{name}-{which}")
    for call in CALLS
    for name, kind in call.kinds.items()
    for which in ("type", "value")
    if (kind.wrong_type if which == "type" else kind.bad_value) is not None
]


# -- a provider whose service answers nothing ---------------------------------------------------


@attrs.define
class World:
    """A provider connected through a router that mocks only login and discovery."""

    loop: asyncio.AbstractEventLoop
    provider: Provider
    router: respx.MockRouter

    def run(self, factory: Callable[[], Any]) -> Any:
        """Call ``factory`` on the provider's loop; await what it returns if that is a
        coroutine (a ``Pager`` must have raised at once: it is returned unawaited)."""

        async def inside() -> Any:
            result = factory()
            if inspect.iscoroutine(result):
                return await result
            return result

        return self.loop.run_until_complete(inside())

    def sent(self) -> list[httpx.Request]:
        """The requests made after login and discovery."""
        return [call.request for call in self.router.calls][LOGIN_CALLS:]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    loop = asyncio.new_event_loop()
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router)
    # anything else is recorded and refused (400: not retried)
    router.route(name="service").mock(
        return_value=httpx.Response(400, json={"error": {"code": 400, "message": "no"}})
    )
    stack = contextlib.AsyncExitStack()
    try:
        provider = loop.run_until_complete(stack.enter_async_context(connect(router)))
        yield World(loop, provider, router)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def _invoke(world: World, call: Call, arguments: dict[str, Any]) -> Any:
    provider = world.provider
    if call.target == "experiment":
        return world.run(lambda: getattr(provider.experiment, call.method)(**arguments))
    if call.target == "runtime":
        return world.run(lambda: getattr(provider.runtime, call.method)(**arguments))
    if call.target == "data_new":

        async def construct() -> ExperimentData:
            data = ExperimentData(service=provider, **arguments)
            await data.aclose()  # (made: the arguments were valid)
            return data

        return world.run(construct)
    if call.target == "data_load":
        return world.run(lambda: ExperimentData.load(service=provider, **arguments))

    async def on_a_container() -> Any:
        async with ExperimentData(
            service=provider, experiment_type="T1", backend="ibmq_lima"
        ) as data:
            return await _maybe_await(getattr(data, call.method)(**arguments))

    return world.run(on_a_container)


def _no_pager(result: Any) -> None:
    """A listing must raise at once: a ``Pager`` made of bad arguments is a failure."""
    if isinstance(result, Pager):
        pytest.fail("a pager was returned: the arguments were not checked at once")


async def _maybe_await(result: Any) -> Any:
    if inspect.iscoroutine(result):
        return await result
    return result


@pytest.mark.parametrize(("call", "name", "which"), CASES)
def test_a_wrong_argument_raises_before_any_request(
    world: World, call: Call, name: str, which: str
) -> None:
    kind = call.kinds[name]
    strategy = kind.wrong_type if which == "type" else kind.bad_value
    assert strategy is not None
    expected = TypeError if which == "type" else ValueError

    @SETTINGS
    @given(value=strategy)
    def check(value: Any) -> None:
        before = len(world.sent())
        with pytest.raises(expected):
            _no_pager(_invoke(world, call, call.arguments(name, value)))
        assert world.sent()[before:] == []

    check()


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.method)
def test_the_valid_arguments_pass_validation(world: World, call: Call) -> None:
    """The base arguments are valid: with them, a call gets as far as the service (which
    answers nothing here), so the failures above are the drawn argument's."""
    before = len(world.sent())
    try:
        result = _invoke(world, call, call.arguments(next(iter(call.kinds)), _valid(call)))
        if isinstance(result, Pager):
            world.run(lambda: _maybe_await(result.__anext__()))
    except (TypeError, ValueError) as exc:
        pytest.fail(f"{call.method} refused its valid arguments: {exc!r}")
    except Exception:
        pass  # a request reached the (unmocked) service
    if call.target in ("experiment", "runtime", "data_load"):
        assert len(world.sent()) > before, f"{call.method} sent nothing with valid arguments"


def _valid(call: Call) -> Any:
    return next(iter(call.kinds.values())).valid
