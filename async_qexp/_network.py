"""How a provider reaches the network: one TLS context and one proxy decision, shared by the
HTTP transports (aiohttp's and httpx's) and the websocket of result streams.

:class:`Network` is made from the provider's ``trust_env``, ``proxy`` and ``verify`` options and
checked then (a wrong type is a ``TypeError``, a bad value a ``ValueError``, before any
request):

* **Trust.** ``verify=True`` trusts certifi's CA bundle (what httpx trusts), or, with
  ``trust_env``, the bundle named by ``SSL_CERT_FILE`` or the directory ``SSL_CERT_DIR``
  instead; ``verify="ca.pem"`` (a file, or a directory of hashed certificates) trusts that;
  an ``ssl.SSLContext`` is used as it is; ``verify=False`` checks nothing.
* **Proxies.** With ``trust_env``, ``HTTP_PROXY`` carries ``http://`` and ``ws://`` traffic,
  ``HTTPS_PROXY`` ``https://`` and ``wss://`` traffic, ``ALL_PROXY`` whatever the other two do
  not name (lower-case names too, which win, as in urllib), except to hosts ``NO_PROXY``
  matches (``*``; a host name and its subdomains, with or without a leading dot; an address; a
  CIDR network; each optionally with ``:port``) and to loopback hosts (``localhost``,
  ``127.0.0.0/8``, ``::1``), which are never sent through an environment proxy, as Go's
  ``net/http`` does: a local emulator must not go through a corporate proxy. An explicit
  ``proxy=`` carries every request, loopback ones included. Proxies are ``http://`` or
  ``https://`` (an ``https://`` proxy is verified with the same trust); HTTP requests to
  ``http://`` URLs are forwarded by the proxy, everything else goes through a ``CONNECT``
  tunnel.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import attrs
import httpx
import websockets.version

from ._logs import get_logger

__all__ = ["Network", "ProxyRoute", "VerifyType", "matches_no_proxy"]

logger = get_logger("async_qexp.http")

VerifyType = bool | str | os.PathLike[str] | ssl.SSLContext
"""What ``verify=`` takes."""

_PROXY_SCHEMES = ("http", "https")
_WEBSOCKETS_DECODES_CREDENTIALS = tuple(int(n) for n in websockets.version.tag.split(".")[:2]) >= (
    17,
    2,
)
_URL_DELIMITERS = frozenset(":/?#[]@%")


def _sendable_raw(part: str) -> bool:
    """Whether a proxy user name or password survives, unencoded, in a URL that websockets
    before 17.2 parses (printable ASCII, no delimiter)."""
    return all(" " <= c <= "~" and c not in _URL_DELIMITERS for c in part)


_SECURE_SCHEMES = ("https", "wss")


@attrs.frozen
class ProxyRoute:
    """A proxy to send requests through.

    Attributes:
        url: the proxy's URL, without credentials (``http://proxy.example:3128``).
        auth: the user name and password to give the proxy, if any.
        headers: more headers for the proxy (from an ``httpx.Proxy``; HTTP requests only).
    """

    url: str
    auth: tuple[str, str] | None = attrs.field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)

    @property
    def secure(self) -> bool:
        """Whether the client talks TLS to the proxy itself (an ``https://`` proxy)."""
        return self.url.startswith("https://")

    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` header value, if the proxy has credentials."""
        if self.auth is None:
            return None
        raw = f"{self.auth[0]}:{self.auth[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def url_with_credentials(self, *, encoded: bool = True) -> str:
        """The URL with the credentials in it, percent-encoded (or, not ``encoded``, as
        they are)."""
        if self.auth is None:
            return self.url
        scheme, rest = self.url.split("://", 1)
        user, password = (quote(part, safe="") for part in self.auth) if encoded else self.auth
        return f"{scheme}://{user}:{password}@{rest}"

    def websocket_url(self) -> str:
        """The URL to give websockets' ``connect(proxy=...)``.

        websockets decodes percent-encoded credentials from 17.2 on only (17 needs Python
        3.11); an older one sends them to the proxy still encoded. For it, credentials made
        of printable ASCII without URL delimiters go into the URL as they are, which it sends
        unchanged; others can only be given encoded, so such a proxy may refuse the stream's
        connection, and the stream then falls back to polling through the REST calls.
        """
        raw = (
            self.auth is not None
            and not _WEBSOCKETS_DECODES_CREDENTIALS
            and all(_sendable_raw(part) for part in self.auth)
        )
        return self.url_with_credentials(encoded=not raw)

    def httpx_proxy(self, context: ssl.SSLContext | None = None) -> httpx.Proxy:
        """The same proxy for httpx's transport (``context``: the TLS context of an
        ``https://`` proxy)."""
        return httpx.Proxy(
            self.url,
            auth=self.auth,
            headers=dict(self.headers) or None,
            ssl_context=context if self.secure else None,
        )


def _parse_proxy(value: Any, what: str) -> ProxyRoute:
    """A proxy from a URL string or an ``httpx.Proxy``.

    Raises:
        ValueError: for a URL that is no http(s) proxy.
    """
    if isinstance(value, httpx.Proxy):
        url = str(value.url)
        auth = value.auth
        headers = tuple((k, v) for k, v in value.headers.items() if k.lower() != "host")
    else:
        url = value.strip()
        if "://" not in url:  # "proxy.example:3128", as curl and httpx read it
            url = "http://" + url
        auth = None
        headers = ()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} is not a proxy URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(
            f"{what} must be an http:// or https:// proxy, not {scheme}:// (SOCKS proxies are "
            "not supported)"
        )
    if not parts.hostname:
        raise ValueError(f"{what} names no proxy host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{what} must be a proxy's scheme, host and port only")
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    plain = f"{scheme}://{shown}" + (f":{port}" if port is not None else "")
    return ProxyRoute(plain, auth, headers)


def _host_port(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def matches_no_proxy(host: str, port: int | None, entries: tuple[str, ...]) -> bool:
    """Whether ``NO_PROXY`` (split into ``entries``) exempts ``host:port`` from the proxy.

    An entry is ``*`` (every host), a domain (``example.com`` and ``.example.com`` both match
    it and its subdomains; ``*.example.com`` too), an address, or a CIDR network
    (``10.0.0.0/8``); a domain or an address may end with ``:port``.
    """
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        entry_port: int | None = None
        if entry.startswith("["):  # [::1]:8080
            inside, _, after = entry[1:].partition("]")
            entry = inside
            if after.startswith(":") and after[1:].isdigit():
                entry_port = int(after[1:])
        elif entry.count(":") == 1:
            name, _, number = entry.partition(":")
            if number.isdigit():
                entry, entry_port = name, int(number)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if ipaddress.ip_address(entry) == address:
                    return True
            except ValueError:
                pass
            continue
        domain = entry.removeprefix("*").lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


@functools.lru_cache(maxsize=16)
def _verified_context(cafile: str | None, capath: str | None, stamp: Any) -> ssl.SSLContext:
    """A verifying context trusting ``cafile``/``capath`` (cached: loading a bundle takes
    milliseconds, and a context is safely shared). ``stamp`` changes when the files do."""
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _stamp(path: str | None) -> Any:
    if path is None:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


class Network:
    """One provider's TLS trust and proxies (see the module's description).

    Args:
        trust_env: read proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
            ``NO_PROXY``) and trust (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) from the environment.
        proxy: a proxy URL (``http://user:password@proxy:3128``) or an ``httpx.Proxy`` for
            every request, instead of the environment's proxies.
        verify: ``True`` (the default trust), a CA bundle file or directory, an
            ``ssl.SSLContext``, or ``False`` (no verification).

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for a proxy that is not an http(s) URL (an environment one too), or a
            ``verify`` path that does not exist or holds no certificate.
    """

    def __init__(
        self,
        *,
        trust_env: bool = True,
        proxy: str | httpx.Proxy | None = None,
        verify: VerifyType = True,
    ) -> None:
        if not isinstance(trust_env, bool):
            raise TypeError(f"trust_env must be a bool, not {type(trust_env).__name__}")
        if proxy is not None and not isinstance(proxy, str | httpx.Proxy):
            raise TypeError(
                f"proxy must be a URL string or an httpx.Proxy, not {type(proxy).__name__}"
            )
        if not isinstance(verify, bool | str | os.PathLike | ssl.SSLContext):
            raise TypeError(
                "verify must be a bool, a CA bundle path or an ssl.SSLContext, "
                f"not {type(verify).__name__}"
            )
        self.trust_env = trust_env
        self.explicit = _parse_proxy(proxy, "proxy") if proxy is not None else None
        self.env_proxies: dict[str, ProxyRoute] = {}
        self.no_proxy: tuple[str, ...] = ()
        if trust_env and self.explicit is None:
            found = urllib.request.getproxies_environment()
            for key in ("http", "https", "all"):
                if found.get(key):
                    name = f"{key.upper()}_PROXY"
                    self.env_proxies[key] = _parse_proxy(found[key], f"{name} ({found[key]!r})")
            self.no_proxy = tuple(e for e in (found.get("no") or "").split(",") if e.strip())
        self.verify = verify
        self.trust, self.ssl_context = self._context(verify)

    def _context(self, verify: VerifyType) -> tuple[str, ssl.SSLContext]:
        """What is trusted (for the log), and the context."""
        if isinstance(verify, ssl.SSLContext):
            return "the caller's ssl.SSLContext", verify
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return "nothing (verify=False)", context
        if verify is True:
            cafile = capath = None
            if self.trust_env:
                cafile, capath = self._env_trust()
            if cafile is None and capath is None:
                import certifi

                cafile, what = certifi.where(), "certifi's CA bundle"
            else:
                what = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
            return what, self._load(cafile, capath, what)
        path = os.fspath(verify)
        if not isinstance(path, str):
            raise TypeError("verify must be a text path, not bytes")
        if os.path.isdir(path):
            return f"the CA directory {path}", self._load(None, path, f"verify={path!r}")
        if not os.path.isfile(path):
            raise ValueError(f"verify={path!r}: no such CA bundle file or directory")
        return f"the CA bundle {path}", self._load(path, None, f"verify={path!r}")

    @staticmethod
    def _load(cafile: str | None, capath: str | None, what: str) -> ssl.SSLContext:
        try:
            return _verified_context(cafile, capath, (_stamp(cafile), _stamp(capath)))
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{what}: cannot load the certificates: {exc}") from None

    @staticmethod
    def _env_trust() -> tuple[str | None, str | None]:
        """``SSL_CERT_FILE`` (a file) or else ``SSL_CERT_DIR`` (a directory), as httpx reads
        them; one that names nothing is logged and ignored."""
        cafile = os.environ.get("SSL_CERT_FILE") or None
        if cafile is not None:
            if os.path.isfile(cafile):
                return cafile, None
            logger.warning("SSL_CERT_FILE=%s is not a file: ignored", cafile)
        capath = os.environ.get("SSL_CERT_DIR") or None
        if capath is not None:
            if os.path.isdir(capath):
                return None, capath
            logger.warning("SSL_CERT_DIR=%s is not a directory: ignored", capath)
        return None, None

    def __repr__(self) -> str:
        return f"<Network {self.describe()}>"

    def describe(self) -> str:
        """The proxies and the trust, in words (no credentials)."""
        if self.explicit is not None:
            proxies = f"every request through {self.explicit.url}"
        elif self.env_proxies:
            routes = ", ".join(f"{k} through {p.url}" for k, p in self.env_proxies.items())
            exempt = f"; NO_PROXY={','.join(self.no_proxy)}" if self.no_proxy else ""
            proxies = f"environment proxies: {routes} (never for loopback hosts{exempt})"
        else:
            proxies = "no proxy" + ("" if self.trust_env else " (trust_env=False)")
        return f"{proxies}; TLS trusts {self.trust}"

    def proxy_for(self, url: str | httpx.URL) -> ProxyRoute | None:
        """The proxy a request to ``url`` goes through, or ``None`` to connect directly."""
        if self.explicit is not None:
            return self.explicit
        if not self.env_proxies:
            return None
        scheme, host, port = _host_port(str(url))
        route = self.env_proxies.get("https" if scheme in _SECURE_SCHEMES else "http")
        route = route or self.env_proxies.get("all")
        if route is None or _is_loopback(host) or matches_no_proxy(host, port, self.no_proxy):
            return None
        return route

    def websocket_options(self, url: str) -> dict[str, Any]:
        """The keyword arguments of ``websockets.asyncio.client.connect`` for ``url``: the
        proxy (``None``: connect directly, whatever websockets would read from the
        environment) and the TLS context of a ``wss://`` URL and of an ``https://`` proxy."""
        route = self.proxy_for(url)
        options: dict[str, Any] = {"proxy": route.websocket_url() if route else None}
        if url.lower().startswith("wss://"):
            options["ssl"] = self.ssl_context
        if route is not None and route.secure:
            options["proxy_ssl"] = self.ssl_context
        return options
