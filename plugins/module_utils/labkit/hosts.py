"""Inventory hosts as the ssh backend sees them: one place that reads Ansible's connection variables.

The playbooks pass each usable host's connection variables (the ones Ansible
itself connects with) and its usable cores; `ssh_host` turns them into the
backend's `SshHost`, so the backend reaches a host exactly as Ansible does.
"""
from __future__ import annotations

import shlex
from typing import Any, Mapping, Optional

from .backends.ssh import SshHost

# The connection variables read (anything else in hostvars is ignored).
CONNECTION_VARS = ("ansible_host", "ansible_user", "ansible_port", "ansible_ssh_private_key_file",
                   "ansible_ssh_common_args", "ansible_ssh_extra_args")


def connection_of(name: str, hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """The connection variables of one host, as a small plain dict (what the modules take)."""
    return {"name": name, **{var: hostvars[var] for var in CONNECTION_VARS if hostvars.get(var) not in (None, "")}}


def ssh_host(spec: Mapping[str, Any], slots: int = 1, paths: Optional[Mapping[str, str]] = None) -> SshHost:
    """An `SshHost` from `connection_of`'s dict (ansible_ssh_common_args split as a shell would)."""
    options: list[str] = []
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        options += shlex.split(str(spec.get(var) or ""))
    return SshHost(
        name=str(spec["name"]),
        address=str(spec.get("ansible_host") or spec["name"]),
        user=str(spec.get("ansible_user") or ""),
        port=int(spec.get("ansible_port") or 22),
        key_file=str(spec.get("ansible_ssh_private_key_file") or ""),
        options=tuple(options),
        slots=max(1, int(slots)),
        paths=dict(paths or {}),
    )
