"""Work items as one Kubernetes Indexed Job: the manifests, as plain dicts (nothing here talks to a cluster).

The k3s backend (`backends.k3s.K3sBackend`) runs a batch of `WorkItem`s as one
Indexed Job. Kubernetes does the load balancing: `parallelism` pods run at
once, and a finished pod frees its core for the next pending index, on
whichever node has room, so a slow node takes fewer items instead of holding
the run back with a fixed share. Pod i runs item i.

- **The ConfigMap** ships the programs (the worker, `run_item.sh`) and each
  item's argument list, one argument per line under the key `item-<i>`.
  `run_item.sh` reads its pod's line list (JOB_COMPLETION_INDEX) into "$@"
  and execs it: no argument is ever evaluated by a shell.
- **Retries** are per index (`backoffLimitPerIndex`): a failed pod is replaced
  by a new one, which the scheduler places wherever there is room (often,
  not always, another node; Kubernetes has no "not where it failed").
  `podFailurePolicy` ends an index at once for an exit status retrying cannot
  change (the items' `final_exit_codes`), and does not count a pod that was
  disrupted (its node lost or drained: the `DisruptionTarget` condition)
  against the retries — as the ssh backend redoes a lost host's items.
- **A lost node**: the pods tolerate an unreachable or not-ready node for
  `lost_node_s` seconds (Kubernetes' default is 300 s), then they are evicted
  and their indices run again elsewhere.
- **Files** reach the pods through the PersistentVolumeClaim of the node
  storage (`PodSettings.claim`): a pod sees the folder of the node it runs on.
  No hostPath: the pods pass the `restricted` Pod Security Standard.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends import WorkItem

CONTAINER = "worker"
PROGRAM_DIR = "/opt/lab"          # where the ConfigMap's files appear in the pod
RUN_ITEM = "run_item.sh"
ITEM_KEY = "item-{index}"

# POSIX sh: the item's arguments, one per line, become "$@"; nothing is evaluated.
RUN_ITEM_SCRIPT = """#!/bin/sh
# run_item.sh -- start this pod's work item: the arguments in item-$JOB_COMPLETION_INDEX
# of the ConfigMap, one per line. No line is ever evaluated by the shell.
set -u
index=${JOB_COMPLETION_INDEX:?run_item.sh runs in a pod of an Indexed Job}
file="$(dirname "$0")/item-$index"
[ -r "$file" ] || { printf 'run_item: no arguments for index %s\\n' "$index" >&2; exit 2; }
set --
while IFS= read -r arg || [ -n "$arg" ]; do
    set -- "$@" "$arg"
done < "$file"
exec "$@"
"""


@dataclass(frozen=True)
class PodSettings:
    """What every pod of the batch gets: image, resources, placement, storage, identity."""

    image: str
    claim: str                          # PersistentVolumeClaim of the node storage
    storage_mount: str = "/storage"     # where the pods see it
    pull_policy: str = "IfNotPresent"
    run_as_user: int = 1000             # also the group: the node storage's owner
    cpu_request: str = "900m"
    cpu_limit: str = ""
    memory_request: str = "128Mi"
    memory_limit: str = "1Gi"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    lost_node_s: int = 30               # seconds a pod stays on an unreachable or not-ready node
    ttl_s: int = 3600                   # ttlSecondsAfterFinished: a Job left behind goes by itself


def job_name(text: str, limit: int = 52) -> str:
    """A DNS label from a run id (lower case, [a-z0-9-], at most `limit` characters: the Job
    controller adds "-<index>-<random>" for its pods, which must stay within 63)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower())[:limit].strip("-")
    if not name:
        raise ValueError(f"no Job name can be made from {text!r}")
    return name


def item_lines(argv: Sequence[str]) -> str:
    """An argument list as run_item.sh reads it: one argument per line."""
    for arg in argv:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise ValueError(f"an argument with a line break cannot be passed to a pod: {arg!r}")
    return "".join(f"{arg}\n" for arg in argv)


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": name,
            "app.kubernetes.io/part-of": "pi-cluster-lab", "app.kubernetes.io/managed-by": "pi-cluster-lab"}


