"""The visibility matrix: who may do what, on every route, table-driven.

Five users stand in every relation to an owner: the owner, a member of the same
hub/group/project, of the same hub and group (another project), of the same hub (another
group), and of another hub. For each of the five share levels the owner stores an experiment
with an analysis result, a figure and a file; every user then calls every route, and each cell
must answer as ``docs/protocol.md`` says the service does:

* a **read** is ``200`` when the share level lets the caller see the experiment, else ``404``
  (as if it did not exist);
* a **list** holds the entry exactly when the caller may see it;
* a **write** (update, delete, a result, a figure or a file added or removed) is ``2xx`` for
  the owner, ``403`` for anyone else who may see it, ``404`` for anyone who may not;
* a child experiment may name a visible parent; an invisible one is refused like a missing one.

Runtime programs are seen by their owner, and by everyone once public; only the owner changes
them. Jobs, their results, logs and result stream are the owner's alone.
"""

from __future__ import annotations

import json
import uuid as uuids
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from async_qexp.emulator import Emulator, EmulatorConfig, UserSpec, serve

from .conftest import login_client
from .runtime_helpers import access_token, b64, wait_status, ws_url

pytestmark = pytest.mark.asyncio

OWNER_HGP = "hub-a/group-1/proj-x"
RELATIONS = {
    "owner": OWNER_HGP,
    "project": OWNER_HGP,
    "group": "hub-a/group-1/proj-w",
    "hub": "hub-a/group-2/proj-y",
    "other": "hub-b/group-9/proj-z",
}
"""Each user's relation to the owner, and their hub/group/project."""
USERS = tuple(UserSpec(f"{rel}-token", rel, (hgp,)) for rel, hgp in RELATIONS.items())
LEVELS = ("private", "project", "group", "hub", "public")
SEES = {
    "owner": set(LEVELS),
    "project": {"project", "group", "hub", "public"},
    "group": {"group", "hub", "public"},
    "hub": {"hub", "public"},
    "other": {"public"},
}
"""The share levels each relation may see (the protocol's visibility model)."""

Expect = Callable[[str, bool], int | bool]
"""(caller's relation, may see) -> the status, or for a list whether the entry is in it."""


def read(relation: str, visible: bool) -> int:
    """A read: seen or not found."""
    return 200 if visible else 404


def write(ok: int) -> Expect:
    """A write: ``ok`` for the owner, 403 for another who may see it, else 404."""
    return lambda relation, visible: ok if relation == "owner" else 403 if visible else 404


def listed(relation: str, visible: bool) -> bool:
    """A list holds the entry exactly when it is visible."""
    return visible


def child(relation: str, visible: bool) -> int:
    """A child of a visible parent is created; an invisible parent reads as missing (400)."""
    return 201 if visible else 400


@attrs.frozen
class Stored:
    """What the owner stored for one share level."""

    experiment: str
    result: str
    plot: str = "fig.svg"
    file: str = "data.json"


Request = tuple[str, str, dict[str, Any]]


def _new() -> str:
    return str(uuids.uuid4())


def _legacy_plot(name: str) -> dict[str, Any]:
    return {"files": {"plot": (name, b"<svg>legacy</svg>", "image/svg+xml")}}


