"""Scenario 1 (bulk save), the client side: one contender per process.

Every contender makes the same HTTP requests against the same emulator:

* 1 ``POST /experiments``,
* ``results`` x ``POST /analysis_results`` (the body our client sends: uuid, experiment_uuid,
  type, fit, device_components, quality, verified),
* ``figures`` x (``GET /experiments/{id}/plots/upload/{name}`` then ``PUT`` of a 20 KB SVG to
  the signed URL it returns).

Login happens before the clock starts. The timed phase is exactly those requests; wall time,
CPU (``getrusage``, every thread) and the loop-lag probe cover only it. Peak RSS is the
process's (``ru_maxrss``, imports included); ``rss_start_mb``/``rss_peak_mb`` are the resident
memory when the clock started and its peak during the timed phase (sampled every 10 ms).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._common import LATENCY_MS, TOKEN, RssSampler, measure_self, percentile

JSON = {"Content-Type": "application/json"}
VERSION = "bench"


def make_svg(index: int, size: int = 20 * 1024) -> bytes:
    """A valid SVG document of exactly ``size`` bytes (distinct per ``index``)."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><!-- figure {index} -->'
    ).encode()
    tail = b"</svg>"
    rect = b'<rect x="10" y="10" width="20" height="20" fill="#3366cc"/>'
    room = max(0, size - len(head) - len(tail))
    body = rect * (room // len(rect))
    body += b" " * (room - len(body))
    return head + body + tail


def result_value(i: int) -> float:
    """The value of result ``i``."""
    return 1.0e-5 * (i + 1)


def wire_fit(i: int) -> dict[str, Any]:
    """The ``fit`` our client sends for result ``i`` (what ``AnalysisResultData`` encodes)."""
    value = result_value(i)
    return {
        "_value": value,
        "_extra": {"experiment": "T1", "run_time": None},
        "_source": {
            "class": "async_qexp.AnalysisResultData",
            "data_version": 1,
            "async_qexp_version": VERSION,
        },
        "value": value,
    }


def result_body(i: int, exp_id: str) -> dict[str, Any]:
    """The ``POST /analysis_results`` body of result ``i``."""
    return {
        "uuid": str(uuid.uuid4()),
        "experiment_uuid": exp_id,
        "type": "T1",
        "fit": wire_fit(i),
        "device_components": [f"Q{i % 5}"],
        "quality": "Good",
        "verified": False,
    }


def experiment_body(exp_id: str) -> dict[str, Any]:
    """The ``POST /experiments`` body."""
    return {
        "uuid": exp_id,
        "type": "T1",
        "device_name": "ibmq_lima",
        "extra": {"_source": {"class": "bench", "metadata_version": 1}},
        "hub_id": "ibm-q",
        "group_id": "open",
        "project_id": "main",
        "start_time": "2026-01-01T00:00:00.000000Z",
    }


def jobs(n_results: int, n_figures: int) -> Iterator[tuple[str, int]]:
    """The work items, results first, then figures (the order ``save()`` uses)."""
    for i in range(n_results):
        yield "result", i
    for i in range(n_figures):
        yield "figure", i


def figure_name(i: int) -> str:
    """The name of figure ``i``."""
    return f"figure_{i:04d}.svg"


class Probe:
    """Event-loop lag: sleep 5 ms, see how late the loop wakes us (``loop.time()``)."""

    INTERVAL = 0.005

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(self.INTERVAL)
            self.lags.append(loop.time() - t0 - self.INTERVAL)

    def start(self) -> None:
        """Start probing on the running loop."""
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> dict[str, float]:
        """Stop; return p50/p99/max lag in milliseconds."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        ms = [x * 1000 for x in self.lags]
        return {
            "lag_p50_ms": percentile(ms, 50),
            "lag_p99_ms": percentile(ms, 99),
            "lag_max_ms": max(ms) if ms else float("nan"),
            "lag_samples": len(ms),
        }


class Timed:
    """Wall clock, CPU and RSS of the timed phase."""

    def __enter__(self) -> Timed:
        self.rss = RssSampler(0.01)
        self.rss.__enter__()
        self.cpu0 = measure_self()["cpu_s"]
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.t0
        self.cpu_s = measure_self()["cpu_s"] - self.cpu0
        self.rss.__exit__()

    def result(self, requests: int, **extra: Any) -> dict[str, Any]:
        """The measurement as a dict."""
        return {
            "wall_s": self.wall_s,
            "requests": requests,
            "req_per_s": requests / self.wall_s if self.wall_s else float("nan"),
            "cpu_s": self.cpu_s,
            "cpu_ms_per_req": 1000 * self.cpu_s / requests if requests else float("nan"),
            "rss_start_mb": self.rss.start_mb,
            "rss_peak_mb": self.rss.peak_mb,
            "peak_rss_mb": measure_self()["peak_rss_mb"],
            "cpu_total_s": measure_self()["cpu_s"],
            **extra,
        }


# -- (a) ExperimentData.save() and (b) ExperimentService calls ----------------------------


async def _provider(url: str, concurrency: int | str, transport: str | None = None) -> Any:
    from async_qexp import Provider

    options: dict[str, Any] = {"max_in_flight": concurrency}
    if transport:
        options["transport"] = transport
    provider = Provider(TOKEN, url, **options)
    await provider.connect()
    return provider


def _count_requests(provider: Any) -> list[int]:
    """Count every request the provider sends (retries included), at its transport."""
    counter = [0]
    transport = provider.http.client._transport  # the one transport of the shared client
    # (the built-in transports take every request through ``exchange``)
    method = "exchange" if hasattr(transport, "exchange") else "handle_async_request"
    send = getattr(transport, method)

    async def counting(request: Any) -> Any:
        counter[0] += 1
        return await send(request)

    setattr(transport, method, counting)
    return counter


def _bound(provider: Any) -> dict[str, Any]:
    """The provider's bound on requests in flight at the end: its limit and the refusals."""
    snapshot = provider.concurrency
    return {"final_limit": snapshot.limit, "refusals": snapshot.refusals}


async def _timed_save(
    provider: Any, n_results: int, n_figures: int, concurrency: int | None
) -> dict[str, Any]:
    """Fill a container (untimed), then time ``save(max_workers=concurrency)`` (``None``:
    the default, which follows the provider's bound) with the loop-lag probe running."""
    from async_qexp import ExperimentData

    counter = _count_requests(provider)
    exp = ExperimentData(
        service=provider,
        experiment_type="T1",
        backend="ibmq_lima",
        metadata={},
        verbose=False,
    )
    for i in range(n_results):
        exp.add_analysis_results(
            name="T1", value=result_value(i), quality="good", components=[f"Q{i % 5}"]
        )
    exp.add_figures(
        [make_svg(i) for i in range(n_figures)],
        figure_names=[figure_name(i) for i in range(n_figures)],
    )
    probe = Probe()
    probe.start()
    with Timed() as t:
        report = await exp.save(max_workers=concurrency)
    lag = await probe.stop()
    failures = len(report.all_failures())
    await exp.aclose()
    return t.result(counter[0], failures=failures, **lag, **_bound(provider))


async def run_save(url: str, n_results: int, n_figures: int, concurrency: int) -> dict[str, Any]:
    """(a) ``ExperimentData.save(max_workers=concurrency)``."""
    provider = await _provider(url, concurrency)
    try:
        return await _timed_save(provider, n_results, n_figures, concurrency)
    finally:
        await provider.aclose()


async def run_save_auto(url: str, n_results: int, n_figures: int) -> dict[str, Any]:
    """(a, defaults) ``Provider()`` and ``save()`` with no concurrency given: the adaptive
    bound (``max_in_flight="auto"``)."""
    provider = await _provider(url, "auto")
    try:
        return await _timed_save(provider, n_results, n_figures, None)
    finally:
        await provider.aclose()


async def run_noop_save(url: str, n_results: int) -> dict[str, Any]:
    """A ``save()`` with nothing changed on ``n_results`` held results: CPU of each (after
    one save that stored them, untimed)."""
    from async_qexp import ExperimentData

    provider = await _provider(url, "auto")
    try:
        exp = ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima")
        for i in range(n_results):
            exp.add_analysis_results(
                name="T1", value=result_value(i), quality="good", components=[f"Q{i % 5}"]
            )
        first = await exp.save()
        times = []
        sent = 0
        for _ in range(9):
            cpu0 = measure_self()["cpu_s"]
            report = await exp.save()
            times.append(1000 * (measure_self()["cpu_s"] - cpu0))
            sent += report.total_sent
        await exp.aclose()
        times.sort()
        return {
            "held": n_results,
            "first_save_sent": first.total_sent,
            "noop_sent": sent,
            "noop_cpu_ms_median": times[len(times) // 2],
            "noop_cpu_ms_max": times[-1],
            "noop_cpu_ms_all": [round(x, 3) for x in times],
            "failures": len(first.all_failures()),
        }
    finally:
        await provider.aclose()


async def run_save_local(n_results: int, n_figures: int, concurrency: int) -> dict[str, Any]:
    """(a') the same save through ``Provider.local()``: the embedded emulator on its own
    thread and loop, in this process (so the client CPU includes the emulator's); what this
    contender is for is the client's loop lag while its own emulator is busy."""
    from async_qexp import Provider
    from async_qexp.emulator import EmulatorConfig

    config = EmulatorConfig(latency_ms=LATENCY_MS)
    async with Provider.local(TOKEN, emulator=config, max_in_flight=concurrency) as provider:
        return await _timed_save(provider, n_results, n_figures, concurrency)


async def run_service(
    url: str, n_results: int, n_figures: int, concurrency: int, transport: str | None = None
) -> dict[str, Any]:
    """(b) ``create_experiment`` + ``create_analysis_result`` + ``create_figure``, with
    ``concurrency`` worker tasks."""
    provider = await _provider(url, concurrency, transport)
    try:
        counter = _count_requests(provider)
        service = provider.experiment
        svgs = [make_svg(i) for i in range(n_figures)]
        failures = 0
        probe = Probe()
        probe.start()
        with Timed() as t:
            exp_id = await service.create_experiment(
                "T1", "ibmq_lima", metadata={"_source": {"class": "bench"}}
            )
            it = jobs(n_results, n_figures)

            async def worker() -> None:
                nonlocal failures
                for kind, i in it:
                    try:
                        if kind == "result":
                            await service.create_analysis_result(
                                exp_id,
                                wire_fit(i),
                                "T1",
                                device_components=[f"Q{i % 5}"],
                                quality="good",
                                verified=False,
                            )
                        else:
                            await service.create_figure(exp_id, svgs[i], figure_name(i))
                    except Exception:
                        failures += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        lag = await probe.stop()
        return t.result(counter[0], failures=failures, **lag)
    finally:
        await provider.aclose()


# -- (c) the floor: bare aiohttp ----------------------------------------------------------


async def run_raw_aiohttp(
    url: str, n_results: int, n_figures: int, concurrency: int
) -> dict[str, Any]:
    """(c) A minimal aiohttp loop: one session, ``concurrency`` workers, none of our code."""
    import aiohttp

    rdb = url + "/resultsdb"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            url + "/users/loginWithToken", json={"apiToken": TOKEN}
        ) as response:
            access = (await response.json())["id"]
        session.headers["X-Access-Token"] = access
        svgs = [make_svg(i) for i in range(n_figures)]
        count = failures = 0
        probe = Probe()
        probe.start()
        with Timed() as t:
            exp_id = str(uuid.uuid4())
            async with session.post(
                rdb + "/experiments", data=json.dumps(experiment_body(exp_id)), headers=JSON
            ) as response:
                await response.read()
                count += 1
                failures += response.status >= 300
            it = jobs(n_results, n_figures)

            async def worker() -> None:
                nonlocal count, failures
                for kind, i in it:
                    if kind == "result":
                        data = json.dumps(result_body(i, exp_id))
                        async with session.post(
                            rdb + "/analysis_results", data=data, headers=JSON
                        ) as response:
                            await response.read()
                        count += 1
                        failures += response.status >= 300
                    else:
                        async with session.get(
                            f"{rdb}/experiments/{exp_id}/plots/upload/{figure_name(i)}"
                        ) as response:
                            signed = json.loads(await response.read())["url"]
                        async with session.put(signed, data=svgs[i], headers=JSON) as response:
                            await response.read()
                        count += 2
                        failures += response.status >= 300

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        lag = await probe.stop()
    return t.result(count, failures=failures, **lag)


# -- (c') the same loop on httpx: default transport, and httpx-aiohttp --------------------


async def run_raw_httpx(
    url: str, n_results: int, n_figures: int, concurrency: int, transport: str
) -> dict[str, Any]:
    """(c') The minimal loop on ``httpx.AsyncClient`` over ``transport`` (``httpx`` = httpx's
    own pool, ``httpx-aiohttp`` = ``httpx_aiohttp.AiohttpTransport``)."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if transport == "httpx":
        tr: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
    else:
        from httpx_aiohttp import AiohttpTransport

        tr = AiohttpTransport(limits=limits)
    rdb = url + "/resultsdb"
    async with httpx.AsyncClient(transport=tr, timeout=60.0) as client:
        response = await client.post(url + "/users/loginWithToken", json={"apiToken": TOKEN})
        client.headers["X-Access-Token"] = response.json()["id"]
        svgs = [make_svg(i) for i in range(n_figures)]
        count = failures = 0
        probe = Probe()
        probe.start()
        with Timed() as t:
            exp_id = str(uuid.uuid4())
            response = await client.post(
                rdb + "/experiments", content=json.dumps(experiment_body(exp_id)), headers=JSON
            )
            count += 1
            failures += response.status_code >= 300
            it = jobs(n_results, n_figures)

            async def worker() -> None:
                nonlocal count, failures
                for kind, i in it:
                    if kind == "result":
                        response = await client.post(
                            rdb + "/analysis_results",
                            content=json.dumps(result_body(i, exp_id)),
                            headers=JSON,
                        )
                        count += 1
                    else:
                        response = await client.get(
                            f"{rdb}/experiments/{exp_id}/plots/upload/{figure_name(i)}"
                        )
                        signed = json.loads(response.content)["url"]
                        response = await client.put(signed, content=svgs[i], headers=JSON)
                        count += 2
                    failures += response.status_code >= 300

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        lag = await probe.stop()
    return t.result(count, failures=failures, **lag)


# -- (d) the sync way: requests in a thread pool ------------------------------------------


def run_requests(url: str, n_results: int, n_figures: int, workers: int) -> dict[str, Any]:
    """(d) ``requests`` in a ``ThreadPoolExecutor(workers)``, one shared Session whose pool
    holds ``workers`` connections (the sync clients share one session across threads)."""
    import requests
    from requests.adapters import HTTPAdapter

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    rdb = url + "/resultsdb"
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=workers))
    access = session.post(url + "/users/loginWithToken", json={"apiToken": TOKEN}).json()["id"]
    session.headers["X-Access-Token"] = access
    svgs = [make_svg(i) for i in range(n_figures)]

    with Timed() as t:
        exp_id = str(uuid.uuid4())
        first = session.post(
            rdb + "/experiments", data=json.dumps(experiment_body(exp_id)), headers=JSON
        )

        def one(job: tuple[str, int]) -> tuple[int, int]:
            kind, i = job
            if kind == "result":
                r = session.post(
                    rdb + "/analysis_results", data=json.dumps(result_body(i, exp_id)), headers=JSON
                )
                return 1, int(r.status_code >= 300)
            r = session.get(f"{rdb}/experiments/{exp_id}/plots/upload/{figure_name(i)}")
            r = session.put(r.json()["url"], data=svgs[i], headers=JSON)
            return 2, int(r.status_code >= 300)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(one, jobs(n_results, n_figures)))
    session.close()
    count = 1 + sum(c for c, _ in outcomes)
    failures = int(first.status_code >= 300) + sum(f for _, f in outcomes)
    return t.result(count, failures=failures)


CONTENDERS = {
    "save": "ExperimentData.save()",
    "save-local": "save() via Provider.local()",
    "save-auto": "save(), defaults (max_in_flight='auto')",
    "noop-save": "save() with nothing changed",
    "service": "ExperimentService calls",
    "aiohttp": "bare aiohttp loop (floor)",
    "httpx-aiohttp": "bare httpx over httpx-aiohttp",
    "httpx": "bare httpx, default transport",
    "service-httpx": "ExperimentService, transport=httpx",
    "requests-3": "requests, 3 threads",
    "requests-100": "requests, 100 threads",
    "dropin": "async_qexp.compat bulk calls",
    "reference": "qiskit-ibm-experiment bulk calls",
}


def run(name: str, url: str, n_results: int, n_figures: int, concurrency: int) -> dict[str, Any]:
    """Run one contender in this process."""
    if name == "save":
        out = asyncio.run(run_save(url, n_results, n_figures, concurrency))
    elif name == "save-auto":
        out = asyncio.run(run_save_auto(url, n_results, n_figures))
    elif name == "noop-save":
        out = asyncio.run(run_noop_save(url, n_results))
    elif name == "save-local":
        out = asyncio.run(run_save_local(n_results, n_figures, concurrency))
    elif name == "service":
        out = asyncio.run(run_service(url, n_results, n_figures, concurrency))
    elif name == "service-httpx":
        out = asyncio.run(run_service(url, n_results, n_figures, concurrency, "httpx"))
    elif name == "aiohttp":
        out = asyncio.run(run_raw_aiohttp(url, n_results, n_figures, concurrency))
    elif name in ("httpx", "httpx-aiohttp"):
        out = asyncio.run(run_raw_httpx(url, n_results, n_figures, concurrency, name))
    elif name in ("dropin", "reference"):
        from ._dropin_client import run_dropin, run_reference

        runner = run_dropin if name == "dropin" else run_reference
        out = runner(url, n_results, n_figures, concurrency)
    elif name.startswith("requests-"):
        out = run_requests(url, n_results, n_figures, int(name.split("-", 1)[1]))
    else:
        raise SystemExit(f"unknown contender {name!r}")
    return {"contender": name, **out}
