"""Certificates for serving the emulator over TLS (``--tls-self-signed``, tests).

:func:`self_signed` makes a throw-away certificate authority and a server certificate it
signed for the given host names and addresses, with the ``cryptography`` package when it is
installed and with the ``openssl`` command otherwise. A client trusts the server by trusting
the authority's certificate (:attr:`TLSFiles.ca`): ``requests`` through ``REQUESTS_CA_BUNDLE``
or ``verify=``, ``websocket-client`` and the standard ``ssl`` module through ``SSL_CERT_FILE``,
httpx through ``verify=ssl.create_default_context(cafile=...)``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = ["DEFAULT_HOSTS", "TLSFiles", "self_signed"]

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
"""The names and addresses a certificate is made for by default (the loopback ones)."""
_DAYS = 2
_CA_NAME = "async_qexp emulator test CA"


@attrs.frozen
class TLSFiles:
    """The PEM files of :func:`self_signed`."""

    ca: str
    """The authority's certificate: what a client trusts."""
    cert: str
    """The server's certificate followed by the authority's (``tls_certfile``)."""
    key: str
    """The server's private key, unencrypted (``tls_keyfile``)."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def self_signed(
    directory: str | os.PathLike[str],
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    tool: Literal["auto", "cryptography", "openssl"] = "auto",
) -> TLSFiles:
    """Write ``ca.pem``, ``cert.pem`` and ``key.pem`` into ``directory`` (which must exist): a
    new authority and a server certificate for ``hosts`` it signed, valid for two days.

    Raises:
        RuntimeError: ``tool="auto"`` and neither ``cryptography`` nor ``openssl`` is there,
            or ``openssl`` failed.
        ValueError: no hosts.
    """
    names = list(dict.fromkeys(h.strip("[]") for h in hosts if h.strip("[]")))
    if not names:
        raise ValueError("a certificate needs at least one host name or address")
    out = Path(directory)
    if tool == "auto":
        if find_spec("cryptography") is not None:
            tool = "cryptography"
        elif shutil.which("openssl"):
            tool = "openssl"
        else:
            raise RuntimeError(
                "a self-signed certificate needs the cryptography package or openssl"
            )
    files = TLSFiles(str(out / "ca.pem"), str(out / "cert.pem"), str(out / "key.pem"))
    if tool == "cryptography":
        _with_cryptography(files, names)
    else:
        _with_openssl(files, names, out)
    os.chmod(files.key, 0o600)
    return files


def _with_cryptography(files: TLSFiles, hosts: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def usage(*allowed: str) -> Any:
        flags = (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        )  # fmt: skip
        return x509.KeyUsage(**{flag: flag in allowed for flag in flags})

    now = datetime.now(timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(days=_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage("digital_signature", "key_encipherment"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    Path(files.ca).write_bytes(ca.public_bytes(pem))
    Path(files.cert).write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    Path(files.key).write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {alt}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _with_openssl(files: TLSFiles, hosts: list[str], out: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is not installed")
    alt = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    config = out / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG.format(cn=_CA_NAME, alt=alt), encoding="utf-8")
    ca_key, csr = out / "ca-key.pem", out / "server.csr"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_subject, server_subject = f"/CN={_CA_NAME}", f"/CN={hosts[0]}"
    serial = f"0x{secrets.token_hex(16)}"
    steps: list[list[str | Path | int]] = [
        ["req", "-x509", "-config", config, "-extensions", "ca", *new_key, "-keyout", ca_key,
         "-out", files.ca, "-days", _DAYS, "-subj", ca_subject],
        ["req", "-new", "-config", config, *new_key, "-keyout", files.key, "-out", csr,
         "-subj", server_subject],
        ["x509", "-req", "-in", csr, "-CA", files.ca, "-CAkey", ca_key, "-set_serial", serial,
         "-days", _DAYS, "-extfile", config, "-extensions", "server", "-out", files.cert],
    ]  # fmt: skip
    try:
        for step in steps:
            done = subprocess.run(
                [openssl, *map(str, step)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"openssl {step[0]} failed: {done.stderr.strip()}")
    finally:
        for path in (config, ca_key, csr):
            path.unlink(missing_ok=True)
    with open(files.cert, "a", encoding="ascii") as chain:
        chain.write(Path(files.ca).read_text(encoding="ascii"))