# (route, how to call it, what each cell expects); the owner's destructive calls come last.
EXPERIMENT_ROUTES: list[tuple[str, Callable[[Stored], Request], Expect]] = [
    ("get experiment", lambda s: ("GET", f"/experiments/{s.experiment}", {}), read),
    ("get result", lambda s: ("GET", f"/analysis_results/{s.result}", {}), read),
    ("list files", lambda s: ("GET", f"/experiments/{s.experiment}/files", {}), read),
    ("get figure", lambda s: ("GET", f"/experiments/{s.experiment}/plots/{s.plot}", {}), read),
    ("get file", lambda s: ("GET", f"/experiments/{s.experiment}/files/{s.file}", {}), read),
    ("list experiments", lambda s: ("GET", "/experiments", {"params": {"limit": 1000}}), listed),
    (
        "list results",
        lambda s: ("GET", "/analysis_results", {"params": {"limit": 1000}}),
        listed,
    ),
    (
        "list results of the experiment",
        lambda s: ("GET", "/analysis_results", {"params": {"experiment_uuid": s.experiment}}),
        listed,
    ),
    (
        "create a child",
        lambda s: (
            "POST",
            "/experiments",
            {
                "json": {
                    "uuid": _new(),
                    "type": "T1",
                    "device_name": "ibmq_lima",
                    "parent_experiment_uuid": s.experiment,
                }
            },
        ),
        child,
    ),
    (
        "update experiment",
        lambda s: ("PUT", f"/experiments/{s.experiment}", {"json": {"notes": "changed"}}),
        write(200),
    ),
    (
        "create result",
        lambda s: (
            "POST",
            "/analysis_results",
            {"json": {"uuid": _new(), "experiment_uuid": s.experiment, "type": "T1"}},
        ),
        write(201),
    ),
    (
        "update result",
        lambda s: ("PUT", f"/analysis_results/{s.result}", {"json": {"tags": ["changed"]}}),
        write(200),
    ),
    (
        "bulk-update results",
        lambda s: (
            "PUT",
            "/analysis_results/bulkupdate",
            {"json": {"analysis_results": [{"uuid": s.result, "verified": True}]}},
        ),
        write(200),
    ),
    (
        "figure upload URL",
        lambda s: ("GET", f"/experiments/{s.experiment}/plots/upload/new.svg", {}),
        write(200),
    ),
    (
        "file upload URL",
        lambda s: ("GET", f"/experiments/{s.experiment}/files/upload/new.json", {}),
        write(200),
    ),
    (
        "add figure (multipart)",
        lambda s: ("POST", f"/experiments/{s.experiment}/plots", _legacy_plot("legacy.svg")),
        write(200),
    ),
    (
        "replace figure (multipart)",
        lambda s: ("PUT", f"/experiments/{s.experiment}/plots/{s.plot}", _legacy_plot(s.plot)),
        write(200),
    ),
    (
        "delete figure",
        lambda s: ("DELETE", f"/experiments/{s.experiment}/plots/{s.plot}", {}),
        write(200),
    ),
    (
        "delete file",
        lambda s: ("DELETE", f"/experiments/{s.experiment}/files/{s.file}", {}),
        write(200),
    ),
    ("delete result", lambda s: ("DELETE", f"/analysis_results/{s.result}", {}), write(200)),
    (
        "delete experiment",
        lambda s: ("DELETE", f"/experiments/{s.experiment}", {}),
        write(200),
    ),
]


@pytest_asyncio.fixture
async def team() -> AsyncIterator[Emulator]:
    async with serve(EmulatorConfig(users=USERS)) as running:
        yield running


async def _clients(emu: Emulator) -> dict[str, httpx.AsyncClient]:
    return {rel: await login_client(emu.url, f"{rel}-token") for rel in RELATIONS}


