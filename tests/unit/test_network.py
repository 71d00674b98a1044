"""The network settings of a provider (``async_qexp/_network.py``): which proxy a URL goes
through, what is trusted, and what is refused before any request."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import httpx
import pytest

from async_qexp import Provider
from async_qexp._network import Network, ProxyRoute, matches_no_proxy

VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def via(network: Network, url: str) -> str | None:
    route = network.proxy_for(url)
    return route.url if route is not None else None


def test_environment_proxies_by_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain.proxy:3128")
    monkeypatch.setenv("HTTPS_PROXY", "secure.proxy:8080")  # no scheme: http://, as curl
    network = Network()
    assert via(network, "http://api.example.com/x") == "http://plain.proxy:3128"
    assert via(network, "ws://api.example.com/x") == "http://plain.proxy:3128"
    assert via(network, "https://api.example.com/x") == "http://secure.proxy:8080"
    assert via(network, "wss://api.example.com/x") == "http://secure.proxy:8080"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("all_proxy", "http://all.proxy:1")
    assert via(Network(), "https://api.example.com/") == "http://all.proxy:1"
    assert via(Network(), "http://api.example.com/") == "http://plain.proxy:3128"


def test_lower_case_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    assert via(Network(), "https://x.example/") == "http://lower:2"


@pytest.mark.parametrize(
    ("host", "port", "entries", "bypass"),
    [
        ("api.example.com", 443, "example.com", True),
        ("api.example.com", 443, ".example.com", True),
        ("api.example.com", 443, "*.example.com", True),
        ("example.com", 443, ".example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("api.example.com", 443, "*", True),
        ("api.example.com", 443, "example.com:443", True),
        ("api.example.com", 8443, "example.com:443", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("10.1.2.3", 80, "10.1.2.3", True),
        ("10.1.2.3", 80, "10.1.2.4", False),
        ("fd00::1", 80, "fd00::/8", True),
        ("fd00::1", 8080, "[fd00::1]:8080", True),
        ("fd00::1", 80, "[fd00::1]:8080", False),
        ("API.Example.COM", 443, " other.org , EXAMPLE.com ", True),
        ("example.org", 443, "", False),
        ("10.1.2.3", 80, "not-a-network/x,example.com", False),
    ],
)
def test_no_proxy_entries(host: str, port: int, entries: str, bypass: bool) -> None:
    assert matches_no_proxy(host, port, tuple(entries.split(","))) is bypass


def test_no_proxy_and_loopback_are_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:1")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:1")
    monkeypatch.setenv("NO_PROXY", "internal.corp,10.0.0.0/8")
    network = Network()
    for url in (
        "https://svc.internal.corp/api",
        "https://10.2.3.4/",
        "http://127.0.0.1:8765/api",
        "http://127.9.9.9/",
        "ws://localhost:8765/x",
        "http://emulator.localhost/",
        "https://[::1]:8443/",
    ):
        assert network.proxy_for(url) is None, url
    assert via(network, "https://auth.quantum-computing.ibm.com/api") == "http://proxy:1"


def test_an_explicit_proxy_carries_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env:1")
    monkeypatch.setenv("NO_PROXY", "*")
    network = Network(proxy="http://user:p%40ss@proxy.corp:3128")
    route = network.proxy_for("http://127.0.0.1:8765/")
    assert route == network.proxy_for("https://example.com/")
    assert route is not None
    assert route.url == "http://proxy.corp:3128"
    assert route.auth == ("user", "p@ss")
    assert route.authorization() == "Basic dXNlcjpwQHNz"
    assert route.url_with_credentials() == "http://user:p%40ss@proxy.corp:3128"
    assert "p@ss" not in repr(route)
    assert "p@ss" not in repr(network)
    assert network.env_proxies == {}


def test_an_httpx_proxy_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    given = httpx.Proxy("https://proxy.corp", auth=("u", "p"), headers={"X-Tenant": "a"})
    route = Network(proxy=given).proxy_for("https://x/")
    assert route == ProxyRoute("https://proxy.corp", ("u", "p"), (("x-tenant", "a"),))
    assert route.secure
    proxied = route.httpx_proxy()
    assert proxied.auth == ("u", "p")
    assert proxied.headers["X-Tenant"] == "a"


def test_trust_env_false_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://not-even-valid:1")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent.pem")
    network = Network(trust_env=False)
    assert network.proxy_for("https://example.com/") is None
    assert network.trust == "certifi's CA bundle"
    assert "trust_env=False" in network.describe()


def test_websocket_options() -> None:
    plain = Network()
    assert plain.websocket_options("ws://127.0.0.1:1/x") == {"proxy": None}
    secure = plain.websocket_options("wss://example.com/x")
    assert secure == {"proxy": None, "ssl": plain.ssl_context}
    tunnelled = Network(proxy="https://u:p@proxy:443").websocket_options("wss://example.com/")
    assert tunnelled["proxy"] == "https://u:p@proxy:443"
    assert tunnelled["proxy_ssl"] is tunnelled["ssl"]


# -- trust ------------------------------------------------------------------------------------


def test_the_default_trust_is_certifi_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = Network()
    assert default.trust == "certifi's CA bundle"
    assert default.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert default.ssl_context.check_hostname
    assert Network().ssl_context is default.ssl_context  # loaded once, shared
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert Network().trust == f"SSL_CERT_FILE={certifi.where()}"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))  # ignored, logged
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert Network().trust == f"SSL_CERT_DIR={tmp_path}"


def test_verify_forms(tmp_path: Path) -> None:
    context = ssl.create_default_context()
    assert Network(verify=context).ssl_context is context
    off = Network(verify=False).ssl_context
    assert off.verify_mode == ssl.CERT_NONE
    assert not off.check_hostname
    assert Network(verify=certifi.where()).trust == f"the CA bundle {certifi.where()}"
    assert Network(verify=Path(certifi.where())).ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert Network(verify=str(tmp_path)).trust == f"the CA directory {tmp_path}"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"trust_env": "yes"}, TypeError, "trust_env must be a bool"),
        ({"proxy": 3128}, TypeError, "proxy must be a URL string or an httpx.Proxy"),
        ({"verify": 1.0}, TypeError, "verify must be a bool, a CA bundle path"),
        ({"verify": "/nonexistent/ca.pem"}, ValueError, "no such CA bundle"),
        ({"proxy": "socks5://proxy:1080"}, ValueError, "SOCKS proxies are not supported"),
        ({"proxy": "http://"}, ValueError, "names no proxy host"),
        ({"proxy": "http://proxy:1/path"}, ValueError, "scheme, host and port only"),
        ({"proxy": "http://proxy:port"}, ValueError, "is not a proxy URL"),
    ],
)
def test_bad_options_fail_when_the_provider_is_made(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Network(**options)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        Provider("token", "https://auth.example.test/api", **options)  # type: ignore[arg-type]


def test_a_bad_environment_proxy_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy:1080")
    with pytest.raises(ValueError, match=r"HTTPS_PROXY \('socks5://proxy:1080'\) must be an http"):
        Provider("token", "https://auth.example.test/api")
    Provider("token", "https://auth.example.test/api", trust_env=False)  # the way out


def test_a_file_that_holds_no_certificate_is_a_value_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="cannot load the certificates"):
        Network(verify=junk)
