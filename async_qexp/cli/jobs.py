"""``qexp jobs`` and ``qexp programs``: run runtime programs, follow their messages, fetch
results, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..models import JobStatus, RuntimeEncoder, decode_envelopes, format_datetime
from .options import (
    Settings,
    all_option,
    json_object,
    json_option,
    limit_option,
    pass_settings,
    wide_option,
)
from .output import (
    echo_json,
    echo_json_line,
    echo_table,
    local_time,
    record_json,
    short_id,
)

if TYPE_CHECKING:
    from .._client import Provider
    from .._tasks import TaskOwner
    from ..models import RuntimeProgram
    from ..runtime import RuntimeJob

__all__ = ["jobs", "programs"]

CHECK_AFTER = 0.3
"""Seconds a message is held, waiting for the next one, before ``jobs tail`` asks the service
whether it was an interim result (the stream does not mark the final result as such)."""

_NOTHING: Any = object()


def job_json(job: RuntimeJob) -> dict[str, Any]:
    """A job as a JSON object (its status as last seen)."""
    created = job.creation_date
    return {
        "job_id": job.job_id,
        "program_id": job.program_id,
        "backend": job.backend,
        "status": job.cached_status.value,
        "creation_date": format_datetime(created) if created else None,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, cls=RuntimeEncoder, ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(
            json.dumps(a, cls=RuntimeEncoder, sort_keys=True)
            == json.dumps(b, cls=RuntimeEncoder, sort_keys=True)
        )
    except (TypeError, ValueError):  # pragma: no cover - decoded messages are JSON
        return False


def _echo_result(job_id: str, status: str, result: Any, as_json: bool, *, line: bool) -> None:
    if as_json:
        document = {"job_id": job_id, "type": "result", "status": status, "result": result}
        if line:
            echo_json_line(document)
        else:
            echo_json(document)
    elif line:
        click.echo(f"result: {_compact(result)}")
    elif isinstance(result, str):
        click.echo(result)
    else:
        click.echo(json.dumps(result, cls=RuntimeEncoder, indent=2, ensure_ascii=False))


async def _final_result(job: RuntimeJob, timeout: float | None) -> tuple[str, Any]:
    """``(status, result)`` once the job is final; a job without a result is an error."""
    status = await job.wait_for_final_state(timeout)
    if status is JobStatus.CANCELLED:
        raise click.ClickException(f"job {job.job_id} was cancelled; it has no result")
    return status.value, await job.result()


@click.group()
def jobs() -> None:
    """Runtime jobs: run, list, show, tail, result, cancel."""


@jobs.command("run")
@click.argument("program_id")
@click.option("--backend", required=True, help="The backend to run on.")
@click.option(
    "--inputs",
    default="{}",
    show_default=True,
    help="The program's inputs: a JSON object (runtime envelopes allowed), or @FILE.",
)
@click.option("--wait", is_flag=True, help="Wait for the job and print its result too.")
@click.option("--timeout", type=click.FloatRange(min=0), help="With --wait: seconds at most.")
@json_option
@pass_settings
def run_job(
    settings: Settings,
    program_id: str,
    backend: str,
    inputs: str,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Run a program and print the new job's id."""
    values = decode_envelopes(json_object(inputs, "--inputs"))

    async def run(provider: Provider) -> tuple[RuntimeJob, tuple[str, Any] | None]:
        job = await provider.runtime.run(program_id, {"backend_name": backend}, values)
        return job, (await _final_result(job, timeout) if wait else None)

    job, outcome = settings.run(run)
    if as_json:
        document = job_json(job)
        if outcome is not None:
            document.update(status=outcome[0], result=outcome[1])
        echo_json(document)
        return
    click.echo(job.job_id)
    if outcome is not None:
        _echo_result(job.job_id, outcome[0], outcome[1], False, line=False)


@jobs.command("list")
@click.option(
    "--pending/--finished", default=None, help="Only queued or running (or only final) jobs."
)
@click.option("--program", "program_id", help="Only jobs of this program.")
@limit_option(10, "jobs")
@all_option("job")
@json_option
@wide_option
@pass_settings
def list_jobs(
    settings: Settings,
    pending: bool | None,
    program_id: str | None,
    limit: int,
    every: bool,
    as_json: bool,
    wide: bool,
) -> None:
    """List jobs, newest first."""

    async def fetch(provider: Provider) -> list[RuntimeJob]:
        return await provider.runtime.jobs(
            limit=None if every else limit, pending=pending, program_id=program_id
        )

    found = settings.run(fetch)
    if as_json:
        echo_json([job_json(job) for job in found])
        return
    echo_table(
        ["ID", "PROGRAM", "BACKEND", "STATUS", "CREATED"],
        (
            [
                short_id(job.job_id, wide),
                job.program_id,
                job.backend,
                job.cached_status.value,
                local_time(job.creation_date),
            ]
            for job in found
        ),
        empty="no jobs",
    )