async def _store(owner: httpx.AsyncClient, level: str) -> Stored:
    stored = Stored(_new(), _new())
    hub, group, project = OWNER_HGP.split("/")
    r = await owner.post(
        "/experiments",
        json={
            "uuid": stored.experiment,
            "type": "T1",
            "device_name": "ibmq_lima",
            "visibility": level,
            "notes": "original",
            "hub_id": hub,
            "group_id": group,
            "project_id": project,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == level
    r = await owner.post(
        "/analysis_results",
        json={"uuid": stored.result, "experiment_uuid": stored.experiment, "type": "T1"},
    )
    assert r.status_code == 201, r.text
    for kind, name in (("plots", stored.plot), ("files", stored.file)):
        r = await owner.get(f"/experiments/{stored.experiment}/{kind}/upload/{name}")
        assert r.status_code == 200, r.text
        put = await owner.put(r.json()["url"], content=b"<svg>original</svg>")
        assert put.status_code == 200, put.text
    return stored


def _contains(answer: httpx.Response, stored: Stored) -> bool:
    body = answer.json()
    entries = body.get("experiments", body.get("analysis_results", []))
    ids = {entry["uuid"] for entry in entries}
    return stored.experiment in ids or stored.result in ids


async def _unchanged(owner: httpx.AsyncClient, stored: Stored) -> list[str]:
    """What the other users' attempts changed (nothing may have)."""
    changes = []
    experiment = (await owner.get(f"/experiments/{stored.experiment}")).json()
    if experiment["notes"] != "original":
        changes.append(f"notes became {experiment['notes']!r}")
    if sorted(experiment["plot_names"]) != [stored.plot]:
        changes.append(f"figures became {experiment['plot_names']}")
    result = (await owner.get(f"/analysis_results/{stored.result}")).json()
    if result["tags"] or result["verified"]:
        changes.append(f"the result became {result}")
    figure = await owner.get(f"/experiments/{stored.experiment}/plots/{stored.plot}")
    if figure.content != b"<svg>original</svg>":
        changes.append("the figure was replaced")
    files = (await owner.get(f"/experiments/{stored.experiment}/files")).json()["files"]
    if [f["Key"] for f in files] != [stored.file]:
        changes.append(f"files became {files}")
    results = await owner.get("/analysis_results", params={"experiment_uuid": stored.experiment})
    if len(results.json()["analysis_results"]) != 1:
        changes.append("a result was added or removed")
    return changes


@pytest.mark.parametrize("level", LEVELS)
async def test_experiment_routes(team: Emulator, level: str) -> None:
    clients = await _clients(team)
    try:
        stored = await _store(clients["owner"], level)
        wrong: list[str] = []
        # everyone but the owner first: none of it may change anything
        for relation in [*[r for r in RELATIONS if r != "owner"], "owner"]:
            if relation == "owner":
                wrong += [
                    f"{level}: {change}" for change in await _unchanged(clients[relation], stored)
                ]
            visible = level in SEES[relation]
            for route, request, expect in EXPERIMENT_ROUTES:
                method, path, options = request(stored)
                answer = await clients[relation].request(method, path, **options)
                wanted = expect(relation, visible)
                if isinstance(wanted, bool):
                    got: int | bool = answer.status_code == 200 and _contains(answer, stored)
                elif answer.status_code >= 400:
                    got = answer.status_code
                    assert answer.json()["error"]["code"] == got  # the JSON error body
                else:
                    got = answer.status_code
                if got != wanted:
                    wrong.append(
                        f"{level} / {relation} / {route}: {got} where {wanted} was due "
                        f"({answer.text[:120]})"
                    )
        gone = await clients["owner"].get(f"/experiments/{stored.experiment}")
        assert gone.status_code == 404  # the owner's delete, at the end
        assert wrong == []
    finally:
        for client in clients.values():
            await client.aclose()


# -- runtime ---------------------------------------------------------------------------------

PROGRAM = "def main(backend, user_messenger, **kwargs):\n    return {'done': True}\n"

RUNTIME_ROUTES: list[tuple[str, Callable[[str, str], Request], Expect]] = [
    ("get program", lambda p, j: ("GET", f"/programs/{p}", {}), read),
    ("list programs", lambda p, j: ("GET", "/programs", {"params": {"limit": 1000}}), listed),
    (
        "run the program",
        lambda p, j: (
            "POST",
            "/jobs",
            {"json": {"program_id": p, "backend": "emulator_simulator", "params": {}}},
        ),
        read,  # anyone who sees a program may run it
    ),
    (
        "update program",
        lambda p, j: ("PATCH", f"/programs/{p}", {"json": {"description": "changed"}}),
        write(200),
    ),
    (
        "replace program data",
        lambda p, j: (
            "PUT",
            f"/programs/{p}/data",
            {"content": b64(PROGRAM), "headers": {"Content-Type": "application/octet-stream"}},
        ),
        write(200),
    ),
    ("make program public", lambda p, j: ("PUT", f"/programs/{p}/public", {}), write(200)),
    ("make program private", lambda p, j: ("PUT", f"/programs/{p}/private", {}), write(200)),
    ("get job", lambda p, j: ("GET", f"/jobs/{j}", {}), read),
    ("list jobs", lambda p, j: ("GET", "/jobs", {"params": {"limit": 1000}}), listed),
    ("job results", lambda p, j: ("GET", f"/jobs/{j}/results", {}), read),
    ("job interim results", lambda p, j: ("GET", f"/jobs/{j}/interim_results", {}), read),
    ("job logs", lambda p, j: ("GET", f"/jobs/{j}/logs", {}), read),
    (
        "cancel job",  # it has finished: a conflict for its owner, nothing for anyone else
        lambda p, j: ("POST", f"/jobs/{j}/cancel", {}),
        lambda relation, visible: 409 if visible else 404,
    ),
    ("delete job", lambda p, j: ("DELETE", f"/jobs/{j}", {}), read),
    ("delete program", lambda p, j: ("DELETE", f"/programs/{p}", {}), write(200)),
]


async def _runtime_clients(emu: Emulator) -> dict[str, httpx.AsyncClient]:
    clients = {}
    for relation in RELATIONS:
        token = await access_token(emu.url, f"{relation}-token")
        clients[relation] = httpx.AsyncClient(
            base_url=emu.runtime_url, headers={"X-Access-Token": token}, timeout=10
        )
    return clients


async def _stream_status(emu: Emulator, job_id: str, token: str) -> int:
    """101 when the result stream opens, else the status of the refused upgrade."""
    try:
        async with connect(ws_url(emu, job_id), additional_headers={"X-Access-Token": token}):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def _runtime_contains(answer: httpx.Response, program: str, job: str) -> bool:
    body = answer.json()
    ids = {entry["id"] for entry in body.get("programs", body.get("jobs", []))}
    return program in ids or job in ids


@pytest.mark.parametrize("public", [False, True], ids=["private program", "public program"])
async def test_runtime_routes(team: Emulator, public: bool) -> None:
    clients = await _runtime_clients(team)
    try:
        owner = clients["owner"]
        r = await owner.post(
            "/programs",
            content=json.dumps(
                {"name": "mine", "data": b64(PROGRAM), "cost": 60, "is_public": public}
            ),
        )
        assert r.status_code == 201, r.text
        program = r.json()["id"]
        hub, group, project = OWNER_HGP.split("/")
        r = await owner.post(
            "/jobs",
            json={
                "program_id": program,
                "backend": "emulator_simulator",
                "hub": hub,
                "group": group,
                "project": project,
                "params": {},
            },
        )
        assert r.status_code == 200, r.text
        job = r.json()["id"]
        assert (await wait_status(owner, job))["status"] == "COMPLETED"
        wrong: list[str] = []
        for relation in [*[r for r in RELATIONS if r != "owner"], "owner"]:
            token = clients[relation].headers["X-Access-Token"]
            owns = relation == "owner"
            stream = await _stream_status(team, job, token)
            if stream != (101 if owns else 404):
                wrong.append(f"{relation} / result stream: {stream}")
            for route, request, expect in RUNTIME_ROUTES:
                method, path, options = request(program, job)
                # a program is seen by its owner and, once public, by all; a job by its owner
                visible = owns or (public and "program" in route and "job" not in route)
                if route == "run the program":
                    visible = owns or public
                answer = await clients[relation].request(method, path, **options)
                wanted = expect(relation, visible)
                if isinstance(wanted, bool):
                    got: int | bool = answer.status_code == 200 and _runtime_contains(
                        answer, program, job
                    )
                else:
                    got = answer.status_code
                if got != wanted:
                    wrong.append(f"{relation} / {route}: {got} where {wanted} was due")
                if route == "make program private" and owns and public:
                    await owner.put(f"/programs/{program}/public")  # as it was
        assert wrong == []
        assert (await owner.get(f"/programs/{program}")).status_code == 404  # deleted at last
    finally:
        for client in clients.values():
            await client.aclose()
