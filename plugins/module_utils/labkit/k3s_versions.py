"""K3s releases, join tokens and node addresses, as the K3s roles compare them.

Versions: a K3s release is ``v<major>.<minor>.<patch>[-<pre>]+k3s<n>`` (``v1.33.5+k3s1``);
``k3s --version`` prints ``k3s version v1.33.5+k3s1 (abc123)``. Releases are compared as
tuples, never as text: ``+k3s1`` is not ``+k3s10``, and ``v1.33.10`` is newer than
``v1.33.9``. K3s supports upgrades only: never a downgrade, and one minor version at a time
(servers first) — :func:`upgrade_plan` says which step a node takes or why it is refused.

Tokens: a server's ``/var/lib/rancher/k3s/server/token`` holds the secure form
``K10<sha256 of the cluster CA>::server:<password>``; a user's ``k3s_token`` is usually the
bare password. :func:`tokens_match` compares what can be compared.

No Ansible imports: the filter plugin ``plugins/filter/labkit_k3s.py`` exposes these.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.]+))?\+k3s(\d+)")
_SECURE_TOKEN = re.compile(r"^K10([0-9A-Fa-f]+)::([^:]+):(.+)$", re.S)


@dataclass(frozen=True)
class K3sVersion:
    """One K3s release; ordered by :attr:`key`."""

    major: int
    minor: int
    patch: int
    k3s: int
    pre: str = ""  # "rc1" of v1.33.5-rc1+k3s1: older than v1.33.5+k3s1

    @property
    def key(self) -> tuple[int, int, int, int, str, int]:
        # A pre-release sorts before its release; "rc10" after "rc9" needs no more than this lab uses.
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre, self.k3s)

    @property
    def minor_line(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        pre = f"-{self.pre}" if self.pre else ""
        return f"v{self.major}.{self.minor}.{self.patch}{pre}+k3s{self.k3s}"

    def __lt__(self, other: K3sVersion) -> bool:
        return self.key < other.key

    def __le__(self, other: K3sVersion) -> bool:
        return self.key <= other.key

    def __gt__(self, other: K3sVersion) -> bool:
        return self.key > other.key

    def __ge__(self, other: K3sVersion) -> bool:
        return self.key >= other.key


def parse_version(text: str) -> K3sVersion:
    """The release ``text`` names exactly (``v1.33.5+k3s1``); ValueError otherwise."""
    match = _VERSION.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a K3s release such as v1.33.5+k3s1")
    return _from_match(match)


def find_version(output: str | None) -> K3sVersion | None:
    """The release in ``k3s --version`` output (``k3s version v1.33.5+k3s1 (abc123)``), or None."""
    if not output:
        return None
    match = _VERSION.search(str(output))
    return _from_match(match) if match else None


def _from_match(match: re.Match[str]) -> K3sVersion:
    major, minor, patch, pre, k3s = match.groups()
    return K3sVersion(int(major), int(minor), int(patch), int(k3s), pre or "")


def upgrade_problem(installed: K3sVersion, wanted: K3sVersion, host: str = "the node") -> str:
    """Why going from ``installed`` to ``wanted`` is not a step K3s supports, or ''."""
    if wanted < installed:
        return (f"K3s on {host} is {installed}, newer than k3s_version {wanted}: K3s does not support "
                f"downgrades. Set k3s_version to {installed} or later (or remove K3s with reset.yml first).")
    if wanted.major != installed.major:
        return (f"K3s on {host} is {installed}; k3s_version {wanted} is another major version: K3s upgrades "
                f"one minor version at a time, within a major version.")
    if wanted.minor > installed.minor + 1:
        step = f"v{installed.major}.{installed.minor + 1}"
        return (f"K3s on {host} is {installed}; k3s_version {wanted} skips minor versions: K3s upgrades one "
                f"minor version at a time. Set k3s_version to a {step} release first, run site.yml, "
                f"then go on to {wanted}.")
    return ""


def upgrade_plan(installed_output: str | None, wanted: str, host: str = "the node") -> dict[str, Any]:
    """What the k3s_install role does on a node: ``action`` install (no K3s), none (the same
    release), upgrade (a supported step) or refuse (``problem`` says why, naming the host)."""
    target = parse_version(wanted)
    current = find_version(installed_output)
    plan: dict[str, Any] = {"installed": str(current) if current else "", "wanted": str(target), "problem": ""}
    if current is None:
        plan["action"] = "install"
    elif current == target:
        plan["action"] = "none"
    else:
        plan["problem"] = upgrade_problem(current, target, host)
        plan["action"] = "refuse" if plan["problem"] else "upgrade"
    return plan


def servers_first_problem(server_output: str | None, wanted: str, server: str, host: str = "the agent") -> str:
    """Why ``host`` (an agent) must not run ``wanted`` yet: its server runs an older release
    (K3s upgrades the servers first). '' when the server runs ``wanted`` or newer, or no K3s."""
    target = parse_version(wanted)
    current = find_version(server_output)
    if current is None or target <= current:
        return ""
    return (f"k3s_version {target} is newer than the K3s of the server {server} ({current}): K3s upgrades the "
            f"servers first. Run site.yml (or playbooks/k3s_server.yml) before upgrading {host}.")


def token_parts(token: str | None) -> dict[str, str]:
    """A join token's parts: ``ca_hash`` and ``user`` (empty for a bare token) and ``password``."""
    text = str(token or "").strip()
    match = _SECURE_TOKEN.match(text)
    if not match:
        return {"ca_hash": "", "user": "", "password": text}
    return {"ca_hash": match.group(1).lower(), "user": match.group(2), "password": match.group(3)}


def tokens_match(given: str | None, cluster: str | None) -> bool:
    """Whether a user's token is the cluster's: the passwords agree, and the CA hashes too when
    both tokens carry one (a bare password carries none)."""
    mine, theirs = token_parts(given), token_parts(cluster)
    if not mine["password"] or mine["password"] != theirs["password"]:
        return False
    return not (mine["ca_hash"] and theirs["ca_hash"]) or mine["ca_hash"] == theirs["ca_hash"]


def ip_address_or_empty(value: Any) -> str:
    """``value`` when it is an IPv4 or IPv6 address (K3s's node-ip), else '' (a DNS name, nothing)."""
    text = str(value or "").strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""