def configmap(name: str, namespace: str, items: Sequence[WorkItem], programs: Mapping[str, str],
              component: str) -> dict[str, Any]:
    """The ConfigMap of a batch: `programs` (file name -> text) and run_item.sh, and each item's
    arguments (`item-<i>`, i its position: the pod's completion index)."""
    data = {RUN_ITEM: RUN_ITEM_SCRIPT, **programs}
    for index, item in enumerate(items):
        data[ITEM_KEY.format(index=index)] = item_lines(item.argv)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(name, component)},
            "data": data}


def final_exit_codes(items: Sequence[WorkItem]) -> list[int]:
    """The exit statuses every item treats as final (podFailurePolicy is the Job's, not per item)."""
    codes = [set(item.final_exit_codes) for item in items]
    return sorted(set.intersection(*codes)) if codes else []


def _resources(pod: PodSettings) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": pod.cpu_request, "memory": pod.memory_request}}
    limits = {key: value for key, value in (("cpu", pod.cpu_limit), ("memory", pod.memory_limit)) if value}
    if limits:
        resources["limits"] = limits
    return resources


def job(name: str, namespace: str, items: Sequence[WorkItem], parallelism: int, pod: PodSettings, *,
        retries: int, deadline_s: int | None, component: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Indexed Job of a batch: completion index i runs item i (see the module docstring)."""
    if not items:
        raise ValueError("a Job needs at least one item")
    if parallelism < 1 or retries < 0:
        raise ValueError(f"parallelism={parallelism} must be at least 1 and retries={retries} not negative")
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ValueError(f"item names must be unique: {names}")
    rules: list[dict[str, Any]] = [
        # A node lost or drained is no fault of the item: run it again, without counting it.
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
    final = final_exit_codes(items)
    if final:
        rules.insert(0, {"action": "FailIndex",
                         "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": final}})
    spec_labels = labels(name, component)
    container_env = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "HOME", "value": "/tmp"},
        *({"name": key, "value": value} for key, value in sorted((env or {}).items())),
    ]
    security = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": len(items),
        "parallelism": min(parallelism, len(items)),
        "backoffLimitPerIndex": retries,
        "podFailurePolicy": {"rules": rules},
        "ttlSecondsAfterFinished": pod.ttl_s,
        "template": {
            "metadata": {"labels": spec_labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 5,
                "securityContext": {"runAsNonRoot": True, "runAsUser": pod.run_as_user,
                                    "runAsGroup": pod.run_as_user, "seccompProfile": {"type": "RuntimeDefault"}},
                "tolerations": [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": pod.lost_node_s} for taint in ("unreachable", "not-ready")],
                "containers": [{
                    "name": CONTAINER,
                    "image": pod.image,
                    "imagePullPolicy": pod.pull_policy,
                    "command": ["sh", f"{PROGRAM_DIR}/{RUN_ITEM}"],
                    "workingDir": "/tmp",
                    "env": container_env,
                    "resources": _resources(pod),
                    "securityContext": security,
                    "volumeMounts": [
                        {"name": "programs", "mountPath": PROGRAM_DIR, "readOnly": True},
                        {"name": "storage", "mountPath": pod.storage_mount},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }],
                "volumes": [
                    {"name": "programs", "configMap": {"name": name, "defaultMode": 0o444}},
                    {"name": "storage", "persistentVolumeClaim": {"claimName": pod.claim}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                ],
            },
        },
    }
    if pod.node_selector:
        spec["template"]["spec"]["nodeSelector"] = dict(pod.node_selector)
    if deadline_s:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": spec_labels}, "spec": spec}


def parse_indexes(text: str | None) -> set[int]:
    """The Job status's index sets ("1,3-5") as a set of ints; empty for None or ""."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found
