"""Stream a runtime program's interim results as they arrive, then print its final result.

Runs ``sample-program`` on the embedded emulator (or on the service named by ``QEXP_TOKEN`` /
``QEXP_URL``). The stream is an async iterator over the job's websocket; it reconnects by
itself, never repeats or loses a message, and ends when the job is done. The program's return
value is the last message of the stream and is also what ``job.result()`` returns.

    python examples/stream_runtime.py
"""

from __future__ import annotations

import asyncio
import time

from async_qexp import Provider


async def main() -> None:
    """Run the example."""
    async with Provider.auto() as provider:
        job = await provider.runtime.run(
            "sample-program",
            options={"backend_name": "emulator_simulator"},
            inputs={"iterations": 5, "interim_delay": 0.2},
        )
        print(f"job {job.job_id} ({job.program_id} on {job.backend})")
        started = time.perf_counter()
        async with job.stream_results() as stream:
            async for message in stream:
                print(f"  +{time.perf_counter() - started:5.2f}s  interim: {message}")
        print(f"final: {await job.result()}")
        print(f"status: {(await job.status()).value}; stream reconnects: {stream.reconnects}")


if __name__ == "__main__":
    asyncio.run(main())
