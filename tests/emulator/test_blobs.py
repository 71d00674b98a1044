"""Figures and files: the signed-URL upload flow, greedy names, download, delete
(``docs/protocol.md#figures``, ``#files``)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from async_qexp.emulator import serve

from .conftest import assert_error, create_exp, login_client

NAMES = [
    "figure_2022-07-29T12:49:45.123456.svg",
    "dir/sub/fig.svg",
    "/abs/path/fig.svg",
    "../../etc/passwd",
    "a%2Fb.svg",
    "ünïcødé 图 ✓.svg",
    "sp ace?&#x=1.svg",
    "upload.svg",
]


def q(name: str) -> str:
    """A name as a path: illegal characters escaped, existing escapes such as %2F kept
    (as HTTP libraries do), and dot segments escaped so the client does not collapse them."""
    return "/".join(
        "%2E%2E" if seg == ".." else "%2E" if seg == "." else seg
        for seg in quote(name, safe="/%").split("/")
    )


async def _upload(client: httpx.AsyncClient, kind: str, exp: str, name: str, data: bytes) -> None:
    r = await client.get(f"/experiments/{exp}/{kind}/upload/{q(name)}")
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert url.startswith("http://127.0.0.1:")
    # exactly as the sync client does: session headers + JSON content type on raw bytes
    r = await client.put(url, content=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.mark.asyncio
async def test_figures(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "f1")
    for i, name in enumerate(NAMES):
        await _upload(rdb, "plots", "f1", name, f"<svg>{i}</svg>".encode())
    exp = (await rdb.get("/experiments/f1")).json()
    # '%2F' is percent-decoded like the rest of the path (the client inserts names unescaped)
    stored = [n.replace("%2F", "/") for n in NAMES]
    assert exp["plot_names"] == stored
    for i, name in enumerate(NAMES):
        r = await rdb.get(f"/experiments/f1/plots/{q(name)}")
        assert r.status_code == 200, name
        assert r.content == f"<svg>{i}</svg>".encode()
    r = await rdb.get("/experiments/f1/plots/dir/sub/fig.svg")
    assert r.headers["content-type"].startswith("image/svg+xml")
    # overwrite silently; the list keeps one entry
    await _upload(rdb, "plots", "f1", "dir/sub/fig.svg", b"<svg>new</svg>")
    assert (await rdb.get("/experiments/f1/plots/dir/sub/fig.svg")).content == b"<svg>new</svg>"
    assert (await rdb.get("/experiments/f1")).json()["plot_names"] == stored
    # delete
    r = await rdb.delete("/experiments/f1/plots/" + q("../../etc/passwd"))
    assert r.status_code == 200
    assert r.json() == {}
    assert "../../etc/passwd" not in (await rdb.get("/experiments/f1")).json()["plot_names"]
    assert_error(await rdb.get("/experiments/f1/plots/" + q("../../etc/passwd")), 404)
    assert_error(await rdb.delete("/experiments/f1/plots/" + q("../../etc/passwd")), 404)
    assert_error(await rdb.get("/experiments/f1/plots/never.svg"), 404)
    assert_error(await rdb.get("/experiments/nope/plots/upload/x.svg"), 404)


@pytest.mark.asyncio
async def test_files(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "g1")
    assert (await rdb.get("/experiments/g1/files")).json() == {"files": []}
    await _upload(rdb, "files", "g1", "data_file.json", b'{"a": 1}')
    await _upload(rdb, "files", "g1", "nested/../x.yaml", b"a: 1\n")
    await _upload(rdb, "files", "g1", "data_file.json", b'{"a": 2}')  # replace
    files = (await rdb.get("/experiments/g1/files")).json()["files"]
    assert [f["Key"] for f in files] == ["data_file.json", "nested/../x.yaml"]
    assert files[0]["Size"] == len(b'{"a": 2}')
    assert files[0]["LastModified"].endswith("Z")
    r = await rdb.get("/experiments/g1/files/data_file.json")
    assert r.status_code == 200
    assert r.json() == {"a": 2}
    assert (await rdb.get("/experiments/g1/files/" + q("nested/../x.yaml"))).content == b"a: 1\n"
    assert (await rdb.delete("/experiments/g1/files/data_file.json")).status_code == 200
    assert_error(await rdb.get("/experiments/g1/files/data_file.json"), 404)
    assert_error(await rdb.delete("/experiments/g1/files/data_file.json"), 404)
    assert_error(await rdb.get("/experiments/nope/files"), 404)


@pytest.mark.asyncio
async def test_signed_url_without_token_and_tampering(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "s1")
    url = (await rdb.get("/experiments/s1/plots/upload/a.svg")).json()["url"]
    async with httpx.AsyncClient() as bare:
        r = await bare.put(
            url, content=b"not json at all {", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200
        parts = urlsplit(url)
        q = dict(parse_qsl(parts.query))
        cases = [
            urlunsplit(parts._replace(path=parts.path.replace("a.svg", "b.svg"))),
            urlunsplit(parts._replace(path=parts.path.replace("/plot/", "/file/"))),
            urlunsplit(parts._replace(query=urlencode({**q, "sig": "0" * 64}))),
            urlunsplit(parts._replace(query=urlencode({**q, "expires": "99999999999.000"}))),
            urlunsplit(parts._replace(query=urlencode({"expires": q["expires"]}))),
            urlunsplit(parts._replace(query="")),
        ]
        for bad in cases:
            assert_error(await bare.put(bad, content=b"x"), 403)
    assert (await rdb.get("/experiments/s1/plots/a.svg")).content == b"not json at all {"
    assert_error(await rdb.get("/experiments/s1/plots/b.svg"), 404)
    # upload to an experiment deleted in between: 404, nothing stored
    await rdb.delete("/experiments/s1")
    async with httpx.AsyncClient() as bare:
        assert_error(await bare.put(url, content=b"x"), 404)


@pytest.mark.asyncio
async def test_signed_url_expiry() -> None:
    async with serve(signed_url_ttl_s=0.2) as emu:
        c = await login_client(emu.url, "t")
        async with c:
            await create_exp(c, "x1")
            url = (await c.get("/experiments/x1/plots/upload/a.svg")).json()["url"]
            await asyncio.sleep(0.3)
            assert_error(await c.put(url, content=b"<svg/>"), 403)
            assert (await c.get("/experiments/x1")).json()["plot_names"] == []
            url = (await c.get("/experiments/x1/plots/upload/a.svg")).json()["url"]
            assert (await c.put(url, content=b"<svg/>")).status_code == 200


@pytest.mark.asyncio
async def test_legacy_multipart_plots(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "m1")
    files = {"plot": ("legacy fig.svg", b"<svg>1</svg>", "image/svg+xml")}
    r = await rdb.post("/experiments/m1/plots", files=files, headers={"x-sync-upload": "True"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "legacy fig.svg", "size": 12}
    assert_error(await rdb.post("/experiments/m1/plots", files=files), 409)
    r = await rdb.put(
        "/experiments/m1/plots/" + q("legacy fig.svg"),
        files={"plot": ("legacy fig.svg", b"<svg>22</svg>", "image/svg+xml")},
    )
    assert r.status_code == 200
    assert r.json()["size"] == 13
    assert (await rdb.get("/experiments/m1/plots/legacy%20fig.svg")).content == b"<svg>22</svg>"
    assert (await rdb.get("/experiments/m1")).json()["plot_names"] == ["legacy fig.svg"]
    assert_error(await rdb.put("/experiments/m1/plots/other.svg", files=files), 404)
    assert_error(await rdb.post("/experiments/m1/plots", content=b"junk"), 400)
    assert_error(
        await rdb.post("/experiments/m1/plots", files={"other": ("x.svg", b"1", "image/svg+xml")}),
        400,
    )
