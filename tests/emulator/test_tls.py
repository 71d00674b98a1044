"""The emulator over TLS: test certificates (``emulator/tls.py``), ``serve()`` with a certificate,
the result stream over ``wss``, a prompt shutdown, and the ``--tls-*`` options of the command."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import ssl
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from async_qexp.emulator import EmulatorConfig, serve
from async_qexp.emulator import tls as tls_module
from async_qexp.emulator.tls import TLSFiles, self_signed

from .runtime_helpers import access_token, run_job, wait_status

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["openssl", "cryptography"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> TLSFiles:
    """A throw-away authority and server certificate, made by each tool that is installed."""
    tool = request.param
    if tool == "openssl" and shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    if tool == "cryptography":
        pytest.importorskip("cryptography")
    return self_signed(tmp_path, tool=tool)


def _handshake(files: TLSFiles, server_name: str) -> None:
    """A TLS handshake in memory: a client trusting ``files.ca`` asks for ``server_name``."""
    client_ctx = ssl.create_default_context(cafile=files.ca)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert, files.key)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client_done = server_done = False
    for _ in range(20):
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
        c_in.write(s_out.read())
        if client_done and server_done:
            return
    raise AssertionError("the handshake did not finish")


def test_the_certificate_is_for_the_loopback_names(files: TLSFiles) -> None:
    for name in ("localhost", "127.0.0.1", "::1"):
        _handshake(files, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files, "example.com")
    assert Path(files.key).stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in Path(files.ca).parent.iterdir()) == [
        "ca.pem",
        "cert.pem",
        "key.pem",
    ]


def test_other_hosts_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = self_signed(tmp_path, ["emulator.test", "[::1]"])
    _handshake(made, "emulator.test")
    _handshake(made, "::1")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(made, "localhost")
    with pytest.raises(ValueError, match="at least one host"):
        self_signed(tmp_path, [])
    monkeypatch.setattr(tls_module, "find_spec", lambda name: None)
    monkeypatch.setattr(tls_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="cryptography package or openssl"):
        self_signed(tmp_path)
    with pytest.raises(ValueError, match="go together"):
        EmulatorConfig(tls_certfile=made.cert)


@pytest.mark.asyncio
async def test_serve_over_tls_and_stream_over_wss(files: TLSFiles) -> None:
    trust = ssl.create_default_context(cafile=files.ca)
    async with serve(tls_certfile=files.cert, tls_keyfile=Path(files.key)) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.runtime_url == emu.url + "/runtime"
        async with httpx.AsyncClient(base_url=emu.url, verify=trust) as c:
            r = await c.post("/api/users/loginWithToken", json={"apiToken": "t"})
            token = r.json()["id"]
            me = (await c.get("/api/users/me", headers={"X-Access-Token": token})).json()
            host = emu.url.removeprefix("https://")
            assert me["urls"]["http"] == f"https://{host}/api"
            assert me["urls"]["ws"] == f"wss://{host}/ws"
            assert me["urls"]["services"]["runtime"] == f"https://{host}/runtime"
        async with httpx.AsyncClient(
            base_url=emu.runtime_url, verify=trust, headers={"X-Access-Token": token}
        ) as rt:
            job_id = await run_job(rt, "hello-world", {"iterations": 2})
            await wait_status(rt, job_id)
        # what the old provider does: the runtime URL with https replaced by wss
        stream = me["urls"]["services"]["runtime"].replace("https", "wss")
        frames = []
        async with connect(
            f"{stream}/stream/jobs/{job_id}",
            ssl=trust,
            additional_headers={"X-Access-Token": token},
        ) as ws:
            async for frame in ws:
                frames.append(frame)
            assert ws.close_code == 1000
        assert frames[0] == "ACK"
        assert [json.loads(f) for f in frames[1:]] == [
            {"iteration": 0},
            {"iteration": 1},
            "Hello, World!",
        ]
        untrusting = ssl.create_default_context()
        async with httpx.AsyncClient(verify=untrusting) as stranger:
            with pytest.raises(httpx.ConnectError):
                await stranger.get(emu.url + "/version")


@pytest.mark.asyncio
async def test_an_idle_keep_alive_client_does_not_hold_the_shutdown(files: TLSFiles) -> None:
    trust = ssl.create_default_context(cafile=files.ca)
    async with httpx.AsyncClient(verify=trust) as idle:
        async with serve(tls_certfile=files.cert, tls_keyfile=files.key) as emu:
            assert (await idle.get(emu.url + "/version")).status_code == 200
            started = time.monotonic()
        # without the reaper this waited for uvicorn's 5 s graceful-shutdown timeout
        assert time.monotonic() - started < 2.5


def _stream_and_keep_the_socket(
    trust: ssl.SSLContext, port: int, job_id: str, token: str
) -> tuple[ssl.SSLSocket, list[int]]:
    """Read a job's stream with a blocking socket, as websocket-client does: answer the
    server's close frame, then stop reading (so no close_notify goes back) and keep the socket.
    Returns the socket and the opcodes of the frames read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = trust.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /runtime/stream/jobs/{job_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-Access-Token: {token}\r\n\r\n".encode()
        )
        stream = sock.makefile("rb", buffering=0)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += stream.read(1)
        assert b" 101 " in head, head
        opcodes: list[int] = []
        while not opcodes or opcodes[-1] != 8:  # until the server's close frame
            first, length = stream.read(2)
            assert length < 126  # short frames, unmasked
            stream.read(length)
            opcodes.append(first & 0x0F)
        stream.close()
        mask = os.urandom(4)
        code = (1000).to_bytes(2, "big")
        sock.sendall(bytes([0x88, 0x82, *mask, *(b ^ mask[i % 4] for i, b in enumerate(code))]))
    except BaseException:
        sock.close()
        raise
    return sock, opcodes


