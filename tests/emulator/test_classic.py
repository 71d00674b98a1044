"""The classic backends listing and backend status (``docs/protocol.md#classic-backends``), over
raw HTTP: what ``qiskit-ibmq-provider``'s ``IBMQ.enable_account()`` needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import DeviceSpec, Emulator, EmulatorConfig, serve

from .conftest import USERS, assert_error
from .runtime_helpers import SLEEPER, access_token, run_job, runtime_client, upload, wait_status

REQUIRED = {
    "backend_name", "backend_version", "n_qubits", "basis_gates", "gates", "local", "simulator",
    "conditional", "open_pulse", "memory", "max_shots", "coupling_map", "online_date",
}  # fmt: skip
DEFAULT_NAMES = [
    "emulator_simulator",
    "ibmq_athens",
    "ibmq_lima",
    "ibmq_manila",
    "ibmq_qasm_simulator",
]


def project(hgp: str, prefix: str = "/api") -> str:
    hub, group, proj = hgp.split("/")
    return f"{prefix}/Network/{hub}/Groups/{group}/Projects/{proj}/devices"


@pytest_asyncio.fixture
async def alice(team: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """Alice (in ibm-q/open/main and hub-a/group-1/proj-x) on the emulator's root."""
    token = await access_token(team.url, "alice-token")
    async with httpx.AsyncClient(base_url=team.url, headers={"X-Access-Token": token}) as c:
        yield c


async def _configs(client: httpx.AsyncClient, hgp: str, prefix: str = "/api") -> list[Any]:
    r = await client.get(project(hgp, prefix) + "/v/1")
    assert r.status_code == 200, r.text
    body: list[Any] = r.json()
    return body


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_every_project_of_the_user_lists_the_backends(
    alice: httpx.AsyncClient, prefix: str
) -> None:
    tree = (await alice.get(prefix + "/Network")).json()
    hgps = [
        f"{hub['name']}/{g}/{p}"
        for hub in tree
        for g, group in hub["groups"].items()
        for p in group["projects"]
    ]
    assert hgps == list(USERS[0].hgps)
    for hgp in hgps:
        configs = await _configs(alice, hgp, prefix)
        assert [c["backend_name"] for c in configs] == DEFAULT_NAMES
        for c in configs:
            assert set(c) >= REQUIRED, REQUIRED - set(c)
            assert c["n_qubits"] == 5
            assert c["simulator"] is ("simulator" in c["backend_name"])
            assert {g["name"] for g in c["gates"]} == set(c["basis_gates"]) - {"reset"}
            assert all({"name", "parameters", "qasm_def"} <= set(g) for g in c["gates"])
        by_name = {c["backend_name"]: c for c in configs}
        sim = by_name["emulator_simulator"]
        assert sim["coupling_map"] is None
        assert sim["input_allowed"] == ["job", "runtime"]
        assert by_name["ibmq_qasm_simulator"]["input_allowed"] == ["job", "runtime"]
        lima = by_name["ibmq_lima"]
        assert lima["input_allowed"] == ["job"]
        assert sorted(lima["coupling_map"]) == sorted(
            [[i, i + 1] for i in range(4)] + [[i + 1, i] for i in range(4)]
        )


@pytest.mark.asyncio
async def test_a_project_of_someone_else_or_no_token(
    alice: httpx.AsyncClient, team: Emulator
) -> None:
    assert_error(await alice.get(project("hub-b/group-9/proj-z") + "/v/1"), 404)
    assert_error(await alice.get(project("hub-b/group-9/proj-z") + "/ibmq_lima/queue/status"), 404)
    async with httpx.AsyncClient(base_url=team.url) as anonymous:
        assert_error(await anonymous.get(project("ibm-q/open/main") + "/v/1"), 401)
        bad = {"X-Access-Token": "nope"}
        assert_error(await anonymous.get(project("ibm-q/open/main") + "/v/1", headers=bad), 401)


