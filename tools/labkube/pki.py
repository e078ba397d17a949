"""The local cluster's certificates, made with openssl (no Go or Python crypto needed).

One CA signs everything: the API server's serving certificate, a client certificate
per component (its user and group are what RBAC and the Node authorizer see), each
kubelet's client and serving certificates; plus the service-account signing key.
Keys are 0600 in a 0700 folder. Nothing here is secret beyond this machine: the
cluster listens on this machine's addresses only and lives until `./lab kube down`.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

# Days a certificate lasts: a local cluster is rebuilt long before.
VALID_DAYS = 365


class PkiError(Exception):
    """openssl failed; the message names the certificate and carries openssl's words."""


@dataclass(frozen=True)
class Identity:
    """Who a client certificate says it is: Kubernetes reads CN as the user, O as groups."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


def _openssl(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise PkiError("openssl is not installed (Debian package openssl)") from err
    if done.returncode != 0:
        raise PkiError(f"openssl could not make {what}: {done.stderr.strip()[-600:]}")


def _subject(identity: Identity) -> str:
    # RFC 4514 style for -subj: each component its own /X=... (values are our own names).
    parts = [f"/O={group}" for group in identity.groups]
    return "".join(parts) + f"/CN={identity.user}"


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def ensure_ca(pki: Path) -> tuple[Path, Path]:
    """The cluster's CA (ca.crt, ca.key), made once."""
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    crt, key = pki / "ca.crt", pki / "ca.key"
    if not crt.exists():
        _openssl(["genrsa", "-out", str(key), "2048"], "the CA key")
        _private(key)
        _openssl(["req", "-x509", "-new", "-nodes", "-key", str(key), "-sha256", "-days", str(VALID_DAYS),
                  "-subj", "/CN=pi-cluster-lab-local-ca", "-out", str(crt)], "the CA certificate")
    return crt, key


def san_extension(dns_names: Iterable[str], addresses: Iterable[str]) -> str:
    """An openssl extension file's text: subjectAltName for these names and IP addresses."""
    entries = [f"DNS:{name}" for name in dns_names]
    entries += [f"IP:{ipaddress.ip_address(address)}" for address in addresses]
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    lines.append("extendedKeyUsage=serverAuth,clientAuth")
    if entries:
        lines.append("subjectAltName=" + ",".join(entries))
    return "\n".join(lines) + "\n"


def ensure_cert(pki: Path, identity: Identity, *, dns_names: Iterable[str] = (),
                addresses: Iterable[str] = ()) -> tuple[Path, Path]:
    """A key and a certificate signed by the CA for `identity` (with SANs for a server);
    made once, kept for the cluster's life."""
    ca_crt, ca_key = ensure_ca(pki)
    crt, key = pki / f"{identity.file_stem}.crt", pki / f"{identity.file_stem}.key"
    if crt.exists() and key.exists():
        return crt, key
    csr, ext = pki / f"{identity.file_stem}.csr", pki / f"{identity.file_stem}.ext"
    ext.write_text(san_extension(dns_names, addresses))
    _openssl(["genrsa", "-out", str(key), "2048"], f"the key of {identity.file_stem}")
    _private(key)
    _openssl(["req", "-new", "-key", str(key), "-subj", _subject(identity), "-out", str(csr)],
             f"the request of {identity.file_stem}")
    _openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
              "-days", str(VALID_DAYS), "-sha256", "-extfile", str(ext), "-out", str(crt)],
             f"the certificate of {identity.file_stem}")
    csr.unlink()
    ext.unlink()
    return crt, key


def ensure_service_account_keys(pki: Path) -> tuple[Path, Path]:
    """The key pair that signs service-account tokens (sa.key) and checks them (sa.pub)."""
    pki.mkdir(parents=True, exist_ok=True)
    key, pub = pki / "sa.key", pki / "sa.pub"
    if not key.exists():
        _openssl(["genrsa", "-out", str(key), "2048"], "the service-account key")
        _private(key)
    if not pub.exists():
        _openssl(["rsa", "-in", str(key), "-pubout", "-out", str(pub)], "the service-account public key")
    return key, pub