@jobs.command("show")
@click.argument("job_id")
@json_option
@pass_settings
def show_job(settings: Settings, job_id: str, as_json: bool) -> None:
    """Show a job and its status."""

    async def fetch(provider: Provider) -> RuntimeJob:
        return await provider.runtime.job(job_id)

    job = settings.run(fetch)
    if as_json:
        echo_json(job_json(job))
        return
    for name, value in (
        ("id", job.job_id),
        ("program", job.program_id),
        ("backend", job.backend),
        ("status", job.cached_status.value),
        ("created", local_time(job.creation_date)),
    ):
        click.echo(f"{name + ':':<9}{value}")


async def follow(job: RuntimeJob, emit: Callable[[Any], None], owner: TaskOwner) -> None:
    """Feed ``emit`` every interim message of ``job`` as it arrives (not the final result);
    the reading task belongs to ``owner``.

    The stream sends the program's final result as its last message, with nothing on the wire
    to tell it apart. So each message is held until the next one arrives (then it was an
    interim result), or until the stream ends (then it is compared with the job's result), or,
    if neither happens within :data:`CHECK_AFTER` seconds, until the service's list of
    interim results holds it.
    """
    held: Any = _NOTHING
    position = 0
    delay = CHECK_AFTER
    async with job.stream_results() as stream:
        messages = aiter(stream)

        async def next_message() -> Any:
            return await anext(messages, _NOTHING)

        pending = owner.spawn(next_message(), name=f"tail {job.job_id}")
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=None if held is _NOTHING else delay)
                if not done:
                    if len(await job.interim_results()) >= position:
                        emit(held)
                        held = _NOTHING
                    else:
                        delay = min(delay * 2, 5.0)
                    continue
                message = pending.result()
                if message is _NOTHING:
                    break
                if held is not _NOTHING:
                    emit(held)
                held, position, delay = message, position + 1, CHECK_AFTER
                pending = owner.spawn(next_message(), name=f"tail {job.job_id}")
        finally:
            pending.cancel()
            await asyncio.wait({pending})
    status = await job.wait_for_final_state()
    if held is not _NOTHING and (
        status is not JobStatus.DONE or not _same(held, await job.result())
    ):
        emit(held)


@jobs.command("tail")
@click.argument("job_id")
@json_option
@pass_settings
def tail_job(settings: Settings, job_id: str, as_json: bool) -> None:
    """Print each interim message of a job as it arrives, then its result.

    With --json: JSON lines, {"type": "interim", "message": ...} for each message, then
    {"type": "result", "status": ..., "result": ...}.
    """

    def emit(message: Any) -> None:
        if as_json:
            echo_json_line({"job_id": job_id, "type": "interim", "message": message})
        else:
            click.echo(f"interim: {_compact(message)}")

    async def tail(provider: Provider) -> tuple[str, Any]:
        job = await provider.runtime.job(job_id)
        await follow(job, emit, provider.tasks)
        return await _final_result(job, None)

    status, result = settings.run(tail)
    _echo_result(job_id, status, result, as_json, line=True)


@jobs.command("result")
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Seconds to wait at most.")
@json_option
@pass_settings
def job_result(settings: Settings, job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a job to finish and print its result."""

    async def fetch(provider: Provider) -> tuple[str, Any]:
        return await _final_result(await provider.runtime.job(job_id), timeout)

    status, result = settings.run(fetch)
    _echo_result(job_id, status, result, as_json, line=False)


@jobs.command("cancel")
@click.argument("job_id")
@json_option
@pass_settings
def cancel_job(settings: Settings, job_id: str, as_json: bool) -> None:
    """Cancel a job that has not finished."""

    async def cancel(provider: Provider) -> RuntimeJob:
        job = await provider.runtime.job(job_id)
        await job.cancel()
        return job

    job = settings.run(cancel)
    if as_json:
        echo_json(job_json(job))
    else:
        click.echo(f"cancelled {job.job_id}")


@click.group()
def programs() -> None:
    """Runtime programs: list."""


@programs.command("list")
@limit_option(20, "programs")
@all_option("program")
@json_option
@pass_settings
def list_programs(settings: Settings, limit: int, every: bool, as_json: bool) -> None:
    """List the programs you can run."""

    async def fetch(provider: Provider) -> list[RuntimeProgram]:
        return await provider.runtime.programs(limit=None if every else limit)

    found = settings.run(fetch)
    if as_json:
        echo_json([{k: v for k, v in record_json(p).items() if k != "data"} for p in found])
        return
    echo_table(
        ["ID", "NAME", "PUBLIC", "DESCRIPTION"],
        (
            [p.program_id, p.name, "yes" if p.is_public else "no", p.description or "-"]
            for p in found
        ),
        empty="no programs",
    )
