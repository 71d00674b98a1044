"""1,000 random cancellations of saves, pagers, result streams, job waits and service calls:
afterwards no task, socket, thread or file descriptor is left behind, and nothing reported
an exception nobody retrieved."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from async_qexp import ExperimentData, Provider, RuntimeJob

from ..helpers import UnretrievedExceptions, client_tasks
from ._support import CHAOS_RETRY, TOKEN, EmulatorProcess, Resources, settle, svg

pytestmark = [pytest.mark.chaos, pytest.mark.asyncio, pytest.mark.timeout(300)]

BACKEND = {"backend_name": "emulator_simulator"}
MAX_IN_FLIGHT = 16


class Operations:
    """The operations to cancel, each one call of a public API that takes a while."""

    def __init__(self, provider: Provider, job: RuntimeJob, rng: random.Random) -> None:
        self.provider = provider
        self.job = job
        self.rng = rng
        self.saved = 0

    async def save(self) -> None:
        data = ExperimentData(
            service=self.provider, experiment_type="Cancel", backend="b", verbose=False
        )
        try:
            for i in range(self.rng.randint(1, 30)):
                data.add_analysis_results(name="r", value=i)
            data.add_figures([svg(1), svg(2)], ["a", "b"])
            await data.save(max_workers=8)
            self.saved += 1
        finally:
            with anyio.CancelScope(shield=True):
                await data.aclose()

    async def pager(self) -> None:
        async with self.provider.experiment.experiments(limit=None, page_size=3) as pager:
            async for _ in pager:
                pass

    async def stream(self) -> None:
        async with self.job.stream_results() as stream:
            async for _ in stream:
                pass

    async def wait(self) -> None:
        await self.job.wait_for_final_state(wait=0.05)

    async def call(self) -> None:
        await self.provider.experiment.create_experiment("Cancel", "b")

    def pick(self, among: set[str] | None = None) -> Callable[[], Awaitable[None]]:
        """One operation at random (of those named in ``among``, if given)."""
        every = [self.save, self.pager, self.stream, self.wait, self.call]
        return self.rng.choice([op for op in every if among is None or op.__name__ in among])


@pytest.mark.parametrize(("transport", "cancellations"), [("aiohttp", 1000), ("httpx", 300)])
async def test_random_cancellations_leave_nothing_behind(
    tmp_path: Path, transport: str, cancellations: int
) -> None:
    server = EmulatorProcess(tmp_path / "cancel.sqlite", runtime=True)
    await anyio.to_thread.run_sync(server.start)
    try:
        before = Resources.now()
        rng = random.Random(2024)
        cancelled: dict[str, int] = {}
        completed = 0
        async with (
            UnretrievedExceptions() as reports,
            Provider(
                TOKEN,
                server.url,
                transport=transport,  # type: ignore[arg-type]
                retry=CHAOS_RETRY,
                max_in_flight=MAX_IN_FLIGHT,
            ) as provider,
        ):
            for _ in range(3):  # something for the pagers to page through
                await provider.experiment.create_experiment("Cancel", "b")
            job = await provider.runtime.run("burst", BACKEND, {"count": 1_000_000, "rate": 200})
            operations = Operations(provider, job, rng)
            kinds = {"save", "pager", "stream", "wait", "call"}
            least = cancellations // 100  # cancellations of each kind at the least

            def short() -> set[str]:
                return {kind for kind in kinds if cancelled.get(kind, 0) < least}

            with anyio.fail_after(240):
                while sum(cancelled.values()) < cancellations or short():
                    # Past the total, only the kinds cancelled too rarely yet: a quick call
                    # (a create is a millisecond) ends before most random deadlines.
                    enough = sum(cancelled.values()) >= cancellations
                    operation = operations.pick(short() if enough else None)
                    with anyio.move_on_after(rng.uniform(0, 0.03)) as scope:
                        await operation()
                    if scope.cancelled_caught:
                        cancelled[operation.__name__] = cancelled.get(operation.__name__, 0) + 1
                    else:
                        completed += 1
            # Still open: nothing the cancelled calls started is still running, and the
            # pool holds no more connections than it may.
            seen: list[object] = []

            def no_client_task() -> bool:
                seen[:] = [(t.get_name(), t.get_coro()) for t in client_tasks()]
                return not seen

            assert await settle(no_client_task, timeout=20), seen
            assert not job.streaming
            open_now = Resources.now()
            assert open_now.sockets - before.sockets <= MAX_IN_FLIGHT + 1
            await job.cancel()
        assert await settle(lambda: Resources.now() == before, timeout=20), (
            before,
            Resources.now(),
        )
        assert reports.messages == []
        assert set(cancelled) == kinds
        assert min(cancelled.values()) >= least, cancelled
        assert operations.saved + completed > 0
    finally:
        await anyio.to_thread.run_sync(server.stop)