@pytest.mark.asyncio
async def test_a_client_that_keeps_its_closed_websocket_does_not_hold_the_shutdown(
    files: TLSFiles,
) -> None:
    """What qiskit-ibmq-provider 0.20.2 (websocket-client 1.8) does after a stream ends."""
    trust = ssl.create_default_context(cafile=files.ca)
    kept: list[ssl.SSLSocket] = []
    try:
        async with serve(tls_certfile=files.cert, tls_keyfile=files.key) as emu:
            token = await access_token(emu.url, "t", verify=trust)
            async with httpx.AsyncClient(
                base_url=emu.runtime_url, verify=trust, headers={"X-Access-Token": token}
            ) as rt:
                job_id = await run_job(rt, "hello-world", {"iterations": 1})
                await wait_status(rt, job_id)
            # Several times: whether the client's close frame comes before the server's app
            # returns is a race (uvicorn closes twice if it does; see runtime/stream.py).
            for _ in range(5):
                sock, opcodes = await asyncio.to_thread(
                    _stream_and_keep_the_socket, trust, emu.port, job_id, token
                )
                kept.append(sock)
                assert opcodes == [1, 1, 1, 8]  # ACK, the interim result, the final one, close
            await asyncio.sleep(0.3)  # the server closes its side and waits for close_notify
            started = time.monotonic()
        took = time.monotonic() - started
    finally:
        for sock in kept:
            sock.close()
    assert took < 2.5  # uvicorn's graceful-shutdown timeout is 5 s


async def _cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--host", "127.0.0.1", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_tls_self_signed() -> None:
    proc = await _cli("--tls-self-signed")
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("tls ca "), first
        ca = Path(first.split(maxsplit=2)[2].strip())
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("listening on https://127.0.0.1:"), line
        url = line.split()[-1]
        trust = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(verify=trust) as c:
            assert (await c.get(url + "/version")).json()["api-auth"]
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert not ca.parent.exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.communicate()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_tls_cert_and_key(tmp_path: Path) -> None:
    made = self_signed(tmp_path)
    proc = await _cli("--tls-cert", made.cert, "--tls-key", made.key)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("listening on https://127.0.0.1:"), line
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=made.ca)) as c:
            assert (await c.get(line.split()[-1] + "/version")).status_code == 200
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.communicate()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--tls-cert", "cert.pem"], 2, "go together"),
        (["--tls-self-signed", "--tls-cert", "c", "--tls-key", "k"], 2, "replaces"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.pem"], 1, "error:"),
    ],
)
async def test_cli_tls_errors(args: list[str], code: int, message: str) -> None:
    proc = await _cli(*args)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == code
    assert message in err.decode()