@pytest.mark.asyncio
async def test_status_properties_and_defaults(alice: httpx.AsyncClient) -> None:
    base = project("hub-a/group-1/proj-x")
    for name in DEFAULT_NAMES:
        r = await alice.get(f"{base}/{name}/queue/status")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "state": True,
            "status": "active",
            "message": "",
            "lengthQueue": 0,
            "backend_version": "1.0.0",
        }
        assert (await alice.get(f"{base}/{name}/properties", params={"version": 1})).json() == {}
        assert (await alice.get(f"{base}/{name}/defaults")).json() == {}
    for suffix in ("queue/status", "properties", "defaults"):
        assert_error(await alice.get(f"{base}/no_such_backend/{suffix}"), 404)


@pytest.mark.asyncio
async def test_the_queue_length_counts_waiting_runtime_jobs() -> None:
    async with serve(runtime_concurrency=1) as emu:
        token = await access_token(emu.url, "token-1")
        h = {"X-Access-Token": token}
        status = project("ibm-q/open/main") + "/emulator_simulator/queue/status"
        async with (
            httpx.AsyncClient(base_url=emu.url, headers=h) as c,
            await runtime_client(emu) as rt,
        ):
            program = await upload(rt, "sleeper", SLEEPER)
            first = await run_job(rt, program, {"seconds": 30})
            await wait_status(rt, first, ("RUNNING",))
            waiting = [await run_job(rt, program, {"seconds": 30}) for _ in range(2)]
            assert (await c.get(status)).json()["lengthQueue"] == 2
            other = project("ibm-q/open/main") + "/ibmq_qasm_simulator/queue/status"
            assert (await c.get(other)).json()["lengthQueue"] == 0
            for job_id in [first, *waiting]:
                assert (await rt.post(f"/jobs/{job_id}/cancel")).status_code == 200
            assert (await c.get(status)).json()["lengthQueue"] == 0


@pytest.mark.asyncio
async def test_the_backends_follow_the_devices_and_the_runtime_backends() -> None:
    devices = [
        DeviceSpec("small_device", ["Q0", "Q1", "Q2", "R0"]),
        DeviceSpec("bare_device"),
        DeviceSpec("emulator_simulator", ["Q0"]),
    ]
    config = EmulatorConfig(
        devices=devices, runtime_backends=("extra_backend", "emulator_simulator")
    )
    async with serve(config) as emu:
        token = await access_token(emu.url, "token-1")
        async with httpx.AsyncClient(base_url=emu.url, headers={"X-Access-Token": token}) as c:
            configs = await _configs(c, "ibm-q/open/main")
    shape = {
        c["backend_name"]: (c["n_qubits"], c["simulator"], c["input_allowed"]) for c in configs
    }
    assert list(shape) == ["small_device", "bare_device", "emulator_simulator", "extra_backend"]
    assert shape == {
        "small_device": (3, False, ["job"]),
        "bare_device": (5, False, ["job"]),
        "emulator_simulator": (1, True, ["job", "runtime"]),
        "extra_backend": (5, False, ["job", "runtime"]),
    }
    small = next(c for c in configs if c["backend_name"] == "small_device")
    assert sorted(small["coupling_map"]) == [[0, 1], [1, 0], [1, 2], [2, 1]]


@pytest.mark.asyncio
async def test_without_the_runtime_no_backend_takes_runtime_jobs() -> None:
    async with serve(runtime=False) as emu:
        token = await access_token(emu.url, "token-1")
        async with httpx.AsyncClient(base_url=emu.url, headers={"X-Access-Token": token}) as c:
            configs = await _configs(c, "ibm-q/open/main", prefix="")
            r = await c.get(project("ibm-q/open/main") + "/emulator_simulator/queue/status")
    assert [c["backend_name"] for c in configs] == DEFAULT_NAMES
    assert all(c["input_allowed"] == ["job"] for c in configs)
    assert r.json()["lengthQueue"] == 0
