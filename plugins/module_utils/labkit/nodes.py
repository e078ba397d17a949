"""Node descriptions: one shape for every source, built in one place.

A node description is the dict the report's "environment per node" shows:
`name`, `hostname`, `model`, `cores`, `memory_bytes`, `kernel`, `page_size`, `os`, `arch`,
`governor`, `temperature_c`, `throttled`, `versions`, `k3s_version`, and
`after` (the same facts read after the experiment). Sources:

* a node's own reading (`lab_node_context`, on the controller or over SSH):
  `environment.node_context` plus throttle flags and tool versions;
* the Kubernetes API's Node objects (`from_k8s_node`): capacity, OS,
  kubelet version, schedulability — no board model, governor or temperature,
  which only the node itself can read.

`describe()` merges them: an API node is matched to a reading by its name or
the host name the node reported. Nothing is invented: a fact no source gave
stays absent (the report shows it as unknown).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Iterable, Mapping, Optional, Sequence

# Kubernetes resource quantities: "3884096Ki", "4Gi", "4000000000", "4G", "128974848e3", "500m".
_QUANTITY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|K|M|G|T|P|E)|[eE]([+-]?\d+))?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Fraction(1, 1000), "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
            "E": 10**18}


def _quantity(quantity: Any) -> Optional[Fraction]:
    """The exact value of a Kubernetes quantity; None when it is not one (or negative)."""
    if isinstance(quantity, bool) or quantity is None:
        return None
    if isinstance(quantity, (int, float)):
        quantity = repr(quantity) if isinstance(quantity, float) else str(quantity)
    match = _QUANTITY.match(str(quantity).strip())
    if not match:
        return None
    number, suffix, exponent = match.groups()
    value = Fraction(number)
    if suffix:
        value *= _BINARY.get(suffix) or _DECIMAL[suffix]
    elif exponent:
        value *= Fraction(10) ** int(exponent)
    return value


def memory_bytes(quantity: Any) -> Optional[int]:
    """Bytes in a Kubernetes memory quantity ("3884096Ki" -> 3977314304); None when it does not parse.
    A fraction of a byte rounds up, as the API's Quantity.Value() does."""
    value = _quantity(quantity)
    return None if value is None else math.ceil(value)


def cpu_cores(quantity: Any) -> Optional[float]:
    """CPUs in a Kubernetes CPU quantity ("4" -> 4, "3500m" -> 3.5); None when it does not parse."""
    value = _quantity(quantity)
    return None if value is None else float(value)


def from_reading(reading: Mapping[str, Any]) -> dict[str, Any]:
    """A node's own reading (lab_node_context's `node`), named after its host name."""
    node = dict(reading)
    node.setdefault("name", node.get("hostname"))
    return node


def from_k8s_node(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the Kubernetes API says of a Node object; a fact the object does not hold is left out."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    info = status.get("nodeInfo") or {}
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or {}
    labels = dict(meta.get("labels") or {})
    cores = cpu_cores(capacity.get("cpu"))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or [] if isinstance(c, Mapping)}
    node = {
        "name": meta.get("name"),
        "hostname": labels.get("kubernetes.io/hostname") or meta.get("name"),
        "cores": int(cores) if cores is not None else None,
        "allocatable_cpu": allocatable.get("cpu"),
        "memory": capacity.get("memory"),
        "memory_bytes": memory_bytes(capacity.get("memory")),
        "arch": info.get("architecture"),
        "kernel": info.get("kernelVersion"),
        "os": info.get("osImage"),
        "k3s_version": info.get("kubeletVersion"),
        "container_runtime": info.get("containerRuntimeVersion"),
        "schedulable": not bool((obj.get("spec") or {}).get("unschedulable")),
        # No Ready condition (yet): unknown, not "not ready".
        "ready": conditions["Ready"] == "True" if "Ready" in conditions else None,
        "labels": labels,
    }
    return {key: value for key, value in node.items() if value not in (None, "")}


def _entries(registered: Any) -> Iterable[Any]:
    """Registered results, flattened: a loop's register (a dict with `results`) gives its results."""
    if isinstance(registered, Mapping):
        registered = registered["results"] if isinstance(registered.get("results"), list) else [registered]
    for entry in registered or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("results"), list):
            yield from _entries(entry)
        else:
            yield entry


def readings(registered: Iterable[Any]) -> list[dict[str, Any]]:
    """The node readings in registered `lab_node_context` results (a list of results, a loop's
    `results`, or the loop's whole register): entries without a reading (unreachable host,
    failed task, skipped item) are skipped."""
    found = []
    for entry in _entries(registered):
        if isinstance(entry, Mapping) and isinstance(entry.get("node"), Mapping):
            reading = from_reading(entry["node"])
            # A delegated loop names the inventory host it asked in `item`.
            if isinstance(entry.get("item"), str):
                reading.setdefault("inventory_name", entry["item"])
            found.append(reading)
    return found


def _matches(node: Mapping[str, Any], reading: Mapping[str, Any]) -> bool:
    name = node.get("name")
    return name is not None and name in (reading.get("inventory_name"), reading.get("hostname"))


def describe(before: Sequence[Mapping[str, Any]] = (), after: Sequence[Mapping[str, Any]] = (),
             cluster: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every node, once: the cluster's (from the API) with what each said of itself merged in,
    or, with no cluster, the nodes that were read. `after` is kept under each node's `after`."""
    if cluster:
        nodes = []
        for api_node in (from_k8s_node(obj) for obj in cluster):
            said = next((r for r in before if _matches(api_node, r)), {})
            # The API's facts win where both speak (cores: what Kubernetes schedules on).
            node = {**said, **api_node}
            later = next((r for r in after if _matches(api_node, r)), None)
            if later is not None:
                node["after"] = dict(later)
            nodes.append(node)
        return nodes
    nodes = [dict(reading) for reading in before]
    for node in nodes:
        later = next((r for r in after if r.get("hostname") == node.get("hostname")), None)
        if later is not None:
            node["after"] = dict(later)
    return nodes
