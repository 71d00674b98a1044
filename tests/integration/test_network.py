"""Proxies and TLS, for real: a forward proxy on loopback (``tests/forward_proxy.py``: absolute-URI
forwarding and ``CONNECT`` tunnels) and the emulator served over TLS with a test authority,
on both transports, the result stream's websocket included.

A proxy from the environment never carries loopback traffic, so the emulator is addressed as
``emulator.test``, a name the tests resolve to 127.0.0.1 (``fake_dns``) for the client and the
proxy alike.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp import Provider, RequestError, RetryPolicy
from async_qexp.emulator import Emulator, serve
from async_qexp.emulator.tls import TLSFiles, self_signed

from ..forward_proxy import ForwardProxy
from .conftest import FAST_RETRY

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

NAME = "emulator.test"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy and no trust from the machine's environment."""
    for name in (*PROXY_VARIABLES, "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """``emulator.test`` resolves to 127.0.0.1 (asyncio, aiohttp, anyio and websockets all ask
    ``socket.getaddrinfo`` at call time)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (NAME, NAME.encode()):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A test authority and a server certificate for ``emulator.test`` and the loopback."""
    return self_signed(tmp_path_factory.mktemp("tls"), [NAME, "localhost", "127.0.0.1"])


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """An authority that signed nothing the emulator serves."""
    return self_signed(tmp_path_factory.mktemp("other"), ["localhost"])


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as running:
        yield running


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with serve() as running:
        yield running


@pytest_asyncio.fixture
async def tls_emulator(tls: TLSFiles) -> AsyncIterator[Emulator]:
    async with serve(tls_certfile=tls.cert, tls_keyfile=tls.key) as running:
        yield running


def named(emulator: Emulator) -> str:
    """The emulator's URL with ``emulator.test`` for its host."""
    return emulator.url.replace("127.0.0.1", NAME)


async def session(provider: Provider, *, stream: bool = True) -> list[Any]:
    """A little of everything: a listing, a create, and a job whose messages are streamed
    (returned) over the websocket."""
    await provider.experiment.backends()
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    assert exp_id in [e.experiment_id for e in await provider.experiment.experiments()]
    if not stream:
        return []
    job = await provider.runtime.run(
        "hello-world", {"backend_name": "emulator_simulator"}, {"iterations": 1}
    )
    async with job.stream_results() as messages:
        received = [message async for message in messages]
    assert not messages.polled  # the websocket itself carried them
    return received


HELLO = [{"iteration": 0}, "Hello, World!"]


# -- proxies ------------------------------------------------------------------------------------


async def test_http_proxy_from_the_environment_carries_requests_and_the_stream(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, emulator: Emulator, transport: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with Provider("alice", named(emulator), transport=transport, retry=FAST_RETRY) as p:  # type: ignore[arg-type]
        assert await session(p) == HELLO
    forwarded = [x for x in proxy.passages if x.kind == "forward"]
    tunnels = [x for x in proxy.passages if x.kind == "connect"]
    # every HTTP request the emulator saw was forwarded by the proxy; the websocket tunnelled
    assert len(forwarded) == len(emulator.request_log) > 5
    assert {x.target for x in proxy.passages} == {f"{NAME}:{emulator.port}"}
    assert [x.target for x in tunnels] == [f"{NAME}:{emulator.port}"]


async def test_https_proxy_from_the_environment_tunnels_tls_and_wss(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    tls_emulator: Emulator,
    tls: TLSFiles,
    transport: str,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https: never used
    url = named(tls_emulator)
    assert url.startswith("https://")
    async with Provider("alice", url, transport=transport, verify=tls.ca) as p:  # type: ignore[arg-type]
        assert await session(p) == HELLO
    assert set(proxy.kinds()) == {"connect"}
    assert len(proxy.passages) >= 2  # the pool's connection(s), and the websocket's


async def test_all_proxy_is_the_fallback_of_both(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, emulator: Emulator, transport: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    async with Provider("alice", named(emulator), transport=transport) as p:  # type: ignore[arg-type]
        await session(p, stream=False)
    assert proxy.kinds()
    assert set(proxy.kinds()) == {"forward"}


@pytest.mark.parametrize("no_proxy", [NAME, ".test", "*", f"127.0.0.9,{NAME}:1,test"])
async def test_no_proxy_hosts_are_reached_directly(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    emulator: Emulator,
    transport: str,
    no_proxy: str,
) -> None:
    for name in PROXY_VARIABLES[:3]:
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("no_proxy", no_proxy)
    async with Provider("alice", named(emulator), transport=transport) as p:  # type: ignore[arg-type]
        assert await session(p, stream=no_proxy == NAME) in (HELLO, [])
    assert proxy.passages == []


async def test_loopback_hosts_never_go_through_an_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, emulator: Emulator, transport: str
) -> None:
    """So a local emulator works behind a corporate proxy without NO_PROXY (as Go does)."""
    for name in PROXY_VARIABLES[:3]:
        monkeypatch.setenv(name, proxy.url)
    assert emulator.url.startswith("http://127.0.0.1:")
    async with Provider("alice", emulator.url, transport=transport) as p:  # type: ignore[arg-type]
        assert await session(p) == HELLO
    async with Provider("alice", emulator.url.replace("127.0.0.1", "localhost")) as p:
        await session(p, stream=False)
    assert proxy.passages == []


async def test_trust_env_false_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    tls_emulator: Emulator,
    tls: TLSFiles,
    transport: str,
) -> None:
    for name in PROXY_VARIABLES[:3]:
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", tls.ca)
    url = named(tls_emulator)
    async with Provider(
        "alice",
        url,
        transport=transport,  # type: ignore[arg-type]
        trust_env=False,
        verify=tls.ca,
    ) as p:
        assert await session(p) == HELLO
    assert proxy.passages == []
    with pytest.raises(RequestError, match="certificate verification failed"):
        # without the environment's SSL_CERT_FILE, certifi's authorities know no test CA
        await Provider("alice", url, transport=transport, trust_env=False).connect()  # type: ignore[arg-type]


async def test_an_explicit_proxy_with_credentials_carries_everything(
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``proxy=`` wins over the environment and carries loopback traffic too."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with ForwardProxy(auth=("qexp user", "pr0xy-s3cret")) as proxy:
        address = proxy.url.replace("http://", "http://qexp%20user:pr0xy-s3cret@")
        async with Provider("alice", emulator.url, transport=transport, proxy=address) as p:  # type: ignore[arg-type]
            assert await session(p) == HELLO
            assert "pr0xy-s3cret" not in repr(p.http.network)
        assert proxy.refused == 0
        assert "forward" in proxy.kinds()
        assert "connect" in proxy.kinds()
        async with Provider(
            "alice",
            emulator.url,
            transport=transport,  # type: ignore[arg-type]
            proxy=httpx.Proxy(proxy.url, auth=("qexp user", "pr0xy-s3cret")),
        ) as p:
            await session(p, stream=False)
        assert proxy.refused == 0
    assert not [r for r in caplog.records if "pr0xy-s3cret" in r.getMessage()]


async def test_a_proxy_refusing_the_credentials_fails_at_once(
    tls_emulator: Emulator, tls: TLSFiles, transport: str
) -> None:
    async with ForwardProxy(auth=("user", "right")) as proxy:
        wrong = proxy.url.replace("http://", "http://user:wrong@")
        started = time.monotonic()
        with pytest.raises(RequestError, match="407") as info:
            await Provider(
                "alice",
                named(tls_emulator),
                transport=transport,  # type: ignore[arg-type]
                proxy=wrong,
                verify=tls.ca,
            ).connect()
        assert info.value.attempts == 1
        assert time.monotonic() - started < 3
        assert proxy.refused == 1
        assert "wrong" not in str(info.value)


async def test_a_dead_proxy_is_a_request_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, transport: str
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", dead)
    policy = RetryPolicy(max_attempts=2, backoff_initial=0.01, jitter=0)
    with pytest.raises(RequestError) as info:
        await Provider("alice", named(emulator), transport=transport, retry=policy).connect()  # type: ignore[arg-type]
    assert f"(through the proxy {dead})" in str(info.value)
    assert info.value.attempts == 2
    assert "after 2 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.TransportError)


# -- TLS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "context", "SSL_CERT_FILE", "SSL_CERT_DIR"])
async def test_the_emulator_over_tls_with_a_test_authority(
    monkeypatch: pytest.MonkeyPatch,
    tls_emulator: Emulator,
    tls: TLSFiles,
    transport: str,
    how: str,
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {}
    if how == "file":
        options["verify"] = tls.ca
    elif how == "context":
        options["verify"] = ssl.create_default_context(cafile=tls.ca)
    elif how == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", tls.ca)
    else:
        hashed = _hashed_directory(tls.ca, tmp_path)
        monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    async with Provider("alice", tls_emulator.url, transport=transport, **options) as p:  # type: ignore[arg-type]
        assert await session(p, stream=how in ("file", "SSL_CERT_DIR")) in (HELLO, [])


def _hashed_directory(ca: str, where: Path) -> Path:
    """A directory holding ``ca`` under its OpenSSL subject hash (what ``capath`` wants)."""
    import subprocess

    directory = where / "certs"
    directory.mkdir()
    digest = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", ca],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (directory / f"{digest}.0").write_bytes(Path(ca).read_bytes())
    return directory


async def test_verify_false_connects_and_says_so(
    tls_emulator: Emulator, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="async_qexp")
    async with Provider("alice", tls_emulator.url, transport=transport, verify=False) as p:  # type: ignore[arg-type]
        await session(p)
    assert any("not verified (verify=False)" in r.getMessage() for r in caplog.records)


async def test_a_wrong_authority_fails_fast_with_a_certificate_error(
    tls_emulator: Emulator, other_ca: TLSFiles, transport: str
) -> None:
    """With the default retry policy (6 attempts in 60 s): a certificate is not retried."""
    started = time.monotonic()
    with pytest.raises(RequestError) as info:
        await Provider("alice", tls_emulator.url, transport=transport, verify=other_ca.ca).connect()  # type: ignore[arg-type]
    took = time.monotonic() - started
    error = info.value
    assert "TLS certificate verification failed for 127.0.0.1" in str(error)
    assert "verify='ca.pem'" in str(error)
    assert error.attempts == 1
    assert took < 3
    assert isinstance(error.__cause__, httpx.ConnectError)


async def test_https_at_a_plain_http_server_is_not_retried(transport: str) -> None:
    """An https URL at a plain HTTP server fails once, saying TLS."""
    async with serve() as plain:
        started = time.monotonic()
        with pytest.raises(RequestError, match="TLS handshake failed") as info:
            await Provider(
                "alice", plain.url.replace("http:", "https:"), transport=transport
            ).connect()  # type: ignore[arg-type]
        assert info.value.attempts == 1
        assert time.monotonic() - started < 3
