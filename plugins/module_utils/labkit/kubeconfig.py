"""Kubeconfig handling for the controller: rename, repoint and merge, without losing entries.

K3s writes /etc/rancher/k3s/k3s.yaml with one cluster, user and context all named
``default`` and the server at ``https://127.0.0.1:6443``. On the controller it
needs the server's address and a name of its own (DESIGN §7), and merging it
into ``~/.kube/config`` must keep every other entry the user has there.
"""
from __future__ import annotations

import copy
import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used, with a message naming what is wrong."""


def empty() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [], "users": [], "contexts": [], "current-context": ""}


def load(text: str, where: str = "kubeconfig") -> dict[str, Any]:
    """Parse and check a kubeconfig; an empty text is an empty config."""
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{where} is not valid YAML: {exc}") from exc
    if data is None:
        return empty()
    if not isinstance(data, dict):
        raise KubeconfigError(f"{where} is not a kubeconfig: expected a mapping, got {type(data).__name__}")
    if data.get("kind", "Config") != "Config":
        raise KubeconfigError(f"{where} is not a kubeconfig: kind is {data.get('kind')!r}, expected 'Config'")
    for section, _ in SECTIONS:
        entries = data.get(section) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
            raise KubeconfigError(f"{where}: '{section}' must be a list of entries that each have a name")
        data[section] = entries
    return data


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


def server_url(current: str, server: str) -> str:
    """Point ``current`` (e.g. https://127.0.0.1:6443) at ``server``.

    ``server`` is a host name, an IPv4/IPv6 address (scheme and port are kept),
    or a full https:// URL (used as it is).
    """
    server = server.strip()
    if not server:
        raise KubeconfigError("the server address is empty: expected a host name, an IP address or an https:// URL")
    if "://" in server:
        parts = urlsplit(server)
        if parts.scheme != "https" or not parts.hostname:
            raise KubeconfigError(f"server URL {server!r} is not valid: expected https://<host>[:port]")
        return server
    if any(c in server for c in "/@ ?#") or server.startswith("["):
        raise KubeconfigError(f"server address {server!r} is not valid: expected a host name or an IP address")
    host = server
    try:
        if ipaddress.ip_address(server).version == 6:
            host = f"[{server}]"
    except ValueError:
        pass
    parts = urlsplit(current or "https://127.0.0.1:6443")
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme or "https", netloc, parts.path, parts.query, parts.fragment))


def rename(config: dict[str, Any], name: str, server: str | None = None) -> dict[str, Any]:
    """A copy of a single-cluster kubeconfig (as K3s writes it) with cluster, user and
    context all called ``name``, the context pointing at them, and the server repointed."""
    if not name or any(c.isspace() for c in name):
        raise KubeconfigError(f"kubeconfig name {name!r} is not valid: expected one word such as 'pi-cluster'")
    cfg = copy.deepcopy(config)
    for section, _ in SECTIONS:
        if len(cfg.get(section) or []) != 1:
            raise KubeconfigError(
                f"expected exactly one entry in '{section}' of the K3s kubeconfig, found {len(cfg.get(section) or [])}"
            )
    cluster = cfg["clusters"][0]
    cluster["name"] = name
    if server is not None:
        cluster.setdefault("cluster", {})["server"] = server_url(cluster.get("cluster", {}).get("server", ""), server)
    cfg["users"][0]["name"] = name
    ctx = cfg["contexts"][0]
    ctx["name"] = name
    ctx.setdefault("context", {})
    ctx["context"]["cluster"] = name
    ctx["context"]["user"] = name
    cfg["current-context"] = name
    return cfg


def merge(existing: dict[str, Any], new: dict[str, Any], set_current: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Merge ``new``'s entries into ``existing``.

    Entries of ``new`` replace the same-named entries of ``existing`` in place
    (other entries are never touched) or are appended. ``current-context`` is
    only changed when ``set_current`` is true or ``existing`` has none.
    Returns the merged config and a list of ``section/name`` that were added or changed.
    """
    merged = copy.deepcopy(existing)
    changes: list[str] = []
    for section, _ in SECTIONS:
        entries = merged.setdefault(section, [])
        index = {e["name"]: i for i, e in enumerate(entries)}
        for entry in new.get(section) or []:
            i = index.get(entry["name"])
            if i is None:
                entries.append(copy.deepcopy(entry))
                index[entry["name"]] = len(entries) - 1
                changes.append(f"{section}/{entry['name']}")
            elif entries[i] != entry:
                entries[i] = copy.deepcopy(entry)
                changes.append(f"{section}/{entry['name']}")
    wanted = new.get("current-context") or ""
    if wanted and (set_current or not merged.get("current-context")):
        if merged.get("current-context") != wanted:
            changes.append(f"current-context/{wanted}")
        merged["current-context"] = wanted
    for key in ("apiVersion", "kind"):
        merged.setdefault(key, empty()[key])
    return merged, changes
